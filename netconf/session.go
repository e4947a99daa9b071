package netconf

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// serverSession is one NETCONF session (one SSH channel running the
// netconf subsystem).
type serverSession struct {
	id      uint32
	h       Handler
	c       *serverConn
	ch      ssh.Channel
	framing Framing
	killed  atomic.Bool
	out     []byte    // reply buffer, reused
	locks   []lockKey // guarded by Server.mu
}

// kill ends the session from outside (kill-session, CloseSessions).
func (ss *serverSession) kill() {
	ss.killed.Store(true)
	ss.ch.Close()
}

// base operations of RFC 6241 (section 7), for telling an operation this
// server does not support from an element that is no operation at all.
var baseOps = map[string]bool{"get": true, "get-config": true, "edit-config": true, "copy-config": true,
	"delete-config": true, "lock": true, "unlock": true, "close-session": true, "kill-session": true,
	"commit": true, "discard-changes": true, "cancel-commit": true, "validate": true}

func (c *serverConn) runSession(ch ssh.Channel) {
	s := c.s
	id := s.nextID.Add(1)
	if id == 0 {
		id = s.nextID.Add(1)
	}
	ss := &serverSession{id: id, h: c.ep.Handler, c: c, ch: ch}
	s.mu.Lock()
	s.live[id] = ss
	s.mu.Unlock()
	defer s.endSession(ss)
	log := s.cfg.Logger

	// Both peers send their hello at once (RFC 6241 8.1); the channel's
	// window holds ours while the client has not read it.
	t := NewTransport(ch, ch, nil, s.cfg.MaxMessageSize)
	if err := t.Send(s.marshalHello(id)); err != nil {
		log.Debug("netconf: sending hello", "session", id, "err", err)
		return
	}
	msg, err := t.Receive()
	if err != nil {
		log.Debug("netconf: reading client hello", "session", id, "err", err)
		return
	}
	hello, err := ParseHello(msg)
	if err != nil {
		log.Debug("netconf: bad client hello", "session", id, "err", err)
		return
	}
	if hello.HasSessionID {
		// RFC 6241 8.1: a client's hello with a session-id ends the session.
		log.Debug("netconf: client hello carries a session-id", "session", id)
		return
	}
	c.hello.Stop()
	ss.framing = negotiate(s.caps, hello)
	t.setFraming(ss.framing)
	c.touch()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		msg, err := t.Receive()
		c.touch()
		if ss.killed.Load() {
			return
		}
		var tooBig *TooBigError
		if errors.As(err, &tooBig) {
			m, _ := parseRPC(tooBig.Head)
			rerr := &RPCError{Type: "rpc", Tag: "too-big", Severity: "error",
				Message: fmt.Sprintf("request exceeds %d bytes", s.cfg.MaxMessageSize)}
			ss.out = appendReply(ss.out[:0], m.attrs, errorBody(rerr))
			if err := t.Send(ss.out); err != nil {
				return
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Debug("netconf: session ends", "session", id, "err", err)
			}
			return
		}
		reply, end := ss.handle(ctx, msg)
		if end {
			// The session's locks are free by the time the client reads
			// the reply to close-session (RFC 6241 7.8).
			s.mu.Lock()
			s.releaseLocks(ss)
			s.mu.Unlock()
		}
		if reply != nil {
			if err := t.Send(reply); err != nil {
				log.Debug("netconf: sending reply", "session", id, "err", err)
				return
			}
		}
		if end {
			return
		}
	}
}

// marshalHello returns the server's hello for session id.
func (s *Server) marshalHello(id uint32) []byte {
	b := make([]byte, 0, len(s.helloHead)+len(s.helloTail)+10)
	b = append(b, s.helloHead...)
	b = strconv.AppendUint(b, uint64(id), 10)
	return append(b, s.helloTail...)
}

// handle answers one message. It returns the reply (nil for none) and
// whether to end the session afterwards.
func (ss *serverSession) handle(ctx context.Context, msg []byte) ([]byte, bool) {
	m, rerr := parseRPC(msg)
	if rerr != nil {
		if rerr.Tag == "malformed-message" && ss.framing == FramingEOM {
			// malformed-message is new in base:1.1 and must not be sent to
			// base:1.0 peers: end the session instead.
			ss.c.s.cfg.Logger.Debug("netconf: malformed message ends base:1.0 session", "session", ss.id, "err", rerr.Message)
			return nil, true
		}
		ss.out = appendReply(ss.out[:0], m.attrs, errorBody(rerr))
		return ss.out, false
	}
	c := ss.c
	req := &Request{SessionID: ss.id, User: c.user, LocalAddr: c.conn.LocalAddr(), RemoteAddr: c.conn.RemoteAddr(),
		Op: m.op, Body: m.body, nsDecls: m.nsDecls, tree: m.tree}
	body, end, drop := c.s.dispatch(ctx, ss, req)
	if drop {
		c.sc.Close()
		return nil, true
	}
	ss.out = appendReply(ss.out[:0], m.attrs, body)
	return ss.out, end || req.closeAfter
}

// dispatch runs one operation and returns the reply content, whether to end
// the session and whether to drop the connection without a reply.
func (s *Server) dispatch(ctx context.Context, ss *serverSession, req *Request) (body []byte, end, drop bool) {
	switch req.Op {
	case xmlName(BaseNS, "close-session"):
		return okBody, true, false
	case xmlName(BaseNS, "kill-session"):
		return s.killSession(ss, req), false, false
	case xmlName(BaseNS, "lock"), xmlName(BaseNS, "unlock"):
		return s.lock(ss, req), false, false
	case xmlName(BaseNS, "get"), xmlName(BaseNS, "get-config"):
		body, drop := s.get(ctx, ss, req)
		return body, drop, drop
	case xmlName(BaseNS, "edit-config"), xmlName(BaseNS, "copy-config"), xmlName(BaseNS, "delete-config"):
		if e := s.checkWritable(ss, req); e != nil {
			return errorBody(e), false, false
		}
	case xmlName(MonitoringNS, "get-schema"):
		return s.getSchema(req), false, false
	}
	out, err := ss.h.RPC(ctx, req)
	switch {
	case errors.Is(err, ErrDropSession):
		return nil, true, true
	case err != nil:
		return errorBody(s.toRPCError(req, err)), false, false
	case out == nil:
		return okBody, false, false
	}
	return out, false, false
}

func xmlName(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }

// toRPCError turns a Handler's error into the rpc-error that answers it.
func (s *Server) toRPCError(req *Request, err error) *RPCError {
	var re *RPCError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, ErrUnknownOperation) {
		switch {
		case req.Op.Space == BaseNS && !baseOps[req.Op.Local]:
			return &RPCError{Type: "protocol", Tag: "unknown-element", Severity: "error",
				Message: "<" + req.Op.Local + "> is not a NETCONF operation",
				Info:    ErrorInfo{Inner: "<bad-element>" + escape(req.Op.Local) + "</bad-element>"}}
		case !s.namespaces[req.Op.Space]:
			return errUnknownNamespace(req.Op.Local, req.Op.Space)
		}
		return ErrOperationNotSupported(fmt.Sprintf("operation %s (namespace %s) is not supported", req.Op.Local, req.Op.Space))
	}
	return ErrOperationFailed(err.Error())
}

// endSession releases what the session held: its locks first, so that a
// session killed by another sees them free at once.
func (s *Server) endSession(ss *serverSession) {
	s.mu.Lock()
	_, live := s.live[ss.id]
	delete(s.live, ss.id)
	s.releaseLocks(ss)
	s.mu.Unlock()
	if !live {
		return
	}
	if e, ok := ss.h.(SessionEnder); ok {
		e.SessionEnded(ss.id)
	}
}

// opTree returns the operation element of req, parsed (names resolved).
func opTree(req *Request) (*node, *RPCError) {
	if req.tree != nil {
		return req.tree, nil
	}
	d := req.decoder()
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, errMalformed(err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n, err := parseElement(d, se)
			if err != nil {
				return nil, errMalformed(err)
			}
			req.tree = n
			return n, nil
		}
	}
}

// checkChildren answers an unknown-element error for a child of op (in any
// namespace) whose local name is not in allowed.
func checkChildren(op *node, allowed ...string) *RPCError {
	for _, c := range op.children {
		ok := false
		for _, a := range allowed {
			ok = ok || c.name.Local == a && (c.name.Space == BaseNS || c.name.Space == op.name.Space)
		}
		if !ok {
			return &RPCError{Type: "protocol", Tag: "unknown-element", Severity: "error",
				Message: "<" + op.name.Local + "> does not take <" + c.name.Local + ">",
				Info:    ErrorInfo{Inner: "<bad-element>" + escape(c.name.Local) + "</bad-element>"}}
		}
	}
	return nil
}
