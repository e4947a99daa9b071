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
	d := xml.NewDecoder(bytes.NewReader(r.Body))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "data" {
				if err := d.Skip(); err != nil {
					return nil
				}
				continue
			}
			var inner struct {
				Inner []byte `xml:",innerxml"`
			}
			if d.DecodeElement(&inner, &se) != nil {
				return nil
			}
			return inner.Inner
		}
	}
}

type xmlReply struct {
	XMLName   xml.Name   `xml:"rpc-reply"`
	MessageID string     `xml:"message-id,attr"`
	Errors    []RPCError `xml:"rpc-error"`
	OK        *struct{}  `xml:"ok"`
	Inner     []byte     `xml:",innerxml"`
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
// *RPCError (one) or RPCErrors (several).
func parseReply(raw []byte, messageID string) (*Reply, error) {
	var x xmlReply
	if err := xml.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("netconf: bad rpc-reply: %w", err)
	}
	if x.XMLName.Space != BaseNS {
		return nil, fmt.Errorf("netconf: rpc-reply in namespace %q, want %q", x.XMLName.Space, BaseNS)
	}
	// A server that could not read the request (too big, not well-formed)
	// may answer without a message-id; its rpc-error is the answer.
	if x.MessageID != messageID && (x.MessageID != "" || len(x.Errors) == 0) {
		return nil, &messageIDError{got: x.MessageID, want: messageID}
	}
	r := &Reply{MessageID: x.MessageID, Body: x.Inner, OK: x.OK != nil}
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
