package raftstore

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus metrics. Gauges are read from Raft
// when scraped.
type metrics struct {
	store           *Store
	applySeconds    prometheus.Histogram
	batchCommands   prometheus.Histogram
	fsmSeconds      prometheus.Histogram
	forwardedWrites prometheus.Counter
	restores        prometheus.Counter

	role, term, commit, applied, lastIndex *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raftstore_apply_seconds",
			Help:    "Time from proposing a command to its result (commit and apply, including forwarding).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 15),
		}),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raftstore_batch_commands",
			Help:    "Commands per batch (one Raft entry) proposed by this node.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		fsmSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raftstore_fsm_apply_seconds",
			Help:    "Time the state machine took to apply one log entry (all its commands).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		forwardedWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftstore_forwarded_writes_total",
			Help: "Commands this node forwarded to the leader.",
		}),
		restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftstore_snapshot_restores_total",
			Help: "Snapshots restored into the state machine (from the leader or a user restore).",
		}),
		role:      prometheus.NewDesc("raftstore_role", "1 for this node's current role (follower, candidate, leader, shutdown).", []string{"role"}, nil),
		term:      prometheus.NewDesc("raftstore_term", "Current Raft term.", nil, nil),
		commit:    prometheus.NewDesc("raftstore_commit_index", "Highest log index known to be committed.", nil, nil),
		applied:   prometheus.NewDesc("raftstore_applied_index", "Highest log index applied to the state machine.", nil, nil),
		lastIndex: prometheus.NewDesc("raftstore_last_index", "Highest log index stored on this node.", nil, nil),
	}
}

// Collectors returns the store's Prometheus metrics, to register on the
// registry that serves /metrics: raftstore_role{role}, raftstore_term,
// raftstore_commit_index, raftstore_applied_index, raftstore_last_index,
// raftstore_apply_seconds, raftstore_fsm_apply_seconds, raftstore_batch_commands,
// raftstore_forwarded_writes_total, raftstore_snapshot_restores_total.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m, s.m.applySeconds, s.m.fsmSeconds, s.m.batchCommands, s.m.forwardedWrites, s.m.restores}
}

// Describe implements prometheus.Collector for the gauges read from Raft.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.role
	ch <- m.term
	ch <- m.commit
	ch <- m.applied
	ch <- m.lastIndex
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	r := m.store.raft
	state := r.State()
	for _, st := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if st == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.role, prometheus.GaugeValue, v, st.String())
	}
	ch <- prometheus.MustNewConstMetric(m.term, prometheus.GaugeValue, float64(r.CurrentTerm()))
	ch <- prometheus.MustNewConstMetric(m.commit, prometheus.GaugeValue, float64(r.CommitIndex()))
	ch <- prometheus.MustNewConstMetric(m.applied, prometheus.GaugeValue, float64(m.store.fsm.applied.Load()))
	ch <- prometheus.MustNewConstMetric(m.lastIndex, prometheus.GaugeValue, float64(r.LastIndex()))
}
