package netconf

import (
	"context"
	"errors"
)

// GetOp returns the <get> operation (RFC 6241 7.7) with an optional subtree
// filter (the filter's content, as XML).
func GetOp(subtree string) string {
	if subtree == "" {
		return "<get/>"
	}
	return `<get><filter type="subtree">` + subtree + `</filter></get>`
}

// Get runs <get> with an optional subtree filter and returns the content of
// <data>.
func (c *Client) Get(ctx context.Context, subtree string) ([]byte, error) {
	r, err := c.Call(ctx, GetOp(subtree))
	if err != nil {
		return nil, err
	}
	return r.Data(), nil
}

// get serves <get> and <get-config>: the Handler's data, filtered.
func (s *Server) get(ctx context.Context, ss *serverSession, req *Request) (body []byte, drop bool) {
	configOnly := req.Op.Local == "get-config"
	op, rerr := opTree(req)
	if rerr == nil {
		if configOnly {
			rerr = checkChildren(op, "source", "filter")
		} else {
			rerr = checkChildren(op, "filter")
		}
	}
	if rerr == nil && configOnly {
		_, rerr = datastore(op, "source")
	}
	filter := op.child("filter")
	if rerr == nil && filter != nil {
		if typ, _ := filter.attr("type"); typ != "" && typ != "subtree" {
			rerr = &RPCError{Type: "protocol", Tag: "bad-attribute", Severity: "error",
				Message: "filter type " + typ + " is not supported (only subtree)",
				Info:    ErrorInfo{Inner: "<bad-attribute>type</bad-attribute><bad-element>filter</bad-element>"}}
		}
	}
	if rerr != nil {
		return errorBody(rerr), false
	}
	data, err := ss.h.Data(ctx, req, configOnly)
	if errors.Is(err, ErrDropSession) {
		return nil, true
	}
	if err != nil {
		return errorBody(s.toRPCError(req, err)), false
	}
	if filter != nil {
		if data, err = filterSubtree(data, filter.children); err != nil {
			return errorBody(ErrOperationFailed("the device's data is not well-formed XML: " + err.Error())), false
		}
	}
	out := make([]byte, 0, len(data)+13)
	out = append(out, "<data>"...)
	out = append(out, data...)
	return append(out, "</data>"...), false
}
