package raftstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

func newLedger() raftstore.StateMachine { return raftstoretest.NewLedger() }

func ledger(c *raftstoretest.Cluster, i int) raftstoretest.LedgerView {
	return c.SMs[i].(*raftstoretest.Ledger).View()
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitAgree waits until every running node has applied the same puts and
// returns them.
func waitAgree(t *testing.T, c *raftstoretest.Cluster, want int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var first []string
		same, seen := true, false
		for i, s := range c.Nodes {
			if s == nil {
				continue
			}
			v := ledger(c, i)
			if !seen {
				first, seen = v.Puts, true
			} else if !slices.Equal(first, v.Puts) {
				same = false
			}
		}
		if same && len(first) >= want {
			return first
		}
		if time.Now().After(deadline) {
			for i := range c.Nodes {
				if c.Nodes[i] != nil {
					t.Logf("%s: %d puts, status %+v", c.Cfgs[i].NodeID, len(ledger(c, i).Puts), c.Nodes[i].Status())
				}
			}
			t.Fatalf("nodes do not agree on %d puts within 20s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkUnique(t *testing.T, puts []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range puts {
		if seen[p] {
			t.Fatalf("%q applied twice", p)
		}
		seen[p] = true
	}
}

// Writes through every node (followers forward) each get their own
// result; a linearizable read on a follower sees every acknowledged write.
func TestWritesAndReadsOnEveryNode(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, nil)
	c.Leader()
	var wg sync.WaitGroup
	results := make([][]string, 3)
	for n := range 3 {
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 25 {
					res, err := c.Nodes[n].Apply(ctxT(t, 10*time.Second), fmt.Appendf(nil, "put n%d-w%d-%d", n, w, k))
					if err != nil {
						t.Errorf("apply on %s: %v", c.Cfgs[n].NodeID, err)
						return
					}
					if !strings.HasPrefix(string(res), "ok ") {
						t.Errorf("result %q", res)
					}
					if w == 0 {
						results[n] = append(results[n], string(res))
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Each proposer got its own result: the positions it was applied at.
	all := map[string]bool{}
	for _, rs := range results {
		for _, r := range rs {
			if all[r] {
				t.Fatalf("two proposers got the same result %q", r)
			}
			all[r] = true
		}
	}
	for _, i := range []int{c.Follower(), c.Leader()} {
		if err := c.Nodes[i].Barrier(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("barrier on %s: %v", c.Cfgs[i].NodeID, err)
		}
		if v := ledger(c, i); len(v.Puts) != 600 {
			t.Fatalf("after barrier %s has %d puts, want 600", c.Cfgs[i].NodeID, len(v.Puts))
		}
	}
	checkUnique(t, waitAgree(t, c, 600))
	if age := c.Nodes[c.Leader()].DataAge(); age != 0 {
		t.Fatalf("leader data age %v", age)
	}
	if age := c.Nodes[c.Follower()].DataAge(); age <= 0 || age > 5*time.Second {
		t.Fatalf("follower data age %v", age)
	}
}

func TestTooLargeCommandIsRefused(t *testing.T) {
	c := raftstoretest.Start(t, 1, newLedger, func(i int, cfg *raftstore.Config) { cfg.MaxBatchBytes = 1000 })
	c.Leader()
	_, err := c.Nodes[0].Apply(ctxT(t, 5*time.Second), bytes.Repeat([]byte("x"), 1001))
	if !errors.Is(err, raftstore.ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if v := ledger(c, 0); len(v.Puts) != 0 {
		t.Fatalf("state changed: %+v", v)
	}
}

// A partitioned minority cannot commit and says so; the majority goes on;
// after healing all nodes agree.
func TestPartitionMinorityCannotCommit(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, nil)
	l := c.Leader()
	for k := range 20 {
		if _, err := c.Nodes[l].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put before-%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	// Cut the leader off: it is the minority.
	c.Net.Partition(c.Cfgs[l].BindAddr)
	minority := c.Nodes[l]
	ctx := ctxT(t, 4*time.Second)
	_, err := minority.Apply(ctx, []byte("put minority-1"))
	if !errors.Is(err, raftstore.ErrNoQuorum) && !errors.Is(err, raftstore.ErrUnknownOutcome) {
		t.Fatalf("write on the minority: %v, want no quorum", err)
	}
	// Once it knows it lost the leadership, it says plainly: no quorum.
	deadline := time.Now().Add(5 * time.Second)
	for minority.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_, err = minority.Apply(ctxT(t, 2*time.Second), []byte("put minority-2"))
	if !errors.Is(err, raftstore.ErrNoQuorum) {
		t.Fatalf("write on the minority after step-down: %v, want ErrNoQuorum", err)
	}
	t.Logf("minority says: %v", err)
	if err := minority.Barrier(ctxT(t, 2*time.Second)); !errors.Is(err, raftstore.ErrNoQuorum) {
		t.Fatalf("linearizable read on the minority: %v, want ErrNoQuorum", err)
	}
	// The majority elects a leader and goes on, through either node.
	var maj []int
	for i := range c.Nodes {
		if i != l {
			maj = append(maj, i)
		}
	}
	for k := range 20 {
		n := maj[k%2]
		if _, err := c.Nodes[n].Apply(ctxT(t, 10*time.Second), fmt.Appendf(nil, "put majority-%d", k)); err != nil {
			t.Fatalf("majority write %d through %s: %v", k, c.Cfgs[n].NodeID, err)
		}
	}
	c.Net.Heal()
	puts := waitAgree(t, c, 40)
	checkUnique(t, puts)
	for _, p := range puts {
		if strings.HasPrefix(p, "minority") {
			t.Fatalf("a write refused on the minority was applied: %v", puts)
		}
	}
	if len(puts) != 40 {
		t.Fatalf("after healing: %d puts, want 40", len(puts))
	}
}

// A follower that was down for 10,000 writes catches up from a snapshot
// when it comes back.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, func(i int, cfg *raftstore.Config) {
		cfg.SnapshotThreshold = 200
		cfg.SnapshotInterval = 100 * time.Millisecond
		cfg.TrailingLogs = 50
		cfg.MaxBatch = 8
	})
	l := c.Leader()
	f := c.Follower()
	stoppedAt := c.Nodes[f].Status().LastIndex
	c.Stop(f)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < 10000; k += 32 {
				if _, err := c.Nodes[l].Apply(ctxT(t, 10*time.Second), fmt.Appendf(nil, "put %d", k)); err != nil {
					t.Errorf("put %d: %v", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Wait until the running nodes have compacted past what the stopped
	// follower has (either may lead when it comes back).
	deadline := time.Now().Add(20 * time.Second)
	for i := range c.Nodes {
		for c.Nodes[i] != nil && c.Nodes[i].Status().LastSnapshotIndex < stoppedAt+200 {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not snapshot: %+v", c.Cfgs[i].NodeID, c.Nodes[i].Status())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.Restart(f)
	puts := waitAgree(t, c, 10000)
	checkUnique(t, puts)
	if len(puts) != 10000 {
		t.Fatalf("%d puts, want 10000", len(puts))
	}
	if r := ledger(c, f).Restores; r < 1 {
		t.Fatalf("follower caught up without a snapshot (restores %d); stopped at %d; follower %+v; leader %+v", r, stoppedAt, c.Nodes[f].Status(), c.Nodes[l].Status())
	}
}

// Restarting every node with its data directory brings the cluster back
// with every write, without help.
func TestRestartRejoinsWithoutHelp(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, nil)
	l := c.Leader()
	for k := range 50 {
		if _, err := c.Nodes[l].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put %d", k)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Nodes {
		c.Stop(i)
	}
	for i := range c.Nodes {
		c.Restart(i)
	}
	f := c.Follower()
	if _, err := c.Nodes[f].Apply(ctxT(t, 10*time.Second), []byte("put after")); err != nil {
		t.Fatal(err)
	}
	puts := waitAgree(t, c, 51)
	if len(puts) != 51 || puts[50] != "after" {
		t.Fatalf("after restart: %v", puts)
	}
}

// A proposal whose deadline passes before it was sent is never applied,
// and its proposer hears ErrNoQuorum, not an unknown outcome.
func TestExpiredProposalIsNeverSent(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, func(i int, cfg *raftstore.Config) { cfg.MaxInflight = 1 })
	l := c.Leader()
	// Cut the leader off so that its one in-flight batch hangs until it
	// steps down; proposals behind it wait for the slot.
	c.Net.Partition(c.Cfgs[l].BindAddr)
	first := make(chan error, 1)
	go func() {
		_, err := c.Nodes[l].Apply(ctxT(t, 5*time.Second), []byte("put hung"))
		first <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_, err := c.Nodes[l].Apply(ctxT(t, 200*time.Millisecond), []byte("put expired"))
	if !errors.Is(err, raftstore.ErrNoQuorum) {
		t.Fatalf("expired proposal: %v, want ErrNoQuorum", err)
	}
	<-first
	c.Net.Heal()
	f := c.Follower()
	if _, err := c.Nodes[f].Apply(ctxT(t, 10*time.Second), []byte("put after")); err != nil {
		t.Fatal(err)
	}
	for _, p := range waitAgree(t, c, 1) {
		if p == "expired" {
			t.Fatal("an expired proposal was applied")
		}
	}
}

// While every in-flight slot is taken, proposals that arrive join the
// batch waiting for the slot, however late they come: the batch grows
// with the load instead of leaving with what was there first.
func TestBatchGrowsWhileSlotsAreBusy(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, func(i int, cfg *raftstore.Config) { cfg.MaxInflight = 1 })
	l := c.Leader()
	// Cut the leader off so that its one in-flight batch hangs until it
	// steps down.
	c.Net.Partition(c.Cfgs[l].BindAddr)
	var wg sync.WaitGroup
	put := func(v string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Nodes[l].Apply(ctxT(t, 10*time.Second), []byte("put "+v))
		}()
	}
	put("hung")
	time.Sleep(50 * time.Millisecond)
	put("early")
	time.Sleep(50 * time.Millisecond)
	for k := range 10 {
		put(fmt.Sprint("late", k))
	}
	time.Sleep(50 * time.Millisecond)
	c.Net.Heal()
	wg.Wait()
	h := gather(t, c.Nodes[l].Collectors())["raftstore_batch_commands"][0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 12 {
		t.Fatalf("%d commands went in %d batches, want 12 in 2 (the hung one, then all the others)", int(h.GetSampleSum()), h.GetSampleCount())
	}
}
