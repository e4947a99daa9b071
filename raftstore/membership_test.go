package raftstore_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

func TestAuthorizeJoin(t *testing.T) {
	peers := []raftstore.Peer{{ID: "node1", Addr: "127.0.0.1:1"}, {ID: "node2", Addr: "127.0.0.2:2"}}
	open := func(secret string) *raftstore.Store {
		s, err := raftstore.Open(raftstore.Config{NodeID: "node1", Dir: t.TempDir(), BindAddr: raftstoretest.FreeAddr(t),
			Peers: peers, JoinSecret: secret, Logger: raftstoretest.TestLogger()}, raftstoretest.NewLedger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	withSecret, noSecret := open("s3cret"), open("")
	for _, tc := range []struct {
		name           string
		s              *raftstore.Store
		secret, id, at string
		want           string // "" = allowed
	}{
		{"known node, right secret", withSecret, "s3cret", "node2", "127.0.0.2:2", ""},
		{"wrong secret", withSecret, "guess", "node2", "127.0.0.2:2", "wrong join secret"},
		{"no secret given", withSecret, "", "node2", "127.0.0.2:2", "wrong join secret"},
		{"unknown node", withSecret, "s3cret", "node9", "127.0.0.9:9", `unknown node id "node9"`},
		{"known node, other address", withSecret, "s3cret", "node2", "127.0.0.3:3", "declared at 127.0.0.2:2"},
		{"cluster without secret", noSecret, "s3cret", "node2", "127.0.0.2:2", "no join secret configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.AuthorizeJoin(tc.secret, tc.id, tc.at)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, raftstore.ErrJoinRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrJoinRefused containing %q", err, tc.want)
			}
		})
	}
}

// A cluster grows from one node by Join, moves its leadership, shrinks by
// Remove; refused changes change nothing.
func TestJoinTransferRemove(t *testing.T) {
	c := raftstoretest.Start(t, 1, newLedger, nil)
	c.Leader()
	if _, err := c.Nodes[0].Apply(ctxT(t, 5*time.Second), []byte("put first")); err != nil {
		t.Fatal(err)
	}
	// Two new nodes start empty, without bootstrap, and are added.
	var added []*raftstore.Store
	var ledgers []*raftstoretest.Ledger
	for _, id := range []string{"node2", "node3"} {
		addr := raftstoretest.FreeAddr(t)
		l := raftstoretest.NewLedger()
		s, err := raftstore.Open(raftstore.Config{NodeID: id, Dir: filepath.Join(t.TempDir(), id), BindAddr: addr,
			Logger: raftstoretest.TestLogger()}, l)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if s.HasState() {
			t.Fatal("a new node has state")
		}
		// Ask through the newest member, which forwards to the leader.
		via := c.Nodes[0]
		if len(added) > 0 {
			via = added[len(added)-1]
		}
		if err := via.Join(ctxT(t, 10*time.Second), id, addr); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
		// Joining again is a no-op.
		if err := via.Join(ctxT(t, 10*time.Second), id, addr); err != nil {
			t.Fatalf("join %s again: %v", id, err)
		}
		added = append(added, s)
		ledgers = append(ledgers, l)
	}
	if err := c.Nodes[0].Join(ctxT(t, 5*time.Second), "node4", "0.0.0.0:1"); !errors.Is(err, raftstore.ErrJoinRefused) {
		t.Fatalf("join with an unreachable address: %v", err)
	}
	if err := c.Nodes[0].Join(ctxT(t, 5*time.Second), "node9", c.Cfgs[0].BindAddr); !errors.Is(err, raftstore.ErrJoinRefused) {
		t.Fatalf("join with another node's address: %v", err)
	}
	st := c.Nodes[0].Status()
	if len(st.Servers) != 3 {
		t.Fatalf("servers after joins: %+v", st.Servers)
	}
	if _, err := added[1].Apply(ctxT(t, 5*time.Second), []byte("put second")); err != nil {
		t.Fatal(err)
	}
	if err := added[0].Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if v := ledgers[0].View(); len(v.Puts) != 2 {
		t.Fatalf("joined node has %v", v.Puts)
	}

	// Leader transfer to node3, asked on node2.
	if err := added[0].TransferLeadership(ctxT(t, 10*time.Second), "node3"); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !added[1].IsLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("node3 did not take over: %+v", added[1].Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := added[0].TransferLeadership(ctxT(t, 5*time.Second), "nodeX"); !errors.Is(err, raftstore.ErrUnknownNode) {
		t.Fatalf("transfer to unknown node: %v", err)
	}
	// Remove node1 (asked on node1 itself, a follower now).
	if err := c.Nodes[0].Remove(ctxT(t, 10*time.Second), "node1"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := added[0].Remove(ctxT(t, 5*time.Second), "node1"); !errors.Is(err, raftstore.ErrUnknownNode) {
		t.Fatalf("remove twice: %v", err)
	}
	st = added[1].Status()
	if len(st.Servers) != 2 {
		t.Fatalf("servers after remove: %+v", st.Servers)
	}
	for _, s := range st.Servers {
		if s.ID == "node1" {
			t.Fatalf("node1 still a member: %+v", st.Servers)
		}
	}
	if _, err := added[0].Apply(ctxT(t, 5*time.Second), []byte("put third")); err != nil {
		t.Fatal(err)
	}
}
