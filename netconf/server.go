package netconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxChannels bounds the session channels one SSH connection may hold open.
const maxChannels = 8

// Endpoint is what the server serves on one connection: the SSH
// configuration (host key, authentication) and the device Handler.
type Endpoint struct {
	SSH     *ssh.ServerConfig
	Handler Handler
}

// ServerConfig configures a Server. Zero values select defaults.
type ServerConfig struct {
	// Resolve picks the endpoint for a connection accepted on local from
	// remote. An error closes the connection before the SSH handshake.
	Resolve func(local, remote net.Addr) (*Endpoint, error)
	// HandshakeTimeout bounds the time from accepting a connection to
	// receiving the client's hello: SSH handshake, authentication,
	// subsystem request and hello (default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has received no message for this
	// long (default 10 minutes).
	IdleTimeout time.Duration
	// MaxMessageSize bounds one request; larger ones are discarded as they
	// arrive and answered with too-big (default 4 MiB).
	MaxMessageSize int64
	// MaxSessions bounds the concurrent connections and the concurrent
	// NETCONF sessions of the server; connections and subsystem requests
	// over the limit are refused (default 100000).
	MaxSessions int
	// Capabilities are advertised besides base 1.0, 1.1 and monitoring.
	// The namespaces of module capabilities are the ones the server knows
	// besides its own (see ErrUnknownOperation).
	Capabilities []string
	// Schemas maps a module name to its YANG text for get-schema.
	Schemas map[string]string
	// Logger receives connection-level events at debug level (default:
	// discard).
	Logger *slog.Logger
}

// Server is a NETCONF-over-SSH server.
type Server struct {
	cfg        ServerConfig
	caps       []string
	helloHead  []byte // the server's hello up to the session-id
	helloTail  []byte
	namespaces map[string]bool
	nextID     atomic.Uint32
	sessions   atomic.Int64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	live      map[uint32]*serverSession
	locks     map[lockKey]uint32
	closed    bool
	wg        sync.WaitGroup
}

type lockKey struct {
	h      Handler
	target string
}

// NewServer returns a server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	full := cfg
	if full.Resolve == nil {
		return nil, errors.New("netconf: ServerConfig.Resolve is required")
	}
	if full.HandshakeTimeout < 0 || full.IdleTimeout < 0 || full.MaxMessageSize < 0 || full.MaxSessions < 0 {
		return nil, errors.New("netconf: ServerConfig limits must not be negative")
	}
	if full.HandshakeTimeout == 0 {
		full.HandshakeTimeout = 10 * time.Second
	}
	if full.IdleTimeout == 0 {
		full.IdleTimeout = 10 * time.Minute
	}
	if full.MaxMessageSize == 0 {
		full.MaxMessageSize = 4 << 20
	}
	if full.MaxSessions == 0 {
		full.MaxSessions = 100000
	}
	if full.Logger == nil {
		full.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: full, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
		live: map[uint32]*serverSession{}, locks: map[lockKey]uint32{},
		namespaces: map[string]bool{BaseNS: true, MonitoringNS: true}}
	s.caps = append([]string{CapBase10, CapBase11, CapMonitoring}, full.Capabilities...)
	hello := MarshalHello(s.caps, 1)
	i := bytes.LastIndex(hello, []byte("<session-id>1</session-id>")) + len("<session-id>")
	s.helloHead, s.helloTail = hello[:i], hello[i+1:]
	for _, c := range s.caps {
		if i := strings.Index(c, "?module="); i > 0 {
			s.namespaces[c[:i]] = true
		}
	}
	return s, nil
}

// Serve accepts connections on ln until ln is closed or the server is
// closed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("netconf: server closed")
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(delay*2, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("netconf: accept: %w", err)
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(conn)
		}()
	}
}

// serverConn is one accepted SSH connection.
type serverConn struct {
	s    *Server
	conn net.Conn
	sc   *ssh.ServerConn
	ep   *Endpoint
	idle *time.Timer
	// hello stops the handshake timer when the first hello arrives.
	hello    *time.Timer
	channels atomic.Int32
	user     string
}

// touch restarts the idle timer.
func (c *serverConn) touch() { c.idle.Reset(c.s.cfg.IdleTimeout) }

// ServeConn serves one accepted connection and closes it.
func (s *Server) ServeConn(conn net.Conn) {
	defer conn.Close()
	// The handshake deadline covers SSH, authentication, the subsystem
	// request and the client's hello.
	hsTimer := time.AfterFunc(s.cfg.HandshakeTimeout, func() { conn.Close() })
	defer hsTimer.Stop()
	s.mu.Lock()
	if s.closed || len(s.conns) >= s.cfg.MaxSessions {
		full := !s.closed
		s.mu.Unlock()
		if full {
			s.cfg.Logger.Debug("netconf: connection refused: session limit reached", "remote", conn.RemoteAddr(), "limit", s.cfg.MaxSessions)
		}
		return
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()

	ep, err := s.cfg.Resolve(conn.LocalAddr(), conn.RemoteAddr())
	if err != nil || ep == nil || ep.SSH == nil || ep.Handler == nil {
		s.cfg.Logger.Debug("netconf: no endpoint", "local", conn.LocalAddr(), "remote", conn.RemoteAddr(), "err", err)
		return
	}
	sc, chans, reqs, err := ssh.NewServerConn(conn, ep.SSH)
	if err != nil {
		s.cfg.Logger.Debug("netconf: ssh handshake failed", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs) // ends when the connection closes

	c := &serverConn{s: s, conn: conn, sc: sc, ep: ep, hello: hsTimer, user: sc.User()}
	c.idle = time.AfterFunc(s.cfg.IdleTimeout, func() { sc.Close() })
	defer c.idle.Stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		if c.channels.Add(1) > maxChannels {
			c.channels.Add(-1)
			nc.Reject(ssh.ResourceShortage, fmt.Sprintf("at most %d channels per connection", maxChannels))
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			c.channels.Add(-1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.channels.Add(-1)
			c.serveChannel(ch, creqs)
		}()
	}
}

// serveChannel waits for the "netconf" subsystem request and runs the
// session; every other request is refused.
func (c *serverConn) serveChannel(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		ok := req.Type == "subsystem" && isNetconfSubsystem(req.Payload)
		if ok && c.s.sessions.Add(1) > int64(c.s.cfg.MaxSessions) {
			c.s.sessions.Add(-1)
			c.s.cfg.Logger.Debug("netconf: session refused: session limit reached", "remote", c.conn.RemoteAddr())
			ok = false
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if ok {
			go ssh.DiscardRequests(reqs) // ends when the channel closes
			c.runSession(ch)
			c.s.sessions.Add(-1)
			return
		}
		switch req.Type {
		case "subsystem", "shell", "exec":
			// Refused: end the channel, so that a client that did not
			// ask for a reply learns it too.
			return
		}
	}
}

// isNetconfSubsystem reports whether a subsystem request payload (an SSH
// string) names "netconf".
func isNetconfSubsystem(p []byte) bool {
	return len(p) == 4+7 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 7 && string(p[4:]) == "netconf"
}

// Close stops all listeners and connections and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// CloseSessions ends every live session served by handler h (a device
// that powers off drops its sessions).
func (s *Server) CloseSessions(h Handler) { s.CloseSessionsExcept(h, 0) }

// CloseSessionsExcept ends every live session served by h except the
// session keep (0 keeps none): a device that reloads drops its other
// sessions at once while the session that asked still gets its reply.
// Sessions opened afterwards are not touched.
func (s *Server) CloseSessionsExcept(h Handler, keep uint32) {
	s.mu.Lock()
	var victims []*serverSession
	for _, ss := range s.live {
		if ss.h == h && ss.id != keep {
			victims = append(victims, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range victims {
		ss.kill()
	}
}

// Sessions returns the number of live NETCONF sessions.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// connections returns the number of open connections.
func (s *Server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
