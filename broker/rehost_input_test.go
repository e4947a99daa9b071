package broker

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestRehostAndTempBadInput: every malformed rehost or temporary license
// request gets a 4xx with a one-line message naming the problem, and
// nothing is recorded.
func TestRehostAndTempBadInput(t *testing.T) {
	e := newEnv(t)
	failed, repl := "WS-C3750E-24TD-S:FDO1399B0F1", "WS-C3750E-24TD-S:FDO1399B0R1"
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev(DefaultTenant, failed, "3750e", "ipservices")}}, nil)
	before := snapshotOf(t, e.state)
	for _, c := range []struct {
		path   string
		body   any
		status int
		want   string
	}{
		{"/v1/rehosts", RehostRequest{}, 400, "give the failed device and its replacement"},
		{"/v1/rehosts", RehostRequest{Failed: failed}, 400, "give the failed device and its replacement"},
		{"/v1/rehosts", RehostRequest{Failed: "nocolon", Replacement: repl}, 400, `invalid UDI "nocolon"`},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: "WS-C3750E-24TD-S:"}, 400, "invalid UDI"},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: repl, RMA: "RMA 1"}, 400, `RMA number "RMA 1" has invalid character`},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: repl, Install: true, Address: "somewhere"}, 400, `invalid address "somewhere"`},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: repl, Address: "127.0.0.1:830"}, 400, "only used with install"},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: repl, Install: true, HostKey: "MD5:ab:cd"}, 400, "invalid host key fingerprint"},
		{"/v1/rehosts", RehostRequest{Failed: failed, Replacement: repl}, 422, "holds no live licenses"},
		{"/v1/rehosts", `{"failed":"` + failed + `","replacement":"` + repl + `","spare":true}`, 400, "unknown field"},
		{"/v1/rehosts/" + failed + "/rma", RMARequest{RMA: "R1"}, 404, "has not been rehosted"},
		{"/v1/rehosts/" + failed + "/rma", RMARequest{}, 400, "RMA number must be 1 to 64 characters"},
		{"/v1/licenses/temp", TempRequest{Feature: "ipservices"}, 400, "invalid UDI"},
		{"/v1/licenses/temp", TempRequest{Device: failed}, 400, `feature "" is not a licensable level`},
		{"/v1/licenses/temp", TempRequest{Device: failed, Feature: "ipservices", PAK: "nope"}, 400, `invalid PAK id "nope"`},
		{"/v1/licenses/temp", TempRequest{Device: failed, Feature: "ipservices", PAK: "PAKNONE0001"}, 404, "PAK PAKNONE0001 not found"},
	} {
		body := c.body
		if s, ok := body.(string); ok {
			body = s
		}
		r := e.do(req{method: "POST", path: c.path, token: e.admin, body: body})
		if r.status != c.status || !strings.Contains(r.errMsg(), c.want) || strings.Contains(r.errMsg(), "\n") {
			t.Errorf("POST %s %v: %d %s, want %d containing %q", c.path, c.body, r.status, r.body, c.status, c.want)
		}
	}
	unchanged(t, e.state, before, "refused requests")
}

// TestRehostInstallUnreachable: with --install and no device answering,
// the rehost is still recorded and the install failure reported; running
// it again later installs.
func TestRehostInstallUnreachable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	failed, repl := "WS-C3750E-24TD-S:FDO1399B0F2", "WS-C3750E-24TD-S:FDO1399B0R2"
	d := dev(DefaultTenant, failed, "3750e", "ipservices")
	d.Address = freeAddr(t, randomLoopback()) // nothing listens there
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{d}}, nil)
	if _, err := e.b.AddPAK(ctx, "admin:test", DefaultTenant, PAKRequest{ID: "PAKUNREACH1", Feature: "ipservices", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	p, _ := e.b.PAK(DefaultTenant, "PAKUNREACH1")
	if _, err := e.b.obtain(ctx, "admin:test", DefaultTenant, p, 0, e.device(failed)); err != nil {
		t.Fatal(err)
	}
	// Without a credential profile the install cannot happen: refused
	// before anything changes.
	before := snapshotOf(t, e.state)
	_, err := e.b.Rehost(ctx, testActor, DefaultTenant, RehostRequest{Failed: failed, Replacement: repl, Install: true})
	oneLineErr(t, err, "not_found", `credential profile "default" does not exist`)
	unchanged(t, e.state, before, "a rehost without credentials")
	if _, err := e.b.PutCredential(ctx, "admin:test", DefaultTenant, "default", "admin", []byte("admin"), false); err != nil {
		t.Fatal(err)
	}
	var res RehostResult
	e.ok(req{method: "POST", path: "/v1/rehosts", token: e.admin, body: RehostRequest{Failed: failed, Replacement: repl, Install: true}}, http.StatusOK, &res)
	if res.Existing || len(res.Licenses) != 1 || res.Install == nil || res.Install.OK || !strings.Contains(res.Install.Reason, "device "+repl+":") ||
		!strings.Contains(res.Install.Reason, "connection refused") || res.Rehost.Installed != nil {
		t.Fatalf("rehost with an unreachable replacement: %+v %+v", res, res.Install)
	}
	if l := res.Licenses[0]; l.State != LicenseIssued || l.UDI != repl {
		t.Fatalf("replacement's license: %+v", l)
	}
}
