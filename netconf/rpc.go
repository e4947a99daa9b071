package netconf

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Handler serves the data and the RPCs of one device. The server handles the
// base protocol itself (hello, framing, close-session, kill-session, lock,
// unlock, filters, get-schema) and calls the Handler for the rest. Calls for
// one session come one at a time, in the order the requests arrived.
type Handler interface {
	// Data returns the device's data tree as a sequence of XML elements,
	// unfiltered: everything for <get>, configuration only for <get-config>.
	Data(ctx context.Context, req *Request, configOnly bool) ([]byte, error)
	// RPC answers any other operation. It returns the reply content (nil
	// for <ok/>), an *RPCError, or ErrUnknownOperation.
	RPC(ctx context.Context, req *Request) ([]byte, error)
}

// SessionEnder is implemented by a Handler that wants to know when one of
// its sessions ends.
type SessionEnder interface {
	SessionEnded(sessionID uint32)
}

// Request is one <rpc> as a Handler sees it. It is valid only until the
// Handler returns.
type Request struct {
	SessionID  uint32
	User       string
	LocalAddr  net.Addr
	RemoteAddr net.Addr
	// Op is the name of the operation element.
	Op xml.Name
	// Body is the operation element as raw XML. Namespace declarations
	// inherited from <rpc> are not repeated in it; use Decode.
	Body []byte

	nsDecls string
	tree    *node
	// closeAfter is set by a handler (via CloseSession) to end the session
	// after the reply.
	closeAfter bool
}

// decoder returns a decoder positioned just before the operation element,
// with the namespace declarations of the enclosing <rpc> in force.
func (r *Request) decoder() *xml.Decoder {
	rd := io.MultiReader(strings.NewReader("<rpc"+r.nsDecls+">"), bytes.NewReader(r.Body), strings.NewReader("</rpc>"))
	d := xml.NewDecoder(rd)
	d.Token() // <rpc>, well-formed by construction
	return d
}

// Decode unmarshals the operation element into v, with the namespace
// declarations of the enclosing <rpc> in force.
func (r *Request) Decode(v any) error {
	d := r.decoder()
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return d.DecodeElement(v, &se)
		}
	}
}

// Leaf returns the text of the operation's child element with local name
// local (in any namespace; the last such child if there are several), as
// Decode gives it to a string field tagged with that name: "" when there
// is none. ok is false when only Decode can tell (a matching child that
// has elements of its own); the operation is parsed only once for both.
func (r *Request) Leaf(local string) (text string, ok bool) {
	op, rerr := opTree(r)
	if rerr != nil {
		return "", false
	}
	for _, c := range op.children {
		if c.name.Local != local {
			continue
		}
		if len(c.children) > 0 {
			return "", false
		}
		text = c.text
	}
	return text, true
}

// CloseSession asks the server to end the session after sending the reply
// to this request (used by a device's reload).
func (r *Request) CloseSession() { r.closeAfter = true }

// rpcMsg is a parsed <rpc> message.
type rpcMsg struct {
	// attrs is the attribute text of the <rpc> start tag, as written, to be
	// echoed on <rpc-reply>; the default namespace declaration is left out.
	attrs   string
	nsDecls string
	op      xml.Name
	body    []byte
	tree    *node // the operation element, parsed
}

// errMalformed builds the malformed-message error for a decoder error.
func errMalformed(err error) *RPCError {
	msg := strings.TrimPrefix(err.Error(), "XML syntax error ")
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "message ends before </rpc>"
	}
	return &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
		Message: "message is not well-formed XML: " + msg}
}

// parseRPC parses one message. It returns the <rpc> (with attrs set as soon
// as the <rpc> start tag was read, so that errors can echo them) and the
// RFC 6241 Appendix A error that answers a bad message, if any.
func parseRPC(msg []byte) (*rpcMsg, *RPCError) {
	if m := fastRPC(msg); m != nil {
		return m, nil
	}
	return slowRPC(msg)
}

// slowRPC is parseRPC with encoding/xml, which explains what is wrong.
func slowRPC(msg []byte) (*rpcMsg, *RPCError) {
	m := &rpcMsg{}
	d := xml.NewDecoder(bytes.NewReader(msg))
	var rpc xml.StartElement
	var start int64
	for {
		start = d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return m, &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
					Message: "message has no element"}
			}
			return m, errMalformed(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			rpc = t
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return m, &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
					Message: "message is not well-formed XML: text before the root element"}
			}
			continue
		default: // comments, processing instructions, directives
			continue
		}
		break
	}
	for i, a := range rpc.Attr {
		for _, b := range rpc.Attr[:i] {
			if a.Name == b.Name {
				return m, &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
					Message: "message is not well-formed XML: attribute " + a.Name.Local + " appears twice"}
			}
		}
	}
	m.attrs = echoAttrs(msg[start:d.InputOffset()])
	if rpc.Name.Local != "rpc" {
		return m, &RPCError{Type: "protocol", Tag: "unknown-element", Severity: "error",
			Message: "expected <rpc>, got <" + rpc.Name.Local + ">",
			Info:    ErrorInfo{Inner: "<bad-element>" + escape(rpc.Name.Local) + "</bad-element>"}}
	}
	if rpc.Name.Space != BaseNS {
		return m, errUnknownNamespace("rpc", rpc.Name.Space)
	}
	hasID := false
	var ns strings.Builder
	for _, a := range rpc.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "message-id":
			hasID = true
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			ns.WriteString(` xmlns="` + escapeAttr(a.Value) + `"`)
		case a.Name.Space == "xmlns":
			ns.WriteString(` xmlns:` + a.Name.Local + `="` + escapeAttr(a.Value) + `"`)
		}
	}
	m.nsDecls = ns.String()

	// The operation: exactly one element inside <rpc>, then </rpc>, then
	// nothing but white space, comments and processing instructions.
	var opErr *RPCError
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return m, errMalformed(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if m.body != nil {
				if opErr == nil {
					opErr = &RPCError{Type: "protocol", Tag: "unknown-element", Severity: "error",
						Message: "rpc carries more than one operation (second: <" + t.Name.Local + ">)",
						Info:    ErrorInfo{Inner: "<bad-element>" + escape(t.Name.Local) + "</bad-element>"}}
				}
				if err := d.Skip(); err != nil {
					return m, errMalformed(err)
				}
				continue
			}
			// The operation is parsed once, here, with the namespace
			// declarations of <rpc> in force.
			tree, err := parseElement(d, t)
			if err != nil {
				return m, errMalformed(err)
			}
			m.op, m.tree, m.body = t.Name, tree, msg[off:d.InputOffset()]
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 && opErr == nil {
				opErr = &RPCError{Type: "protocol", Tag: "bad-element", Severity: "error",
					Message: "rpc has text content", Info: ErrorInfo{Inner: "<bad-element>rpc</bad-element>"}}
			}
		case xml.EndElement:
			// </rpc>: operations were skipped whole.
			if err := checkTrailer(d); err != nil {
				return m, err
			}
			if !hasID {
				return m, &RPCError{Type: "rpc", Tag: "missing-attribute", Severity: "error",
					Message: "rpc has no message-id attribute",
					Info:    ErrorInfo{Inner: "<bad-attribute>message-id</bad-attribute><bad-element>rpc</bad-element>"}}
			}
			if m.body == nil {
				return m, ErrMissingElement("protocol", "operation")
			}
			return m, opErr
		}
	}
}

// fastRPC parses a valid request with the fast parser; it returns nil for
// anything else, which parseRPC then examines with encoding/xml.
func fastRPC(msg []byte) *rpcMsg {
	roots, ok := fastParse(msg)
	if !ok || len(roots) != 1 {
		return nil
	}
	rpc := roots[0]
	if rpc.name.Local != "rpc" || rpc.name.Space != BaseNS || len(rpc.children) != 1 || rpc.mixed {
		return nil
	}
	hasID := false
	var ns strings.Builder
	all := append(append([]xml.Attr(nil), rpc.attrs...), rpc.nsdecls...)
	for i, a := range all {
		for _, b := range all[:i] {
			if a.Name == b.Name {
				return nil
			}
		}
		if a.Name.Space == "" && a.Name.Local == "message-id" {
			hasID = true
		}
		switch {
		case a.Name.Space == "xmlns":
			ns.WriteString(` xmlns:` + a.Name.Local + `="` + escapeAttr(a.Value) + `"`)
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			ns.WriteString(` xmlns="` + escapeAttr(a.Value) + `"`)
		}
	}
	if !hasID {
		return nil
	}
	op := rpc.children[0]
	return &rpcMsg{attrs: echoAttrs(msg[rpc.start:rpc.tagEnd]), nsDecls: ns.String(),
		op: op.name, body: msg[op.start:op.end], tree: op}
}

// checkTrailer reads what follows </rpc>: only white space, comments and
// processing instructions may.
func checkTrailer(d *xml.Decoder) *RPCError {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errMalformed(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
				Message: "message is not well-formed XML: element <" + t.Name.Local + "> after </rpc>"}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return &RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
					Message: "message is not well-formed XML: text after </rpc>"}
			}
		}
	}
}

func errUnknownNamespace(elem, ns string) *RPCError {
	return &RPCError{Type: "protocol", Tag: "unknown-namespace", Severity: "error",
		Message: fmt.Sprintf("namespace %q of <%s> is not supported", ns, elem),
		Info:    ErrorInfo{Inner: "<bad-element>" + escape(elem) + "</bad-element><bad-namespace>" + escape(ns) + "</bad-namespace>"}}
}

// echoAttrs returns the attributes of a raw start tag ("<rpc a='1' ...>")
// as written, each preceded by a space, without the default namespace
// declaration (the reply declares the base namespace itself).
func echoAttrs(tag []byte) string {
	i := 1
	for i < len(tag) && !isSpace(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	var b strings.Builder
	for i < len(tag) {
		for i < len(tag) && isSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '>' || tag[i] == '/' {
			break
		}
		nameStart := i
		for i < len(tag) && tag[i] != '=' && !isSpace(tag[i]) && tag[i] != '>' {
			i++
		}
		name := tag[nameStart:i]
		for i < len(tag) && (isSpace(tag[i]) || tag[i] == '=') {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			break // not well-formed; the decoder has said so already
		}
		q := tag[i]
		j := bytes.IndexByte(tag[i+1:], q)
		if j < 0 {
			break
		}
		value := tag[i : i+j+2]
		i += j + 2
		if string(name) == "xmlns" {
			continue
		}
		b.WriteByte(' ')
		b.Write(name)
		b.WriteByte('=')
		b.Write(value)
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

var okBody = []byte("<ok/>")

func errorBody(e *RPCError) []byte {
	var b strings.Builder
	e.appendXML(&b)
	return []byte(b.String())
}

// appendReply appends an <rpc-reply> carrying the attributes of the
// request's <rpc> start tag (message-id and any other), as RFC 6241 4.2
// requires.
func appendReply(dst []byte, attrs string, body []byte) []byte {
	dst = append(dst, `<rpc-reply xmlns="`+BaseNS+`"`...)
	dst = append(dst, attrs...)
	dst = append(dst, '>')
	dst = append(dst, body...)
	return append(dst, "</rpc-reply>"...)
}

func escapeAttr(s string) string {
	if !strings.ContainsAny(s, `<>&"'`+"\t\n\r") {
		return s
	}
	return escape(s)
}
