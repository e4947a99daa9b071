package netconf

import (
	"bytes"
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Benchmarks (make bench): RPC round trips on one session; new NETCONF
// sessions (TCP + SSH + hello + one get + close-session) beside a bare
// x/crypto/ssh session (TCP + SSH + subsystem request + close) with the
// same keys and authentication, measured in the same run; their ratio is
// the figure of merit (target: at most 1.3).

// bareSSHServer serves SSH with conf and accepts "netconf" subsystem
// requests without speaking NETCONF: the floor a NETCONF session is
// compared with.
func bareSSHServer(b testing.TB, conf *ssh.ServerConfig, subsystem string) string {
	ln := loopbackListener(b)
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
				if err != nil {
					return
				}
				defer sc.Close()
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, err := nc.Accept()
					if err != nil {
						return
					}
					go func() {
						for req := range creqs {
							req.Reply(req.Type == "subsystem" && string(req.Payload[min(4, len(req.Payload)):]) == subsystem, nil)
						}
						ch.Close()
					}()
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// benchEnv is a NETCONF server and a bare SSH server with the same SSH
// configuration (Ed25519 host key, password authentication).
type benchEnv struct {
	*testEnv
	bareAddr string
	dialer   *Dialer
	sshConf  *ssh.ClientConfig
}

// benchData is the data of the test device without its configuration:
// one device's ietf-hardware and licensing state, fixed, so that the
// benchmarks measure this package rather than a handler.
func benchData(b *testing.B) []byte {
	data, err := newTestDevice().Data(context.Background(), nil, false)
	if err != nil {
		b.Fatal(err)
	}
	return data[bytes.Index(data, []byte("<hardware")):]
}

func newBenchEnv(b *testing.B) *benchEnv {
	e := newTestEnv(b)
	e.dev.static = benchData(b)
	conf := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
		if c.User() == testUser && string(p) == testPassword {
			return nil, nil
		}
		return nil, errors.New("bad password")
	}}
	conf.AddHostKey(e.hostKey)
	be := &benchEnv{testEnv: e, bareAddr: bareSSHServer(b, conf, "netconf"), dialer: NewDialer(e.clientConfig())}
	// The bare client is configured as NewDialer configures the NETCONF
	// client.
	be.sshConf = be.dialer.ssh
	return be
}

// bareSession runs one bare SSH session.
func (be *benchEnv) bareSession() error {
	conn, err := net.DialTimeout("tcp", be.bareAddr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewClientConn(conn, be.bareAddr, be.sshConf)
	if err != nil {
		return err
	}
	c := ssh.NewClient(sc, chans, reqs)
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	return s.RequestSubsystem("netconf")
}

// netconfSession runs one NETCONF session: dial, hello, one get, close.
func (be *benchEnv) netconfSession(ctx context.Context) error {
	c, err := be.dialer.Dial(ctx, be.addr)
	if err != nil {
		return err
	}
	if _, err := c.Identity(ctx); err != nil {
		c.Close()
		return err
	}
	return c.Close()
}

// BenchmarkRPCRoundTrip runs RPCs one after another on one session:
// identity (a <get> with a subtree filter, decoded) and a licensing RPC
// answered <ok/> (the floor: SSH channel round trip plus framing).
func BenchmarkRPCRoundTrip(b *testing.B) {
	e := newTestEnv(b)
	e.dev.static = benchData(b)
	c := e.dial(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		call func() error
	}{
		{"identity", func() error { _, err := c.Identity(ctx); return err }},
		{"set-boot-level", func() error { return c.SetBootLevel(ctx, "ipbase") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/rpc")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rpc/s")
		})
	}
}

func BenchmarkNewSession(b *testing.B) {
	be := newBenchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := be.netconfSession(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

func BenchmarkBareSSHSession(b *testing.B) {
	be := newBenchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := be.bareSession(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkSessionVsBareSSH interleaves the two kinds of session, so that
// both see the same machine load, and reports the cost of each and their
// ratio.
func BenchmarkSessionVsBareSSH(b *testing.B) {
	be := newBenchEnv(b)
	ctx := context.Background()
	var bare, nc time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := be.bareSession(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := be.netconfSession(ctx); err != nil {
			b.Fatal(err)
		}
		bare += t1.Sub(t0)
		nc += time.Since(t1)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/session")
	b.ReportMetric(float64(nc.Nanoseconds())/float64(b.N), "netconf-ns/session")
	b.ReportMetric(float64(nc)/float64(bare), "netconf/bare")
}

// BenchmarkHandshake opens NETCONF sessions (TCP, SSH, hello, close) with
// each key exchange the client may be restricted to: the cost of a
// session's key exchange on both sides (client and server run in this
// process).
func BenchmarkHandshake(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	for _, kex := range []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, ssh.KeyExchangeECDHP256} {
		b.Run(kex, func(b *testing.B) {
			cfg := e.clientConfig()
			cfg.Algorithms.KeyExchanges = []string{kex}
			dl := NewDialer(cfg)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				c, err := dl.Dial(ctx, e.addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/session")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
		})
	}
}

// processCPU is the user plus system CPU time of this process.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
