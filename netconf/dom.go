package netconf

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
)

// node is a small XML tree used for subtree filtering. Names are resolved
// (Space is a namespace URI, not a prefix).
type node struct {
	name     xml.Name
	attrs    []xml.Attr // attributes other than namespace declarations
	nsdecls  []xml.Attr // namespace declarations (xmlns:prefix, and xmlns), kept for prefixed values
	children []*node
	text     string
	// start, tagEnd and end locate the element in the input (fast parser
	// only): its start tag is input[start:tagEnd], the whole element
	// input[start:end]. mixed: an element with children has text too.
	start, tagEnd, end int
	mixed              bool
}

const xmlNS = "http://www.w3.org/XML/1998/namespace"

// parseNodes parses a sequence of top-level elements.
func parseNodes(data []byte) ([]*node, error) {
	if roots, ok := fastParse(data); ok {
		return roots, nil
	}
	return slowParseNodes(data)
}

// slowParseNodes is parseNodes with encoding/xml.
func slowParseNodes(data []byte) ([]*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var roots []*node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return roots, nil
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			n, err := parseElement(d, se)
			if err != nil {
				return nil, err
			}
			roots = append(roots, n)
		}
	}
}

// parseElement builds the tree of the element that start opened.
func parseElement(d *xml.Decoder, start xml.StartElement) (*node, error) {
	root := newNode(start)
	stack := []*node{root}
	var text []byte
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			n := newNode(t)
			top.children = append(top.children, n)
			stack = append(stack, n)
			text = text[:0]
		case xml.EndElement:
			if len(top.children) == 0 {
				top.text = string(text)
			}
			text = text[:0]
			stack = stack[:len(stack)-1]
		case xml.CharData:
			text = append(text, t...)
		}
	}
	return root, nil
}

func newNode(se xml.StartElement) *node {
	n := &node{name: se.Name}
	for _, a := range se.Attr {
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns":
			n.nsdecls = append(n.nsdecls, a)
		default:
			n.attrs = append(n.attrs, a)
		}
	}
	return n
}

// child returns the first child named local (in any namespace), or nil.
func (n *node) child(local string) *node {
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// attr returns the value of the unqualified attribute local.
func (n *node) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// write serialises n, declaring its namespace where it differs from the
// parent's default namespace.
func (n *node) write(b *bytes.Buffer, parentNS string) {
	n.writeStart(b, parentNS)
	if len(n.children) == 0 {
		if strings.TrimSpace(n.text) == "" {
			b.Truncate(b.Len() - 1)
			b.WriteString("/>")
			return
		}
		xml.EscapeText(b, []byte(n.text))
	}
	for _, c := range n.children {
		c.write(b, n.name.Space)
	}
	n.writeEnd(b)
}

func (n *node) writeStart(b *bytes.Buffer, parentNS string) {
	b.WriteString("<" + n.name.Local)
	if n.name.Space != parentNS {
		b.WriteString(` xmlns="`)
		xml.EscapeText(b, []byte(n.name.Space))
		b.WriteByte('"')
	}
	for _, a := range n.nsdecls {
		if a.Name.Space == "" {
			continue // the default namespace is written from name.Space
		}
		b.WriteString(" xmlns:" + a.Name.Local + `="`)
		xml.EscapeText(b, []byte(a.Value))
		b.WriteByte('"')
	}
	gen := 0
	for _, a := range n.attrs {
		b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case xmlNS:
			b.WriteString("xml:")
		default:
			// Qualified attribute: declare a prefix of our own for it.
			p := n.freePrefix(&gen)
			b.WriteString("xmlns:" + p + `="`)
			xml.EscapeText(b, []byte(a.Name.Space))
			b.WriteString(`" ` + p + ":")
		}
		b.WriteString(a.Name.Local + `="`)
		xml.EscapeText(b, []byte(a.Value))
		b.WriteByte('"')
	}
	b.WriteByte('>')
}

func (n *node) writeEnd(b *bytes.Buffer) { b.WriteString("</" + n.name.Local + ">") }

// freePrefix returns a prefix that n does not declare itself.
func (n *node) freePrefix(gen *int) string {
	for {
		p := "nca" + strconv.Itoa(*gen)
		*gen++
		taken := false
		for _, d := range n.nsdecls {
			taken = taken || d.Name.Local == p
		}
		if !taken {
			return p
		}
	}
}

// selection is what a filter selects of one data node: all of it, or some
// of its children (kids[i] for d.children[i], nil when not selected).
type selection struct {
	full bool
	kids []*selection
}

var selectAll = &selection{full: true}

// union merges two selections of the same data node, so that data selected
// by several filter subtrees appears once (RFC 6241 6.1).
func union(a, b *selection) *selection {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.full || b.full:
		return selectAll
	}
	out := &selection{kids: make([]*selection, len(a.kids))}
	for i := range a.kids {
		out.kids[i] = union(a.kids[i], b.kids[i])
	}
	return out
}

// filterSubtree applies an RFC 6241 section 6 subtree filter (the children
// of <filter>) to data (a sequence of top-level elements) and returns the
// selected elements. Data roots that no filter root names are skipped
// without being parsed.
func filterSubtree(data []byte, filter []*node) ([]byte, error) {
	if len(filter) == 0 {
		return nil, nil // an empty filter selects nothing (RFC 6241 6.4.2)
	}
	var b bytes.Buffer
	// Fast path: roots that no filter root names are skipped by counting
	// tags; the others are parsed by the fast parser.
	err := splitElements(data, func(elem []byte) error {
		local := localName(elem)
		named := false
		for _, f := range filter {
			named = named || f.name.Local == local
		}
		if !named {
			return nil
		}
		roots, ok := fastParse(elem)
		if !ok || len(roots) != 1 {
			return errScan
		}
		var sel *selection
		for _, f := range filter {
			if matches(f, roots[0]) {
				sel = union(sel, selectNode(roots[0], f))
			}
		}
		writeSelected(&b, roots[0], sel, "")
		return nil
	})
	if err == nil {
		return b.Bytes(), nil
	}
	b.Reset()
	err = splitElements(data, func(elem []byte) error {
		d := xml.NewDecoder(bytes.NewReader(elem))
		tok, err := d.Token()
		if err != nil {
			return err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			return errScan
		}
		root := newNode(se)
		named := false
		for _, f := range filter {
			named = named || matches(f, root)
		}
		if !named {
			return nil
		}
		if root, err = parseElement(d, se); err != nil {
			return err
		}
		if _, err := d.Token(); err != io.EOF {
			return errScan
		}
		var sel *selection
		for _, f := range filter {
			if matches(f, root) {
				sel = union(sel, selectNode(root, f))
			}
		}
		writeSelected(&b, root, sel, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeSelected(b *bytes.Buffer, d *node, s *selection, parentNS string) {
	switch {
	case s == nil:
	case s.full:
		d.write(b, parentNS)
	default:
		d.writeStart(b, parentNS)
		for i, c := range d.children {
			writeSelected(b, c, s.kids[i], d.name.Space)
		}
		d.writeEnd(b)
	}
}

// matches reports whether filter node f names data node d: same local name,
// same namespace unless f's is unspecified, and every attribute of f
// present on d with the same value (RFC 6241 6.2.1, 6.2.2). A filter
// element left in the NETCONF base namespace (no xmlns of its own) has an
// unspecified namespace.
func matches(f, d *node) bool {
	if f.name.Local != d.name.Local {
		return false
	}
	if f.name.Space != "" && f.name.Space != BaseNS && f.name.Space != d.name.Space {
		return false
	}
	for _, fa := range f.attrs {
		found := false
		for _, da := range d.attrs {
			if da.Name == fa.Name && da.Value == fa.Value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// selectNode applies filter node f to data node d, whose name f matches,
// following the sibling-set rules of RFC 6241 6.2.3 - 6.2.5.
func selectNode(d, f *node) *selection {
	if len(f.children) == 0 {
		// A selection node, or a content match node standing alone.
		if t := strings.TrimSpace(f.text); t != "" && (len(d.children) != 0 || strings.TrimSpace(d.text) != t) {
			return nil
		}
		return selectAll
	}
	var contents, selections, containments []*node
	for _, c := range f.children {
		switch {
		case len(c.children) != 0:
			containments = append(containments, c)
		case strings.TrimSpace(c.text) != "":
			contents = append(contents, c)
		default:
			selections = append(selections, c)
		}
	}
	// Every content match node must match some sibling, or nothing of this
	// sibling set is selected.
	for _, cm := range contents {
		found := false
		for _, dc := range d.children {
			if contentMatches(cm, dc) {
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	if len(selections) == 0 && len(containments) == 0 {
		return selectAll
	}
	out := &selection{kids: make([]*selection, len(d.children))}
	selected := false
	for i, dc := range d.children {
		var s *selection
		for _, cm := range contents {
			if contentMatches(cm, dc) {
				s = selectAll
			}
		}
		for _, sn := range selections {
			if matches(sn, dc) {
				s = selectAll
			}
		}
		for _, cn := range containments {
			if s != selectAll && matches(cn, dc) {
				s = union(s, selectNode(dc, cn))
			}
		}
		if s != nil {
			out.kids[i] = s
			selected = true
		}
	}
	if !selected {
		return nil
	}
	return out
}

func contentMatches(cm, dc *node) bool {
	return matches(cm, dc) && len(dc.children) == 0 && strings.TrimSpace(dc.text) == strings.TrimSpace(cm.text)
}
