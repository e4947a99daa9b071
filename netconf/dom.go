package netconf

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
)

// node is a small XML tree used for subtree filtering.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	nsdecls  []xml.Attr // xmlns:prefix declarations, kept for prefixed values
	children []*node
	text     string
}

func parseNodes(data []byte) ([]*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var roots []*node
	var stack []*node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return roots, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					n.nsdecls = append(n.nsdecls, a)
					continue
				}
				if a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) == 0 {
				roots = append(roots, n)
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
}

// write serialises n with an xmlns declaration where its namespace differs
// from the parent's.
func (n *node) write(b *strings.Builder, parentNS string) {
	b.WriteString("<" + n.name.Local)
	if n.name.Space != parentNS {
		b.WriteString(` xmlns="`)
		xml.EscapeText(b, []byte(n.name.Space))
		b.WriteString(`"`)
	}
	for _, a := range n.nsdecls {
		b.WriteString(" xmlns:" + a.Name.Local + `="`)
		xml.EscapeText(b, []byte(a.Value))
		b.WriteString(`"`)
	}
	for _, a := range n.attrs {
		if a.Name.Space != "" {
			// Attributes in other namespaces (e.g. identity prefixes) are
			// not used by our models; keep the local name only.
			continue
		}
		b.WriteString(" " + a.Name.Local + `="`)
		xml.EscapeText(b, []byte(a.Value))
		b.WriteString(`"`)
	}
	if len(n.children) == 0 && strings.TrimSpace(n.text) == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	if len(n.children) == 0 {
		xml.EscapeText(b, []byte(n.text))
	}
	for _, c := range n.children {
		c.write(b, n.name.Space)
	}
	b.WriteString("</" + n.name.Local + ">")
}

// filterSubtree applies an RFC 6241 section 6 subtree filter to data (a
// sequence of top-level elements) and returns the selected elements.
func filterSubtree(data, filter []byte) ([]byte, error) {
	fnodes, err := parseNodes(filter)
	if err != nil {
		return nil, err
	}
	if len(fnodes) == 0 {
		return nil, nil // an empty filter selects nothing
	}
	dnodes, err := parseNodes(data)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, d := range dnodes {
		for _, f := range fnodes {
			if out := applyFilter(d, f); out != nil {
				out.write(&b, "")
				break
			}
		}
	}
	return []byte(b.String()), nil
}

func nameMatches(f, d xml.Name) bool {
	return f.Local == d.Local && (f.Space == "" || f.Space == d.Space)
}

// applyFilter returns the part of d that filter node f selects, or nil.
func applyFilter(d, f *node) *node {
	if !nameMatches(f.name, d.name) {
		return nil
	}
	for _, a := range f.attrs {
		if !hasAttr(d, a) {
			return nil
		}
	}
	if len(f.children) == 0 {
		if t := strings.TrimSpace(f.text); t != "" {
			if strings.TrimSpace(d.text) != t {
				return nil
			}
		}
		return d // selection node (or matching content node): whole subtree
	}
	// Content match nodes among the children must all match.
	var contents, others []*node
	for _, c := range f.children {
		if len(c.children) == 0 && strings.TrimSpace(c.text) != "" {
			contents = append(contents, c)
		} else {
			others = append(others, c)
		}
	}
	for _, cm := range contents {
		found := false
		for _, dc := range d.children {
			if nameMatches(cm.name, dc.name) && strings.TrimSpace(dc.text) == strings.TrimSpace(cm.text) {
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	out := &node{name: d.name, attrs: d.attrs, nsdecls: d.nsdecls}
	if len(others) == 0 {
		// Only content match nodes: the whole sibling set is selected.
		return d
	}
	for _, dc := range d.children {
		selected := false
		for _, cm := range contents {
			if nameMatches(cm.name, dc.name) {
				selected = true
			}
		}
		if selected {
			out.children = append(out.children, dc)
			continue
		}
		for _, fc := range others {
			if sub := applyFilter(dc, fc); sub != nil {
				out.children = append(out.children, sub)
				break
			}
		}
	}
	if len(out.children) == 0 && len(contents) == 0 {
		return nil
	}
	return out
}

func hasAttr(d *node, a xml.Attr) bool {
	for _, x := range d.attrs {
		if x.Name.Local == a.Name.Local && x.Value == a.Value {
			return true
		}
	}
	return false
}
