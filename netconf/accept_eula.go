package netconf

import "context"

// AcceptEULAOp returns the licensing module's <accept-eula> operation.
func AcceptEULAOp(feature string) string { return licensingOp("accept-eula", "feature", feature) }

// AcceptEULA accepts the end-user license agreement of a feature level.
func (c *Client) AcceptEULA(ctx context.Context, feature string) error {
	return c.callOK(ctx, "accept-eula", AcceptEULAOp(feature))
}
