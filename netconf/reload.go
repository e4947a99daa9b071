package netconf

import "context"

// ReloadOp is the licensing module's <reload> operation.
var ReloadOp = licensingOp("reload")

// Reload asks the device to reload. The device answers and ends the
// session; the client is closed afterwards (dial again to read the new
// state).
func (c *Client) Reload(ctx context.Context) error {
	err := c.callOK(ctx, "reload", ReloadOp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.err = errReloaded
		c.sshc.Close()
	}
	return err
}
