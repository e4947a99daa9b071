package netconf

import "context"

// SetBootLevelOp returns the licensing module's <set-boot-level> operation.
func SetBootLevelOp(level string) string { return licensingOp("set-boot-level", "level", level) }

// SetBootLevel sets the feature level the device activates at its next
// reload.
func (c *Client) SetBootLevel(ctx context.Context, level string) error {
	return c.callOK(ctx, "set-boot-level", SetBootLevelOp(level))
}
