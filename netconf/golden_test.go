package netconf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gonetconf "github.com/Juniper/go-netconf/netconf"
)

// Golden files pin the protocol bytes: the hellos, a session in each
// framing, the request and reply of each operation, and each rpc-error.
// Regenerate them with `go test ./netconf -run Golden -update` and review
// the diff.

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./netconf -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the wire:\ngot:\n%q\nwant:\n%q", path, got, want)
	}
}

// request encodes op as the Client sends it, as request number id.
func request(id, op string) string {
	return string(appendRPC(nil, &gonetconf.RPCMessage{MessageID: id, Methods: []gonetconf.RPCMethod{gonetconf.RawMethod(op)}}))
}

// exchange sends a request and returns the framed bytes sent and received.
func (r *rawSession) exchange(msg string) (sent, got []byte) {
	r.t.Helper()
	r.rx.Reset()
	sent = AppendFramed(nil, []byte(msg), r.f)
	r.sendRaw(sent)
	if _, err := r.read(); err != nil {
		r.t.Fatalf("reply to %s: %v", msg, err)
	}
	return sent, append([]byte(nil), r.rx.Bytes()...)
}

func TestGoldenHellos(t *testing.T) {
	checkGolden(t, "hello/client.xml", MarshalHello([]string{CapBase10, CapBase11}, 0))
	e := newTestEnv(t)
	r := e.rawDial(t)
	checkGolden(t, "hello/server.eom", r.rx.Bytes())
}

// TestGoldenFramings records a whole session (hello, get-config,
// close-session) in each framing, both directions.
func TestGoldenFramings(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps []string
	}{{"eom", []string{CapBase10}}, {"chunked", []string{CapBase10, CapBase11}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			r := e.rawDial(t)
			client := AppendFramed(nil, MarshalHello(tc.caps, 0), FramingEOM)
			server := append([]byte(nil), r.rx.Bytes()...)
			r.sendHello(tc.caps...)
			for i, op := range []string{GetConfigOp("running", ""), closeSessionOp} {
				sent, got := r.exchange(request(itoa(uint32(i+1)), op))
				client = append(client, sent...)
				server = append(server, got...)
			}
			checkGolden(t, "framing/"+tc.name+".client", client)
			checkGolden(t, "framing/"+tc.name+".server", server)
		})
	}
}

// goldenOps are the operations of the client, as it encodes them.
var goldenOps = []struct{ name, op string }{
	{"get", GetOp("")},
	{"get-identity", GetOp(IdentityFilter)},
	{"get-licensing", GetOp(LicensingFilter)},
	{"get-config", GetConfigOp("running", "")},
	{"edit-config", EditConfigOp("running", `<top xmlns="urn:example:config"><hostname>core1</hostname></top>`, DefaultOperation("merge"))},
	{"lock", LockOp("running")},
	{"unlock", UnlockOp("running")},
	{"kill-session", KillSessionOp(2)},
	{"get-schema", GetSchemaOp(LicensingModule, LicensingRevision)},
	{"install-license", InstallLicenseOp([]byte("L1 ipservices\nL1 ipservices\n<bad & line>\n"))},
	{"clear-license", ClearLicenseOp("L1")},
	{"accept-eula", AcceptEULAOp("ipservices")},
	{"activate-evaluation", ActivateEvaluationOp("ipservices", true)},
	{"set-boot-level", SetBootLevelOp("ipservices")},
	{"reload", ReloadOp}, // last: the device ends the session
}

func TestGoldenRPCs(t *testing.T) {
	e := newTestEnv(t)
	r := e.rawDial(t) // session 1
	r.sendHello(CapBase10, CapBase11)
	victim := e.rawDial(t) // session 2, for kill-session
	victim.sendHello(CapBase11)
	for i, g := range goldenOps {
		sent, got := r.exchange(request(itoa(uint32(i+1)), g.op))
		if p := parseTestReply(t, got[bytes.IndexByte(got, '<'):bytes.LastIndex(got, []byte("\n##\n"))]); len(p.Errors) != 0 {
			t.Fatalf("%s: %+v", g.name, p.Errors)
		}
		checkGolden(t, "rpc/"+g.name+".request", sent)
		checkGolden(t, "rpc/"+g.name+".reply", got)
	}
}

// goldenErrors are requests that each draw one kind of rpc-error.
var goldenErrors = []struct{ name, req string }{
	{"missing-attribute", `<rpc xmlns="` + BaseNS + `"><get/></rpc>`},
	{"unknown-element", request("1", "<frobnicate/>")},
	{"operation-not-supported", request("1", "<commit/>")},
	{"unknown-namespace", request("1", `<reboot xmlns="urn:example:nobody"/>`)},
	{"bad-element", request("1", "<kill-session><session-id>one</session-id></kill-session>")},
	{"missing-element", request("1", "<get-config/>")},
	{"bad-attribute", request("1", `<get><filter type="xpath" select="/"/></get>`)},
	{"invalid-value", request("1", LockOp("candidate"))},
	{"malformed-message", `<rpc message-id="1" xmlns="` + BaseNS + `"><get></rpc>`},
	{"too-big", request("1", InstallLicenseOp(bytes.Repeat([]byte("x"), 70<<10)))},
	{"lock-denied", request("1", LockOp("running"))},
	{"in-use", request("1", EditConfigOp("running", `<top xmlns="urn:example:config"/>`))},
	{"operation-failed", request("1", UnlockOp("running"))},
	{"data-missing", request("1", ClearLicenseOp("L9"))},
}

func TestGoldenRPCErrors(t *testing.T) {
	e := newTestEnv(t, func(c *ServerConfig) { c.MaxMessageSize = 64 << 10 })
	holder := e.rawDial(t) // session 1 holds the lock
	holder.sendHello(CapBase11)
	holder.call(request("0", LockOp("running")))
	r := e.rawDial(t)
	r.sendHello(CapBase10, CapBase11)
	for _, g := range goldenErrors {
		sent, got := r.exchange(g.req)
		body := got[bytes.IndexByte(got, '<'):bytes.LastIndex(got, []byte("\n##\n"))]
		if p := parseTestReply(t, body); len(p.Errors) != 1 || p.Errors[0].Tag != g.name {
			t.Fatalf("%s: %s", g.name, body)
		}
		if g.name != "too-big" {
			checkGolden(t, "rpc-error/"+g.name+".request", sent)
		}
		checkGolden(t, "rpc-error/"+g.name+".reply", got)
	}
}

// The golden replies decode with the client's own parser.
func TestGoldenRepliesParse(t *testing.T) {
	for _, g := range goldenOps {
		raw, err := os.ReadFile(filepath.Join("testdata", "rpc", g.name+".reply"))
		if err != nil {
			t.Fatal(err)
		}
		msg := unframe(t, raw, FramingChunked)
		if _, err := parseReply(msg, strings.Split(string(msg), `"`)[3]); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
	}
}

func unframe(t *testing.T, raw []byte, f Framing) []byte {
	t.Helper()
	rd := NewReader(bytes.NewReader(raw), 0)
	rd.SetFraming(f)
	msg, err := rd.ReadMessage()
	if err != nil {
		t.Fatalf("unframe %q: %v", raw, err)
	}
	return append([]byte(nil), msg...)
}
