package raftstore_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// balanceInput is one operation on the counted balance.
type balanceInput struct {
	redeem bool // else a linearizable read
	id     string
}

// balanceOutput is what the client saw. unknown: no answer, or an answer
// that does not say whether the redeem happened.
type balanceOutput struct {
	unknown   bool
	exhausted bool
	value     int64 // remaining after a redeem, or the balance read
}

// balanceModel: the state is the remaining balance, starting at initial.
// A redeem with an unknown outcome may or may not have happened.
func balanceModel(initial int64) porcupine.NondeterministicModel {
	return porcupine.NondeterministicModel{
		Init: func() []any { return []any{initial} },
		Step: func(state, input, output any) []any {
			s := state.(int64)
			in, out := input.(balanceInput), output.(balanceOutput)
			if !in.redeem {
				if out.value == s {
					return []any{s}
				}
				return nil
			}
			switch {
			case out.unknown:
				if s > 0 {
					return []any{s, s - 1}
				}
				return []any{s}
			case out.exhausted:
				if s == 0 {
					return []any{s}
				}
				return nil
			case s > 0 && out.value == s-1:
				return []any{s - 1}
			}
			return nil
		},
		Equal: func(a, b any) bool { return a.(int64) == b.(int64) },
		DescribeOperation: func(input, output any) string {
			in, out := input.(balanceInput), output.(balanceOutput)
			op := "read"
			if in.redeem {
				op = "redeem " + in.id
			}
			switch {
			case out.unknown:
				return op + " -> ?"
			case out.exhausted:
				return op + " -> exhausted"
			}
			return fmt.Sprintf("%s -> %d", op, out.value)
		},
	}
}

// Clients redeem from a counted balance and read it (linearizably)
// through different nodes while the leader is killed and restarted. The
// history must be linearizable: never over-spent, never lost.
func TestLinearizableRedeemAcrossLeaderKill(t *testing.T) {
	pc := startProcCluster(t, 3)
	l, err := pc.leader(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const balance = 500
	if res, kind := pc.apply(pc.nodes[l], fmt.Sprintf("init %d", balance)); kind != "" {
		t.Fatalf("init: %s %s", kind, res)
	}
	run := 6 * time.Second
	if long() {
		run = 40 * time.Second
	}
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		acked   []string
		stop    atomic.Bool
		wg      sync.WaitGroup
		start   = time.Now()
	)
	now := func() int64 { return int64(time.Since(start)) + 10 }
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				nd := pc.nodes[(c+k)%3]
				op := porcupine.Operation{ClientId: c, Call: now()}
				if k%3 == 2 {
					op.Input = balanceInput{}
					v, err := pc.read(nd, false)
					if err != nil {
						time.Sleep(20 * time.Millisecond)
						continue // a failed read observed nothing
					}
					op.Output, op.Return = balanceOutput{value: v.Balance}, now()
				} else {
					id := fmt.Sprintf("c%d-%d", c, k)
					op.Input = balanceInput{redeem: true, id: id}
					res, kind := pc.apply(nd, "redeem "+id)
					switch {
					case kind == "no_quorum" || kind == "refused":
						time.Sleep(20 * time.Millisecond)
						continue // refused before anything was applied
					case kind != "":
						op.Output, op.Return = balanceOutput{unknown: true}, math.MaxInt64
					case res == "exhausted":
						op.Output, op.Return = balanceOutput{exhausted: true}, now()
					default:
						n, err := strconv.ParseInt(strings.TrimPrefix(res, "ok "), 10, 64)
						if err != nil {
							t.Errorf("redeem answer %q", res)
							return
						}
						op.Output, op.Return = balanceOutput{value: n}, now()
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
				time.Sleep(time.Duration(5+c) * time.Millisecond)
			}
		}()
	}
	time.Sleep(run / 4)
	killed := l
	pc.kill(pc.nodes[killed])
	if _, err := pc.leader(5 * time.Second); err != nil {
		t.Fatalf("after killing the leader: %v", err)
	}
	time.Sleep(run / 4)
	pc.start(killed)
	time.Sleep(run / 2)
	stop.Store(true)
	wg.Wait()

	nm := balanceModel(balance)
	model := nm.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, 60*time.Second)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(model, info, path)
		t.Fatalf("history of %d operations is %s (visualisation: %s)", len(history), res, path)
	}
	views := pc.waitAllAgree(30 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	unknown := 0
	for _, op := range history {
		if op.Output.(balanceOutput).unknown {
			unknown++
		}
	}
	t.Logf("%d operations linearizable (%d redeems acknowledged, %d unknown outcomes); final balance %d",
		len(history), len(acked), unknown, views[0].Balance)
	for i, v := range views {
		if v.Balance < 0 || v.Balance+int64(len(v.Redeemed)) != balance {
			t.Fatalf("%s: balance %d with %d redeemed, started at %d", pc.nodes[i].id, v.Balance, len(v.Redeemed), balance)
		}
		got := map[string]bool{}
		for _, r := range v.Redeemed {
			if got[r] {
				t.Fatalf("%s: %s redeemed twice", pc.nodes[i].id, r)
			}
			got[r] = true
		}
		for _, a := range acked {
			if !got[a] {
				t.Fatalf("%s lost acknowledged redeem %s", pc.nodes[i].id, a)
			}
		}
	}
	if len(acked) < 20 {
		t.Fatalf("only %d redeems acknowledged", len(acked))
	}
}
