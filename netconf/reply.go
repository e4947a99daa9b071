package netconf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Reply is a parsed <rpc-reply>.
type Reply struct {
	MessageID string
	// Body is the inner XML of <rpc-reply>.
	Body []byte
	// OK reports whether the reply was <ok/>.
	OK bool
	// Errors are the rpc-errors of severity "error"; the call that
	// returned the reply returned them as its error too.
	Errors []*RPCError
	// Warnings are rpc-errors with severity "warning"; they are not errors.
	Warnings []*RPCError
}

// Data returns the inner XML of the reply's <data> element, if any.
func (r *Reply) Data() []byte {
	var data []byte
	splitElements(r.Body, func(elem []byte) error {
		if data == nil && localName(elem) == "data" {
			data = elementContent(elem)
			if data == nil {
				data = []byte{}
			}
		}
		return nil
	})
	return data
}

// localName returns the local name of the start tag at elem[0].
func localName(elem []byte) string {
	i := 1
	for i < len(elem) && !isSpace(elem[i]) && elem[i] != '>' && elem[i] != '/' {
		i++
	}
	name := elem[1:i]
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	return string(name)
}

type xmlReply struct {
	XMLName   xml.Name   `xml:"rpc-reply"`
	MessageID string     `xml:"message-id,attr"`
	Errors    []RPCError `xml:"rpc-error"`
	OK        *struct{}  `xml:"ok"`
}

// messageIDError reports a reply that does not answer the request: the
// session is out of step and must end.
type messageIDError struct{ got, want string }

func (e *messageIDError) Error() string {
	if e.got == "" {
		return fmt.Sprintf("netconf: rpc-reply has no message-id (request %q)", e.want)
	}
	return fmt.Sprintf("netconf: rpc-reply message-id %q does not match request %q", e.got, e.want)
}

// parseReply decodes a reply to the request with messageID. It returns the
// reply and, if the reply carries rpc-errors of severity "error", an
// *RPCError (one) or RPCErrors (several). A reply without rpc-error is not
// tokenized beyond its start tag and first child: Body is cut out by
// counting tags, and what callers decode from it is parsed then.
func parseReply(raw []byte, messageID string) (*Reply, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var root xml.StartElement
	var rootAt int64
	for {
		rootAt = d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("netconf: bad rpc-reply: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name.Local != "rpc-reply" || root.Name.Space != BaseNS {
		return nil, fmt.Errorf("netconf: got <%s> in namespace %q, want an rpc-reply in %q", root.Name.Local, root.Name.Space, BaseNS)
	}
	n, err := scanElement(raw[rootAt:])
	if err != nil {
		return nil, fmt.Errorf("netconf: bad rpc-reply: %w", err)
	}
	if rest := bytes.TrimSpace(raw[rootAt+int64(n):]); len(rest) != 0 {
		return nil, fmt.Errorf("netconf: bad rpc-reply: %d bytes after </rpc-reply>", len(rest))
	}
	r := &Reply{}
	for _, a := range root.Attr {
		if a.Name.Space == "" && a.Name.Local == "message-id" {
			r.MessageID = a.Value
		}
	}
	if body := elementContent(raw[rootAt : rootAt+int64(n)]); body != nil {
		r.Body = append([]byte(nil), body...)
	}
	if bytes.Contains(r.Body, []byte("rpc-error")) {
		return parseReplyErrors(raw, r, messageID)
	}
	if r.MessageID != messageID {
		return nil, &messageIDError{got: r.MessageID, want: messageID}
	}
	// <ok/> is the first (and only) child of an ok reply.
	splitElements(r.Body, func(elem []byte) error {
		if !r.OK && localName(elem) == "ok" {
			r.OK = true
		}
		return errScan // the first element is enough
	})
	return r, nil
}

// parseReplyErrors decodes a reply that carries rpc-errors, with full
// checking.
func parseReplyErrors(raw []byte, r *Reply, messageID string) (*Reply, error) {
	var x xmlReply
	if err := xml.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("netconf: bad rpc-reply: %w", err)
	}
	// A server that could not read the request (too big, not well-formed)
	// may answer without a message-id; its rpc-error is the answer.
	if x.MessageID != messageID && (x.MessageID != "" || len(x.Errors) == 0) {
		return nil, &messageIDError{got: x.MessageID, want: messageID}
	}
	r.OK = x.OK != nil
	for i := range x.Errors {
		e := &x.Errors[i]
		e.normalize()
		if e.Severity == "warning" {
			r.Warnings = append(r.Warnings, e)
		} else {
			r.Errors = append(r.Errors, e)
		}
	}
	switch len(r.Errors) {
	case 0:
		return r, nil
	case 1:
		return r, r.Errors[0]
	}
	return r, RPCErrors(r.Errors)
}

// normalize trims the white space that pretty-printing servers put around
// values.
func (e *RPCError) normalize() {
	e.Type = strings.TrimSpace(e.Type)
	e.Tag = strings.TrimSpace(e.Tag)
	e.Severity = strings.TrimSpace(e.Severity)
	e.AppTag = strings.TrimSpace(e.AppTag)
	e.Path = strings.TrimSpace(e.Path)
	e.Message = strings.TrimSpace(e.Message)
	e.Info.Inner = strings.TrimSpace(e.Info.Inner)
}
