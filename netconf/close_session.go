package netconf

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// closeSessionOp is the <close-session> operation (RFC 6241 7.8).
const closeSessionOp = "<close-session/>"

// CloseSession ends the session gracefully: it sends <close-session>, waits
// for the reply (bounded by ctx and RPCTimeout) and closes the connection.
// The server releases the session's locks. It returns the error of
// close-session, if any, or of closing the connection; on a client already
// closed it does nothing and returns nil.
func (c *Client) CloseSession(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil
	}
	_, err := c.Call(ctx, closeSessionOp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return err // Call failed and closed the session
	}
	c.closed = true
	c.err = errSessionClosed
	if cerr := c.sshc.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = fmt.Errorf("netconf: %s: close: %w", c.addr, cerr)
	}
	return err
}
