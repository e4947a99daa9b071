package raftstore

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// StateMachine is what the store replicates into. Apply must be
// deterministic: no clock reads, no randomness, no I/O. Business outcomes
// (for example "quantity exhausted") are returned as result bytes, not as
// errors.
type StateMachine interface {
	// Apply applies one command committed at log index and returns its
	// result, which goes back to the proposer.
	Apply(index uint64, cmd []byte) []byte
	// Snapshot writes the whole state to w. It is called from the Raft
	// snapshot goroutine while no Apply runs, so it must be fast to copy
	// (the write itself may take long).
	Snapshot() (func(w io.Writer) error, error)
	// Restore replaces the whole state with what a Snapshot wrote.
	Restore(r io.Reader) error
}

// fsm adapts a StateMachine to raft.FSM, unpacking batch entries.
type fsm struct {
	sm StateMachine
}

// batchResult is what fsm.Apply returns for one batch entry: one result per
// command, in order.
type batchResult [][]byte

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmds, err := decodeBatch(l.Data)
	if err != nil {
		// Entries are written only by this package; a bad one is a bug.
		panic(fmt.Sprintf("raftstore: log entry %d: %v", l.Index, err))
	}
	out := make(batchResult, len(cmds))
	for i, c := range cmds {
		out[i] = f.sm.Apply(l.Index, c)
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
	return f.sm.Restore(rc)
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
