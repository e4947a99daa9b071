package devicesim_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:  %s\nwant: %s", name, got, want)
	}
}

// TestGoldenReplies pins the bytes a device answers: its data tree with
// every license state, its configuration, and an install-license result.
func TestGoldenReplies(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	kr, err := keyengine.NewKeyring(start, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 2, Seed: 5, Mix: map[string]int{"3750e": 1},
		Trust: kr.TrustStore(), Clock: devicesim.NewFrozenClock(start)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := f.Devices()[0]
	sign := func(id, feature string, typ keyengine.LicenseType, days int) keyengine.License {
		g := keyengine.Grant{ID: id, UDI: d.UDI(), Feature: feature, Type: typ, IssuedAt: start, NotBefore: start}
		if days > 0 {
			g.NotAfter = start.Add(time.Duration(days) * day)
		}
		l, err := kr.Sign(g)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	perm, ext := sign("PERM0001", "ipservices", keyengine.Permanent, 0), sign("EXT00001", "advipservices", keyengine.Extension, 30)
	other, err := kr.Sign(keyengine.Grant{ID: "OTHER001", UDI: f.Devices()[1].UDI(), Feature: "ipservices",
		Type: keyengine.Permanent, IssuedAt: start, NotBefore: start})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := func(op string, file []byte) []byte {
		var b bytes.Buffer
		b.WriteString(`<` + op + ` xmlns="` + netconf.LicensingNS + `"><license-file>`)
		xml.EscapeText(&b, file)
		b.WriteString(`</license-file></` + op + `>`)
		return b.Bytes()
	}
	req := &netconf.Request{Op: xml.Name{Space: netconf.LicensingNS, Local: "install-license"},
		Body: body("install-license", keyengine.EncodeFile([]keyengine.License{perm, ext, perm, other}))}
	reply, err := d.RPC(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "install-license-reply.xml", reply)

	if err := d.ActivateEvaluation("ipservices", true); err != nil {
		t.Fatal(err)
	}
	if err := d.SetBootLevel("advipservices"); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	f.Clock().Advance(10 * day)
	data, err := d.Data(ctx, &netconf.Request{}, false)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "get-data.xml", data)
	cfg, err := d.Data(ctx, &netconf.Request{}, true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "get-config-data.xml", cfg)
}
