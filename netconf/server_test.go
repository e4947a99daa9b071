package netconf

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestServerHello(t *testing.T) {
	e := newTestEnv(t)
	r1 := e.rawDial(t)
	r2 := e.rawDial(t)
	if !r1.hello.HasSessionID || r1.hello.SessionID == 0 || r2.hello.SessionID == r1.hello.SessionID {
		t.Fatalf("session ids %d, %d: want distinct, non-zero", r1.hello.SessionID, r2.hello.SessionID)
	}
	for _, c := range []string{CapBase10, CapBase11, CapMonitoring, CapLicensing} {
		if !r1.hello.Has(c) {
			t.Errorf("server hello lacks %s", c)
		}
	}
}

func TestServerFramingNegotiation(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		caps []string
		want Framing
	}{
		{[]string{CapBase10}, FramingEOM},
		{[]string{CapBase10, CapBase11}, FramingChunked},
		{[]string{CapBase11}, FramingChunked},
	} {
		r := e.rawDial(t)
		r.sendHello(tc.caps...)
		if r.f != tc.want {
			t.Fatalf("caps %v: framing %v, want %v", tc.caps, r.f, tc.want)
		}
		// The server must answer in that framing.
		reply := parseTestReply(t, r.call(`<rpc message-id="7" xmlns="`+BaseNS+`"><get/></rpc>`))
		if reply.attr("message-id") != "7" {
			t.Fatalf("caps %v: reply %+v", tc.caps, reply)
		}
	}
}

// A client hello that the server must refuse ends the session (RFC 6241
// 8.1): no common base version, a session-id, not a hello.
func TestServerRefusesBadClientHello(t *testing.T) {
	e := newTestEnv(t)
	for name, hello := range map[string]string{
		"no common base": string(MarshalHello([]string{"urn:ietf:params:netconf:base:2.0"}, 0)),
		"session-id":     string(MarshalHello([]string{CapBase10}, 42)),
		"not a hello":    `<rpc message-id="1" xmlns="` + BaseNS + `"><get/></rpc>`,
		"not XML":        `hello?`,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.rawDial(t)
			r.sendRaw(AppendFramed(nil, []byte(hello), FramingEOM))
			if msg, err := r.read(); !errors.Is(err, io.EOF) {
				t.Fatalf("got %q, %v; want the session closed", msg, err)
			}
		})
	}
}

// Each malformed or unsupported request gets the RFC 6241 Appendix A error,
// with the request's attributes echoed.
func TestServerAppendixAErrors(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase10, CapBase11)
	const rpc = `<rpc message-id="m1" xmlns="` + BaseNS + `">`
	for _, tc := range []struct {
		name, req       string
		typ, tag, id    string
		info, infoValue string
	}{
		{"missing message-id", `<rpc xmlns="` + BaseNS + `"><get/></rpc>`, "rpc", "missing-attribute", "", "bad-attribute", "message-id"},
		{"unknown base element", rpc + `<frobnicate/></rpc>`, "protocol", "unknown-element", "m1", "bad-element", "frobnicate"},
		{"unsupported base operation", rpc + `<commit/></rpc>`, "protocol", "operation-not-supported", "m1", "", ""},
		{"unknown namespace", rpc + `<reboot xmlns="urn:example:nobody"/></rpc>`, "protocol", "unknown-namespace", "m1", "bad-namespace", "urn:example:nobody"},
		{"advertised namespace, unknown operation", rpc + `<reboot xmlns="` + LicensingNS + `"/></rpc>`, "protocol", "operation-not-supported", "m1", "", ""},
		{"rpc in wrong namespace", `<rpc message-id="m1" xmlns="urn:example:nobody"><get/></rpc>`, "protocol", "unknown-namespace", "m1", "bad-element", "rpc"},
		{"not an rpc", `<notification xmlns="` + BaseNS + `"/>`, "protocol", "unknown-element", "", "bad-element", "notification"},
		{"unknown child of get", rpc + `<get><frobnicate/></get></rpc>`, "protocol", "unknown-element", "m1", "bad-element", "frobnicate"},
		{"two operations", rpc + `<get/><get-config><source><running/></source></get-config></rpc>`, "protocol", "unknown-element", "m1", "bad-element", "get-config"},
		{"no operation", rpc + `</rpc>`, "protocol", "missing-element", "m1", "bad-element", "operation"},
		{"get-config without source", rpc + `<get-config/></rpc>`, "protocol", "missing-element", "m1", "bad-element", "source"},
		{"kill-session with a bad id", rpc + `<kill-session><session-id>x</session-id></kill-session></rpc>`, "protocol", "bad-element", "m1", "bad-element", "session-id"},
		{"kill-session of itself", rpc + `<kill-session><session-id>` + strconv.Itoa(int(r.hello.SessionID)) + `</session-id></kill-session></rpc>`, "protocol", "invalid-value", "m1", "", ""},
		{"kill-session of nobody", rpc + `<kill-session><session-id>99999</session-id></kill-session></rpc>`, "protocol", "invalid-value", "m1", "", ""},
		{"xpath filter", rpc + `<get><filter type="xpath" select="/"/></get></rpc>`, "protocol", "bad-attribute", "m1", "bad-attribute", "type"},
		{"candidate datastore", rpc + `<lock><target><candidate/></target></lock></rpc>`, "protocol", "invalid-value", "m1", "", ""},
		{"unlock not held", rpc + `<unlock><target><running/></target></unlock></rpc>`, "protocol", "operation-failed", "m1", "", ""},
		{"handler error", rpc + `<fail xmlns="urn:example:test"/></rpc>`, "application", "operation-failed", "m1", "", ""},
		{"not well-formed", rpc + `<get></rpc>`, "rpc", "malformed-message", "m1", "", ""},
		{"text after rpc", rpc + `<get/></rpc>junk`, "rpc", "malformed-message", "m1", "", ""},
		{"not XML at all", `this is not XML`, "rpc", "malformed-message", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := parseTestReply(t, r.call(tc.req))
			if got := reply.attr("message-id"); got != tc.id {
				t.Errorf("message-id %q, want %q", got, tc.id)
			}
			if len(reply.Errors) != 1 {
				t.Fatalf("errors %+v, want one", reply.Errors)
			}
			re := reply.Errors[0]
			if re.Type != tc.typ || re.Tag != tc.tag || re.Severity != "error" || re.Message == "" {
				t.Fatalf("rpc-error %+v, want %s/%s with a message", re, tc.typ, tc.tag)
			}
			if tc.info != "" && re.InfoValue(tc.info) != tc.infoValue {
				t.Fatalf("error-info %s = %q, want %q (%s)", tc.info, re.InfoValue(tc.info), tc.infoValue, re.Info.Inner)
			}
		})
	}
	// The session is still usable after all of that.
	if reply := parseTestReply(t, r.call(rpc+`<get/></rpc>`)); len(reply.Errors) != 0 {
		t.Fatalf("get after errors: %+v", reply.Errors)
	}
}

// In base:1.0 a malformed message ends the session (malformed-message must
// not be sent to base:1.0 peers).
func TestServerMalformedEndsBase10Session(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase10)
	r.send(`<rpc message-id="1" xmlns="` + BaseNS + `"><get></rpc>`)
	if msg, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %q, %v; want the session closed", msg, err)
	}
}

// A chunked-framing violation ends the session.
func TestServerFramingErrorEndsSession(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase11)
	r.sendRaw([]byte("\n#012\n<rpc/>"))
	if msg, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %q, %v; want the session closed", msg, err)
	}
}

// Every attribute of <rpc> comes back on <rpc-reply> as written, prefixed
// ones included; the rpc's own default namespace declaration is replaced.
func TestServerEchoesRPCAttributes(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase11)
	raw := r.call(`<nc:rpc xmlns:nc="` + BaseNS + `" xmlns="urn:example:other" message-id='urn:uuid:1&amp;2' ` +
		`xmlns:ex="urn:example:x" ex:user-id="fred" color="blue"><nc:get/></nc:rpc>`)
	want := `<rpc-reply xmlns="` + BaseNS + `" xmlns:nc="` + BaseNS + `" message-id='urn:uuid:1&amp;2' ` +
		`xmlns:ex="urn:example:x" ex:user-id="fred" color="blue"><data>`
	if !bytes.HasPrefix(raw, []byte(want)) {
		t.Fatalf("reply\n%s\nwant prefix\n%s", raw, want)
	}
	p := parseTestReply(t, raw)
	if p.attr("message-id") != "urn:uuid:1&2" || p.attr("user-id") != "fred" {
		t.Fatalf("attributes %+v", p.Attrs)
	}
}

// Requests sent back to back are answered in order.
func TestServerProcessesRequestsInOrder(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase11)
	const n = 60
	var batch []byte
	for i := range n {
		op := `<get/>`
		switch i % 3 {
		case 1:
			op = `<set-boot-level xmlns="` + LicensingNS + `"><level>l` + strconv.Itoa(i) + `</level></set-boot-level>`
		case 2:
			op = `<get-config><source><running/></source></get-config>`
		}
		batch = AppendFramed(batch, []byte(`<rpc message-id="`+strconv.Itoa(i)+`" xmlns="`+BaseNS+`">`+op+`</rpc>`), FramingChunked)
	}
	r.sendRaw(batch)
	for i := range n {
		msg, err := r.read()
		if err != nil {
			t.Fatal(err)
		}
		p := parseTestReply(t, msg)
		if p.attr("message-id") != strconv.Itoa(i) || len(p.Errors) != 0 {
			t.Fatalf("reply %d: %s", i, msg)
		}
	}
	if e.dev.boot != "l58" {
		t.Fatalf("boot level %s: requests not applied in order", e.dev.boot)
	}
}

func TestServerLocks(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	a, b := e.dial(t), e.dial(t)
	if err := a.Lock(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	err := b.Lock(ctx, "running")
	var re *RPCError
	if !errors.As(err, &re) || re.Tag != "lock-denied" || re.Type != "protocol" || re.SessionID() != a.SessionID() {
		t.Fatalf("second lock: %v (info %+v), want lock-denied naming session %d", err, re, a.SessionID())
	}
	// A session may not take its own lock twice either.
	if err := a.Lock(ctx, "running"); !errors.As(err, &re) || re.Tag != "lock-denied" {
		t.Fatalf("relock: %v", err)
	}
	if err := b.EditConfig(ctx, "running", `<top xmlns="urn:example:config"/>`); !errors.As(err, &re) || re.Tag != "in-use" {
		t.Fatalf("edit-config on a datastore locked by another session: %v", err)
	}
	if err := a.EditConfig(ctx, "running", `<top xmlns="urn:example:config"><hostname>sw2</hostname></top>`); err != nil {
		t.Fatalf("edit-config by the lock holder: %v", err)
	}
	if err := b.Unlock(ctx, "running"); !errors.As(err, &re) || re.Tag != "operation-failed" {
		t.Fatalf("unlock by another session: %v", err)
	}
	if err := a.Unlock(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx, "running"); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	// The lock is released when its session ends.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx, "running"); err != nil {
		t.Fatalf("lock after the holder closed: %v", err)
	}
}

func TestServerKillSession(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	a, b := e.dial(t), e.dial(t)
	if err := a.Lock(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	if err := b.KillSession(ctx, a.SessionID()); err != nil {
		t.Fatal(err)
	}
	// The victim's lock is free as soon as kill-session has answered.
	if err := b.Lock(ctx, "running"); err != nil {
		t.Fatalf("lock after kill-session: %v", err)
	}
	if _, err := a.Get(ctx, ""); err == nil {
		t.Fatal("killed session still answers")
	}
	waitFor(t, "SessionEnded for the killed session", func() bool {
		for _, id := range e.dev.endedSessions() {
			if id == a.SessionID() {
				return true
			}
		}
		return false
	})
}

// close-session is answered <ok/>, then the server closes the channel.
func TestServerCloseSession(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t)
	r.sendHello(CapBase11)
	if p := parseTestReply(t, r.call(`<rpc message-id="1" xmlns="`+BaseNS+`"><close-session/></rpc>`)); p.OK == nil {
		t.Fatal("close-session not answered <ok/>")
	}
	if msg, err := r.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after close-session: %q, %v", msg, err)
	}
	waitFor(t, "session count to drop", func() bool { return e.srv.Sessions() == 0 })
}

func TestServerDropSession(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	_, err := c.Call(context.Background(), `<drop xmlns="urn:example:test"/>`)
	if err == nil || !strings.Contains(err.Error(), c.Addr()) {
		t.Fatalf("dropped session: %v", err)
	}
}

func TestServerGetSchema(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.Schemas = Schemas() })
	c := e.dial(t)
	ctx := context.Background()
	text, err := c.GetSchema(ctx, LicensingModule, LicensingRevision)
	if err != nil || text != LicensingYANG {
		t.Fatalf("get-schema: %v (%d bytes, want %d)", err, len(text), len(LicensingYANG))
	}
	if text, err := c.GetSchema(ctx, "ietf-hardware", ""); err != nil || !strings.Contains(text, "module ietf-hardware") {
		t.Fatalf("get-schema ietf-hardware: %v", err)
	}
	var re *RPCError
	if _, err := c.GetSchema(ctx, "no-such-module", ""); !errors.As(err, &re) || re.Tag != "invalid-value" {
		t.Fatalf("unknown module: %v", err)
	}
	if _, err := c.GetSchema(ctx, LicensingModule, "1999-01-01"); !errors.As(err, &re) || re.Tag != "invalid-value" {
		t.Fatalf("unknown revision: %v", err)
	}
}

// Only the netconf subsystem is served: shell, exec and other subsystems
// are refused.
func TestServerOnlyNetconfSubsystem(t *testing.T) {
	e := newTestEnv(t)
	conf := &ssh.ClientConfig{User: testUser, Auth: []ssh.AuthMethod{ssh.Password(testPassword)},
		HostKeyCallback: ssh.FixedHostKey(e.hostKey.PublicKey())}
	c, err := ssh.Dial("tcp", e.addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, try := range []func(*ssh.Session) error{
		func(s *ssh.Session) error { return s.Shell() },
		func(s *ssh.Session) error { return s.Start("id") },
		func(s *ssh.Session) error { return s.RequestSubsystem("sftp") },
	} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := try(s); err == nil {
			t.Fatal("request accepted")
		}
		s.Close()
	}
	if _, _, err := c.OpenChannel("direct-tcpip", nil); err == nil {
		t.Fatal("direct-tcpip channel accepted")
	}
}

func TestServerAuthentication(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	cfg := e.clientConfig()
	cfg.Password = ""
	cfg.Signer = e.userKey
	c, err := Dial(ctx, e.addr, cfg)
	if err != nil {
		t.Fatalf("public-key auth: %v", err)
	}
	c.Close()
	cfg.Signer = testSigner(t, "stranger")
	if _, err := Dial(ctx, e.addr, cfg); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("unknown key: %v", err)
	}
	cfg = e.clientConfig()
	cfg.Password = "wrong"
	if _, err := Dial(ctx, e.addr, cfg); err == nil || !strings.Contains(err.Error(), e.addr) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestServerCloseSessions(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	e.srv.CloseSessions(e.dev)
	if _, err := c.Get(context.Background(), ""); err == nil {
		t.Fatal("session survived CloseSessions")
	}
	waitFor(t, "no sessions", func() bool { return e.srv.Sessions() == 0 })
}

func TestNewServerValidates(t *testing.T) {
	if _, err := NewServer(ServerConfig{}); err == nil || !strings.Contains(err.Error(), "Resolve") {
		t.Fatalf("no Resolve: %v", err)
	}
	if _, err := NewServer(ServerConfig{Resolve: func(_, _ net.Addr) (*Endpoint, error) { return nil, nil }, MaxSessions: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}
