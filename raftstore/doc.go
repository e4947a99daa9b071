// Package raftstore is a replicated state container on hashicorp/raft with
// raft-boltdb for the log and stable store and a file snapshot store, on
// one TCP port per node (optionally mutual TLS).
//
// It knows nothing of licenses: callers propose opaque commands and hand in
// the StateMachine that applies them. Writes work on every node (a follower
// forwards to the leader), concurrent proposals are coalesced into one Raft
// entry with a result per proposer, Barrier gives a linearizable read point
// on any node, and membership, leader transfer and checksummed snapshot
// files are managed through the Store. See DESIGN.md.
package raftstore
