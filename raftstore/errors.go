package raftstore

import "errors"

// Errors returned by the store. Callers check them with errors.Is; the
// returned errors wrap them with details (which leader, what timed out).
var (
	// ErrNotLeader: this node is not the leader. Apply, Barrier and the
	// membership calls forward to the leader, so callers see it only from
	// leader-only internals.
	ErrNotLeader = errors.New("raftstore: not the leader")
	// ErrNoQuorum: no leader could be reached before the deadline, so
	// nothing was applied. The cluster has lost its quorum or is
	// electing a leader.
	ErrNoQuorum = errors.New("raftstore: no leader (cluster has no quorum)")
	// ErrUnknownOutcome: the leader was lost after the write was handed
	// to it; the write may or may not have been applied. The store never
	// retries such a write by itself.
	ErrUnknownOutcome = errors.New("raftstore: leader lost before the write was confirmed; it may or may not be applied")
	// ErrClosed: the store is shut down.
	ErrClosed = errors.New("raftstore: store closed")
	// ErrTooLarge: a command exceeds the maximum entry size.
	ErrTooLarge = errors.New("raftstore: command too large")
	// ErrJoinRefused: a join request was not authenticated or names a
	// node that is not known; nothing was changed.
	ErrJoinRefused = errors.New("raftstore: join refused")
	// ErrUnknownNode: a remove or leader transfer names a node that is not
	// a member.
	ErrUnknownNode = errors.New("raftstore: no such node in the cluster")
	// ErrBadSnapshot: a snapshot file is damaged, truncated or not a
	// snapshot; nothing was changed.
	ErrBadSnapshot = errors.New("raftstore: bad snapshot file")
)
