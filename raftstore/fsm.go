package raftstore

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// StateMachine is what the store replicates into. Apply must be
// deterministic: no clock reads, no randomness, no I/O. Business outcomes
// (for example "quantity exhausted") are returned as result bytes, not as
// errors.
type StateMachine interface {
	// Apply applies one command committed at log index and returns its
	// result, which goes back to the proposer. cmd is valid only during
	// the call: copy what the state keeps, and do not return it in the
	// result.
	Apply(index uint64, cmd []byte) []byte
	// Snapshot writes the whole state to w. It is called from the Raft
	// snapshot goroutine while no Apply runs, so it must be fast to copy
	// (the write itself may take long).
	Snapshot() (func(w io.Writer) error, error)
	// Restore replaces the whole state with what a Snapshot wrote.
	Restore(r io.Reader) error
}

// BatchApplier is an optional extension of StateMachine. When the state
// machine has it, the store calls ApplyBatch once per log entry instead of
// Apply once per command: the commands are applied in order, all at index.
// wantResults is false when no proposer waits on this node (on followers,
// and for entries a previous leader proposed); the state machine may then
// skip encoding results and return nil. The state must come out the same
// either way. The commands are valid only during the call, as for Apply.
type BatchApplier interface {
	ApplyBatch(index uint64, cmds [][]byte, wantResults bool) [][]byte
}

// SnapshotValidator is an optional extension of StateMachine: it checks
// that r holds a state Restore would accept, without changing anything.
// The store calls it before a user restore, so that a file that is intact
// but is not a state of this machine is refused instead of crashing the
// leader.
type SnapshotValidator interface {
	ValidateSnapshot(r io.Reader) error
}

// fsm adapts a StateMachine to raft.FSM, unpacking batch entries. It
// tracks the index the state machine has applied: Raft's own
// AppliedIndex counts entries handed to the FSM goroutine, not finished.
type fsm struct {
	self    string
	sm      StateMachine
	m       *metrics
	snaps   *raft.FileSnapshotStore
	applied atomic.Uint64
}

// batchResult is what fsm.Apply returns for one entry: one result per
// command, in order (nil results when no one waits on this node).
type batchResult [][]byte

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	// A compressed entry is expanded into a recycled buffer: the state
	// machine does not keep the commands (see StateMachine).
	buf := scratch.Get().(*[]byte)
	defer putScratch(buf)
	proposer, cmds, err := decodeEntry(l.Data, buf)
	if err != nil {
		// Entries are written only by this package; a bad one is a bug.
		panic(fmt.Sprintf("raftstore: log entry %d: %v", l.Index, err))
	}
	defer f.applied.Store(l.Index)
	if len(cmds) == 0 {
		return nil // a read barrier
	}
	start := time.Now()
	defer func() { f.m.fsmSeconds.Observe(time.Since(start).Seconds()) }()
	want := proposer == f.self
	if ba, ok := f.sm.(BatchApplier); ok {
		return batchResult(ba.ApplyBatch(l.Index, cmds, want))
	}
	var out batchResult
	if want {
		out = make(batchResult, len(cmds))
	}
	for i, c := range cmds {
		r := f.sm.Apply(l.Index, c)
		if want {
			out[i] = r
		}
	}
	return out
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	write, err := f.sm.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{write: write}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if f.m != nil {
		f.m.restores.Inc()
	}
	if err := f.sm.Restore(rc); err != nil {
		return err
	}
	// Raft restores the newest snapshot in the store (at start, on
	// InstallSnapshot and on a user restore).
	if list, err := f.snaps.List(); err == nil && len(list) > 0 {
		f.applied.Store(list[0].Index)
	}
	return nil
}

// StoreConfiguration implements raft.ConfigurationStore, so that
// configuration entries count as applied.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.applied.Store(index)
}

type fsmSnapshot struct {
	write func(w io.Writer) error
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
