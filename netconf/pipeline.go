package netconf

import (
	"context"
	"fmt"
	"strconv"

	gonetconf "github.com/Juniper/go-netconf/netconf"
)

// Result is the reply to one RPC of a pipeline and, as Call returns it, its
// rpc-errors of severity "error" as an error.
type Result struct {
	Reply *Reply
	Err   error
}

// Pipeline sends RPCs (operations as raw XML, as for Call) in one write,
// without waiting for replies, then reads the replies, which the server
// sends in order (RFC 6241 4.1). It returns one Result per operation. Any
// failure to send or receive ends the session and is returned as the error,
// with no results; so is a reply whose message-id is not the next one's.
// RPCTimeout bounds the whole pipeline.
func (c *Client) Pipeline(ctx context.Context, ops ...string) ([]Result, error) {
	return c.pipeline(ctx, ops, false)
}

// PipelineClose is Pipeline with <close-session> sent last in the same
// write: the session ends after the replies, as with CloseSession. A reply
// to close-session that is not <ok/> is ignored; the connection is closed
// either way. A session that ends sends one message fewer each way than
// with a Call then a CloseSession.
func (c *Client) PipelineClose(ctx context.Context, ops ...string) ([]Result, error) {
	return c.pipeline(ctx, ops, true)
}

func (c *Client) pipeline(ctx context.Context, ops []string, closeAfter bool) ([]Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("netconf: %s: session closed: %w", c.addr, c.err)
	}
	if closeAfter {
		ops = append(ops[:len(ops):len(ops)], closeSessionOp)
	}
	msgs := make([][]byte, len(ops))
	ids := make([]string, len(ops))
	for i, op := range ops {
		c.nextID++
		ids[i] = strconv.FormatUint(c.nextID, 10)
		msgs[i] = appendRPC(nil, &gonetconf.RPCMessage{MessageID: ids[i], Methods: []gonetconf.RPCMethod{gonetconf.RawMethod(op)}})
	}

	rctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
	defer cancel()
	stop := context.AfterFunc(rctx, func() { c.conn.Close() })
	out := make([]Result, len(ops))
	err := c.t.SendAll(msgs...)
	if err != nil {
		err = fmt.Errorf("netconf: %s: %w", c.addr, err)
	}
	for i := 0; i < len(ops) && err == nil; i++ {
		var raw []byte
		if raw, err = c.t.Receive(); err != nil {
			err = fmt.Errorf("netconf: %s: netconf: receive: %w", c.addr, err)
			break
		}
		r, rerr := parseReply(raw, ids[i])
		if r == nil {
			// Not a reply to this request: the session is out of step.
			err = fmt.Errorf("netconf: %s: %w", c.addr, rerr)
			break
		}
		if c.cfg.OnWarning != nil {
			for _, w := range r.Warnings {
				c.cfg.OnWarning(c.addr, w)
			}
		}
		out[i] = Result{Reply: r, Err: rerr}
	}
	if !stop() {
		return nil, c.fail(fmt.Errorf("netconf: %s: rpc timed out or cancelled: %w", c.addr, context.Cause(rctx)))
	}
	if err != nil {
		return nil, c.fail(err)
	}
	if closeAfter {
		out = out[:len(out)-1]
		c.closed = true
		c.err = errSessionClosed
		c.sshc.Close()
	}
	return out, nil
}
