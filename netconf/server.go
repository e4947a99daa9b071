package netconf

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Errors a Handler returns to steer the server.
var (
	// ErrUnknownOperation: the Handler does not implement the operation;
	// the server answers operation-not-supported.
	ErrUnknownOperation = errors.New("netconf: unknown operation")
	// ErrDropSession: the server drops the connection without replying
	// (fault injection: a session dropped mid-RPC).
	ErrDropSession = errors.New("netconf: drop session")
)

// Handler serves the data and the RPCs of one device. The server handles the
// base protocol itself (hello, framing, close-session, kill-session, lock,
// unlock, filters, get-schema) and calls the Handler for the rest.
type Handler interface {
	// Data returns the device's data tree as a sequence of XML elements,
	// unfiltered: everything for <get>, configuration only for <get-config>.
	Data(ctx context.Context, req *Request, configOnly bool) ([]byte, error)
	// RPC answers any other operation. It returns the reply content (nil
	// for <ok/>), an *RPCError, or ErrUnknownOperation.
	RPC(ctx context.Context, req *Request) ([]byte, error)
}

// SessionEnder is implemented by a Handler that wants to know when one of
// its sessions ends.
type SessionEnder interface {
	SessionEnded(sessionID uint32)
}

// Request is one <rpc> as a Handler sees it.
type Request struct {
	SessionID  uint32
	User       string
	LocalAddr  net.Addr
	RemoteAddr net.Addr
	// Op is the name of the operation element.
	Op xml.Name
	// Body is the operation element as raw XML. Namespace declarations
	// inherited from <rpc> are not repeated in it; use Decode.
	Body []byte

	nsDecls string
	// closeAfter is set by a handler (via CloseSession) to end the session
	// after the reply.
	closeAfter bool
}

// Decode unmarshals the operation element into v, with the namespace
// declarations of the enclosing <rpc> in force.
func (r *Request) Decode(v any) error {
	wrapped := "<rpc" + r.nsDecls + ">" + string(r.Body) + "</rpc>"
	d := xml.NewDecoder(strings.NewReader(wrapped))
	if _, err := d.Token(); err != nil { // <rpc>
		return err
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return d.DecodeElement(v, &se)
		}
	}
}

// CloseSession asks the server to end the session after sending the reply
// to this request (used by a device's reload).
func (r *Request) CloseSession() { r.closeAfter = true }

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
	// HandshakeTimeout bounds the SSH handshake and the hello (default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection with no message for this long
	// (default 10 minutes).
	IdleTimeout time.Duration
	// MaxMessageSize bounds one request; larger ones get too-big (default
	// 4 MiB).
	MaxMessageSize int64
	// MaxSessions bounds concurrent NETCONF sessions on the server
	// (default 100000).
	MaxSessions int
	// Capabilities are advertised besides base 1.0, 1.1 and monitoring.
	Capabilities []string
	// Schemas maps a module name to its YANG text for get-schema.
	Schemas map[string]string
	// Logger receives connection-level errors (default: discard).
	Logger *slog.Logger
}

// Server is a NETCONF-over-SSH server.
type Server struct {
	cfg      ServerConfig
	hello    func(id uint32) []byte
	nextID   atomic.Uint32
	sessions atomic.Int64

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
	if full.HandshakeTimeout <= 0 {
		full.HandshakeTimeout = 10 * time.Second
	}
	if full.IdleTimeout <= 0 {
		full.IdleTimeout = 10 * time.Minute
	}
	if full.MaxMessageSize <= 0 {
		full.MaxMessageSize = 4 << 20
	}
	if full.MaxSessions <= 0 {
		full.MaxSessions = 100000
	}
	if full.Logger == nil {
		full.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	caps := append([]string{CapBase10, CapBase11, CapMonitoring}, full.Capabilities...)
	s := &Server{cfg: full, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
		live: map[uint32]*serverSession{}, locks: map[lockKey]uint32{}}
	s.hello = func(id uint32) []byte { return MarshalHello(caps, id) }
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

// ServeConn serves one accepted connection and closes it.
func (s *Server) ServeConn(conn net.Conn) {
	defer conn.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
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
	if err != nil || ep == nil {
		return
	}
	conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(conn, ep.SSH)
	if err != nil {
		s.cfg.Logger.Debug("ssh handshake failed", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	conn.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)

	idle := time.AfterFunc(s.cfg.IdleTimeout, func() { sc.Close() })
	defer idle.Stop()
	touch := func() { idle.Reset(s.cfg.IdleTimeout) }

	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveChannel(sc, conn, ch, creqs, ep.Handler, touch)
		}()
	}
}

func (s *Server) serveChannel(sc *ssh.ServerConn, conn net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request, h Handler, touch func()) {
	defer ch.Close()
	started := false
	for req := range reqs {
		ok := false
		if req.Type == "subsystem" && !started && len(req.Payload) >= 4 {
			name := string(req.Payload[4:])
			if name == "netconf" {
				ok = true
			}
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if ok {
			started = true
			go ssh.DiscardRequests(reqs)
			s.runSession(sc, conn, ch, h, touch)
			return
		}
	}
}

type serverSession struct {
	id     uint32
	h      Handler
	ch     ssh.Channel
	killed atomic.Bool
	drop   error // set by dispatch when the handler asked to drop the session
}

func (s *Server) runSession(sc *ssh.ServerConn, conn net.Conn, ch ssh.Channel, h Handler, touch func()) {
	if s.sessions.Add(1) > int64(s.cfg.MaxSessions) {
		s.sessions.Add(-1)
		return
	}
	defer s.sessions.Add(-1)
	id := s.nextID.Add(1)
	if id == 0 {
		id = s.nextID.Add(1)
	}
	ss := &serverSession{id: id, h: h, ch: ch}
	s.mu.Lock()
	s.live[id] = ss
	s.mu.Unlock()
	defer s.endSession(ss)

	t := NewTransport(ch, ch, ch, s.cfg.MaxMessageSize)
	sendErr := make(chan error, 1)
	go func() { sendErr <- t.Send(s.hello(id)) }()
	helloTimer := time.AfterFunc(s.cfg.HandshakeTimeout, func() { ch.Close() })
	msg, err := t.Receive()
	helloTimer.Stop()
	if err != nil || <-sendErr != nil {
		return
	}
	hello, err := ParseHello(msg)
	if err != nil || hello.HasSessionID {
		// RFC 6241 8.1: a client hello with session-id, or no common base
		// version, ends the session.
		return
	}
	t.setFraming(negotiate([]string{CapBase10, CapBase11}, hello))
	touch()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		msg, err := t.Receive()
		touch()
		if errors.Is(err, ErrTooBig) {
			rpcErr := &RPCError{Type: "rpc", Tag: "too-big", Severity: "error",
				Message: fmt.Sprintf("request exceeds %d bytes", s.cfg.MaxMessageSize)}
			if t.Send(replyXML("", errorBody(rpcErr))) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		if ss.killed.Load() {
			return
		}
		reply, closeAfter := s.handle(ctx, sc, conn, ss, msg)
		if errors.Is(ss.drop, ErrDropSession) {
			sc.Close()
			return
		}
		if reply != nil {
			if err := t.Send(reply); err != nil {
				return
			}
		}
		if closeAfter {
			return
		}
	}
}

func (s *Server) endSession(ss *serverSession) {
	s.mu.Lock()
	delete(s.live, ss.id)
	for k, holder := range s.locks {
		if holder == ss.id {
			delete(s.locks, k)
		}
	}
	s.mu.Unlock()
	if e, ok := ss.h.(SessionEnder); ok {
		e.SessionEnded(ss.id)
	}
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
// that reloads or powers off drops its sessions).
func (s *Server) CloseSessions(h Handler) {
	s.mu.Lock()
	var victims []*serverSession
	for _, ss := range s.live {
		if ss.h == h {
			victims = append(victims, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range victims {
		ss.killed.Store(true)
		ss.ch.Close()
	}
}

// Sessions returns the number of live NETCONF sessions.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// handle parses one message and answers it. It returns the reply (nil for
// none) and whether to end the session afterwards.
func (s *Server) handle(ctx context.Context, sc *ssh.ServerConn, conn net.Conn, ss *serverSession, msg []byte) ([]byte, bool) {
	d := xml.NewDecoder(bytes.NewReader(msg))
	var rpc xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return replyXML("", errorBody(&RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
				Message: "message is not well-formed XML: " + errText(err)})), true
		}
		if se, ok := tok.(xml.StartElement); ok {
			rpc = se
			break
		}
	}
	if rpc.Name.Local != "rpc" || rpc.Name.Space != BaseNS {
		return replyXML("", errorBody(&RPCError{Type: "rpc", Tag: "unknown-element", Severity: "error",
			Message: "expected <rpc> in the base namespace, got <" + rpc.Name.Local + ">",
			Info:    ErrorInfo{Inner: "<bad-element>" + escape(rpc.Name.Local) + "</bad-element>"}})), false
	}
	var msgID string
	hasID := false
	var nsDecls strings.Builder
	for _, a := range rpc.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "message-id":
			msgID, hasID = a.Value, true
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			nsDecls.WriteString(` xmlns="` + escape(a.Value) + `"`)
		case a.Name.Space == "xmlns":
			nsDecls.WriteString(` xmlns:` + a.Name.Local + `="` + escape(a.Value) + `"`)
		}
	}
	attrs := rpcAttrs(msg)
	if !hasID {
		return replyXML(attrs, errorBody(&RPCError{Type: "rpc", Tag: "missing-attribute", Severity: "error",
			Message: "rpc has no message-id",
			Info:    ErrorInfo{Inner: "<bad-attribute>message-id</bad-attribute><bad-element>rpc</bad-element>"}})), false
	}
	_ = msgID
	// Find the operation element and its raw bytes.
	var op xml.StartElement
	var start, end int64
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return replyXML(attrs, errorBody(&RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
				Message: "message is not well-formed XML: " + errText(err)})), true
		}
		if se, ok := tok.(xml.StartElement); ok {
			op, start = se, off
			if err := d.Skip(); err != nil {
				return replyXML(attrs, errorBody(&RPCError{Type: "rpc", Tag: "malformed-message", Severity: "error",
					Message: "message is not well-formed XML: " + errText(err)})), true
			}
			end = d.InputOffset()
			break
		}
		if _, ok := tok.(xml.EndElement); ok {
			return replyXML(attrs, errorBody(ErrMissingElement("rpc", "operation"))), false
		}
	}
	req := &Request{SessionID: ss.id, User: sc.User(), LocalAddr: conn.LocalAddr(), RemoteAddr: conn.RemoteAddr(),
		Op: op.Name, Body: msg[start:end], nsDecls: nsDecls.String()}
	body, closeAfter := s.dispatch(ctx, ss, req)
	return replyXML(attrs, body), closeAfter || req.closeAfter
}

func errText(err error) string {
	return strings.TrimPrefix(err.Error(), "XML syntax error ")
}

// dispatch runs one operation and returns the reply content.
func (s *Server) dispatch(ctx context.Context, ss *serverSession, req *Request) ([]byte, bool) {
	if req.Op.Space == BaseNS {
		switch req.Op.Local {
		case "close-session":
			return okBody, true
		case "kill-session":
			return s.killSession(ss, req), false
		case "lock", "unlock":
			return s.lock(ss, req), false
		case "get", "get-config":
			return s.get(ctx, ss, req), false
		}
	}
	if req.Op.Space == MonitoringNS && req.Op.Local == "get-schema" {
		return s.getSchema(req), false
	}
	out, err := ss.h.RPC(ctx, req)
	if errors.Is(err, ErrDropSession) {
		ss.drop = err
		return nil, true
	}
	if err != nil {
		return errorBody(s.toRPCError(req, err)), false
	}
	if out == nil {
		return okBody, false
	}
	return out, false
}

func (s *Server) toRPCError(req *Request, err error) *RPCError {
	var re *RPCError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, ErrUnknownOperation) {
		return &RPCError{Type: "protocol", Tag: "operation-not-supported", Severity: "error",
			Message: fmt.Sprintf("operation %s (namespace %s) is not supported", req.Op.Local, req.Op.Space)}
	}
	return ErrOperationFailed(err.Error())
}

var okBody = []byte("<ok/>")

func errorBody(e *RPCError) []byte {
	var b strings.Builder
	e.appendXML(&b)
	return []byte(b.String())
}

// replyXML builds an <rpc-reply> carrying the attributes of the request's
// <rpc> start tag (message-id and any other), as RFC 6241 4.2 requires.
func replyXML(rpcAttrs string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<rpc-reply`)
	if !strings.Contains(rpcAttrs, `xmlns="`+BaseNS+`"`) {
		b.WriteString(` xmlns="` + BaseNS + `"`)
	}
	b.WriteString(rpcAttrs)
	b.WriteString(">")
	b.Write(body)
	b.WriteString("</rpc-reply>")
	return b.Bytes()
}

// rpcAttrs returns the attribute text of the first start tag in msg, as
// written (so prefixes and quoting are echoed exactly).
func rpcAttrs(msg []byte) string {
	i := bytes.Index(msg, []byte("<"))
	for i >= 0 && i+1 < len(msg) && (msg[i+1] == '?' || msg[i+1] == '!') {
		j := bytes.Index(msg[i+1:], []byte("<"))
		if j < 0 {
			return ""
		}
		i += 1 + j
	}
	if i < 0 {
		return ""
	}
	// Skip the element name.
	j := i + 1
	for j < len(msg) && !isSpace(msg[j]) && msg[j] != '>' && msg[j] != '/' {
		j++
	}
	k := j
	var quote byte
	for k < len(msg) {
		c := msg[k]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
		} else if c == '"' || c == '\'' {
			quote = c
		} else if c == '>' || c == '/' {
			break
		}
		k++
	}
	return strings.TrimRight(string(msg[j:k]), " \t\r\n")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (s *Server) killSession(ss *serverSession, req *Request) []byte {
	var in struct {
		ID string `xml:"session-id"`
	}
	if err := req.Decode(&in); err != nil || strings.TrimSpace(in.ID) == "" {
		return errorBody(ErrMissingElement("protocol", "session-id"))
	}
	id, err := strconv.ParseUint(strings.TrimSpace(in.ID), 10, 32)
	if err != nil {
		return errorBody(ErrInvalidValue("protocol", "session-id is not a number"))
	}
	if uint32(id) == ss.id {
		return errorBody(ErrInvalidValue("protocol", "kill-session cannot end the session that asks"))
	}
	s.mu.Lock()
	victim := s.live[uint32(id)]
	s.mu.Unlock()
	if victim == nil || victim.h != ss.h {
		return errorBody(ErrInvalidValue("protocol", fmt.Sprintf("no session %d", id)))
	}
	victim.killed.Store(true)
	victim.ch.Close()
	return okBody
}

func (s *Server) lock(ss *serverSession, req *Request) []byte {
	var in struct {
		Target struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"target"`
	}
	if err := req.Decode(&in); err != nil {
		return errorBody(ErrMissingElement("protocol", "target"))
	}
	nodes, err := parseNodes(in.Target.Inner)
	if err != nil || len(nodes) != 1 {
		return errorBody(ErrMissingElement("protocol", "target"))
	}
	target := nodes[0].name.Local
	if target != "running" && target != "candidate" && target != "startup" {
		return errorBody(ErrInvalidValue("protocol", "unknown datastore "+target))
	}
	k := lockKey{h: ss.h, target: target}
	s.mu.Lock()
	defer s.mu.Unlock()
	holder, held := s.locks[k]
	if req.Op.Local == "lock" {
		if held {
			return errorBody(&RPCError{Type: "protocol", Tag: "lock-denied", Severity: "error",
				Message: fmt.Sprintf("%s is locked by session %d", target, holder),
				Info:    ErrorInfo{Inner: fmt.Sprintf("<session-id>%d</session-id>", holder)}})
		}
		s.locks[k] = ss.id
		return okBody
	}
	if !held || holder != ss.id {
		return errorBody(&RPCError{Type: "protocol", Tag: "operation-failed", Severity: "error",
			Message: fmt.Sprintf("%s is not locked by this session", target)})
	}
	delete(s.locks, k)
	return okBody
}

func (s *Server) get(ctx context.Context, ss *serverSession, req *Request) []byte {
	var in struct {
		Source *struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"source"`
		Filter *struct {
			Type  string `xml:"type,attr"`
			Inner []byte `xml:",innerxml"`
		} `xml:"filter"`
	}
	if err := req.Decode(&in); err != nil {
		return errorBody(ErrBadElement("protocol", req.Op.Local, "cannot decode "+req.Op.Local+": "+err.Error()))
	}
	configOnly := req.Op.Local == "get-config"
	if configOnly {
		if in.Source == nil {
			return errorBody(ErrMissingElement("protocol", "source"))
		}
		nodes, err := parseNodes(in.Source.Inner)
		if err != nil || len(nodes) != 1 || nodes[0].name.Local != "running" {
			return errorBody(ErrInvalidValue("protocol", "only the running datastore is supported"))
		}
	}
	data, err := ss.h.Data(ctx, req, configOnly)
	if err != nil {
		return errorBody(s.toRPCError(req, err))
	}
	if in.Filter != nil {
		if in.Filter.Type != "" && in.Filter.Type != "subtree" {
			return errorBody(&RPCError{Type: "protocol", Tag: "bad-attribute", Severity: "error",
				Message: "only subtree filters are supported",
				Info:    ErrorInfo{Inner: "<bad-attribute>type</bad-attribute><bad-element>filter</bad-element>"}})
		}
		data, err = filterSubtree(data, in.Filter.Inner)
		if err != nil {
			return errorBody(ErrInvalidValue("protocol", "bad filter: "+err.Error()))
		}
	}
	out := make([]byte, 0, len(data)+16)
	out = append(out, "<data>"...)
	out = append(out, data...)
	return append(out, "</data>"...)
}

// MonitoringNS is the ietf-netconf-monitoring namespace.
const MonitoringNS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"

func (s *Server) getSchema(req *Request) []byte {
	var in struct {
		Identifier string `xml:"identifier"`
		Version    string `xml:"version"`
		Format     string `xml:"format"`
	}
	if err := req.Decode(&in); err != nil || in.Identifier == "" {
		return errorBody(ErrMissingElement("protocol", "identifier"))
	}
	text, ok := s.cfg.Schemas[in.Identifier]
	if !ok {
		return errorBody(&RPCError{Type: "application", Tag: "invalid-value", Severity: "error",
			Message: "no schema " + in.Identifier})
	}
	var b strings.Builder
	b.WriteString(`<data xmlns="` + MonitoringNS + `">`)
	xml.EscapeText(&b, []byte(text))
	b.WriteString("</data>")
	return []byte(b.String())
}
