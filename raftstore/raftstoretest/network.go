package raftstoretest

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Network connects nodes and can cut them apart: a partition refuses new
// connections between the sides and closes the open ones. Nodes use it
// through raftstore.Config.Dial, so both directions of every link go
// through it.
type Network struct {
	mu    sync.Mutex
	group map[string]int // node address -> side; no entry = side 0
	conns map[*trackedConn]struct{}
}

// NewNetwork returns a network with no partition.
func NewNetwork() *Network {
	return &Network{group: map[string]int{}, conns: map[*trackedConn]struct{}{}}
}

// Dialer returns the Dial function for the node listening at from.
func (n *Network) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		n.mu.Lock()
		cut := n.group[from] != n.group[addr]
		n.mu.Unlock()
		if cut {
			return nil, fmt.Errorf("raftstoretest: %s -> %s: network partitioned", from, addr)
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, n: n, from: from, to: addr}
		n.mu.Lock()
		n.conns[tc] = struct{}{}
		n.mu.Unlock()
		return tc, nil
	}
}

// Partition puts the nodes listening at addrs on side 1, every other node
// on side 0, and closes connections that cross.
func (n *Network) Partition(addrs ...string) {
	n.mu.Lock()
	n.group = map[string]int{}
	for _, a := range addrs {
		n.group[a] = 1
	}
	var cut []*trackedConn
	for c := range n.conns {
		if n.group[c.from] != n.group[c.to] {
			cut = append(cut, c)
		}
	}
	n.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Heal removes the partition.
func (n *Network) Heal() {
	n.mu.Lock()
	n.group = map[string]int{}
	n.mu.Unlock()
}

type trackedConn struct {
	net.Conn
	n        *Network
	from, to string
	once     sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		delete(c.n.conns, c)
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}
