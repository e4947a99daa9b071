package netconf

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
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
	// HelloTimeout bounds the hello exchange (default 10s).
	HelloTimeout time.Duration
	// RPCTimeout bounds each RPC unless the context has an earlier deadline
	// (default 60s).
	RPCTimeout time.Duration
	// MaxMessageSize bounds a reply's size (default 16 MiB).
	MaxMessageSize int64
	// Capabilities are advertised in the client's hello (default base 1.0
	// and 1.1).
	Capabilities []string
}

// Dialer opens client sessions with one configuration; the SSH client
// configuration is built once and shared by every session it opens.
type Dialer struct {
	cfg ClientConfig
	ssh *ssh.ClientConfig
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
	return &Dialer{cfg: full, ssh: &ssh.ClientConfig{User: full.User, Auth: auth, HostKeyCallback: hk}}
}

// Client is one NETCONF session with a device. Its methods may be called
// from several goroutines; RPCs are sent one at a time.
type Client struct {
	addr    string
	cfg     ClientConfig
	conn    net.Conn
	sshc    *ssh.Client
	sess    *gonetconf.Session
	t       *Transport
	mu      sync.Mutex
	closed  bool
	framing Framing
}

// Dial connects to addr (host:port) with cfg; see Dialer.Dial.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	return NewDialer(cfg).Dial(ctx, addr)
}

// Dial connects to addr (host:port), authenticates, opens the netconf
// subsystem and exchanges hellos.
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
	full := dl.cfg
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Now()) })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, dl.ssh)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("netconf: %s: ssh handshake: %w", addr, context.Cause(dctx))
	}
	if err != nil {
		return nil, fmt.Errorf("netconf: %s: ssh: %w", addr, err)
	}
	sshc := ssh.NewClient(sc, chans, reqs)
	fail := func(err error) (*Client, error) { sshc.Close(); return nil, err }

	hctx, cancel := context.WithTimeout(ctx, full.HelloTimeout)
	defer cancel()
	stop = context.AfterFunc(hctx, func() { conn.Close() })
	defer stop()

	s, err := sshc.NewSession()
	if err != nil {
		return fail(fmt.Errorf("netconf: %s: open session: %w", addr, err))
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		return fail(fmt.Errorf("netconf: %s: %w", addr, err))
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		return fail(fmt.Errorf("netconf: %s: %w", addr, err))
	}
	if err := s.RequestSubsystem("netconf"); err != nil {
		return fail(fmt.Errorf("netconf: %s: netconf subsystem refused: %w", addr, err))
	}
	t := NewTransport(stdout, stdin, s, full.MaxMessageSize)

	// Send our hello at once; read the server's concurrently (RFC 6241 8.1).
	sendErr := make(chan error, 1)
	go func() { sendErr <- t.Send(MarshalHello(full.Capabilities, 0)) }()
	msg, rerr := t.Receive()
	if rerr != nil {
		if hctx.Err() != nil {
			return fail(fmt.Errorf("netconf: %s: no hello from server within %s", addr, full.HelloTimeout))
		}
		return fail(fmt.Errorf("netconf: %s: reading server hello: %w", addr, rerr))
	}
	if serr := <-sendErr; serr != nil {
		return fail(fmt.Errorf("netconf: %s: sending hello: %w", addr, serr))
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
	if !stop() {
		return fail(fmt.Errorf("netconf: %s: hello timed out", addr))
	}
	sess := &gonetconf.Session{Transport: t, SessionID: int(h.SessionID), ServerCapabilities: h.Capabilities}
	return &Client{addr: addr, cfg: full, conn: conn, sshc: sshc, sess: sess, t: t, framing: framing}, nil
}

// Addr returns the address the client dialed.
func (c *Client) Addr() string { return c.addr }

// SessionID returns the session id the server assigned.
func (c *Client) SessionID() uint32 { return uint32(c.sess.SessionID) }

// ServerCapabilities returns the capabilities of the server's hello.
func (c *Client) ServerCapabilities() []string { return c.sess.ServerCapabilities }

// Framing returns the negotiated framing.
func (c *Client) Framing() Framing { return c.framing }

// Reply is a parsed <rpc-reply>.
type Reply struct {
	MessageID string
	// Body is the inner XML of <rpc-reply>.
	Body []byte
	// OK reports whether the reply was <ok/>.
	OK bool
	// Warnings are rpc-errors with severity "warning".
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

// Call sends one RPC whose operation is given as raw XML (for example
// "<get/>") and returns the reply. An rpc-error of severity "error" is
// returned as *RPCError, with the reply.
func (c *Client) Call(ctx context.Context, op string) (*Reply, error) {
	return c.Exec(ctx, gonetconf.RawMethod(op))
}

// Exec sends an RPC made of go-netconf methods.
func (c *Client) Exec(ctx context.Context, methods ...gonetconf.RPCMethod) (*Reply, error) {
	msg := gonetconf.NewRPCMessage(methods)
	req, err := xml.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("netconf: encode rpc: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("netconf: %s: session closed", c.addr)
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
	defer cancel()
	stop := context.AfterFunc(rctx, func() { c.conn.Close() })
	raw, err := c.roundTrip(req)
	if !stop() {
		c.closed = true
		c.sshc.Close()
		return nil, fmt.Errorf("netconf: %s: rpc timed out or cancelled: %w", c.addr, context.Cause(rctx))
	}
	if err != nil {
		c.closed = true
		c.sshc.Close()
		return nil, fmt.Errorf("netconf: %s: %w", c.addr, err)
	}
	return parseReply(raw, msg.MessageID)
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

func parseReply(raw []byte, messageID string) (*Reply, error) {
	var x xmlReply
	if err := xml.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("netconf: bad rpc-reply: %w", err)
	}
	if x.XMLName.Space != BaseNS {
		return nil, fmt.Errorf("netconf: rpc-reply in namespace %q, want %q", x.XMLName.Space, BaseNS)
	}
	if x.MessageID != messageID {
		return nil, fmt.Errorf("netconf: rpc-reply message-id %q does not match request %q", x.MessageID, messageID)
	}
	r := &Reply{MessageID: x.MessageID, Body: x.Inner, OK: x.OK != nil}
	var first *RPCError
	for i := range x.Errors {
		e := &x.Errors[i]
		if strings.TrimSpace(e.Severity) == "warning" {
			r.Warnings = append(r.Warnings, e)
		} else if first == nil {
			first = e
		}
	}
	if first != nil {
		return r, first
	}
	return r, nil
}

// Close ends the session with <close-session> and closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = c.Call(ctx, "<close-session/>")
		cancel()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.sshc.Close()
}
