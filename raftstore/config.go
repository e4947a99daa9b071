package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Peer is one voting member named in configuration.
type Peer struct {
	ID   string
	Addr string
}

// Config configures a Store. The zero value of every tuning field means
// its default (see DefaultConfig).
type Config struct {
	// NodeID names this node; it must be unique in the cluster.
	NodeID string
	// Dir holds raft.db (log and stable store) and snapshots/.
	Dir string
	// BindAddr is the TCP address to listen on (host:port). One listener
	// carries Raft and the store's own RPCs (forwarded writes, read
	// index, membership, restore).
	BindAddr string
	// AdvertiseAddr is the address other nodes reach this one at (default
	// BindAddr).
	AdvertiseAddr string
	// Bootstrap makes a new node form a cluster of itself plus Peers, if it
	// has no Raft state yet. A node with Raft state ignores it.
	Bootstrap bool
	// Peers are the members of the initial cluster (may include this
	// node). They are also the node ids AuthorizeJoin accepts with the
	// join secret.
	Peers []Peer
	// JoinSecret, when set, lets a node listed in Peers join by
	// presenting it (see AuthorizeJoin).
	JoinSecret string
	// TLS, when set, turns on mutual TLS between nodes: every connection
	// must present a certificate that verifies against TLS.RootCAs, and
	// this node presents TLS.Certificates. Build it with LoadTLS.
	TLS *tls.Config
	// Dial, when set, replaces net.Dialer for connections to other nodes
	// (tests use it to partition the network).
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// MaxBatch bounds the commands in one entry (default 1024);
	// MaxBatchBytes bounds its size (default 1 MiB). Linger is how long
	// the batcher waits for more commands when a batch is already in
	// flight (default 200µs; negative: never); a lone writer is never
	// delayed. MaxInflight bounds the batches handed to Raft or to the
	// leader and not yet answered (default 4).
	MaxBatch      int
	MaxBatchBytes int
	Linger        time.Duration
	MaxInflight   int
	// PlainEntries stores every log entry uncompressed. Large entries are
	// otherwise S2-compressed, which nodes of a version before that
	// cannot read: set it while such nodes remain (a rolling upgrade).
	// Every version reads both forms.
	PlainEntries bool
	// ApplyTimeout bounds one proposal, including finding the leader, when
	// the context has no earlier deadline (default 10s).
	ApplyTimeout time.Duration
	// SnapshotThreshold (entries since the last snapshot, default 8192)
	// and SnapshotInterval (how often the threshold is checked, default
	// 30s) control snapshots; TrailingLogs entries (default 4096) are kept
	// after a snapshot for slow followers, older ones are compacted away.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// HeartbeatTimeout and ElectionTimeout (default 1s each) bound how fast
	// a dead leader is replaced.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// Logger receives Raft's log at warning level and above (default:
	// stderr).
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with every tuning default filled in.
func DefaultConfig() Config {
	return Config{MaxBatch: 1024, MaxBatchBytes: 1 << 20, Linger: 200 * time.Microsecond, MaxInflight: 4,
		ApplyTimeout: 10 * time.Second, SnapshotThreshold: 8192, SnapshotInterval: 30 * time.Second,
		TrailingLogs: 4096, HeartbeatTimeout: time.Second, ElectionTimeout: time.Second}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.Linger == 0 {
		c.Linger = d.Linger
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = d.MaxInflight
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
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = d.HeartbeatTimeout
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = d.ElectionTimeout
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
	h, _, err := net.SplitHostPort(adv)
	if err != nil {
		return fmt.Errorf("raftstore: advertise address %q: %v", adv, err)
	}
	if h == "" || h == "0.0.0.0" || h == "::" {
		return fmt.Errorf("raftstore: advertise address %q must name a reachable host", adv)
	}
	seen := map[string]bool{}
	for i, p := range c.Peers {
		if p.ID == "" || p.Addr == "" {
			return fmt.Errorf("raftstore: peer %d: id and address are required", i+1)
		}
		if seen[p.ID] {
			return fmt.Errorf("raftstore: peer %s is listed twice", p.ID)
		}
		seen[p.ID] = true
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return fmt.Errorf("raftstore: peer %s address %q: %v", p.ID, p.Addr, err)
		}
	}
	if c.TLS != nil && (len(c.TLS.Certificates) == 0 || c.TLS.RootCAs == nil) {
		return errors.New("raftstore: TLS needs a certificate and a CA pool (use LoadTLS)")
	}
	if c.MaxBatchBytes < 0 || c.MaxBatch < 0 || c.MaxInflight < 0 {
		return errors.New("raftstore: batch limits must not be negative")
	}
	return nil
}
