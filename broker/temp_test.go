package broker

import (
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

// TestEvaluationLifecycle drives an evaluation license through the broker
// against a simulated switch on the simulator's clock: activate (EULA
// accepted), reload into it, watch it in report expiring and the metric,
// let it expire while the switch keeps running, reload and fall back to
// the level before the evaluation; then an extension license from a PAK
// covers the switch and expires the same way.
func TestEvaluationLifecycle(t *testing.T) {
	w := newSimWorld(t, 2, map[string]int{"3750e": 1})
	udi := w.udi(0)
	sim := w.fleet.Devices()[0]

	// Bad input: one line, nothing changed.
	for _, c := range []struct {
		req        TempRequest
		code, want string
	}{
		{TempRequest{Device: udi, Feature: "ipbase"}, "bad_request", `feature "ipbase" is not a licensable level`},
		{TempRequest{Device: udi, Feature: "enterprise"}, "bad_request", "levels: ipbase, ipservices, advipservices"},
		{TempRequest{Device: "nocolon", Feature: "ipservices"}, "bad_request", "invalid UDI"},
		{TempRequest{Device: "WS-C3750E-24TD-S:FDO1399Z9Z9", Feature: "ipservices"}, "not_found", "not found"},
		{TempRequest{Device: udi, Feature: "ipservices", PAK: "PAKNONE0001"}, "not_found", "PAK"},
	} {
		_, err := w.b.TempLicense(w.ctx, testActor, DefaultTenant, c.req)
		oneLineErr(t, err, c.code, c.want)
	}
	if evs := w.b.Evaluations("", EvaluationFilter{}); len(evs) != 0 || sim.Snapshot().BootLevel != "" {
		t.Fatalf("refused requests changed something: %+v, boot level %q", evs, sim.Snapshot().BootLevel)
	}

	// Activate: the EULA is accepted, the level runs after the next reload.
	res, err := w.b.TempLicense(w.ctx, testActor, DefaultTenant, TempRequest{Device: udi, Feature: "ipservices"})
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Evaluation
	if res.Kind != "evaluation" || res.Status != "activated" || ev.State != "notInUse" || ev.Origin != EvaluationActivated ||
		ev.ActivatedBy != testActor || res.ActiveLevel != "ipbase" || res.NextBootLevel != "ipservices" {
		t.Fatalf("activation: %+v evaluation %+v", res, ev)
	}
	d := w.reload(udi)
	ev, _ = w.b.Evaluation("", udi, "ipservices")
	if d.ActiveLevel != "ipservices" || ev.State != "inUse" || ev.EndsAt == nil || !near(*ev.EndsAt, w.clock.Now().Add(60*day), time.Minute) {
		t.Fatalf("after reload: device runs %s, evaluation %+v", d.ActiveLevel, ev)
	}
	if len(w.expiring(14*day)) != 0 {
		t.Fatalf("60 days left, but listed within 14d: %+v", w.expiring(14*day))
	}
	if got := w.expiring(61 * day); len(got) != 1 || got[0].UDI != udi || got[0].Type != "evaluation" || got[0].State != "inUse" ||
		got[0].PeriodLeft != "8 weeks 4 days" || got[0].Address != w.fleet.Addrs[0] {
		t.Fatalf("expiring 61d: %+v", got)
	}

	// 50 days of use later: 10 days left.
	w.fleet.AdvanceClock(50 * day)
	w.discover(DefaultTenant, w.fleet.Addrs[0])
	got := w.expiring(14 * day)
	if len(got) != 1 || got[0].PeriodLeft != "1 week 3 days" || !near(got[0].ExpiresAt, w.clock.Now().Add(10*day), time.Minute) {
		t.Fatalf("expiring 14d after 50 days: %+v", got)
	}
	m := w.metrics()
	if m[`licbroker_licenses_expiring{type="evaluation",within="7d"}`] != 0 || m[`licbroker_licenses_expiring{type="evaluation",within="14d"}`] != 1 ||
		m[`licbroker_licenses_expiring{type="evaluation",within="30d"}`] != 1 || m[`licbroker_evaluations{state="inUse"}`] != 1 {
		t.Fatalf("metrics after 50 days: %v", m)
	}

	// 11 more days: the evaluation ran out; the switch keeps running
	// ipservices until it reloads. Before the broker reads it again, the
	// report already shows the end as past.
	w.fleet.AdvanceClock(11 * day)
	if got := w.expiring(14 * day); len(got) != 1 || got[0].PeriodLeft != "expired" {
		t.Fatalf("expiring before re-reading: %+v", got)
	}
	w.discover(DefaultTenant, w.fleet.Addrs[0])
	ev, _ = w.b.Evaluation("", udi, "ipservices")
	if d := w.device(udi); ev.State != "expiredInUse" || d.ActiveLevel != "ipservices" {
		t.Fatalf("after expiry: evaluation %s, device runs %s", ev.State, d.ActiveLevel)
	}
	if got := w.expiring(14 * day); len(got) != 1 || got[0].State != "expiredInUse" || got[0].PeriodLeft != expiredRunning {
		t.Fatalf("expiring after expiry: %+v", got)
	}
	if m := w.metrics(); m[`licbroker_licenses_expired_in_use{type="evaluation"}`] != 1 || m[`licbroker_licenses_expiring{type="evaluation",within="30d"}`] != 0 {
		t.Fatalf("metrics after expiry: %v", m)
	}

	// Reload: back to the level before the evaluation.
	if d := w.reload(udi); d.ActiveLevel != "ipbase" {
		t.Fatalf("after reload the switch runs %s, want ipbase", d.ActiveLevel)
	}
	ev, _ = w.b.Evaluation("", udi, "ipservices")
	if ev.State != "expiredNotInUse" || !strings.Contains(ev.History[len(ev.History)-1].What, "the device runs ipbase") {
		t.Fatalf("after fallback: %+v", ev)
	}
	if got := w.expiring(14 * day); len(got) != 0 {
		t.Fatalf("an evaluation that ended is still listed: %+v", got)
	}

	// The device refuses a second evaluation: one line, nothing changed.
	_, err = w.b.TempLicense(w.ctx, testActor, DefaultTenant, TempRequest{Device: udi, Feature: "ipservices"})
	oneLineErr(t, err, "device_error", "expired")
	if ev2, _ := w.b.Evaluation("", udi, "ipservices"); len(ev2.History) != len(ev.History) || ev2.State != ev.State {
		t.Fatalf("refused activation changed the record: %+v", ev2)
	}

	// An extension license from a PAK covers the unusual case.
	if _, err := w.b.AddPAK(w.ctx, testActor, DefaultTenant, PAKRequest{ID: "PAKEXT00001", Feature: "ipservices", Type: "extension",
		Days: 30, Quantity: 2, Families: []string{"3750e"}}); err != nil {
		t.Fatal(err)
	}
	res, err = w.b.TempLicense(w.ctx, testActor, DefaultTenant, TempRequest{Device: udi, Feature: "ipservices", PAK: "PAKEXT00001", Reload: true})
	if err != nil {
		t.Fatal(err)
	}
	ext := res.License
	if res.Kind != "extension" || res.Status != "installed" || ext.Type != "extension" || ext.Expires == nil ||
		!near(*ext.Expires, w.clock.Now().Add(30*day), time.Minute) || res.ActiveLevel != "ipservices" {
		t.Fatalf("extension: %+v license %+v", res, ext)
	}
	if again, err := w.b.TempLicense(w.ctx, testActor, DefaultTenant, TempRequest{Device: udi, Feature: "ipservices", PAK: "PAKEXT00001"}); err != nil ||
		again.License.ID != ext.ID || again.Status != "already-present" {
		t.Fatalf("second extension request: %+v, %v", again, err)
	}
	if p, _ := w.b.PAK(DefaultTenant, "PAKEXT00001"); p.Lines[0].Used != 1 {
		t.Fatalf("PAK used %d, want 1", p.Lines[0].Used)
	}
	got = w.expiring(31 * day)
	if len(got) != 1 || got[0].ID != ext.ID || got[0].Source != "broker" || got[0].State != "inUse" || !got[0].ExpiresAt.Equal(*ext.Expires) {
		t.Fatalf("expiring 31d with an extension: %+v", got)
	}
	w.fleet.AdvanceClock(31 * day)
	w.discover(DefaultTenant, w.fleet.Addrs[0])
	if got := w.expiring(14 * day); len(got) != 1 || got[0].ID != ext.ID || got[0].PeriodLeft != expiredRunning {
		t.Fatalf("expired extension: %+v", got)
	}
	if m := w.metrics(); m[`licbroker_licenses_expired_in_use{type="extension"}`] != 1 {
		t.Fatalf("metrics after the extension expired: %v", m)
	}
	if d := w.reload(udi); d.ActiveLevel != "ipbase" {
		t.Fatalf("after the extension expired and a reload the switch runs %s", d.ActiveLevel)
	}
}
