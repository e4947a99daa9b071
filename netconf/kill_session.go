package netconf

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// KillSessionOp returns the <kill-session> operation (RFC 6241 7.9).
func KillSessionOp(id uint32) string {
	return "<kill-session><session-id>" + strconv.FormatUint(uint64(id), 10) + "</session-id></kill-session>"
}

// KillSession forces the end of another session of the same device; the
// server aborts its operations and releases its locks.
func (c *Client) KillSession(ctx context.Context, id uint32) error {
	return c.callOK(ctx, "kill-session", KillSessionOp(id))
}

// killSession serves <kill-session>.
func (s *Server) killSession(ss *serverSession, req *Request) []byte {
	op, rerr := opTree(req)
	if rerr == nil {
		rerr = checkChildren(op, "session-id")
	}
	if rerr != nil {
		return errorBody(rerr)
	}
	n := op.child("session-id")
	if n == nil {
		return errorBody(ErrMissingElement("protocol", "session-id"))
	}
	id, err := strconv.ParseUint(strings.TrimSpace(n.text), 10, 32)
	if err != nil || id == 0 {
		return errorBody(ErrBadElement("protocol", "session-id",
			fmt.Sprintf("session-id %q is not a number in 1..4294967295", strings.TrimSpace(n.text))))
	}
	if uint32(id) == ss.id {
		return errorBody(ErrInvalidValue("protocol", "kill-session cannot end the session that asks for it; use close-session"))
	}
	s.mu.Lock()
	victim := s.live[uint32(id)]
	if victim != nil && victim.h == ss.h {
		// Release the victim's locks before answering, so that the caller
		// can take them at once (RFC 6241 7.9).
		delete(s.live, victim.id)
		s.releaseLocks(victim)
	}
	s.mu.Unlock()
	if victim == nil || victim.h != ss.h {
		return errorBody(ErrInvalidValue("protocol", fmt.Sprintf("no session %d", id)))
	}
	victim.kill()
	if e, ok := victim.h.(SessionEnder); ok {
		e.SessionEnded(victim.id)
	}
	return okBody
}
