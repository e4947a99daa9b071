package netconf

import "context"

// GetConfigOp returns the <get-config> operation (RFC 6241 7.1) on source
// with an optional subtree filter.
func GetConfigOp(source, subtree string) string {
	op := "<get-config><source><" + source + "/></source>"
	if subtree != "" {
		op += `<filter type="subtree">` + subtree + `</filter>`
	}
	return op + "</get-config>"
}

// GetConfig runs <get-config> on source ("running") with an optional subtree
// filter and returns the content of <data>.
func (c *Client) GetConfig(ctx context.Context, source, subtree string) ([]byte, error) {
	r, err := c.Call(ctx, GetConfigOp(source, subtree))
	if err != nil {
		return nil, err
	}
	return r.Data(), nil
}
