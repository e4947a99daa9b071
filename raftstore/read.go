package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Barrier returns once this node's state reflects every write committed
// before the call: a linearizable read point, on any node. The leader
// confirms with a quorum that it still leads and names its commit index
// (the read index); this node then waits until it has applied up to it.
// It fails with ErrNoQuorum when no leader can confirm in time.
func (s *Store) Barrier(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		defer cancel()
	}
	idx, err := s.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, idx)
}

// ReadIndex returns the leader's commit index after the leader confirmed
// its leadership with a quorum. Reads of a state that has applied it are
// linearizable.
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.pause(ctx, attempt); err != nil {
				return 0, noQuorum(last, err)
			}
		}
		if s.raft.State() == raft.Leader {
			idx, err := s.readIndexLocal(ctx)
			if err == nil || !errors.Is(err, ErrNotLeader) {
				return idx, err
			}
			last = err
			continue
		}
		addr, id := s.raft.LeaderWithID()
		if addr == "" {
			last = errors.New("no leader elected")
			continue
		}
		res, err := s.call(ctx, string(addr), opReadIndex, nil)
		if err == nil && len(res) == 8 {
			return binary.BigEndian.Uint64(res), nil
		}
		if err == nil {
			err = errors.New("bad read index answer")
		}
		// A read changes nothing, so any failure may be retried.
		last = fmt.Errorf("leader %s at %s: %w", id, addr, err)
	}
}

// readIndexLocal is ReadIndex on the leader. A new leader first commits an
// empty command of its own term, since until then its commit index may
// lag entries its predecessor committed. (A command, not a Raft barrier:
// the state machine sees commands, so waitApplied can count them.)
func (s *Store) readIndexLocal(ctx context.Context) (uint64, error) {
	if s.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if term := s.raft.CurrentTerm(); s.readyTerm.Load() != term {
		s.termMu.Lock()
		if s.readyTerm.Load() != term {
			timeout := time.Second
			if dl, ok := ctx.Deadline(); ok {
				timeout = time.Until(dl)
			}
			if err := s.raft.Apply(encodeEntry(s.cfg.NodeID, nil, false), timeout).Error(); err != nil {
				s.termMu.Unlock()
				return 0, translate(err)
			}
			s.readyTerm.Store(term)
		}
		s.termMu.Unlock()
	}
	idx := s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return 0, translate(err)
	}
	return idx, nil
}

// waitApplied waits until the state machine has applied index.
func (s *Store) waitApplied(ctx context.Context, index uint64) error {
	if s.fsm.applied.Load() >= index {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for s.fsm.applied.Load() < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: applied index %d has not reached read index %d: %v",
				ErrNoQuorum, s.fsm.applied.Load(), index, ctx.Err())
		case <-s.stop:
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}

// VerifyLeader confirms with a quorum that this node is still the leader.
func (s *Store) VerifyLeader() error {
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return translate(err)
	}
	return nil
}

// DataAge says how stale this node's state may be for a stale read: zero
// on the leader; on a follower, the time since it last heard from the
// leader (it applies what it hears at once); the maximum duration if it
// never did.
func (s *Store) DataAge() time.Duration {
	if s.raft.State() == raft.Leader {
		return 0
	}
	lc := s.raft.LastContact()
	if lc.IsZero() {
		return time.Duration(math.MaxInt64)
	}
	return time.Since(lc)
}
