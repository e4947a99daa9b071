package netconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	gonetconf "github.com/Juniper/go-netconf/netconf"
	"golang.org/x/crypto/ssh"
)

// ClientConfig configures NETCONF client sessions. The zero value of each
// timeout selects its default.
type ClientConfig struct {
	User     string
	Password string
	// Signer, when set, is offered for public-key authentication.
	Signer ssh.Signer
	// HostKeyCallback verifies the device's host key; see KnownHosts.
	HostKeyCallback ssh.HostKeyCallback
	// DialTimeout bounds TCP connect plus SSH handshake (default 10s).
	DialTimeout time.Duration
	// HelloTimeout bounds opening the netconf subsystem and the hello
	// exchange (default 10s).
	HelloTimeout time.Duration
	// RPCTimeout bounds each RPC unless the context has an earlier deadline
	// (default 60s).
	RPCTimeout time.Duration
	// MaxMessageSize bounds a reply's size (default 16 MiB).
	MaxMessageSize int64
	// Capabilities are advertised in the client's hello (default base 1.0
	// and 1.1).
	Capabilities []string
	// FirstRPCDelay, when set, makes Dial wait this long after the hello
	// exchange before it returns. yuma123's netconfd (2.x) does not answer
	// an <rpc> that reaches it in the same read as the client's <hello>
	// (see interop_test.go); a short delay (50ms) avoids that. Default 0.
	FirstRPCDelay time.Duration
	// OnWarning, when set, is called with each rpc-error of severity
	// "warning" in a reply (warnings are not errors; see Reply.Warnings).
	OnWarning func(addr string, w *RPCError)
	// Algorithms restricts the SSH algorithms offered (default:
	// x/crypto/ssh's); see SSHAlgorithms.
	Algorithms SSHAlgorithms
}

// Dialer opens client sessions with one configuration; the SSH client
// configuration is built once and shared by every session it opens.
type Dialer struct {
	cfg   ClientConfig
	ssh   *ssh.ClientConfig
	hello []byte // the client's hello, the same for every session
}

// NewDialer copies cfg, fills in defaults and returns a Dialer.
func NewDialer(cfg ClientConfig) *Dialer {
	full := cfg
	if full.DialTimeout <= 0 {
		full.DialTimeout = 10 * time.Second
	}
	if full.HelloTimeout <= 0 {
		full.HelloTimeout = 10 * time.Second
	}
	if full.RPCTimeout <= 0 {
		full.RPCTimeout = 60 * time.Second
	}
	if len(full.Capabilities) == 0 {
		full.Capabilities = []string{CapBase10, CapBase11}
	}
	var auth []ssh.AuthMethod
	if full.Signer != nil {
		auth = append(auth, ssh.PublicKeys(full.Signer))
	}
	if full.Password != "" {
		pw := full.Password
		auth = append(auth, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, qs []string, _ []bool) ([]string, error) {
				ans := make([]string, len(qs))
				for i := range ans {
					ans[i] = pw
				}
				return ans, nil
			}))
	}
	hk := full.HostKeyCallback
	if hk == nil {
		hk = func(string, net.Addr, ssh.PublicKey) error {
			return errors.New("netconf: no host key policy configured")
		}
	}
	sc := &ssh.ClientConfig{User: full.User, Auth: auth, HostKeyCallback: hk,
		HostKeyAlgorithms: slices.Clone(full.Algorithms.HostKeys)}
	full.Algorithms.apply(&sc.Config)
	return &Dialer{cfg: full, ssh: sc, hello: MarshalHello(full.Capabilities, 0)}
}

// SSHConfig returns a copy of the SSH client configuration of the
// sessions dl opens (benchmarks measure bare handshakes with it).
func (dl *Dialer) SSHConfig() *ssh.ClientConfig {
	c := *dl.ssh
	return &c
}

// netconfSubsystem is the payload of the subsystem request: the SSH string
// "netconf".
var netconfSubsystem = []byte("\x00\x00\x00\x07netconf")

// Client is one NETCONF session with a device. Its methods may be called
// from several goroutines; RPCs are sent one at a time.
type Client struct {
	addr    string
	cfg     *ClientConfig
	conn    net.Conn
	sshc    *ssh.Client
	sess    gonetconf.Session
	t       *Transport
	framing Framing

	mu     sync.Mutex
	closed bool
	err    error // why the session ended, once closed
	nextID uint64
	req    []byte
}

// Dial connects to addr (host:port) with cfg; see Dialer.Dial.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	return NewDialer(cfg).Dial(ctx, addr)
}

// Dial connects to addr (host:port), authenticates, opens the netconf
// subsystem and exchanges hellos. DialTimeout bounds the TCP connect and
// the SSH handshake, HelloTimeout the rest, and ctx all of it.
func (dl *Dialer) Dial(ctx context.Context, addr string) (*Client, error) {
	dctx, cancel := context.WithTimeout(ctx, dl.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netconf: dial %s: %w", addr, err)
	}
	c, err := dl.handshake(dctx, ctx, conn, addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (dl *Dialer) handshake(dctx, ctx context.Context, conn net.Conn, addr string) (*Client, error) {
	full := &dl.cfg
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Now()) })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, dl.ssh)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("netconf: %s: ssh handshake: %w", addr, context.Cause(dctx))
	}
	if err != nil {
		return nil, fmt.Errorf("netconf: %s: %w", addr, err)
	}
	sshc := ssh.NewClient(sc, chans, reqs)
	fail := func(err error) (*Client, error) { sshc.Close(); return nil, err }

	hctx, cancel := context.WithTimeout(ctx, full.HelloTimeout)
	defer cancel()
	stop = context.AfterFunc(hctx, func() { conn.Close() })
	timedOut := func(err error) error {
		if hctx.Err() != nil {
			return fmt.Errorf("netconf: %s: no hello from server within %s: %w", addr, full.HelloTimeout, context.Cause(hctx))
		}
		return err
	}

	ch, reqs, err := sshc.OpenChannel("session", nil)
	if err != nil {
		stop()
		return fail(timedOut(fmt.Errorf("netconf: %s: open session: %w", addr, err)))
	}
	go ssh.DiscardRequests(reqs) // ends when the channel closes
	// Wait for the subsystem reply: a host without NETCONF (plain SSH, as
	// discovery over a subnet meets) is told apart at once rather than by
	// the hello timeout.
	ok, err := ch.SendRequest("subsystem", true, netconfSubsystem)
	if err != nil {
		stop()
		return fail(timedOut(fmt.Errorf("netconf: %s: netconf subsystem request: %w", addr, err)))
	}
	if !ok {
		stop()
		return fail(fmt.Errorf("netconf: %s: the server refused the netconf subsystem", addr))
	}
	t := NewTransport(ch, ch, ch, full.MaxMessageSize)

	// Send our hello at once, without waiting for the server's (RFC 6241
	// 8.1): the channel window holds it if the server does not read yet.
	if err := t.Send(dl.hello); err != nil {
		stop()
		return fail(timedOut(fmt.Errorf("netconf: %s: sending hello: %w", addr, err)))
	}
	msg, err := t.Receive()
	if !stop() {
		return fail(timedOut(err))
	}
	if errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("netconf: %s: server closed the session before its hello", addr))
	}
	if err != nil {
		return fail(fmt.Errorf("netconf: %s: reading server hello: %w", addr, err))
	}
	h, err := ParseHello(msg)
	if err != nil {
		return fail(fmt.Errorf("%w (from %s)", err, addr))
	}
	if !h.HasSessionID {
		return fail(fmt.Errorf("netconf: %s: server hello has no session-id", addr))
	}
	framing := negotiate(full.Capabilities, h)
	t.setFraming(framing)
	if full.FirstRPCDelay > 0 {
		select {
		case <-time.After(full.FirstRPCDelay):
		case <-ctx.Done():
			return fail(fmt.Errorf("netconf: %s: %w", addr, context.Cause(ctx)))
		}
	}
	return &Client{addr: addr, cfg: full, conn: conn, sshc: sshc, t: t, framing: framing,
		sess: gonetconf.Session{Transport: t, SessionID: int(h.SessionID), ServerCapabilities: h.Capabilities}}, nil
}

// Addr returns the address the client dialed.
func (c *Client) Addr() string { return c.addr }

// SessionID returns the session id the server assigned.
func (c *Client) SessionID() uint32 { return uint32(c.sess.SessionID) }

// ServerCapabilities returns the capabilities of the server's hello.
func (c *Client) ServerCapabilities() []string { return c.sess.ServerCapabilities }

// Framing returns the negotiated framing.
func (c *Client) Framing() Framing { return c.framing }

// Call sends one RPC whose operation is given as raw XML (for example
// "<get/>") and returns the reply. rpc-errors of severity "error" are
// returned as *RPCError (or RPCErrors when there are several), with the
// reply.
func (c *Client) Call(ctx context.Context, op string) (*Reply, error) {
	return c.Exec(ctx, gonetconf.RawMethod(op))
}

// Exec sends an RPC made of go-netconf methods. Any failure to send or to
// receive ends the session; so does a reply whose message-id does not
// match the request's.
func (c *Client) Exec(ctx context.Context, methods ...gonetconf.RPCMethod) (*Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("netconf: %s: session closed: %w", c.addr, c.err)
	}
	c.nextID++
	msg := gonetconf.RPCMessage{MessageID: strconv.FormatUint(c.nextID, 10), Methods: methods}
	c.req = appendRPC(c.req[:0], &msg)

	rctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
	defer cancel()
	stop := context.AfterFunc(rctx, func() { c.conn.Close() })
	raw, err := c.roundTrip(c.req)
	if !stop() {
		return nil, c.fail(fmt.Errorf("netconf: %s: rpc timed out or cancelled: %w", c.addr, context.Cause(rctx)))
	}
	if err != nil {
		return nil, c.fail(fmt.Errorf("netconf: %s: %w", c.addr, err))
	}
	r, err := parseReply(raw, msg.MessageID)
	if r == nil {
		// Not a reply to this request: the session is out of step.
		return nil, c.fail(fmt.Errorf("netconf: %s: %w", c.addr, err))
	}
	if r != nil && c.cfg.OnWarning != nil {
		for _, w := range r.Warnings {
			c.cfg.OnWarning(c.addr, w)
		}
	}
	return r, err
}

// appendRPC encodes msg as go-netconf's RPCMessage.MarshalXML does, without
// the reflection-based encoder.
func appendRPC(dst []byte, msg *gonetconf.RPCMessage) []byte {
	dst = append(dst, `<rpc message-id="`...)
	dst = append(dst, escapeAttr(msg.MessageID)...)
	dst = append(dst, `" xmlns="`+BaseNS+`">`...)
	for _, m := range msg.Methods {
		dst = append(dst, m.MarshalMethod()...)
	}
	return append(dst, "</rpc>"...)
}

func (c *Client) roundTrip(req []byte) ([]byte, error) {
	if err := c.t.Send(req); err != nil {
		return nil, err
	}
	raw, err := c.t.Receive()
	if err != nil {
		return nil, fmt.Errorf("netconf: receive: %w", err)
	}
	return raw, nil
}

// fail ends the session after an error that leaves it unusable and
// returns err. c.mu is held.
func (c *Client) fail(err error) error {
	c.closed = true
	c.err = err
	c.sshc.Close()
	return err
}

// Close ends the session with <close-session> (bounded by 2 seconds) and
// closes the connection. It returns the error of close-session, if any, or
// of closing the connection; closing a closed client returns nil.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.CloseSession(ctx)
}
