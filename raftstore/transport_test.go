package raftstore_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

// With mutual TLS the cluster works as before; a peer without a
// certificate from the cluster CA cannot talk to a node.
func TestMutualTLS(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	raftstoretest.WriteCerts(t, dir, "node1", "node2", "node3")
	raftstoretest.WriteCerts(t, other, "intruder")
	c := raftstoretest.Start(t, 3, newLedger, func(i int, cfg *raftstore.Config) {
		n := fmt.Sprintf("node%d", i+1)
		tc, err := raftstore.LoadTLS(filepath.Join(dir, n+".pem"), filepath.Join(dir, n+"-key.pem"), filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = tc
	})
	f := c.Follower()
	for k := range 20 {
		if _, err := c.Nodes[f].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put %d", k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Nodes[f].Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitAgree(t, c, 20)

	addr := c.Cfgs[c.Leader()].BindAddr
	// A certificate from another CA is refused.
	bad, err := raftstore.LoadTLS(filepath.Join(other, "intruder.pem"), filepath.Join(other, "intruder-key.pem"), filepath.Join(other, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	bad.InsecureSkipVerify = true
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, bad); err == nil {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		conn.Write([]byte("S"))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("a node answered a peer with a foreign certificate")
		}
		conn.Close()
	}
	// So is plain TCP.
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	conn.Write([]byte("S\x02\x00\x00\x00\x00\x00\x00\x00\x00"))
	if n, err := conn.Read(make([]byte, 16)); err == nil && n > 0 {
		t.Fatal("a node answered a plain TCP read-index request")
	}
	conn.Close()
	if v := ledger(c, 0); len(v.Puts) != 20 {
		t.Fatalf("state changed: %d puts", len(v.Puts))
	}
}

func TestConfigValidate(t *testing.T) {
	ok := raftstore.Config{NodeID: "n1", Dir: "/tmp/x", BindAddr: "127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		mod  func(c *raftstore.Config)
		want string
	}{
		{"ok", func(c *raftstore.Config) {}, ""},
		{"no id", func(c *raftstore.Config) { c.NodeID = "" }, "node id is empty"},
		{"no dir", func(c *raftstore.Config) { c.Dir = "" }, "data directory is empty"},
		{"bad bind", func(c *raftstore.Config) { c.BindAddr = "nope" }, "raft address"},
		{"unroutable advertise", func(c *raftstore.Config) { c.BindAddr = "0.0.0.0:1" }, "must name a reachable host"},
		{"peer twice", func(c *raftstore.Config) { c.Peers = []raftstore.Peer{{"a", "127.0.0.1:1"}, {"a", "127.0.0.1:2"}} }, "listed twice"},
		{"peer bad addr", func(c *raftstore.Config) { c.Peers = []raftstore.Peer{{"a", "x"}} }, "peer a address"},
		{"tls without CA", func(c *raftstore.Config) { c.TLS = &tls.Config{} }, "TLS needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
