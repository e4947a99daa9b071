package netconf

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gonetconf "github.com/Juniper/go-netconf/netconf"
	"golang.org/x/crypto/ssh"
)

func TestClientOperations(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	ctx := context.Background()
	if c.Framing() != FramingChunked || c.SessionID() == 0 || c.Addr() != e.addr {
		t.Fatalf("framing %v, session %d, addr %s", c.Framing(), c.SessionID(), c.Addr())
	}
	id, err := c.Identity(ctx)
	if err != nil || id != (Identity{PID: "WS-C3750E-24TD-S", Serial: "FDO1307R0W9", SoftwareVersion: "12.2(55)SE"}) {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if id.UDI() != "WS-C3750E-24TD-S:FDO1307R0W9" {
		t.Fatalf("UDI %s", id.UDI())
	}
	res, err := c.InstallLicense(ctx, []byte("L1 ipservices\nL2 advipservices\ngarbage\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []InstallResult{{1, "L1", "ipservices", StatusInstalled, ""}, {2, "L2", "advipservices", StatusInstalled, ""},
		{3, "garbage", "", StatusFailed, "license not valid for this device: malformed line"}}
	if len(res) != 3 || res[0] != want[0] || res[1] != want[1] || res[2] != want[2] {
		t.Fatalf("install results %+v", res)
	}
	if res, err := c.InstallLicense(ctx, []byte("L1 ipservices")); err != nil || res[0].Status != StatusAlreadyPresent {
		t.Fatalf("second install %+v, %v", res, err)
	}
	lic, err := c.Licensing(ctx)
	if err != nil || lic.UDI != id.UDI() || len(lic.Licenses) != 3 || lic.Licenses[1].ID != "L1" || lic.Licenses[0].PeriodLeftSeconds != 5184000 {
		t.Fatalf("licensing %+v, %v", lic, err)
	}
	if err := c.ClearLicense(ctx, "L2"); err != nil {
		t.Fatal(err)
	}
	err = c.ClearLicense(ctx, "L9")
	var re *RPCError
	if !errors.As(err, &re) {
		t.Fatalf("clear unknown license: %v", err)
	}
	wantErr := RPCError{Type: "application", Tag: "data-missing", Severity: "error", AppTag: "licensing",
		Path: "/lic:licensing/lic:license[lic:id='L9']", Message: "no license L9",
		Info: ErrorInfo{Inner: `<license-id xmlns="` + LicensingNS + `">L9</license-id>`}}
	if *re != wantErr || re.InfoValue("license-id") != "L9" {
		t.Fatalf("rpc-error\n%+v\nwant\n%+v", *re, wantErr)
	}
	if got := err.Error(); got != `netconf: rpc-error application/data-missing (licensing) at /lic:licensing/lic:license[lic:id='L9']: no license L9` {
		t.Fatalf("error text %q", got)
	}
	if err := c.AcceptEULA(ctx, "ipservices"); err != nil {
		t.Fatal(err)
	}
	if err := c.ActivateEvaluation(ctx, "nosuchlevel"); !errors.As(err, &re) || re.Tag != "invalid-value" {
		t.Fatalf("activate unknown level: %v", err)
	}
	if err := c.ActivateEvaluation(ctx, "ipservices"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBootLevel(ctx, "ipservices"); err != nil || e.dev.boot != "ipservices" {
		t.Fatalf("set-boot-level: %v (boot %s)", err, e.dev.boot)
	}
	const cfg = `<top xmlns="urn:example:config"><hostname>core1</hostname></top>`
	if err := c.EditConfig(ctx, "running", cfg, DefaultOperation("replace"), ErrorOption("rollback-on-error")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetConfig(ctx, "running", ""); err != nil || string(got) != cfg {
		t.Fatalf("get-config %s, %v", got, err)
	}
	if got, err := c.GetConfig(ctx, "running", `<top xmlns="urn:example:other"/>`); err != nil || len(got) != 0 {
		t.Fatalf("filtered get-config %s, %v", got, err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, ""); err == nil || !strings.Contains(err.Error(), "reloaded") {
		t.Fatalf("call after reload: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close after reload: %v", err)
	}
}

func TestClientWarningsAreNotErrors(t *testing.T) {
	e := newTestEnv(t)
	var warned atomic.Int32
	cfg := e.clientConfig()
	cfg.OnWarning = func(addr string, w *RPCError) {
		if addr == e.addr && w.Message == "disk almost full" {
			warned.Add(1)
		}
	}
	c, err := Dial(context.Background(), e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Call(context.Background(), `<warn xmlns="urn:example:test"/>`)
	if err != nil || !r.OK || len(r.Warnings) != 1 || len(r.Errors) != 0 || r.Warnings[0].Severity != "warning" || warned.Load() != 1 {
		t.Fatalf("reply %+v, %v, warned %d", r, err, warned.Load())
	}
}

func TestClientSeveralErrors(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	r, err := c.Call(context.Background(), `<two-errors xmlns="urn:example:test"/>`)
	var errs RPCErrors
	var first *RPCError
	if !errors.As(err, &errs) || len(errs) != 2 || !errors.As(err, &first) || first.Path != "/a" || len(r.Errors) != 2 {
		t.Fatalf("error %v (%T), reply %+v", err, err, r)
	}
	if !strings.Contains(err.Error(), "invalid-value at /a; rpc-error application/data-missing at /b") {
		t.Fatalf("error text %q", err)
	}
}

// Framing falls back to end-of-message when the client offers base:1.0 only.
func TestClientBase10Only(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.clientConfig()
	cfg.Capabilities = []string{CapBase10}
	c, err := Dial(context.Background(), e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Framing() != FramingEOM {
		t.Fatalf("framing %v", c.Framing())
	}
	if _, err := c.Identity(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClientRPCDeadlines(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.clientConfig()
	cfg.RPCTimeout = 200 * time.Millisecond
	c, err := Dial(context.Background(), e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Call(context.Background(), `<sleep xmlns="urn:example:test"/>`)
	if err == nil || !strings.Contains(err.Error(), "timed out") || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("slow rpc: %v after %v", err, time.Since(start))
	}
	if _, err := c.Get(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "session closed") {
		t.Fatalf("call after a timed-out rpc: %v", err)
	}
	// The caller's context bounds an RPC too.
	c = e.dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Call(ctx, `<sleep xmlns="urn:example:test"/>`); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rpc: %v", err)
	}
}

// rogueServer is an SSH server whose netconf subsystem runs script: it
// lets tests play servers that misbehave.
func rogueServer(t *testing.T, script func(ch ssh.Channel)) (string, ssh.PublicKey) {
	t.Helper()
	ln := loopbackListener(t)
	t.Cleanup(func() { ln.Close() })
	key := testSigner(t, "rogue")
	conf := &ssh.ServerConfig{NoClientAuth: true}
	conf.AddHostKey(key)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, chans, reqs, err := ssh.NewServerConn(conn, conf)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, err := nc.Accept()
					if err != nil {
						return
					}
					go func() {
						for req := range creqs {
							req.Reply(req.Type == "subsystem", nil)
							if req.Type == "subsystem" {
								go ssh.DiscardRequests(creqs)
								script(ch)
								ch.Close()
								return
							}
						}
					}()
				}
			}()
		}
	}()
	return ln.Addr().String(), key.PublicKey()
}

// rogueHello reads the client's hello and sends hello as the server's.
func rogueHello(ch ssh.Channel, hello string) *Reader {
	rd := NewReader(ch, 0)
	ch.Write(AppendFramed(nil, []byte(hello), FramingEOM))
	rd.ReadMessage()
	return rd
}

func TestClientAgainstMisbehavingServers(t *testing.T) {
	goodHello := string(MarshalHello([]string{CapBase10, CapBase11}, 7))
	for _, tc := range []struct {
		name   string
		script func(ch ssh.Channel)
		call   bool   // the failure shows on the first call, not on dial
		want   string // in the error
	}{
		{"hello without session-id", func(ch ssh.Channel) { rogueHello(ch, string(MarshalHello([]string{CapBase10}, 0))) },
			false, "server hello has no session-id"},
		{"no common base version", func(ch ssh.Channel) {
			rogueHello(ch, string(MarshalHello([]string{"urn:ietf:params:netconf:base:2.0"}, 7)))
		}, false, "no common base version"},
		{"no hello at all", func(ch ssh.Channel) { time.Sleep(2 * time.Second) }, false, "no hello from server within 300ms"},
		{"wrong message-id", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			ch.Write(AppendFramed(nil, []byte(`<rpc-reply message-id="999" xmlns="`+BaseNS+`"><ok/></rpc-reply>`), FramingChunked))
			time.Sleep(time.Second)
		}, true, `message-id "999" does not match request "1"`},
		{"reply without message-id and without error", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			ch.Write(AppendFramed(nil, []byte(`<rpc-reply xmlns="`+BaseNS+`"><ok/></rpc-reply>`), FramingChunked))
			time.Sleep(time.Second)
		}, true, "rpc-reply has no message-id"},
		{"reply never comes", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			time.Sleep(2 * time.Second)
		}, true, "rpc timed out"},
		{"connection drops mid-reply", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			ch.Write([]byte("\n#100\n<rpc-reply"))
		}, true, "unexpected EOF"},
		{"reply too big", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			ch.Write(AppendFramed(nil, []byte(`<rpc-reply message-id="1" xmlns="`+BaseNS+`"><data>`+strings.Repeat("x", 200<<10)+`</data></rpc-reply>`), FramingChunked))
			time.Sleep(time.Second)
		}, true, "message too big"},
		{"reply that is not XML", func(ch ssh.Channel) {
			rd := rogueHello(ch, goodHello)
			rd.SetFraming(FramingChunked)
			rd.ReadMessage()
			ch.Write(AppendFramed(nil, []byte(`<rpc-reply message-id="1"`), FramingChunked))
			time.Sleep(time.Second)
		}, true, "bad rpc-reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, hostKey := rogueServer(t, tc.script)
			cfg := ClientConfig{User: "x", Password: "y", HostKeyCallback: ssh.FixedHostKey(hostKey),
				HelloTimeout: 300 * time.Millisecond, RPCTimeout: 300 * time.Millisecond, MaxMessageSize: 100 << 10}
			ctx := context.Background()
			c, err := Dial(ctx, addr, cfg)
			if tc.call {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, err = c.Get(ctx, "")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("error %v, want %q naming %s", err, tc.want, addr)
			}
		})
	}
}

// A reply split over many chunks (which go-netconf's own transport
// mishandles) is reassembled.
func TestClientMultiChunkReply(t *testing.T) {
	addr, hostKey := rogueServer(t, func(ch ssh.Channel) {
		rd := rogueHello(ch, string(MarshalHello([]string{CapBase11}, 7)))
		rd.SetFraming(FramingChunked)
		rd.ReadMessage()
		reply := `<rpc-reply message-id="1" xmlns="` + BaseNS + `"><data><a>hello</a></data></rpc-reply>`
		var b []byte
		for i := 0; i < len(reply); i += 7 {
			chunk := reply[i:min(i+7, len(reply))]
			b = append(b, "\n#"...)
			b = append(b, []byte(itoa(uint32(len(chunk))))...)
			b = append(b, '\n')
			b = append(b, chunk...)
		}
		ch.Write(append(b, "\n##\n"...))
		time.Sleep(time.Second)
	})
	c, err := Dial(context.Background(), addr, ClientConfig{User: "x", Password: "y", HostKeyCallback: ssh.FixedHostKey(hostKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := c.Get(context.Background(), "")
	if err != nil || string(data) != "<a>hello</a>" {
		t.Fatalf("data %q, %v", data, err)
	}
}

func TestClientDialDeadlines(t *testing.T) {
	// A listener that accepts and never speaks SSH.
	ln := loopbackListener(t)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := ClientConfig{User: "x", Password: "y", HostKeyCallback: ssh.InsecureIgnoreHostKey(), DialTimeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := Dial(context.Background(), ln.Addr().String(), cfg)
	if err == nil || !strings.Contains(err.Error(), "ssh handshake") || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	cfg.DialTimeout = 5 * time.Second
	if _, err := Dial(ctx, ln.Addr().String(), cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", err)
	}
	// Nothing listens: the dial error names the address.
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, cfg); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("closed port: %v", err)
	}
}

// The default host-key policy refuses every key: a Dialer without one
// cannot be used by mistake.
func TestClientNeedsHostKeyPolicy(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.clientConfig()
	cfg.HostKeyCallback = nil
	if _, err := Dial(context.Background(), e.addr, cfg); err == nil || !strings.Contains(err.Error(), "no host key policy") {
		t.Fatalf("dial without host key policy: %v", err)
	}
}

func TestClientCloseSession(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	if err := c.CloseSession(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := c.Get(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "closed by the client") {
		t.Fatalf("call after close: %v", err)
	}
	waitFor(t, "the server to end the session", func() bool { return e.srv.Sessions() == 0 })
	// A session the server ended already: Close reports the failed
	// close-session.
	c = e.dial(t)
	e.srv.CloseSessions(e.dev)
	waitFor(t, "the server to end the session", func() bool { return e.srv.Sessions() == 0 })
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), e.addr) {
		t.Fatalf("close of a session the server ended: %v", err)
	}
}

func TestClientConcurrentCalls(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 20 {
				if _, err := c.Identity(context.Background()); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A host that speaks SSH but not NETCONF is told apart at once.
func TestClientPlainSSHHost(t *testing.T) {
	key := testSigner(t, "plain")
	conf := &ssh.ServerConfig{NoClientAuth: true}
	conf.AddHostKey(key)
	addr := bareSSHServer(t, conf, "sftp")
	start := time.Now()
	_, err := Dial(context.Background(), addr, ClientConfig{User: "x", Password: "y", HostKeyCallback: ssh.FixedHostKey(key.PublicKey())})
	if err == nil || !strings.Contains(err.Error(), "refused the netconf subsystem") || !strings.Contains(err.Error(), addr) || time.Since(start) > 2*time.Second {
		t.Fatalf("plain SSH host: %v after %v", err, time.Since(start))
	}
}

// Transport plugs into go-netconf's own Session: hellos both ways, base:1.1
// framing, and an RPC built with go-netconf's methods.
func TestTransportWithGoNetconfSession(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t) // a channel with the netconf subsystem; hello read
	tr := NewTransport(r.ch, r.ch, r.ch, 0)
	if err := tr.SendHello(&gonetconf.HelloMessage{Capabilities: gonetconf.DefaultCapabilities}); err != nil {
		t.Fatal(err)
	}
	tr.SetVersion("v1.1")
	s := &gonetconf.Session{Transport: tr, SessionID: int(r.hello.SessionID)}
	reply, err := s.Exec(gonetconf.MethodGetConfig("running"))
	if err != nil || !strings.Contains(reply.Data, "<hostname>sw1</hostname>") {
		t.Fatalf("go-netconf session over our transport: %+v, %v", reply, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
