package netconf

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Per-connection limits of the server: handshake and idle timeouts,
// message size, sessions.

// The handshake timeout covers everything up to the client's hello.
func TestServerHandshakeTimeout(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.HandshakeTimeout = 200 * time.Millisecond })
	// A TCP client that never speaks SSH.
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("silent TCP client: %v (want the server to close)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	// An SSH client that opens the subsystem but never sends its hello.
	r := e.rawDial(t)
	if _, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("client without hello: %v, want the session closed", err)
	}
}

func TestServerIdleTimeout(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.IdleTimeout = 300 * time.Millisecond })
	c := e.dial(t)
	ctx := context.Background()
	for range 4 { // activity keeps the session open
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Get(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := c.Get(ctx, ""); err == nil {
		t.Fatal("idle session still open")
	}
}

func TestServerMaxSessions(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.MaxSessions = 2 })
	ctx := context.Background()
	a, b := e.dial(t), e.dial(t)
	_ = b
	if _, err := Dial(ctx, e.addr, e.clientConfig()); err == nil {
		t.Fatal("third session accepted with MaxSessions 2")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a free connection slot", func() bool { return e.srv.connections() < 2 })
	c, err := Dial(ctx, e.addr, e.clientConfig())
	if err != nil {
		t.Fatalf("after a session closed: %v", err)
	}
	c.Close()
}

// Sessions over the limit are refused at the subsystem request, also on a
// connection that already holds one.
func TestServerSessionLimitPerChannel(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.MaxSessions = 1 })
	r := e.rawDial(t)
	ch, reqs, err := r.sshc.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"netconf"}))
	if err != nil || ok {
		t.Fatalf("second session on the connection: %v, %v; want refused", ok, err)
	}
	if _, err := ch.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused channel: %v, want it closed", err)
	}
}

// A request over MaxMessageSize is answered too-big with its message-id,
// in both framings, and the session goes on.
func TestServerTooBig(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.MaxMessageSize = 64 << 10 })
	for _, f := range []Framing{FramingEOM, FramingChunked} {
		t.Run(f.String(), func(t *testing.T) {
			r := e.rawDial(t)
			if f == FramingEOM {
				r.sendHello(CapBase10)
			} else {
				r.sendHello(CapBase10, CapBase11)
			}
			big := `<rpc message-id="big-1" xmlns="` + BaseNS + `"><install-license xmlns="` + LicensingNS + `"><license-file>` +
				strings.Repeat("x", 1<<20) + `</license-file></install-license></rpc>`
			if f == FramingChunked {
				// Several chunks, as a real client may send.
				var b []byte
				for i := 0; i < len(big); i += 100000 {
					chunk := big[i:min(i+100000, len(big))]
					b = append(b, "\n#"+strconv.Itoa(len(chunk))+"\n"...)
					b = append(b, chunk...)
				}
				r.sendRaw(append(b, "\n##\n"...))
			} else {
				r.send(big)
			}
			msg, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			p := parseTestReply(t, msg)
			if p.attr("message-id") != "big-1" || len(p.Errors) != 1 || p.Errors[0].Tag != "too-big" || p.Errors[0].Type != "rpc" {
				t.Fatalf("reply %s", msg)
			}
			if p := parseTestReply(t, r.call(`<rpc message-id="2" xmlns="`+BaseNS+`"><get/></rpc>`)); len(p.Errors) != 0 {
				t.Fatalf("after too-big: %+v", p.Errors)
			}
		})
	}
}
