package netconf

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Test fixtures: a real NETCONF server on a random loopback address, a
// device Handler with data and RPCs of its own, and a raw session that
// speaks bytes to the server.

const (
	testUser     = "admin"
	testPassword = "secret"
)

// testSigner returns a deterministic Ed25519 signer for name.
func testSigner(t testing.TB, name string) ssh.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte("netconf test key " + name))
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loopbackListener listens on a random 127.x.y.z address, port 0.
func loopbackListener(t testing.TB) net.Listener {
	t.Helper()
	for range 20 {
		addr := fmt.Sprintf("127.%d.%d.%d:0", 10+rand.IntN(240), rand.IntN(256), 1+rand.IntN(254))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free loopback address")
	return nil
}

// testEnv is a running server with one device.
type testEnv struct {
	srv     *Server
	addr    string
	dev     *testDevice
	hostKey ssh.Signer
	userKey ssh.Signer
}

// newTestEnv starts a server; mod may change its configuration.
func newTestEnv(t testing.TB, mod ...func(*ServerConfig)) *testEnv {
	t.Helper()
	e := &testEnv{dev: newTestDevice(), hostKey: testSigner(t, "host"), userKey: testSigner(t, "user")}
	userPub := e.userKey.PublicKey().Marshal()
	conf := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(p) == testPassword {
				return nil, nil
			}
			return nil, errors.New("bad password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == testUser && bytes.Equal(k.Marshal(), userPub) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	conf.AddHostKey(e.hostKey)
	ep := &Endpoint{SSH: conf, Handler: e.dev}
	cfg := ServerConfig{
		Resolve:      func(_, _ net.Addr) (*Endpoint, error) { return ep, nil },
		Capabilities: []string{CapLicensing, CapHardware, CapIANAHardware, "urn:example:config?module=example-config"},
		Schemas:      map[string]string{LicensingModule: LicensingYANG},
	}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln := loopbackListener(t)
	e.srv, e.addr = srv, ln.Addr().String()
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); ln.Close(); <-done })
	return e
}

// clientConfig returns a password-authenticated client configuration that
// trusts the test host key.
func (e *testEnv) clientConfig() ClientConfig {
	return ClientConfig{User: testUser, Password: testPassword,
		HostKeyCallback: ssh.FixedHostKey(e.hostKey.PublicKey()),
		DialTimeout:     5 * time.Second, HelloTimeout: 5 * time.Second, RPCTimeout: 10 * time.Second}
}

// dial opens a client session, closed at the end of the test.
func (e *testEnv) dial(t testing.TB) *Client {
	t.Helper()
	c, err := Dial(context.Background(), e.addr, e.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testDevice is a Handler with hardware and licensing state, a small
// configuration and RPCs that exercise every kind of reply.
type testDevice struct {
	mu       sync.Mutex
	config   string
	licenses map[string]string // id -> feature
	eula     map[string]bool
	boot     string
	ended    []uint32
	last     []byte // body of the last RPC
	static   []byte // when set, Data returns it (benchmarks)
}

func newTestDevice() *testDevice {
	return &testDevice{config: `<top xmlns="urn:example:config"><hostname>sw1</hostname></top>`,
		licenses: map[string]string{}, eula: map[string]bool{}, boot: "ipbase"}
}

const testHardware = `<hardware xmlns="urn:ietf:params:xml:ns:yang:ietf-hardware"><component><name>chassis</name>` +
	`<class xmlns:ianahw="urn:ietf:params:xml:ns:yang:iana-hardware">ianahw:chassis</class>` +
	`<description>WS-C3750E-24TD-S C3750E-UNIVERSALK9-M 12.2(55)SE</description><software-rev>12.2(55)SE</software-rev>` +
	`<serial-num>FDO1307R0W9</serial-num><mfg-name>Cisco Systems, Inc.</mfg-name><model-name>WS-C3750E-24TD-S</model-name>` +
	`</component><component><name>psu0</name><class xmlns:ianahw="urn:ietf:params:xml:ns:yang:iana-hardware">ianahw:power-supply</class>` +
	`<serial-num>LIT12345678</serial-num><model-name>C3K-PWR-265WAC</model-name></component></hardware>`

func (d *testDevice) Data(_ context.Context, req *Request, configOnly bool) ([]byte, error) {
	if d.static != nil {
		return d.static, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if configOnly {
		return []byte(d.config), nil
	}
	var b strings.Builder
	b.WriteString(d.config + testHardware)
	b.WriteString(`<licensing xmlns="` + LicensingNS + `"><udi>WS-C3750E-24TD-S:FDO1307R0W9</udi>` +
		`<available-level>ipbase</available-level><available-level>ipservices</available-level>` +
		`<active-level>ipbase</active-level><boot-level>` + d.boot + `</boot-level><next-boot-level>` + d.boot + `</next-boot-level>`)
	b.WriteString(`<license><index>1</index><feature>ipservices</feature><type>evaluation</type><state>inactive</state>` +
		`<counted>false</counted><period-left>8 weeks 4 days</period-left><period-left-seconds>5184000</period-left-seconds>` +
		`<period-used-seconds>0</period-used-seconds><eula-accepted>false</eula-accepted><store>built-in</store>` +
		`<lock-type>not-node-locked</lock-type></license>`)
	i := 2
	for _, id := range sortedKeys(d.licenses) {
		fmt.Fprintf(&b, `<license><index>%d</index><id>%s</id><feature>%s</feature><type>permanent</type><state>notInUse</state>`+
			`<counted>false</counted><period-left>Life time</period-left><eula-accepted>true</eula-accepted>`+
			`<store>primary</store><lock-type>node-locked</lock-type></license>`, i, id, d.licenses[id])
		i++
	}
	b.WriteString(`</licensing>`)
	return []byte(b.String()), nil
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// RPC implements the licensing module, edit-config on running and a few
// test operations in urn:example:test.
func (d *testDevice) RPC(ctx context.Context, req *Request) ([]byte, error) {
	d.mu.Lock()
	d.last = append(d.last[:0], req.Body...)
	d.mu.Unlock()
	var in struct {
		File    string `xml:"license-file"`
		ID      string `xml:"license-id"`
		Feature string `xml:"feature"`
		Level   string `xml:"level"`
		Config  struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"config"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, ErrBadElement("protocol", req.Op.Local, err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch req.Op {
	case xmlName(BaseNS, "edit-config"):
		d.config = strings.TrimSpace(string(in.Config.Inner))
		return nil, nil
	case xmlName(LicensingNS, "install-license"):
		return d.install(in.File), nil
	case xmlName(LicensingNS, "clear-license"):
		if _, ok := d.licenses[in.ID]; !ok {
			return nil, &RPCError{Type: "application", Tag: "data-missing", Severity: "error", AppTag: "licensing",
				Path: "/lic:licensing/lic:license[lic:id='" + in.ID + "']", Message: "no license " + in.ID,
				Info: ErrorInfo{Inner: "<license-id xmlns=\"" + LicensingNS + "\">" + escape(in.ID) + "</license-id>"}}
		}
		delete(d.licenses, in.ID)
		return nil, nil
	case xmlName(LicensingNS, "accept-eula"), xmlName(LicensingNS, "activate-evaluation"):
		if in.Feature != "ipservices" {
			return nil, ErrInvalidValue("application", "no feature level "+in.Feature)
		}
		d.eula[in.Feature] = true
		return nil, nil
	case xmlName(LicensingNS, "set-boot-level"):
		d.boot = in.Level
		return nil, nil
	case xmlName(LicensingNS, "reload"):
		req.CloseSession()
		return nil, nil
	case xmlName("urn:example:test", "warn"):
		return []byte(`<rpc-error><error-type>application</error-type><error-tag>operation-failed</error-tag>` +
			`<error-severity>warning</error-severity><error-message xml:lang="en">disk almost full</error-message></rpc-error><ok/>`), nil
	case xmlName("urn:example:test", "two-errors"):
		return []byte(`<rpc-error><error-type>application</error-type><error-tag>invalid-value</error-tag>` +
			`<error-severity>error</error-severity><error-path>/a</error-path></rpc-error>` +
			`<rpc-error><error-type>application</error-type><error-tag>data-missing</error-tag>` +
			`<error-severity>error</error-severity><error-path>/b</error-path></rpc-error>`), nil
	case xmlName("urn:example:test", "fail"):
		return nil, errors.New("disk on fire")
	case xmlName("urn:example:test", "drop"):
		return nil, ErrDropSession
	case xmlName("urn:example:test", "sleep"):
		d.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
		d.mu.Lock()
		return nil, nil
	}
	return nil, ErrUnknownOperation
}

// install reads a test license file: one "id feature" per line; "bad"
// lines fail.
func (d *testDevice) install(file string) []byte {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(file), "\n") {
		f := strings.Fields(line)
		status, reason := StatusInstalled, ""
		switch {
		case len(f) != 2:
			status, reason = StatusFailed, "license not valid for this device: malformed line"
			f = append(f, "", "")
		case d.licenses[f[0]] != "":
			status = StatusAlreadyPresent
		default:
			d.licenses[f[0]] = f[1]
		}
		fmt.Fprintf(&b, `<result xmlns="%s"><line>%d</line>`, LicensingNS, i+1)
		writeLeaf(&b, "license-id", f[0])
		writeLeaf(&b, "feature", f[1])
		writeLeaf(&b, "status", status)
		writeLeaf(&b, "reason", reason)
		b.WriteString("</result>")
	}
	return []byte(b.String())
}

// SessionEnded records ended sessions.
func (d *testDevice) SessionEnded(id uint32) {
	d.mu.Lock()
	d.ended = append(d.ended, id)
	d.mu.Unlock()
}

func (d *testDevice) endedSessions() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint32(nil), d.ended...)
}

// rawSession speaks raw NETCONF bytes over a real SSH channel.
type rawSession struct {
	t     testing.TB
	sshc  *ssh.Client
	ch    ssh.Channel
	rd    *Reader
	rx    bytes.Buffer // every byte received, for golden files
	hello *Hello
	f     Framing
}

type teeReader struct {
	r io.Reader
	w *bytes.Buffer
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

// rawDial opens the netconf subsystem and reads the server's hello.
func (e *testEnv) rawDial(t testing.TB) *rawSession {
	t.Helper()
	conf := &ssh.ClientConfig{User: testUser, Auth: []ssh.AuthMethod{ssh.Password(testPassword)},
		HostKeyCallback: ssh.FixedHostKey(e.hostKey.PublicKey()), Timeout: 5 * time.Second}
	sshc, err := ssh.Dial("tcp", e.addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sshc.Close() })
	ch, reqs, err := sshc.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"netconf"}))
	if err != nil || !ok {
		t.Fatalf("subsystem request: %v %v", ok, err)
	}
	r := &rawSession{t: t, sshc: sshc, ch: ch}
	r.rd = NewReader(&teeReader{r: ch, w: &r.rx}, 0)
	msg, err := r.read()
	if err != nil {
		t.Fatalf("server hello: %v", err)
	}
	if r.hello, err = ParseHello(msg); err != nil {
		t.Fatal(err)
	}
	return r
}

// sendHello sends a client hello with caps and switches framing.
func (r *rawSession) sendHello(caps ...string) {
	r.t.Helper()
	r.sendRaw(AppendFramed(nil, MarshalHello(caps, 0), FramingEOM))
	r.f = negotiate(caps, r.hello)
	r.rd.SetFraming(r.f)
}

func (r *rawSession) sendRaw(b []byte) {
	r.t.Helper()
	if _, err := r.ch.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// send frames and sends one message.
func (r *rawSession) send(msg string) { r.sendRaw(AppendFramed(nil, []byte(msg), r.f)) }

// read reads one message, with a deadline.
func (r *rawSession) read() ([]byte, error) {
	type res struct {
		msg []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := r.rd.ReadMessage()
		ch <- res{append([]byte(nil), m...), err}
	}()
	select {
	case x := <-ch:
		return x.msg, x.err
	case <-time.After(5 * time.Second):
		r.sshc.Close()
		return nil, errors.New("no message within 5s")
	}
}

// call sends msg and returns the reply.
func (r *rawSession) call(msg string) []byte {
	r.t.Helper()
	r.send(msg)
	reply, err := r.read()
	if err != nil {
		r.t.Fatalf("reply to %s: %v", msg, err)
	}
	return reply
}

// parsedReply is a reply as a test inspects it.
type parsedReply struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Errors  []RPCError `xml:"rpc-error"`
	OK      *struct{}  `xml:"ok"`
}

func parseTestReply(t testing.TB, raw []byte) parsedReply {
	t.Helper()
	var p parsedReply
	if err := xml.Unmarshal(raw, &p); err != nil {
		t.Fatalf("reply %s: %v", raw, err)
	}
	if p.XMLName.Local != "rpc-reply" || p.XMLName.Space != BaseNS {
		t.Fatalf("not an rpc-reply: %s", raw)
	}
	for i := range p.Errors {
		p.Errors[i].normalize()
	}
	return p
}

func (p parsedReply) attr(name string) string {
	for _, a := range p.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// waitFor polls cond for up to 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
