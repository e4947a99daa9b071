// Package raftstore is a replicated state container on hashicorp/raft with
// raft-boltdb for the log and stable store and a file snapshot store.
//
// It knows nothing of licenses: callers propose opaque commands and hand in
// the StateMachine that applies them. Concurrent proposals are coalesced
// into one Raft entry (a batch); each proposer gets its own result.
package raftstore
