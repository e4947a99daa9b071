package raftstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore/raftstoretest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func gather(t *testing.T, cs []prometheus.Collector) map[string][]*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

// The metrics say who leads, the term and indexes, and count batches,
// forwarded writes and apply latency.
func TestMetrics(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, nil)
	l, f := c.Leader(), c.Follower()
	for k := range 10 {
		if _, err := c.Nodes[f].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put %d", k)); err != nil {
			t.Fatal(err)
		}
	}
	lm, fm := gather(t, c.Nodes[l].Collectors()), gather(t, c.Nodes[f].Collectors())
	role := func(m map[string][]*dto.Metric) string {
		for _, x := range m["raftstore_role"] {
			if x.GetGauge().GetValue() == 1 {
				return x.GetLabel()[0].GetValue()
			}
		}
		return ""
	}
	if role(lm) != "Leader" || role(fm) != "Follower" {
		t.Fatalf("roles: leader node says %q, follower says %q", role(lm), role(fm))
	}
	if v := fm["raftstore_forwarded_writes_total"][0].GetCounter().GetValue(); v != 10 {
		t.Fatalf("follower forwarded %v writes, want 10", v)
	}
	if n := fm["raftstore_apply_seconds"][0].GetHistogram().GetSampleCount(); n != 10 {
		t.Fatalf("follower apply latency samples %d, want 10", n)
	}
	if n := fm["raftstore_batch_commands"][0].GetHistogram().GetSampleSum(); n != 10 {
		t.Fatalf("follower batched %v commands, want 10", n)
	}
	for _, name := range []string{"raftstore_term", "raftstore_commit_index", "raftstore_applied_index", "raftstore_last_index"} {
		if v := lm[name][0].GetGauge().GetValue(); v < 1 {
			t.Fatalf("%s = %v", name, v)
		}
	}
	if n := lm["raftstore_fsm_apply_seconds"][0].GetHistogram().GetSampleCount(); n < 1 {
		t.Fatalf("no FSM apply samples on the leader")
	}
}
