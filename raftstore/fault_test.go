package raftstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SIGKILL the leader during a stream of writes through every node: a new
// leader within 5 seconds; afterwards every acknowledged write is on every
// node, nothing is applied twice, and all nodes hold the same sequence.
func TestKillLeaderDuringWrites(t *testing.T) {
	pc := startProcCluster(t, 3)
	l, err := pc.leader(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	run := 4 * time.Second
	if long() {
		run = 30 * time.Second
	}
	var (
		mu    sync.Mutex
		acked []string
		kinds = map[string]int{}
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				nd := pc.nodes[(w+k)%3]
				id := fmt.Sprintf("w%d-%d", w, k)
				_, kind := pc.apply(nd, "put "+id)
				mu.Lock()
				if kind == "" {
					acked = append(acked, id)
				} else {
					kinds[kind]++
				}
				mu.Unlock()
				if kind != "" {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(run / 4)
	killed := pc.nodes[l]
	pc.kill(killed)
	t0 := time.Now()
	nl, err := pc.leader(5 * time.Second)
	if err != nil {
		t.Fatalf("after killing the leader: %v", err)
	}
	t.Logf("killed leader %s; %s leads after %v", killed.id, pc.nodes[nl].id, time.Since(t0).Round(time.Millisecond))
	time.Sleep(run / 2)
	pc.start(l)
	time.Sleep(run / 4)
	stop.Store(true)
	wg.Wait()

	views := pc.waitAllAgree(30 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d writes acknowledged; failures by kind: %v", len(acked), kinds)
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	for i, v := range views {
		seen := map[string]bool{}
		for _, p := range v.Puts {
			if seen[p] {
				t.Fatalf("%s applied %q twice", pc.nodes[i].id, p)
			}
			seen[p] = true
		}
		for _, a := range acked {
			if !seen[a] {
				t.Fatalf("%s lost acknowledged write %q", pc.nodes[i].id, a)
			}
		}
		if !slices.Equal(v.Puts, views[0].Puts) {
			t.Fatalf("%s and %s applied different sequences", pc.nodes[i].id, pc.nodes[0].id)
		}
	}
}

var _ = rand.IntN
