package broker

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/licbroker/licbroker/netconf"
)

// snapshotOf returns the replicated state as JSON objects, without the
// applied index (which every command moves).
func snapshotOf(t *testing.T, s *State) map[string]json.RawMessage {
	t.Helper()
	write, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "index")
	return m
}

// unchanged fails if the state differs from before.
func unchanged(t *testing.T, s *State, before map[string]json.RawMessage, what string) {
	t.Helper()
	after := snapshotOf(t, s)
	for k := range maps.Keys(before) {
		if string(before[k]) != string(after[k]) {
			t.Fatalf("%s changed the state's %s:\nbefore %s\nafter  %s", what, k, before[k], after[k])
		}
	}
}

func (w *simWorld) fingerprint(addr string) string {
	w.t.Helper()
	kh, err := netconf.OpenKnownHosts(w.known)
	if err != nil {
		w.t.Fatal(err)
	}
	return kh.Fingerprint(addr)
}

func (w *simWorld) rehost(req RehostRequest) *RehostResult {
	w.t.Helper()
	res, err := w.b.Rehost(w.ctx, testActor, DefaultTenant, req)
	if err != nil {
		w.t.Fatalf("rehost %s -> %s: %v", req.Failed, req.Replacement, err)
	}
	return res
}

// TestRehostOverNETCONF: a licensed switch fails (powered off in the
// simulator) and is replaced by a new unit with a new serial number and
// host key at the same address. The rehost regenerates its permanent and
// extension licenses for the replacement, installs them over NETCONF,
// revokes the old ones and trusts exactly the new unit's host key; doing
// it again changes nothing. Wrong replacements are refused, with one-line
// reasons, before anything changes.
func TestRehostOverNETCONF(t *testing.T) {
	w := newSimWorld(t, 6, map[string]int{"3750e": 1})
	for _, p := range []PAKRequest{
		{ID: "PAKPERM0001", Feature: "ipservices", Type: "permanent", Quantity: 10, Families: []string{"3750e"}},
		{ID: "PAKEXT00001", Feature: "advipservices", Type: "extension", Days: 30, Quantity: 10, Families: []string{"3750e"}},
	} {
		if _, err := w.b.AddPAK(w.ctx, testActor, DefaultTenant, p); err != nil {
			t.Fatal(err)
		}
	}
	old := make([]string, 6)
	for i := range old {
		old[i] = w.udi(i)
	}
	addr0 := w.fleet.Addrs[0]
	perm := w.install("PAKPERM0001", old[0], old[2], old[3], old[4])
	ext := map[string]*License{}
	for _, u := range []string{old[0], old[4]} {
		res, err := w.b.TempLicense(w.ctx, testActor, DefaultTenant, TempRequest{Device: u, Feature: "advipservices", PAK: "PAKEXT00001"})
		if err != nil {
			t.Fatal(err)
		}
		ext[u] = res.License
	}
	if d := w.reload(old[0]); d.ActiveLevel != "advipservices" {
		t.Fatalf("licensed switch runs %s", d.ActiveLevel)
	}
	oldKey := w.fingerprint(addr0)

	// The switch dies; the field engineer racks a new unit at its address.
	sim0 := w.fleet.Devices()[0]
	if err := sim0.PowerOff(); err != nil {
		t.Fatal(err)
	}
	if err := sim0.Replace(); err != nil {
		t.Fatal(err)
	}
	newUDI, newKey := w.udi(0), w.fleet.Fingerprints()[addr0]
	if newUDI == old[0] || newKey == oldKey {
		t.Fatalf("replace kept the serial or the host key")
	}
	// Ordinary sessions still refuse the changed key.
	if _, err := w.b.ReloadDevice(w.ctx, testActor, DefaultTenant, old[0]); err == nil || !strings.Contains(err.Error(), "host key") {
		t.Fatalf("reload at a changed host key: %v", err)
	}

	// Refused before anything changes: another unit than the one named
	// answers at the address; the host key is not the one given.
	before := snapshotOf(t, w.state)
	_, err := w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[0], Replacement: "WS-C3750E-24TD-S:FDO1399Q0Q1", Install: true})
	oneLineErr(t, err, "conflict", "is "+newUDI+", not the replacement WS-C3750E-24TD-S:FDO1399Q0Q1: nothing changed")
	_, err = w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[0], Replacement: newUDI, Install: true,
		HostKey: "SHA256:" + strings.Repeat("A", 43)})
	oneLineErr(t, err, "conflict", "presented "+newKey+", not SHA256:AAAA")
	unchanged(t, w.state, before, "refused rehosts")
	if w.fingerprint(addr0) != oldKey {
		t.Fatal("a refused rehost changed the known host key")
	}

	// The rehost, with the new unit's fingerprint as read at its console.
	res := w.rehost(RehostRequest{Failed: old[0], Replacement: newUDI, Install: true, HostKey: newKey})
	in := res.Install
	if res.Existing || len(res.Licenses) != 2 || in == nil || !in.OK || len(in.Results) != 2 || in.NextBootLevel != "advipservices" {
		t.Fatalf("rehost: %+v install %+v", res, in)
	}
	if in.HostKey == nil || in.HostKey.Address != addr0 || in.HostKey.Fingerprint != newKey || in.HostKey.Previous != oldKey {
		t.Fatalf("host key approval: %+v", in.HostKey)
	}
	for _, r := range in.Results {
		if r.Status != netconf.StatusInstalled {
			t.Fatalf("install result %+v", r)
		}
	}
	for _, rl := range res.Rehost.Licenses {
		from, to := w.license(rl.From), w.license(rl.To)
		if from.State != LicenseRehosted || from.RehostedTo != to.ID || to.RehostedFrom != from.ID || to.UDI != newUDI ||
			to.State != LicenseInstalled || to.Feature != from.Feature || to.Type != from.Type || !sameTime(to.Expires, from.Expires) ||
			to.PAK != from.PAK || rl.Preloaded {
			t.Fatalf("rehosted %+v\nfrom %+v\nto %+v", rl, from, to)
		}
	}
	for _, p := range []string{"PAKPERM0001", "PAKEXT00001"} {
		if k, _ := w.b.PAK(DefaultTenant, p); k.Lines[0].Used != map[string]int{"PAKPERM0001": 4, "PAKEXT00001": 2}[p] {
			t.Fatalf("rehost spent PAK %s: %+v", p, k.Lines[0])
		}
	}
	if d := w.device(old[0]); d.ReplacedBy != newUDI {
		t.Fatalf("failed device: %+v", d)
	}
	if w.fingerprint(addr0) != newKey {
		t.Fatalf("known hosts has %s for %s, want the new unit's %s", w.fingerprint(addr0), addr0, newKey)
	}
	// Ordinary sessions now reach the replacement, which boots licensed.
	if d := w.reload(newUDI); d.ActiveLevel != "advipservices" || d.Address != addr0 {
		t.Fatalf("replacement after reload: %+v", d)
	}
	var onNew []ExpiringLicense
	for _, e := range w.expiring(31 * day) {
		switch e.UDI {
		case newUDI:
			onNew = append(onNew, e)
		case old[0]:
			t.Fatalf("expiring lists the failed device's extension: %+v", e)
		}
	}
	if len(onNew) != 1 || !onNew[0].ExpiresAt.Equal(*ext[old[0]].Expires) || onNew[0].State != "inUse" {
		t.Fatalf("expiring after rehost: %+v", onNew)
	}

	// Repeating it changes nothing; with an RMA number it attaches it.
	before = snapshotOf(t, w.state)
	again := w.rehost(RehostRequest{Failed: old[0], Replacement: newUDI})
	if !again.Existing || again.Rehost.Licenses[0].To != res.Rehost.Licenses[0].To || len(again.Licenses) != 2 {
		t.Fatalf("repeated rehost: %+v", again)
	}
	unchanged(t, w.state, before, "a repeated rehost")
	if again = w.rehost(RehostRequest{Failed: old[0], Replacement: newUDI, Install: true}); !again.Existing || !again.Install.OK ||
		again.Install.HostKey != nil || again.Install.Results[0].Status != netconf.StatusAlreadyPresent {
		t.Fatalf("repeated rehost with install: %+v %+v", again, again.Install)
	}
	if rh := w.rehost(RehostRequest{Failed: old[0], Replacement: newUDI, RMA: "RMA-88001"}).Rehost; rh.RMA != "RMA-88001" {
		t.Fatalf("RMA not attached on a repeat: %+v", rh)
	}
	before = snapshotOf(t, w.state)
	_, err = w.b.AttachRMA(w.ctx, testActor, DefaultTenant, old[0], "RMA-99")
	oneLineErr(t, err, "conflict", "already has RMA RMA-88001")
	_, err = w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[0], Replacement: old[5]})
	oneLineErr(t, err, "conflict", "was already rehosted to "+newUDI)
	unchanged(t, w.state, before, "refused RMA and second replacement")

	// Wrong replacements, each refused with its reason and nothing changed.
	w.propose(CmdTenantCreate, tenantCreate{Name: "globex"}, nil)
	w.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev("globex", "WS-C3750E-24TD-S:FDO1399G0G1", "3750e", "ipbase")}}, nil)
	before = snapshotOf(t, w.state)
	for _, c := range []struct{ repl, code, want string }{
		{"CISCO881-K9:FTX1399A0A1", "not_eligible", "is of family 880 but the failed device " + old[2] + " is of family 3750e"},
		{"WS-C3560E-24TD-S:FDO1399A0A1", "not_eligible", "family 3560e"},
		{"AIR-AP1142N:FTX1399A0A1", "not_eligible", "not a licensable product"},
		{old[3], "conflict", "replacement " + old[3] + " is already licensed"},
		{old[0], "conflict", "failed itself"},
		{newUDI, "conflict", "already replaces " + old[0]},
		{"WS-C3750E-24TD-S:FDO1399G0G1", "conflict", "in service under another customer"},
		{old[2], "bad_request", "another unit than the failed device"},
	} {
		_, err := w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[2], Replacement: c.repl})
		oneLineErr(t, err, c.code, c.want)
	}
	_, err = w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[5], Replacement: "WS-C3750E-24TD-S:FDO1399A0A2"})
	oneLineErr(t, err, "not_eligible", "holds no live licenses")
	_, err = w.b.Rehost(w.ctx, testActor, "globex", RehostRequest{Failed: old[2], Replacement: "WS-C3750E-24TD-S:FDO1399A0A2"})
	oneLineErr(t, err, "not_found", "device "+old[2]+" not found")

	// A key change anywhere but the failed device's address is refused,
	// by ordinary sessions and by a rehost pointed there.
	sim1 := w.fleet.Devices()[1]
	if err := sim1.Replace(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.b.ReloadDevice(w.ctx, testActor, DefaultTenant, old[1]); err == nil || !strings.Contains(err.Error(), "host key") {
		t.Fatalf("reload of a device whose key changed without a rehost: %v", err)
	}
	_, err = w.b.Rehost(w.ctx, testActor, DefaultTenant, RehostRequest{Failed: old[2], Replacement: w.udi(1), Install: true, Address: w.fleet.Addrs[1]})
	oneLineErr(t, err, "conflict", "is not the failed device's address: refused, nothing changed")
	unchanged(t, w.state, before, "refused replacements")
	// With the new unit's fingerprint, given by the operator, that
	// address is accepted too.
	fp1 := w.fleet.Fingerprints()[w.fleet.Addrs[1]]
	res = w.rehost(RehostRequest{Failed: old[2], Replacement: w.udi(1), Install: true, Address: w.fleet.Addrs[1], HostKey: fp1})
	if !res.Install.OK || res.Install.HostKey == nil || res.Install.HostKey.Address != w.fleet.Addrs[1] || w.fingerprint(w.fleet.Addrs[1]) != fp1 {
		t.Fatalf("pinned rehost at another address: %+v", res.Install)
	}

	// Rehost before the unit is installed and before an RMA exists; attach
	// the RMA and install later. The replacement is a depot spare with a
	// preloaded ipservices key: that key is used, advipservices is
	// regenerated.
	sim4 := w.fleet.Devices()[4]
	if err := sim4.Replace(); err != nil {
		t.Fatal(err)
	}
	spareUDI := w.udi(4)
	sp, err := w.b.AddSpare(w.ctx, "admin:test", SpareRequest{UDI: spareUDI, Features: []string{"ipservices"}})
	if err != nil {
		t.Fatal(err)
	}
	res = w.rehost(RehostRequest{Failed: old[4], Replacement: spareUDI})
	if res.Install != nil || !res.Rehost.Spare || len(res.Rehost.Licenses) != 2 || res.Rehost.RMA != "" {
		t.Fatalf("spare rehost: %+v", res.Rehost)
	}
	for _, rl := range res.Rehost.Licenses {
		to := w.license(rl.To)
		switch rl.Feature {
		case "ipservices":
			if !rl.Preloaded || rl.To != sp.Licenses[0] || to.Tenant != DefaultTenant || to.RehostedFrom != perm[old[4]] {
				t.Fatalf("preloaded key not used: %+v %+v", rl, to)
			}
		case "advipservices":
			if rl.Preloaded || rl.From != ext[old[4]].ID || !sameTime(to.Expires, ext[old[4]].Expires) {
				t.Fatalf("extension not regenerated: %+v %+v", rl, to)
			}
		}
	}
	if s, _ := w.b.Spare(spareUDI); s.State != SpareAssigned || s.Replaces != old[4] || s.Tenant != DefaultTenant {
		t.Fatalf("spare after rehost: %+v", s)
	}
	if rh, err := w.b.AttachRMA(w.ctx, testActor, DefaultTenant, old[4], "RMA-88002"); err != nil || rh.RMA != "RMA-88002" {
		t.Fatalf("attach RMA: %+v %v", rh, err)
	}
	if s, _ := w.b.Spare(spareUDI); s.RMA != "RMA-88002" {
		t.Fatalf("spare RMA: %+v", s)
	}
	res = w.rehost(RehostRequest{Failed: old[4], Replacement: spareUDI, Install: true})
	if !res.Existing || !res.Install.OK || res.Install.HostKey == nil || res.Rehost.Installed == nil {
		t.Fatalf("installing the spare rehost later: %+v %+v", res.Rehost, res.Install)
	}
	if d := w.reload(spareUDI); d.ActiveLevel != "advipservices" {
		t.Fatalf("spare runs %s", d.ActiveLevel)
	}
	if k, _ := w.b.PAK(DefaultTenant, "PAKPERM0001"); k.Lines[0].Used != 4 {
		t.Fatalf("the spare rehost spent PAK units: %+v", k.Lines[0])
	}
}
