package raftstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection between nodes starts with one byte that says what it
// carries, so Raft and the store's own RPCs share one port.
const (
	connRaft byte = 'R'
	connRPC  byte = 'S'
)

// handshakeTimeout bounds TLS handshake plus the first byte of a new
// connection.
const handshakeTimeout = 10 * time.Second

// mux owns the node's listener: it accepts connections, runs the TLS
// handshake, reads the first byte and hands Raft connections to the raft
// stream layer and RPC connections to serveRPC.
type mux struct {
	ln      net.Listener
	adv     net.Addr
	tls     *tls.Config // server side; nil for plain TCP
	ctls    *tls.Config // client side
	dial    func(ctx context.Context, addr string) (net.Conn, error)
	raftCh  chan net.Conn
	onRPC   func(net.Conn)
	closed  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections in handshake or serving RPCs
}

func newMux(cfg Config, onRPC func(net.Conn)) (*mux, error) {
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raftstore: listen %s: %w", cfg.BindAddr, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("raftstore: advertise address: %w", err)
	}
	m := &mux{ln: ln, adv: adv, raftCh: make(chan net.Conn, 16), onRPC: onRPC, closed: make(chan struct{}),
		pending: map[net.Conn]struct{}{}}
	if cfg.TLS != nil {
		m.tls, m.ctls = serverTLS(cfg.TLS), clientTLS(cfg.TLS)
	}
	m.dial = cfg.Dial
	if m.dial == nil {
		d := &net.Dialer{}
		m.dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	m.wg.Add(1)
	go m.accept()
	return m, nil
}

func (m *mux) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.mu.Lock()
		m.pending[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go m.route(c)
	}
}

// route finishes the handshake of an accepted connection and hands it on.
// An RPC connection is served here, so close() can close it.
func (m *mux) route(c net.Conn) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.pending, c)
		m.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if m.tls != nil {
		tc := tls.Server(c, m.tls)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return
		}
		c = tc
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		select {
		case m.raftCh <- c:
		case <-m.closed:
			c.Close()
		}
	case connRPC:
		m.onRPC(c)
	default:
		c.Close()
	}
}

// dialKind connects to another node and announces what the connection
// carries.
func (m *mux) dialKind(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	c, err := m.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(handshakeTimeout))
	}
	if m.ctls != nil {
		tc := tls.Client(c, m.ctls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("raftstore: TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func (m *mux) close() {
	m.once.Do(func() {
		close(m.closed)
		m.ln.Close()
		m.mu.Lock()
		for c := range m.pending {
			c.Close()
		}
		m.mu.Unlock()
		m.wg.Wait()
		for {
			select {
			case c := <-m.raftCh:
				c.Close()
			default:
				return
			}
		}
	})
}

// raftStream is the raft.StreamLayer over the mux.
type raftStream struct {
	m      *mux
	closed chan struct{}
	once   sync.Once
}

func (s *raftStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftCh:
		return c, nil
	case <-s.closed:
		return nil, errors.New("raftstore: transport closed")
	case <-s.m.closed:
		return nil, errors.New("raftstore: transport closed")
	}
}

func (s *raftStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *raftStream) Addr() net.Addr { return s.m.adv }

func (s *raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.m.dialKind(ctx, string(addr), connRaft)
}

// LoadTLS reads a node certificate, its key and the cluster CA (PEM files)
// into a Config.TLS value.
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("raftstore: TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("raftstore: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("raftstore: TLS CA %s holds no PEM certificate", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

// serverTLS requires and verifies a client certificate from the cluster CA.
func serverTLS(c *tls.Config) *tls.Config {
	s := c.Clone()
	s.ClientCAs = c.RootCAs
	s.ClientAuth = tls.RequireAndVerifyClientCert
	s.MinVersion = tls.VersionTLS13
	return s
}

// clientTLS verifies the server's chain against the cluster CA. Node
// addresses are often bare IPs, so membership is proved by the CA, not by
// the host name: any certificate the cluster CA signed is a cluster node.
func clientTLS(c *tls.Config) *tls.Config {
	cl := c.Clone()
	cl.MinVersion = tls.VersionTLS13
	cl.InsecureSkipVerify = true // the chain is verified below
	pool := c.RootCAs
	cl.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("raftstore: peer sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("raftstore: peer certificate: %w", err)
		}
		return nil
	}
	return cl
}
