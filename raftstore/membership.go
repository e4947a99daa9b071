package raftstore

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// membershipTimeout bounds one configuration change on the leader.
const membershipTimeout = 10 * time.Second

type joinRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

func decodeJoin(b []byte) (joinRequest, error) {
	var r joinRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("raftstore: bad join request: %w", err)
	}
	return r, nil
}

// AuthorizeJoin decides whether a node that presents secret (instead of an
// admin's authority) may join as id at addr. It may when this node has a
// join secret, the secret matches, and id is a known node: listed in
// Peers, at the address Peers gives it. Otherwise the error wraps
// ErrJoinRefused and says why.
func (s *Store) AuthorizeJoin(secret, id, addr string) error {
	if s.cfg.JoinSecret == "" {
		return fmt.Errorf("%w: this cluster has no join secret configured; an admin must add node %s", ErrJoinRefused, id)
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.JoinSecret)) != 1 {
		return fmt.Errorf("%w: wrong join secret", ErrJoinRefused)
	}
	for _, p := range s.cfg.Peers {
		if p.ID == id {
			if p.Addr != addr {
				return fmt.Errorf("%w: node %s is declared at %s, not %s", ErrJoinRefused, id, p.Addr, addr)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown node id %q (not in the peers of this node's configuration; an admin can add it with `licbroker cluster join`)", ErrJoinRefused, id)
}

// Join adds a voting member (through the leader). Joining again with the
// same id and address is a no-op; the same id with a new address moves
// the member.
func (s *Store) Join(ctx context.Context, id, addr string) error {
	if id == "" {
		return fmt.Errorf("%w: node id is empty", ErrJoinRefused)
	}
	if h, _, err := net.SplitHostPort(addr); err != nil || h == "" || h == "0.0.0.0" || h == "::" {
		return fmt.Errorf("%w: node %s: raft address %q must be HOST:PORT of a reachable host", ErrJoinRefused, id, addr)
	}
	b, _ := json.Marshal(joinRequest{ID: id, Addr: addr})
	return s.onLeader(ctx, opJoin, b, func() error { return s.joinLocal(joinRequest{ID: id, Addr: addr}) })
}

func (s *Store) joinLocal(req joinRequest) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return translate(err)
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == req.ID && string(srv.Address) == req.Addr && srv.Suffrage == raft.Voter {
			return nil
		}
		if string(srv.Address) == req.Addr && string(srv.ID) != req.ID {
			return fmt.Errorf("%w: address %s already belongs to node %s", ErrJoinRefused, req.Addr, srv.ID)
		}
	}
	return translateMembership(s.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, membershipTimeout).Error())
}

// Remove takes a member out of the cluster (through the leader).
func (s *Store) Remove(ctx context.Context, id string) error {
	return s.onLeader(ctx, opRemove, []byte(id), func() error { return s.removeLocal(id) })
}

func (s *Store) removeLocal(id string) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if _, ok := s.member(id); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	return translateMembership(s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error())
}

// TransferLeadership hands leadership to node id, or to the most
// up-to-date follower when id is empty.
func (s *Store) TransferLeadership(ctx context.Context, id string) error {
	return s.onLeader(ctx, opTransfer, []byte(id), func() error { return s.transferLocal(id) })
}

func (s *Store) transferLocal(id string) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if id == "" {
		return translateMembership(s.raft.LeadershipTransfer().Error())
	}
	if id == s.cfg.NodeID {
		return nil
	}
	srv, ok := s.member(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	return translateMembership(s.raft.LeadershipTransferToServer(srv.ID, srv.Address).Error())
}

func (s *Store) member(id string) (raft.Server, bool) {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return raft.Server{}, false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return srv, true
		}
	}
	return raft.Server{}, false
}

// translateMembership maps a configuration change error; such changes are
// idempotent, so a lost leader is reported as no quorum.
func translateMembership(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return translate(err)
}

// onLeader runs local on the leader or sends op to it, retrying while
// there is no leader or the leader moved.
func (s *Store) onLeader(ctx context.Context, op byte, payload []byte, local func() error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		defer cancel()
	}
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.pause(ctx, attempt); err != nil {
				return noQuorum(last, err)
			}
		}
		var err error
		if s.raft.State() == raft.Leader {
			err = local()
		} else if addr, _ := s.raft.LeaderWithID(); addr == "" {
			err = &safeError{errors.New("no leader elected")}
		} else {
			_, err = s.call(ctx, string(addr), op, payload)
		}
		if err == nil {
			return nil
		}
		var se *safeError
		if errors.Is(err, ErrNotLeader) || errors.As(err, &se) {
			last = err
			continue
		}
		return err
	}
}
