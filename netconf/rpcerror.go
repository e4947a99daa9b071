package netconf

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// BaseNS is the NETCONF base namespace.
const BaseNS = "urn:ietf:params:xml:ns:netconf:base:1.0"

// RPCError is an RFC 6241 <rpc-error>. It is returned as an error by client
// calls (for severity "error") and by server handlers to answer a request
// with an error. Type is transport, rpc, protocol or application; Tag one of
// the RFC 6241 Appendix A tags; Severity error or warning.
type RPCError struct {
	Type     string `xml:"error-type"`
	Tag      string `xml:"error-tag"`
	Severity string `xml:"error-severity"`
	AppTag   string `xml:"error-app-tag,omitempty"`
	Path     string `xml:"error-path,omitempty"`
	Message  string `xml:"error-message,omitempty"`
	// Info holds the raw inner XML of <error-info>.
	Info ErrorInfo `xml:"error-info,omitempty"`
}

// ErrorInfo is the content of <error-info>, kept as raw XML.
type ErrorInfo struct {
	Inner string `xml:",innerxml"`
}

// IsZero lets omitempty drop an empty <error-info>.
func (e ErrorInfo) IsZero() bool { return strings.TrimSpace(e.Inner) == "" }

func (e *RPCError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netconf: rpc-error %s/%s", e.Type, e.Tag)
	if e.AppTag != "" {
		fmt.Fprintf(&b, " (%s)", e.AppTag)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " at %s", e.Path)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// RPCErrors is returned by client calls when a reply carries several
// rpc-errors of severity "error". errors.As finds the first as *RPCError.
type RPCErrors []*RPCError

func (es RPCErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = strings.TrimPrefix(e.Error(), "netconf: ")
	}
	return "netconf: " + strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es RPCErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// BadElement returns error-info's <bad-element>, or "".
func (e *RPCError) BadElement() string { return e.InfoValue("bad-element") }

// BadAttribute returns error-info's <bad-attribute>, or "".
func (e *RPCError) BadAttribute() string { return e.InfoValue("bad-attribute") }

// BadNamespace returns error-info's <bad-namespace>, or "".
func (e *RPCError) BadNamespace() string { return e.InfoValue("bad-namespace") }

// SessionID returns error-info's <session-id> (the lock holder of a
// lock-denied error), or 0.
func (e *RPCError) SessionID() uint32 {
	id, err := strconv.ParseUint(e.InfoValue("session-id"), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(id)
}

// InfoValue returns the text of the first error-info child named local.
func (e *RPCError) InfoValue(local string) string {
	d := xml.NewDecoder(strings.NewReader("<i>" + e.Info.Inner + "</i>"))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == local {
			var v string
			if d.DecodeElement(&v, &se) == nil {
				return strings.TrimSpace(v)
			}
			return ""
		}
	}
}

// appendXML appends the <rpc-error> element.
func (e *RPCError) appendXML(b *strings.Builder) {
	b.WriteString("<rpc-error>")
	writeLeaf(b, "error-type", e.Type)
	writeLeaf(b, "error-tag", e.Tag)
	sev := e.Severity
	if sev == "" {
		sev = "error"
	}
	writeLeaf(b, "error-severity", sev)
	writeLeaf(b, "error-app-tag", e.AppTag)
	writeLeaf(b, "error-path", e.Path)
	if e.Message != "" {
		b.WriteString(`<error-message xml:lang="en">`)
		xml.EscapeText(b, []byte(e.Message))
		b.WriteString("</error-message>")
	}
	if !e.Info.IsZero() {
		b.WriteString("<error-info>" + e.Info.Inner + "</error-info>")
	}
	b.WriteString("</rpc-error>")
}

func writeLeaf(b *strings.Builder, name, v string) {
	if v == "" {
		return
	}
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(v))
	b.WriteString("</" + name + ">")
}

// Error constructors for the RFC 6241 Appendix A errors the server sends.

// ErrOperationFailed returns an application operation-failed error.
func ErrOperationFailed(msg string) *RPCError {
	return &RPCError{Type: "application", Tag: "operation-failed", Severity: "error", Message: msg}
}

// ErrInvalidValue returns an invalid-value error.
func ErrInvalidValue(typ, msg string) *RPCError {
	return &RPCError{Type: typ, Tag: "invalid-value", Severity: "error", Message: msg}
}

// ErrOperationNotSupported returns an operation-not-supported error.
func ErrOperationNotSupported(msg string) *RPCError {
	return &RPCError{Type: "protocol", Tag: "operation-not-supported", Severity: "error", Message: msg}
}

// ErrMissingElement returns a missing-element error naming the element.
func ErrMissingElement(typ, elem string) *RPCError {
	return &RPCError{Type: typ, Tag: "missing-element", Severity: "error",
		Message: "missing element " + elem, Info: ErrorInfo{Inner: "<bad-element>" + escape(elem) + "</bad-element>"}}
}

// ErrBadElement returns a bad-element error naming the element.
func ErrBadElement(typ, elem, msg string) *RPCError {
	return &RPCError{Type: typ, Tag: "bad-element", Severity: "error",
		Message: msg, Info: ErrorInfo{Inner: "<bad-element>" + escape(elem) + "</bad-element>"}}
}

// ErrUnknownElement returns an unknown-element error naming the element.
func ErrUnknownElement(typ, elem, msg string) *RPCError {
	return &RPCError{Type: typ, Tag: "unknown-element", Severity: "error",
		Message: msg, Info: ErrorInfo{Inner: "<bad-element>" + escape(elem) + "</bad-element>"}}
}

// ErrLockDenied returns the lock-denied error naming the session that holds
// the lock.
func ErrLockDenied(holder uint32, msg string) *RPCError {
	return &RPCError{Type: "protocol", Tag: "lock-denied", Severity: "error", Message: msg,
		Info: ErrorInfo{Inner: "<session-id>" + strconv.FormatUint(uint64(holder), 10) + "</session-id>"}}
}

// ErrInUse returns an in-use error.
func ErrInUse(typ, msg string) *RPCError {
	return &RPCError{Type: typ, Tag: "in-use", Severity: "error", Message: msg}
}

// ErrAccessDenied returns an access-denied error.
func ErrAccessDenied(msg string) *RPCError {
	return &RPCError{Type: "protocol", Tag: "access-denied", Severity: "error", Message: msg}
}

// ErrResourceDenied returns a resource-denied error.
func ErrResourceDenied(msg string) *RPCError {
	return &RPCError{Type: "application", Tag: "resource-denied", Severity: "error", Message: msg}
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
