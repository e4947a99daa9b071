package netconf

import (
	"context"
	"fmt"
)

// LockOp returns the <lock> operation on a datastore (RFC 6241 7.5).
func LockOp(target string) string { return "<lock><target><" + target + "/></target></lock>" }

// UnlockOp returns the <unlock> operation on a datastore (RFC 6241 7.6).
func UnlockOp(target string) string { return "<unlock><target><" + target + "/></target></unlock>" }

// Lock locks a datastore ("running") for this session. If another session
// holds the lock, the error is an *RPCError with tag lock-denied whose
// SessionID names the holder.
func (c *Client) Lock(ctx context.Context, target string) error {
	return c.callOK(ctx, "lock", LockOp(target))
}

// Unlock releases a lock this session holds.
func (c *Client) Unlock(ctx context.Context, target string) error {
	return c.callOK(ctx, "unlock", UnlockOp(target))
}

// datastores the server can lock and read.
var datastores = map[string]bool{"running": true}

// datastore reads the single datastore element inside <target> or
// <source> of op.
func datastore(op *node, param string) (string, *RPCError) {
	p := op.child(param)
	if p == nil {
		return "", ErrMissingElement("protocol", param)
	}
	if len(p.children) != 1 {
		return "", ErrBadElement("protocol", param, fmt.Sprintf("<%s> must name exactly one datastore", param))
	}
	name := p.children[0].name.Local
	if !datastores[name] {
		return "", ErrInvalidValue("protocol", fmt.Sprintf("datastore %q is not supported (only running)", name))
	}
	return name, nil
}

// lock serves <lock> and <unlock>. Locks are per device (Handler) and
// datastore; a session's locks are released when it ends.
func (s *Server) lock(ss *serverSession, req *Request) []byte {
	op, rerr := opTree(req)
	if rerr == nil {
		rerr = checkChildren(op, "target")
	}
	var target string
	if rerr == nil {
		target, rerr = datastore(op, "target")
	}
	if rerr != nil {
		return errorBody(rerr)
	}
	k := lockKey{h: ss.h, target: target}
	s.mu.Lock()
	defer s.mu.Unlock()
	holder, held := s.locks[k]
	if req.Op.Local == "lock" {
		if held {
			return errorBody(ErrLockDenied(holder, fmt.Sprintf("%s is locked by session %d", target, holder)))
		}
		s.locks[k] = ss.id
		ss.locks = append(ss.locks, k)
		return okBody
	}
	if !held || holder != ss.id {
		return errorBody(&RPCError{Type: "protocol", Tag: "operation-failed", Severity: "error",
			Message: fmt.Sprintf("%s is not locked by this session", target)})
	}
	delete(s.locks, k)
	for i, l := range ss.locks {
		if l == k {
			ss.locks = append(ss.locks[:i], ss.locks[i+1:]...)
			break
		}
	}
	return okBody
}

// checkWritable answers in-use when another session holds the lock on the
// target of an edit-config, copy-config or delete-config.
func (s *Server) checkWritable(ss *serverSession, req *Request) *RPCError {
	op, rerr := opTree(req)
	if rerr != nil {
		return rerr
	}
	t := op.child("target")
	if t == nil || len(t.children) != 1 {
		return nil // the Handler reports it
	}
	s.mu.Lock()
	holder, held := s.locks[lockKey{h: ss.h, target: t.children[0].name.Local}]
	s.mu.Unlock()
	if held && holder != ss.id {
		return ErrInUse("protocol", fmt.Sprintf("%s is locked by session %d", t.children[0].name.Local, holder))
	}
	return nil
}

// releaseLocks drops every lock held by session ss. s.mu is held.
func (s *Server) releaseLocks(ss *serverSession) {
	for _, k := range ss.locks {
		if s.locks[k] == ss.id {
			delete(s.locks, k)
		}
	}
	ss.locks = nil
}
