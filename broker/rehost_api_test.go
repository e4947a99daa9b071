package broker

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/licbroker/licbroker/keyengine"
)

// rehostTempCases adds the rehost, temporary license and device file
// routes to the access matrix of TestAPIRoutesRolesAndTenants: acme has a
// failed switch rehosted to a replacement.
func (w *world) rehostTempCases() map[string]routeCase {
	ctx := context.Background()
	failed, repl := "WS-C3750E-24TD-S:FDO1399R0F1", "WS-C3750E-24TD-S:FDO1399R0R1"
	w.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev("acme", failed, "3750e", "ipservices")}}, nil)
	p, err := w.b.PAK("acme", w.paks["acme"])
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.b.obtain(ctx, "admin:test", "acme", p, 0, w.device(failed)); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.b.Rehost(ctx, "admin:test", "acme", RehostRequest{Failed: failed, Replacement: repl}); err != nil {
		w.t.Fatal(err)
	}
	w.markers["acme"] = append(w.markers["acme"], failed, repl)
	sim := w.devices["acme"][0]
	fam := w.device(sim).Family
	fixed := func(p string) func(string) string { return func(string) string { return p } }
	return map[string]routeCase{
		"POST /v1/rehosts": {path: fixed("/v1/rehosts"), okStatus: 200, cross: 404,
			body: func(string) any { return RehostRequest{Failed: failed, Replacement: repl} }},
		"GET /v1/rehosts":                     {path: fixed("/v1/rehosts"), okStatus: 200, cross: 200},
		"GET /v1/rehosts/{udi}":               {path: fixed("/v1/rehosts/" + failed), okStatus: 200, cross: 404},
		"POST /v1/rehosts/{udi}/rma":          {path: fixed("/v1/rehosts/" + failed + "/rma"), okStatus: 200, cross: 404, body: func(string) any { return RMARequest{RMA: "RMA-7"} }},
		"POST /v1/licenses/temp":              {path: fixed("/v1/licenses/temp"), okStatus: 200, cross: 404, body: func(string) any { return TempRequest{Device: sim, Feature: familyLevels[fam][1]} }},
		"GET /v1/evaluations":                 {path: fixed("/v1/evaluations"), okStatus: 200, cross: 200},
		"GET /v1/devices/{udi}/licenses/file": {path: fixed("/v1/devices/" + repl + "/licenses/file"), okStatus: 200, cross: 404},
	}
}

// TestDeviceLicenseFile: one file holds every live license of a device,
// verifiable for that device; revoked, rehosted and other tenants'
// licenses are not in it, and no part of the request names a file.
func TestDeviceLicenseFile(t *testing.T) {
	w := newWorld(t)
	acme := w.tokens["acme/viewer"]
	udi := w.license(w.lics["acme"]).UDI
	fam := w.device(udi).Family
	if _, err := w.b.AddPAK(context.Background(), "admin:test", "acme", PAKRequest{ID: "PAKACMEEXT1", Feature: "advipservices",
		Type: "extension", Days: 30, Quantity: 1, Families: []string{fam}}); err != nil {
		t.Fatal(err)
	}
	ext, _ := w.b.PAK("acme", "PAKACMEEXT1")
	l2, err := w.b.obtain(context.Background(), "admin:test", "acme", ext, 0, w.device(udi))
	if err != nil {
		t.Fatal(err)
	}
	r := w.ok(req{method: "GET", path: "/v1/devices/" + udi + "/licenses/file", token: acme}, 200, nil)
	lics, err := keyengine.ParseFile(r.body)
	if err != nil {
		t.Fatalf("device file does not parse: %v\n%s", err, r.body)
	}
	if len(lics) != 2 || r.header.Get("X-Licbroker-Licenses") != strings.Join(slices.Sorted(slices.Values([]string{w.lics["acme"], l2.ID})), ",") {
		t.Fatalf("device file has %d licenses, header %q", len(lics), r.header.Get("X-Licbroker-Licenses"))
	}
	for _, l := range lics {
		if err := w.kr.TrustStore().Verify(l, l.Grant.UDI, w.b.now()); err != nil || l.Grant.UDI.String() != udi {
			t.Fatalf("license %s in the device file: %v", l.Grant.ID, err)
		}
	}
	if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, `filename="licenses-`) || strings.ContainsAny(strings.TrimPrefix(cd, "attachment; filename="), ":/") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	// A revoked license leaves the file.
	if _, err := w.b.RevokeLicense(context.Background(), "admin:test", "acme", l2.ID, "test"); err != nil {
		t.Fatal(err)
	}
	r = w.ok(req{method: "GET", path: "/v1/devices/" + udi + "/licenses/file", token: acme}, 200, nil)
	if lics, _ := keyengine.ParseFile(r.body); len(lics) != 1 || lics[0].Grant.ID != w.lics["acme"] {
		t.Fatalf("after revocation the file holds %d licenses", len(lics))
	}
	// Other tenants, paths in the UDI, devices without licenses.
	other := w.devices["acme"][0]
	if other == udi {
		other = w.devices["acme"][1]
	}
	for _, c := range []struct {
		path, token string
		status      int
		want        string
	}{
		{"/v1/devices/" + udi + "/licenses/file", w.tokens["globex/viewer"], http.StatusNotFound, "not found"},
		{"/v1/devices/..%2F..%2Fetc%2Fpasswd/licenses/file", acme, http.StatusBadRequest, "invalid UDI"},
		{"/v1/devices/" + other + "/licenses/file", acme, http.StatusNotFound, "no live licenses"},
		{"/v1/devices/" + udi + "/licenses/file", "", http.StatusUnauthorized, "token"},
	} {
		r := w.do(req{method: "GET", path: c.path, token: c.token})
		if r.status != c.status || !strings.Contains(r.errMsg(), c.want) {
			t.Errorf("GET %s: %d %s, want %d containing %q", c.path, r.status, r.body, c.status, c.want)
		}
	}
}
