package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Store is one node of a replicated state container.
type Store struct {
	cfg   Config
	raft  *raft.Raft
	trans *raft.NetworkTransport
	bolt  *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
	fsm   *fsm
	mux   *mux
	pool  *connPool
	m     *metrics

	proposals chan *proposal
	inflight  chan struct{} // semaphore: batches handed on, not answered
	calls     chan struct{} // semaphore: RPCs to other nodes in progress
	readyTerm atomic.Uint64 // a term in which this leader committed an entry
	termMu    sync.Mutex    // one term barrier at a time

	ctx       context.Context // cancelled by Close; bounds forwarding
	cancel    context.CancelFunc
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// logCacheEntries is how many of the newest log entries each node keeps
// in memory (an entry is one batch: at most MaxBatchBytes).
const logCacheEntries = 32

// Open starts a node: it opens (or creates) its Raft state in cfg.Dir,
// listens on cfg.BindAddr and, when asked to, bootstraps a new cluster.
func Open(cfg Config, sm StateMachine) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	out := io.Writer(os.Stderr)
	if cfg.Logger != nil {
		out = slogWriter{cfg.Logger}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: out})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.CommitTimeout = 5 * time.Millisecond
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}

	s := &Store{cfg: cfg, m: newMetrics(), proposals: make(chan *proposal, 4096),
		inflight: make(chan struct{}, cfg.MaxInflight), calls: make(chan struct{}, maxCalls), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.fsm = &fsm{self: cfg.NodeID, sm: sm, m: s.m}
	var err error
	s.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raftstore: open log store %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	s.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, logger)
	if err != nil {
		s.bolt.Close()
		return nil, fmt.Errorf("raftstore: snapshot store: %w", err)
	}
	s.fsm.snaps = s.snaps
	s.mux, err = newMux(cfg, s.serveRPC)
	if err != nil {
		s.bolt.Close()
		return nil, err
	}
	s.pool = newConnPool(s.mux)
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &raftStream{m: s.mux, closed: make(chan struct{})}, MaxPool: 3, Timeout: 10 * time.Second, Logger: logger})
	existing, err := raft.HasExistingState(s.bolt, s.bolt, s.snaps)
	if err != nil {
		s.closeTransport()
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	// The newest entries stay in memory: the leader sends them to the
	// followers and every node applies them right after storing them, and
	// reading them back from bolt would decode each again.
	logs, err := raft.NewLogCache(logCacheEntries, s.bolt)
	if err != nil {
		s.closeTransport()
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	s.raft, err = raft.NewRaft(rc, s.fsm, logs, s.bolt, s.snaps, s.trans)
	if err != nil {
		s.closeTransport()
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	if cfg.Bootstrap && !existing {
		servers := []raft.Server{{ID: rc.LocalID, Address: s.trans.LocalAddr()}}
		for _, p := range cfg.Peers {
			if p.ID != cfg.NodeID {
				servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
			}
		}
		if err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			s.raft.Shutdown()
			s.closeTransport()
			return nil, fmt.Errorf("raftstore: bootstrap: %w", err)
		}
	}
	s.m.store = s
	s.wg.Add(1)
	go s.batcher()
	return s, nil
}

func (s *Store) closeTransport() {
	s.cancel()
	s.trans.Close()
	s.pool.close()
	s.mux.close()
	s.bolt.Close()
}

// HasState reports whether the node had Raft state when it was opened
// (a restart) rather than starting empty.
func (s *Store) HasState() bool {
	return s.raft.LastIndex() > 0
}

// IsLeader reports whether this node is the leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's node id and address as this node knows
// them (empty when there is none).
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitLeader waits until the cluster has a leader.
func (s *Store) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := s.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: no leader elected: %v", ErrNoQuorum, ctx.Err())
		case <-s.stop:
			return ErrClosed
		case <-t.C:
		}
	}
}

// Status is a node's view of the cluster.
type Status struct {
	NodeID       string `json:"node_id"`
	Addr         string `json:"addr"`
	State        string `json:"state"`
	Leader       string `json:"leader_id"`
	LeaderAddr   string `json:"leader_addr"`
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// LastContact is how long ago this node last heard from the leader
	// ("0s" on the leader, "never" before first contact).
	LastContact       string   `json:"last_contact"`
	LastSnapshotIndex uint64   `json:"last_snapshot_index"`
	Servers           []Server `json:"servers"`
}

// Server is one member of the configuration.
type Server struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
}

// Status returns the node's view of the cluster.
func (s *Store) Status() Status {
	addr, id := s.raft.LeaderWithID()
	st := Status{NodeID: s.cfg.NodeID, Addr: s.cfg.AdvertiseAddr, State: s.raft.State().String(), Leader: string(id),
		LeaderAddr: string(addr), Term: s.raft.CurrentTerm(), LastIndex: s.raft.LastIndex(),
		CommitIndex: s.raft.CommitIndex(), AppliedIndex: s.fsm.applied.Load(), LastContact: "never"}
	if s.IsLeader() {
		st.LastContact = "0s"
	} else if lc := s.raft.LastContact(); !lc.IsZero() {
		st.LastContact = time.Since(lc).Round(time.Millisecond).String()
	}
	if snaps, err := s.snaps.List(); err == nil && len(snaps) > 0 {
		st.LastSnapshotIndex = snaps[0].Index
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			st.Servers = append(st.Servers, Server{ID: string(srv.ID), Addr: string(srv.Address), Suffrage: srv.Suffrage.String()})
		}
	}
	return st
}

// Close shuts the node down. Proposals still waiting get ErrClosed.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.cancel()
		err = s.raft.Shutdown().Error()
		s.wg.Wait()
		s.trans.Close()
		s.pool.close()
		s.mux.close()
		if cerr := s.bolt.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(p))
	return len(p), nil
}
