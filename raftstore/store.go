package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Errors returned by the store. Callers check them with errors.Is.
var (
	// ErrNotLeader: this node is not the leader and cannot apply.
	ErrNotLeader = errors.New("raftstore: not the leader")
	// ErrNoQuorum: no leader could be reached in time (no quorum).
	ErrNoQuorum = errors.New("raftstore: no leader (cluster has no quorum)")
	// ErrClosed: the store is shut down.
	ErrClosed = errors.New("raftstore: store closed")
	// ErrTooLarge: a command exceeds the maximum entry size.
	ErrTooLarge = errors.New("raftstore: command too large")
)

// Peer is one voting member of the initial cluster.
type Peer struct {
	ID   string
	Addr string
}

// Config configures a Store.
type Config struct {
	// NodeID names this node; it must be unique in the cluster.
	NodeID string
	// Dir holds raft.db (log and stable store) and snapshots/.
	Dir string
	// BindAddr is the Raft TCP address to listen on (host:port).
	BindAddr string
	// AdvertiseAddr is the address other nodes reach this one at (default
	// BindAddr).
	AdvertiseAddr string
	// Bootstrap makes a new node form a cluster of itself plus Peers, if it
	// has no Raft state yet.
	Bootstrap bool
	Peers     []Peer
	// MaxBatch bounds the commands in one entry (default 512); MaxBatchBytes
	// bounds its size (default 1 MiB); Linger is how long the batcher waits
	// for more commands once the pipeline is busy (default 0: send as soon
	// as the previous entry was handed to Raft).
	MaxBatch      int
	MaxBatchBytes int
	Linger        time.Duration
	// ApplyTimeout bounds one proposal when the context has no deadline
	// (default 10s).
	ApplyTimeout time.Duration
	// SnapshotThreshold and SnapshotInterval control log compaction
	// (defaults 8192 entries, 2 minutes).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// Logger receives Raft's log (default: warnings to stderr).
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with every default filled in.
func DefaultConfig() Config {
	return Config{MaxBatch: 512, MaxBatchBytes: 1 << 20, ApplyTimeout: 10 * time.Second,
		SnapshotThreshold: 8192, SnapshotInterval: 2 * time.Minute}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = d.ApplyTimeout
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.BindAddr
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("raftstore: node id is empty")
	}
	if c.Dir == "" {
		return errors.New("raftstore: data directory is empty")
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("raftstore: raft address %q: %v", c.BindAddr, err)
	}
	adv := c.AdvertiseAddr
	if adv == "" {
		adv = c.BindAddr
	}
	if h, _, _ := net.SplitHostPort(adv); h == "" || h == "0.0.0.0" || h == "::" {
		return fmt.Errorf("raftstore: advertise address %q must name a reachable host", adv)
	}
	return nil
}

// Store is one node of a replicated state container.
type Store struct {
	cfg   Config
	raft  *raft.Raft
	trans *raft.NetworkTransport
	bolt  *raftboltdb.BoltStore
	fsm   *fsm

	proposals chan *proposal
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type proposal struct {
	cmd  []byte
	done chan result
}

type result struct {
	data []byte
	err  error
}

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
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	if cfg.Logger != nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{cfg.Logger}})
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.HeartbeatTimeout = 1000 * time.Millisecond
	rc.ElectionTimeout = 1000 * time.Millisecond
	rc.LeaderLeaseTimeout = 500 * time.Millisecond
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true

	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raftstore: open log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, logger)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("raftstore: snapshot store: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("raftstore: advertise address: %w", err)
	}
	trans, err := raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, 3, 10*time.Second, logger)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("raftstore: listen %s: %w", cfg.BindAddr, err)
	}
	f := &fsm{sm: sm}
	existing, err := raft.HasExistingState(bolt, bolt, snaps)
	if err != nil {
		trans.Close()
		bolt.Close()
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	r, err := raft.NewRaft(rc, f, bolt, bolt, snaps, trans)
	if err != nil {
		trans.Close()
		bolt.Close()
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	if cfg.Bootstrap && !existing {
		servers := []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}
		for _, p := range cfg.Peers {
			if p.ID == cfg.NodeID {
				continue
			}
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			trans.Close()
			bolt.Close()
			return nil, fmt.Errorf("raftstore: bootstrap: %w", err)
		}
	}
	s := &Store{cfg: cfg, raft: r, trans: trans, bolt: bolt, fsm: f,
		proposals: make(chan *proposal, 4096), stop: make(chan struct{})}
	s.wg.Add(1)
	go s.batcher()
	return s, nil
}

// Apply proposes one command and waits for its result. It must run on the
// leader; elsewhere it returns ErrNotLeader.
func (s *Store) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > s.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), s.cfg.MaxBatchBytes)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		defer cancel()
	}
	p := &proposal{cmd: cmd, done: make(chan result, 1)}
	select {
	case s.proposals <- p:
	case <-s.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.data, r.err
	case <-ctx.Done():
		// The command may still commit; the caller sees a timeout.
		return nil, fmt.Errorf("raftstore: waiting for commit: %w", ctx.Err())
	}
}

// batcher coalesces waiting proposals into one Raft entry.
func (s *Store) batcher() {
	defer s.wg.Done()
	for {
		var first *proposal
		select {
		case first = <-s.proposals:
		case <-s.stop:
			return
		}
		batch := []*proposal{first}
		size := len(first.cmd)
		var linger <-chan time.Time
		if s.cfg.Linger > 0 {
			linger = time.After(s.cfg.Linger)
		}
	collect:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case p := <-s.proposals:
				batch = append(batch, p)
				size += len(p.cmd)
				if size >= s.cfg.MaxBatchBytes {
					break collect
				}
			case <-linger:
				break collect
			default:
				if linger == nil {
					break collect
				}
				select {
				case p := <-s.proposals:
					batch = append(batch, p)
					size += len(p.cmd)
				case <-linger:
					break collect
				case <-s.stop:
					break collect
				}
			}
		}
		s.submit(batch)
	}
}

func (s *Store) submit(batch []*proposal) {
	cmds := make([][]byte, len(batch))
	for i, p := range batch {
		cmds[i] = p.cmd
	}
	fut := s.raft.Apply(encodeBatch(cmds), s.cfg.ApplyTimeout)
	// Wait in another goroutine so the next batch can be handed to Raft
	// while this one replicates (pipelining).
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fut.Error()
		if err != nil {
			err = translate(err)
			for _, p := range batch {
				p.done <- result{err: err}
			}
			return
		}
		res, _ := fut.Response().(batchResult)
		for i, p := range batch {
			var data []byte
			if i < len(res) {
				data = res[i]
			}
			p.done <- result{data: data}
		}
	}()
}

func translate(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (%v)", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w (%v)", ErrNoQuorum, err)
	}
	return fmt.Errorf("raftstore: %w", err)
}

// IsLeader reports whether this node is the leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

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
			return fmt.Errorf("%w: %v", ErrNoQuorum, ctx.Err())
		case <-t.C:
		}
	}
}

// VerifyLeader confirms with a quorum that this node is still the leader;
// call it before answering a linearizable read.
func (s *Store) VerifyLeader() error {
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return translate(err)
	}
	return nil
}

// Barrier returns once this node's state reflects every write committed
// before the call (a linearizable read point). On the leader it confirms
// leadership with a quorum and waits for the FSM to apply up to the commit
// index; a follower cannot serve it yet and returns ErrNotLeader.
func (s *Store) Barrier(ctx context.Context) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := s.VerifyLeader(); err != nil {
		return err
	}
	want := s.raft.CommitIndex()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for s.raft.AppliedIndex() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftstore: barrier: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// DataAge says how stale this node's state may be: zero on the leader,
// the time since the leader was last heard from on a follower.
func (s *Store) DataAge() time.Duration {
	if s.raft.State() == raft.Leader {
		return 0
	}
	lc := s.raft.LastContact()
	if lc.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(lc)
}

// Status is a node's view of the cluster.
type Status struct {
	NodeID       string   `json:"node_id"`
	State        string   `json:"state"`
	Leader       string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LastContact  string   `json:"last_contact"`
	Servers      []Server `json:"servers"`
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
	st := Status{NodeID: s.cfg.NodeID, State: s.raft.State().String(), Leader: string(id), LeaderAddr: string(addr),
		Term: s.raft.CurrentTerm(), CommitIndex: s.raft.CommitIndex(), AppliedIndex: s.raft.AppliedIndex()}
	if lc := s.raft.LastContact(); !lc.IsZero() {
		st.LastContact = time.Since(lc).Round(time.Millisecond).String()
	}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			st.Servers = append(st.Servers, Server{ID: string(srv.ID), Addr: string(srv.Address), Suffrage: srv.Suffrage.String()})
		}
	}
	return st
}

// Close shuts the node down.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		err = s.raft.Shutdown().Error()
		s.wg.Wait()
		s.trans.Close()
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

var _ io.Writer = slogWriter{}
