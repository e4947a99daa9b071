package netconf

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
)

// A fast parser for the XML NETCONF peers exchange: ASCII names, the five
// predefined entities and character references, comments, CDATA sections
// and processing instructions. It builds the same trees (names resolved as
// encoding/xml resolves them) several times faster than encoding/xml. On
// anything else, well-formed or not (non-ASCII bytes, DOCTYPE, unusual
// names, an error), it gives up and the caller parses with encoding/xml,
// which decides and reports. FuzzFastParse checks both agree.

type fastParser struct {
	b    []byte
	i    int
	ns   []nsBinding // in-scope declarations, innermost last
	slab []node      // nodes are allocated in blocks
}

// interned holds the names and namespaces NETCONF messages are made of, so
// that parsing them allocates no strings (read-only after init).
var interned = map[string]string{}

func init() {
	for _, s := range []string{
		BaseNS, MonitoringNS, HardwareNS, IANAHwNS, LicensingNS, CapBase10, CapBase11, CapMonitoring,
		CapLicensing, CapHardware, CapIANAHardware, "xmlns", "nc", "xml", "lang", "en", "message-id", "type", "subtree",
		"hello", "capabilities", "capability", "session-id", "rpc", "rpc-reply", "ok", "data", "rpc-error",
		"error-type", "error-tag", "error-severity", "error-app-tag", "error-path", "error-message", "error-info",
		"get", "get-config", "edit-config", "lock", "unlock", "close-session", "kill-session", "source", "target",
		"running", "filter", "config", "get-schema", "identifier", "version", "format", "yang",
		"hardware", "component", "name", "class", "description", "software-rev", "serial-num", "mfg-name",
		"model-name", "ianahw", "ianahw:chassis", "chassis", "licensing", "udi", "available-level", "active-level",
		"boot-level", "next-boot-level", "license", "index", "id", "feature", "state", "counted", "count",
		"period-left", "period-left-seconds", "period-used-seconds", "eula-accepted", "store", "lock-type",
		"comment", "install-license", "license-file", "result", "line", "license-id", "status", "reason",
		"clear-license", "accept-eula", "activate-evaluation", "set-boot-level", "level", "reload",
		"true", "false", "permanent", "evaluation", "extension", "inUse", "notInUse", "inactive", "primary",
		"built-in", "node-locked", "not-node-locked", "installed", "already-present", "failed",
	} {
		interned[s] = s
	}
}

// str returns b as a string, without allocating for interned strings.
func str(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

func (p *fastParser) newNode() *node {
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]node, 0, 16)
	}
	p.slab = p.slab[:len(p.slab)+1]
	return &p.slab[len(p.slab)-1]
}

type nsBinding struct{ prefix, uri string }

// fastParse parses a sequence of top-level elements (with white space,
// comments and processing instructions between them). ok is false when the
// input is beyond the fast parser; then nothing is known about it.
func fastParse(b []byte) (roots []*node, ok bool) {
	tags := 0
	for _, c := range b {
		if c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			return nil, false
		}
		if c == '<' {
			tags++
		}
	}
	// Most elements have a start and an end tag: one block of nodes
	// usually holds them all.
	p := &fastParser{b: b, slab: make([]node, 0, tags/2+1)}
	for {
		p.skipSpace()
		if p.i == len(b) {
			return roots, true
		}
		if b[p.i] != '<' {
			return nil, false
		}
		if p.skipMisc() {
			continue
		}
		n, ok := p.element()
		if !ok {
			return nil, false
		}
		roots = append(roots, n)
	}
}

func (p *fastParser) skipSpace() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

// skipMisc skips a comment or processing instruction at p.i.
func (p *fastParser) skipMisc() bool {
	rest := p.b[p.i:]
	var end string
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		end = "-->"
	case bytes.HasPrefix(rest, []byte("<?")):
		end = "?>"
	default:
		return false
	}
	k := bytes.Index(rest[2:], []byte(end))
	if k < 0 {
		return false
	}
	if end == "?>" && !plainPI(rest[2:2+k]) {
		return false
	}
	p.i += 2 + k + len(end)
	return true
}

// plainPI reports whether a processing instruction's content (between
// "<?" and "?>") is one the fast parser may skip: a plain target other
// than xml, or the usual XML declarations.
func plainPI(pi []byte) bool {
	switch string(pi) {
	case `xml version="1.0"`, `xml version="1.0" encoding="UTF-8"`, `xml version="1.0" encoding="utf-8"`,
		`xml version='1.0'`, `xml version='1.0' encoding='UTF-8'`, `xml version='1.0' encoding='utf-8'`:
		return true
	}
	i := 0
	for i < len(pi) && ('a' <= pi[i] && pi[i] <= 'z' || 'A' <= pi[i] && pi[i] <= 'Z') {
		i++
	}
	target := strings.ToLower(string(pi[:i]))
	return i > 0 && target != "xml" && (i == len(pi) || isSpace(pi[i]))
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
}

// name reads a name; it gives up on names encoding/xml treats specially.
func (p *fastParser) name() ([]byte, bool) {
	start := p.i
	for p.i < len(p.b) && isNameByte(p.b[p.i]) {
		p.i++
	}
	n := p.b[start:p.i]
	if len(n) == 0 || !(n[0] == '_' || 'a' <= n[0] && n[0] <= 'z' || 'A' <= n[0] && n[0] <= 'Z') {
		return nil, false
	}
	if c := bytes.Count(n, []byte(":")); c > 1 || c == 1 && (n[len(n)-1] == ':') {
		return nil, false
	}
	return n, true
}

func splitName(b []byte) xml.Name {
	if i := bytes.IndexByte(b, ':'); i > 0 {
		return xml.Name{Space: str(b[:i]), Local: str(b[i+1:])}
	}
	return xml.Name{Local: str(b)}
}

// resolve translates a prefix as encoding/xml does.
func (p *fastParser) resolve(n *xml.Name, element bool) {
	switch {
	case n.Space == "xmlns":
		return
	case n.Space == "" && !element:
		return
	case n.Space == "xml":
		n.Space = xmlNS
		return
	case n.Space == "" && n.Local == "xmlns":
		return
	}
	for k := len(p.ns) - 1; k >= 0; k-- {
		if p.ns[k].prefix == n.Space {
			n.Space = p.ns[k].uri
			return
		}
	}
}

// element parses the element at p.i.
func (p *fastParser) element() (*node, bool) {
	start := p.i
	p.i++ // '<'
	raw, ok := p.name()
	if !ok {
		return nil, false
	}
	n := p.newNode()
	n.start = start
	var attrBuf [4]xml.Attr
	attrs := attrBuf[:0]
	mark := len(p.ns)
	for {
		hadSpace := p.i < len(p.b) && isSpace(p.b[p.i])
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, false
		}
		if c := p.b[p.i]; c == '>' || c == '/' {
			break
		}
		if !hadSpace {
			return nil, false
		}
		an, ok := p.name()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '=' {
			return nil, false
		}
		p.i++
		p.skipSpace()
		if p.i >= len(p.b) || (p.b[p.i] != '"' && p.b[p.i] != '\'') {
			return nil, false
		}
		q := p.b[p.i]
		k := bytes.IndexByte(p.b[p.i+1:], q)
		if k < 0 {
			return nil, false
		}
		raw := p.b[p.i+1 : p.i+1+k]
		if bytes.IndexByte(raw, '<') >= 0 {
			return nil, false
		}
		vb, ok := p.text(nil, raw)
		if !ok {
			return nil, false
		}
		v := str(vb)
		p.i += k + 2
		a := xml.Attr{Name: splitName(an), Value: v}
		switch {
		case a.Name.Space == "xmlns":
			p.ns = append(p.ns, nsBinding{a.Name.Local, v})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			p.ns = append(p.ns, nsBinding{"", v})
		}
		attrs = append(attrs, a)
	}
	n.name = splitName(raw)
	p.resolve(&n.name, true)
	for i := range attrs {
		p.resolve(&attrs[i].Name, false)
	}
	n.setAttrs(attrs)
	defer func() { p.ns = p.ns[:mark] }()
	if p.b[p.i] == '/' {
		if p.i+1 >= len(p.b) || p.b[p.i+1] != '>' {
			return nil, false
		}
		p.i += 2
		n.tagEnd, n.end = p.i, p.i
		return n, true
	}
	p.i++ // '>'
	n.tagEnd = p.i
	var text []byte
	for {
		k := bytes.IndexByte(p.b[p.i:], '<')
		if k < 0 {
			return nil, false
		}
		if k > 0 {
			if !n.mixed && len(bytes.TrimSpace(p.b[p.i:p.i+k])) != 0 {
				n.mixed = true // text somewhere; cleared below for leaves
			}
			if len(n.children) == 0 {
				// Text matters only in leaves; it is copied only when it
				// needs decoding or comes in pieces.
				seg := p.b[p.i : p.i+k]
				if text == nil && bytes.IndexByte(seg, '&') < 0 && bytes.IndexByte(seg, '\r') < 0 {
					if bytes.Contains(seg, []byte("]]>")) {
						return nil, false
					}
					text = seg[:len(seg):len(seg)]
				} else {
					var ok bool
					if text, ok = p.text(text, seg); !ok {
						return nil, false
					}
				}
			} else if _, ok := p.text(nil, p.b[p.i:p.i+k]); !ok {
				return nil, false
			}
			p.i += k
		}
		rest := p.b[p.i:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			p.i += 2
			if !bytes.HasPrefix(p.b[p.i:], raw) {
				return nil, false
			}
			p.i += len(raw)
			p.skipSpace()
			if p.i >= len(p.b) || p.b[p.i] != '>' {
				return nil, false
			}
			p.i++
			n.end = p.i
			if len(n.children) == 0 {
				n.text = str(text)
				n.mixed = false
			}
			return n, true
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			k := bytes.Index(rest, []byte("]]>"))
			if k < 0 {
				return nil, false
			}
			if len(n.children) == 0 {
				text = append(text[:len(text):len(text)], p.crlf(rest[9:k])...)
			}
			p.i += k + 3
		case bytes.HasPrefix(rest, []byte("<!--")), bytes.HasPrefix(rest, []byte("<?")):
			if !p.skipMisc() {
				return nil, false
			}
		case bytes.HasPrefix(rest, []byte("<!")):
			return nil, false
		default:
			c, ok := p.element()
			if !ok {
				return nil, false
			}
			n.children = append(n.children, c)
			text = nil
		}
	}
}

// crlf turns \r\n and \r into \n, as encoding/xml does.
func (p *fastParser) crlf(s []byte) []byte {
	if bytes.IndexByte(s, '\r') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// text appends character data s to dst, decoded (entities, line ends). A
// nil dst with nothing to decode returns s itself.
func (p *fastParser) text(dst, s []byte) ([]byte, bool) {
	if bytes.Contains(s, []byte("]]>")) {
		return nil, false
	}
	if bytes.IndexByte(s, '&') < 0 && bytes.IndexByte(s, '\r') < 0 {
		if dst == nil {
			return s, true
		}
		return append(dst, s...), true
	}
	s = p.crlf(s)
	out := dst
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			out = append(out, s[i])
			continue
		}
		k := bytes.IndexByte(s[i:], ';')
		if k < 0 {
			return nil, false
		}
		switch ent := string(s[i+1 : i+k]); ent {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "apos":
			out = append(out, '\'')
		case "quot":
			out = append(out, '"')
		default:
			var v uint64
			var err error
			switch {
			case strings.HasPrefix(ent, "#x"):
				v, err = strconv.ParseUint(ent[2:], 16, 32)
			case strings.HasPrefix(ent, "#"):
				v, err = strconv.ParseUint(ent[1:], 10, 32)
			default:
				return nil, false
			}
			// Only plain ASCII characters; encoding/xml decides the rest.
			if err != nil || !(v == '\t' || v == '\n' || v == '\r' || 0x20 <= v && v < 0x80) {
				return nil, false
			}
			out = append(out, byte(v))
		}
		i += k
	}
	return out, true
}

// setAttrs splits attributes into namespace declarations and the rest, as
// newNode does.
func (n *node) setAttrs(attrs []xml.Attr) {
	for _, a := range attrs {
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns":
			n.nsdecls = append(n.nsdecls, a)
		default:
			n.attrs = append(n.attrs, a)
		}
	}
}
