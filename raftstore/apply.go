package raftstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

type proposal struct {
	cmd      []byte
	start    time.Time
	deadline time.Time // the proposer's; the batch gives up a little before
	done     chan result
	// state: queued, then taken by a batch or abandoned by a proposer
	// that gave up first (an abandoned proposal is never sent).
	state atomic.Int32
	// timer bounds a proposal whose context has no deadline.
	timer *time.Timer
}

// proposals are recycled once their proposer has received the result:
// nothing refers to them any more (the one send on done has happened).
// One that timed out is left to the garbage collector, since a result may
// still be sent on its channel.
var proposalPool = sync.Pool{New: func() any { return &proposal{done: make(chan result, 1)} }}

const (
	queued int32 = iota
	taken
	abandoned
)

type result struct {
	data []byte
	err  error
}

// Apply proposes one command and waits for the state machine's result. It
// works on every node: a follower forwards the command to the leader and
// answers once it has applied the command itself, so a read on the same
// node right after sees the write.
// Errors: ErrNoQuorum (nothing applied: no leader reachable before the
// deadline), ErrUnknownOutcome (the leader was lost after taking the
// command), ErrTooLarge, ErrClosed, or the context's error.
func (s *Store) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > s.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), s.cfg.MaxBatchBytes)
	}
	now := time.Now()
	p := proposalPool.Get().(*proposal)
	p.cmd, p.start = cmd, now
	p.state.Store(queued)
	dl, ok := ctx.Deadline()
	// Without a deadline the proposal gets ApplyTimeout, on a plain timer
	// (cheaper than a context per proposal).
	var timeout <-chan time.Time
	if !ok {
		dl = now.Add(s.cfg.ApplyTimeout)
		if p.timer == nil {
			p.timer = time.NewTimer(s.cfg.ApplyTimeout)
		} else {
			p.timer.Reset(s.cfg.ApplyTimeout)
		}
		timeout = p.timer.C
	}
	p.deadline = dl
	// The timer is stopped before any return; a recycled proposal's
	// timer belongs to its next proposer.
	stopTimer := func() {
		if timeout != nil {
			p.timer.Stop()
		}
	}
	select {
	case s.proposals <- p:
	case <-s.stop:
		stopTimer()
		return nil, ErrClosed
	case <-ctx.Done():
		stopTimer()
		return nil, fmt.Errorf("%w: proposal queue full: %v", ErrNoQuorum, ctx.Err())
	case <-timeout:
		return nil, fmt.Errorf("%w: proposal queue full: %v", ErrNoQuorum, context.DeadlineExceeded)
	}
	var err error
	select {
	case r := <-p.done:
		s.m.applySeconds.Observe(time.Since(p.start).Seconds())
		stopTimer()
		p.cmd = nil
		proposalPool.Put(p)
		return r.data, r.err
	case <-ctx.Done():
		stopTimer()
		err = ctx.Err()
	case <-timeout:
		err = context.DeadlineExceeded
	}
	if p.state.CompareAndSwap(queued, abandoned) {
		return nil, fmt.Errorf("%w: not proposed before the deadline, the store is saturated or has no leader (%v)", ErrNoQuorum, err)
	}
	// The command may still commit; the caller cannot know.
	return nil, fmt.Errorf("%w: no answer in time (%v)", ErrUnknownOutcome, err)
}

// batcher coalesces waiting proposals into batches, bounded by count and
// size. A batch goes out as soon as an in-flight slot is free; while every
// slot is taken it keeps growing with the proposals that arrive, so the
// batch size follows the load. When batches are already in flight and a
// slot is free it lingers briefly for more; a lone writer is never
// delayed.
func (s *Store) batcher() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var carry *proposal // did not fit in the previous batch
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.proposals:
			case <-s.stop:
				return
			}
		}
		batch, size := []*proposal{first}, len(first.cmd)
		add := func(p *proposal) bool {
			if size+len(p.cmd) > s.cfg.MaxBatchBytes {
				carry = p
				return false
			}
			batch = append(batch, p)
			size += len(p.cmd)
			return len(batch) < s.cfg.MaxBatch && size < s.cfg.MaxBatchBytes
		}
		lingering, lingered := false, false
		slot := false
	collect:
		for len(batch) < s.cfg.MaxBatch && size < s.cfg.MaxBatchBytes {
			// Take what is waiting first.
			select {
			case p := <-s.proposals:
				if !add(p) {
					break collect
				}
				continue
			default:
			}
			if !lingered && s.cfg.Linger >= 0 && len(s.inflight) > 0 && len(s.inflight) < cap(s.inflight) {
				// A slot is free but batches are in flight: wait a
				// little for more before taking it.
				if !lingering {
					timer.Reset(s.cfg.Linger)
					lingering = true
				}
				select {
				case p := <-s.proposals:
					if !add(p) {
						break collect
					}
				case <-timer.C:
					lingering, lingered = false, true
				case <-s.stop:
					s.fail(batch, carry)
					return
				}
				continue
			}
			// Go as soon as a slot is free; until then keep collecting.
			select {
			case s.inflight <- struct{}{}:
				slot = true
				break collect
			case p := <-s.proposals:
				if !add(p) {
					break collect
				}
			case <-s.stop:
				s.fail(batch, carry)
				return
			}
		}
		if lingering {
			timer.Stop()
		}
		if !slot {
			select {
			case s.inflight <- struct{}{}:
			case <-s.stop:
				s.fail(batch, carry)
				return
			}
		}
		s.dispatch(batch)
	}
}

// fail answers proposals the store will not send because it is closing.
func (s *Store) fail(batch []*proposal, carry *proposal) {
	if carry != nil {
		batch = append(batch, carry)
	}
	for _, p := range batch {
		p.done <- result{err: ErrClosed}
	}
}

// dispatch hands a batch on; the caller holds an in-flight slot for it,
// which is given back once the batch is answered.
func (s *Store) dispatch(batch []*proposal) {
	// Proposers that gave up while the batch waited for a slot are left
	// out: nothing of theirs is ever sent.
	live := batch[:0]
	for _, p := range batch {
		if p.state.CompareAndSwap(queued, taken) {
			live = append(live, p)
		}
	}
	if batch = live; len(batch) == 0 {
		<-s.inflight
		return
	}
	s.m.batchCommands.Observe(float64(len(batch)))
	cmds := make([][]byte, len(batch))
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for i, p := range batch {
		cmds[i] = p.cmd
		if p.deadline.Before(deadline) {
			deadline = p.deadline
		}
	}
	// Answer before the most impatient proposer gives up, so that it
	// hears "no quorum" rather than nothing.
	deadline = deadline.Add(-min(50*time.Millisecond, time.Until(deadline)/10))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.inflight }()
		ctx, cancel := context.WithDeadline(s.ctx, deadline)
		defer cancel()
		res, err := s.applyBatch(ctx, cmds)
		for i, p := range batch {
			if err != nil {
				p.done <- result{err: err}
				continue
			}
			p.done <- result{data: res[i]}
		}
	}()
}

// applyBatch commits cmds as one entry, on this node if it leads or
// through the leader. It retries only while nothing can have been
// applied (no leader yet, leader unreachable, leader moved before taking
// the entry).
func (s *Store) applyBatch(ctx context.Context, cmds [][]byte) ([][]byte, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.pause(ctx, attempt); err != nil {
				return nil, noQuorum(last, err)
			}
		}
		if s.raft.State() == raft.Leader {
			res, _, err := s.applyLocal(ctx, cmds)
			if err == nil || !errors.Is(err, ErrNotLeader) {
				return res, err
			}
			last = err
			continue
		}
		addr, id := s.raft.LeaderWithID()
		if addr == "" {
			last = errors.New("no leader elected")
			continue
		}
		s.m.forwardedWrites.Add(float64(len(cmds)))
		res, index, err := s.forwardApply(ctx, string(addr), cmds)
		if err == nil {
			// Read your writes: answer once this node has applied the
			// entry too. The write is committed either way, so a slow
			// follower still returns the result when the wait runs out.
			s.waitApplied(ctx, index)
			return res, nil
		}
		var se *safeError
		if errors.As(err, &se) {
			last = fmt.Errorf("leader %s at %s: %w", id, addr, se.err)
			continue
		}
		return nil, err
	}
}

// applyLocal proposes an entry on this node, which must lead, and returns
// the results and the entry's index. An error wrapping ErrNotLeader means
// the entry was not appended.
func (s *Store) applyLocal(ctx context.Context, cmds [][]byte) ([][]byte, uint64, error) {
	timeout := time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	fut := s.raft.Apply(encodeEntry(s.cfg.NodeID, cmds, !s.cfg.PlainEntries), timeout)
	if err := fut.Error(); err != nil {
		return nil, 0, translate(err)
	}
	res, _ := fut.Response().(batchResult)
	if len(res) != len(cmds) {
		// The state machine returned no results: give each proposer nil.
		res = make(batchResult, len(cmds))
	}
	return res, fut.Index(), nil
}

// pause waits before a retry: 10ms doubling to 100ms.
func (s *Store) pause(ctx context.Context, attempt int) error {
	d := 10 * time.Millisecond << min(attempt-1, 3)
	d = min(d, 100*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return ErrClosed
	}
}

func noQuorum(last, err error) error {
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if last == nil {
		return fmt.Errorf("%w: %v", ErrNoQuorum, err)
	}
	return fmt.Errorf("%w: %v (gave up: %v)", ErrNoQuorum, last, err)
}

// translate maps Raft's errors to the store's. Errors raised before the
// entry was appended wrap ErrNotLeader (safe to retry elsewhere); errors
// after it wrap ErrUnknownOutcome.
func translate(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w (%v)", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w (%v)", ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return fmt.Errorf("raftstore: %w", err)
}

// safeError marks a failure that happened before the leader could have
// taken a request, so retrying cannot apply anything twice.
type safeError struct{ err error }

func (e *safeError) Error() string { return e.err.Error() }
func (e *safeError) Unwrap() error { return e.err }
