// Package raftstoretest starts in-process raftstore clusters on loopback
// for tests and benchmarks of raftstore and of the packages built on it.
// Each node has real Raft, a real bolt log in a temporary directory and a
// real TCP listener on a random 127.x.y.z address. It is test support code:
// production code must not import it.
package raftstoretest

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
)

// Cluster is a set of in-process nodes on a partitionable network.
type Cluster struct {
	tb    testing.TB
	Net   *Network
	Nodes []*raftstore.Store // nil while a node is stopped
	Cfgs  []raftstore.Config
	SMs   []raftstore.StateMachine
	newSM func() raftstore.StateMachine
}

// RandomHost returns a random loopback address 127.x.y.z with x in 10..250.
func RandomHost() string {
	return fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(241), rand.IntN(256), 1+rand.IntN(254))
}

// FreeAddr returns host:port of a free TCP port on a random loopback host.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	var err error
	for range 20 {
		var ln net.Listener
		ln, err = net.Listen("tcp", RandomHost()+":0")
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}
	}
	tb.Fatalf("raftstoretest: no free address: %v", err)
	return ""
}

// Start starts n nodes that bootstrap together; tune may adjust each
// node's configuration. Every node dials through c.Net. The cluster is
// closed when the test ends.
func Start(tb testing.TB, n int, newSM func() raftstore.StateMachine, tune func(i int, c *raftstore.Config)) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, Net: NewNetwork(), newSM: newSM}
	var peers []raftstore.Peer
	for i := 0; i < n; i++ {
		peers = append(peers, raftstore.Peer{ID: fmt.Sprintf("node%d", i+1), Addr: FreeAddr(tb)})
	}
	base := tb.TempDir()
	for i := 0; i < n; i++ {
		cfg := raftstore.Config{NodeID: peers[i].ID, Dir: filepath.Join(base, peers[i].ID), BindAddr: peers[i].Addr,
			Bootstrap: true, Peers: peers, Dial: c.Net.Dialer(peers[i].Addr), Logger: TestLogger()}
		if tune != nil {
			tune(i, &cfg)
		}
		c.Cfgs = append(c.Cfgs, cfg)
		c.Nodes = append(c.Nodes, nil)
		c.SMs = append(c.SMs, nil)
		c.Restart(i)
	}
	tb.Cleanup(c.Close)
	return c
}

// Stop shuts node i down (its data stays).
func (c *Cluster) Stop(i int) {
	if c.Nodes[i] != nil {
		c.Nodes[i].Close()
		c.Nodes[i] = nil
	}
}

// Restart starts node i again from its data directory with a fresh state
// machine (which Raft fills from the snapshot and the log).
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	sm := c.newSM()
	var err error
	for range 50 { // the port may linger briefly after Stop
		var s *raftstore.Store
		if s, err = raftstore.Open(c.Cfgs[i], sm); err == nil {
			c.Nodes[i], c.SMs[i] = s, sm
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.tb.Fatalf("raftstoretest: open %s: %v", c.Cfgs[i].NodeID, err)
}

// Leader waits up to 10s for one of the running nodes to lead and returns
// its index.
func (c *Cluster) Leader() int {
	c.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range c.Nodes {
			if s != nil && s.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.tb.Fatal("raftstoretest: no leader within 10s")
	return -1
}

// Follower returns the index of a running node that does not lead.
func (c *Cluster) Follower() int {
	c.tb.Helper()
	l := c.Leader()
	for i, s := range c.Nodes {
		if s != nil && i != l {
			return i
		}
	}
	c.tb.Fatal("raftstoretest: no running follower")
	return -1
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// TestLogger returns a logger for Raft's messages: discarded unless
// RAFTSTORE_TEST_LOG is set.
func TestLogger() *slog.Logger {
	if os.Getenv("RAFTSTORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}
