package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/devicesim/simtest"
)

// Component tests of the bulk operations: a broker on a real single-node
// Raft store, real SSH and NETCONF sessions with a simulated fleet, and
// the simulator's faults.

// bulkEnv is an env with short device timeouts and back-off, so that
// faults resolve in seconds.
func bulkEnv(t *testing.T, hook func(*Config)) *env {
	e := newEnvWith(t, func(c *Config) {
		c.DeviceTimeout = 1500 * time.Millisecond
		c.JobBackoff = 50 * time.Millisecond
		c.DeviceConcurrency = 16
		if hook != nil {
			hook(c)
		}
	})
	if _, err := e.b.PutCredential(context.Background(), "admin:test", DefaultTenant, "default", "admin", []byte("admin"), false); err != nil {
		t.Fatal(err)
	}
	return e
}

// simFleet starts n simulated devices (families weighted by mix, or the
// default mix) that trust the env's keys.
func (e *env) simFleet(n int, mix map[string]int) *simtest.Fleet {
	return simtest.Start(e.t, simtest.Options{Count: n, Mix: mix, Trust: e.kr.TrustStore()})
}

var only3750 = map[string]int{devicesim.Family3750E: 1}

// run starts a job with start and waits for it to end.
func (e *env) run(start func(ctx context.Context) (*Job, error)) *Job {
	e.t.Helper()
	j, err := start(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.waitJob(j.ID)
}

func (e *env) discover(f *simtest.Fleet, cidr string) *Job {
	e.t.Helper()
	if cidr == "" {
		cidr = f.Prefix.String()
	}
	return e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartDiscover(ctx, "admin:test", DefaultTenant, DiscoverRequest{Targets: []string{cidr}, Port: f.Port})
	})
}

func (e *env) install(req InstallRequest) *Job {
	e.t.Helper()
	return e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartInstall(ctx, "admin:test", DefaultTenant, req)
	})
}

func (e *env) addPAK(id, feature string, qty int, fams ...string) {
	e.t.Helper()
	if _, err := e.b.AddPAK(context.Background(), "admin:test", DefaultTenant, PAKRequest{ID: id, Feature: feature, Quantity: qty, Families: fams}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) used(pakID string) int {
	e.t.Helper()
	p, err := e.b.PAK("", pakID)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, l := range p.Lines {
		n += l.Used
	}
	return n
}

// byTarget indexes a job's results by target.
func byTarget(j *Job) map[string]JobResult {
	m := map[string]JobResult{}
	for _, r := range j.Results {
		m[r.Target] = r
	}
	return m
}

// wantResult checks one target's result.
func wantResult(t *testing.T, j *Job, target string, ok bool, status, reason string, attempts int) JobResult {
	t.Helper()
	r, found := byTarget(j)[target]
	switch {
	case !found:
		t.Fatalf("job %s has no result for %s", j.ID, target)
	case r.OK != ok || r.Status != status || !strings.Contains(r.Reason, reason):
		t.Fatalf("%s: ok %v status %q reason %q; want ok %v status %q reason containing %q", target, r.OK, r.Status, r.Reason, ok, status, reason)
	case attempts > 0 && r.Attempts != attempts:
		t.Fatalf("%s (%s): %d attempts, want %d", target, r.Status, r.Attempts, attempts)
	}
	return r
}

// licensesOf returns the license records of a device.
func (e *env) licensesOf(udi string) []License {
	return e.b.LicensesWhere("", LicenseFilter{UDI: udi})
}

// TestDiscoverFaults: a /28 with ten devices, four of them faulty, and
// four addresses where nothing answers. Each faulty address is listed
// with the reason; faults that may pass are retried with back-off, the
// others are not; every healthy device is recorded; the job ends done.
func TestDiscoverFaults(t *testing.T) {
	e := bulkEnv(t, nil)
	f := e.simFleet(10, nil)
	set := func(i int, fl devicesim.Fault) {
		if err := f.SetFault(i, fl); err != nil {
			t.Fatal(err)
		}
	}
	set(1, devicesim.Fault{Unreachable: true})
	set(2, devicesim.Fault{AuthFailure: true})
	set(3, devicesim.Fault{Latency: 4 * time.Second})
	set(4, devicesim.Fault{Drop: devicesim.DropBefore})
	j := e.discover(f, f.Prefix.Addr().String()+"/28")
	if j.State != JobDone || j.Total != 14 || j.Done != 6 || j.Failed != 8 || j.Remaining != 0 {
		t.Fatalf("job %s: state %s, %d ok, %d failed of %d", j.ID, j.State, j.Done, j.Failed, j.Total)
	}
	for _, i := range []int{0, 5, 6, 7, 8, 9} {
		r := wantResult(t, j, f.Addrs[i], true, StatusDiscovered, "", 1)
		if r.UDI != f.Devices()[i].UDI().String() {
			t.Fatalf("%s recorded as %s, want %s", f.Addrs[i], r.UDI, f.Devices()[i].UDI())
		}
		d, err := e.b.Device(DefaultTenant, r.UDI)
		if err != nil || d.Address != f.Addrs[i] || d.PID == "" || d.SoftwareVersion == "" || d.ActiveLevel == "" || len(d.Licenses) == 0 {
			t.Fatalf("device record %+v, %v", d, err)
		}
	}
	wantResult(t, j, f.Addrs[1], false, StatusTimeout, "ssh handshake", 3)
	wantResult(t, j, f.Addrs[2], false, StatusAuthFailed, "unable to authenticate", 1)
	wantResult(t, j, f.Addrs[3], false, StatusTimeout, "timed out", 3)
	wantResult(t, j, f.Addrs[4], false, StatusDropped, "", 3)
	a := f.Prefix.Addr()
	for i := 1; i <= 14; i++ {
		a = a.Next()
		if i > 10 {
			wantResult(t, j, fmt.Sprintf("%s:%d", a, f.Port), false, StatusUnreachable, "", 1)
		}
	}
	if n := len(e.b.Devices(DefaultTenant)); n != 6 {
		t.Fatalf("%d devices recorded, want 6", n)
	}
	if j.Statuses[StatusTimeout] != 2 || j.Statuses[StatusUnreachable] != 4 || j.Statuses[StatusDiscovered] != 6 {
		t.Fatalf("statuses %v", j.Statuses)
	}
}

// TestInstallFaultsChargeOnce: a bulk install where one device refuses
// the license (storage full), one drops the session after installing, and
// one is too slow. Each result says why; every device is charged once,
// however often it was tried; a retry job after the faults are cleared
// finishes the three without charging again; a second install of the
// same PAK charges nothing.
func TestInstallFaultsChargeOnce(t *testing.T) {
	e := bulkEnv(t, nil)
	f := e.simFleet(8, only3750)
	e.discover(f, "")
	e.addPAK("PAK00000001", "ipservices", 100, "3750e")
	set := func(i int, fl devicesim.Fault) {
		if err := f.SetFault(i, fl); err != nil {
			t.Fatal(err)
		}
	}
	set(1, devicesim.Fault{StorageFull: true})
	set(2, devicesim.Fault{Drop: devicesim.DropAfter})
	set(3, devicesim.Fault{Latency: 4 * time.Second})
	j := e.install(InstallRequest{PAK: "PAK00000001", All: true})
	udi := func(i int) string { return f.Devices()[i].UDI().String() }
	if j.State != JobDone || j.Total != 8 || j.Done != 5 || j.Failed != 3 {
		t.Fatalf("job: state %s, %d ok, %d failed of %d: %+v", j.State, j.Done, j.Failed, j.Total, j.Results)
	}
	wantResult(t, j, udi(1), false, StatusRefused, "license storage full", 1)
	wantResult(t, j, udi(2), false, StatusDropped, "", 3)
	wantResult(t, j, udi(3), false, StatusTimeout, "timed out", 3)
	for _, i := range []int{0, 4, 5, 6, 7} {
		r := wantResult(t, j, udi(i), true, StatusInstalled, "", 1)
		ls := e.licensesOf(udi(i))
		if len(ls) != 1 || ls[0].ID != r.License || ls[0].State != LicenseInstalled {
			t.Fatalf("%s: license records %+v, result %+v", udi(i), ls, r)
		}
		if d, _ := e.b.Device("", udi(i)); !onDevice(d, r.License) {
			t.Fatalf("%s: the device record does not show %s: %+v", udi(i), r.License, d.Licenses)
		}
	}
	// Every device was charged exactly once, including the three that
	// failed (the PAK unit is spent when the key is issued).
	if u := e.used("PAK00000001"); u != 8 {
		t.Fatalf("PAK used %d, want 8", u)
	}
	for i := 0; i < 8; i++ {
		if n := len(e.licensesOf(udi(i))); n != 1 {
			t.Fatalf("%s has %d license records", udi(i), n)
		}
	}

	for i := 1; i <= 3; i++ {
		set(i, devicesim.Fault{})
	}
	rj := e.run(func(ctx context.Context) (*Job, error) { return e.b.RetryJob(ctx, "admin:test", DefaultTenant, j.ID) })
	if rj.RetryOf != j.ID || rj.Total != 3 || rj.Done != 3 {
		t.Fatalf("retry job %+v", rj)
	}
	for i := 1; i <= 3; i++ {
		wantResult(t, rj, udi(i), true, StatusInstalled, "", 1)
		if st := f.Devices()[i].Snapshot(); !slices.ContainsFunc(st.Licenses, func(l devicesim.LicenseView) bool { return l.Feature == "ipservices" && l.Type == "permanent" }) {
			t.Fatalf("device %d does not hold the license: %+v", i, st.Licenses)
		}
	}
	if u := e.used("PAK00000001"); u != 8 {
		t.Fatalf("PAK used %d after the retry, want 8", u)
	}
	again := e.install(InstallRequest{PAK: "PAK00000001", All: true})
	if again.Done != 8 || again.Statuses[StatusAlreadyLicensed] != 8 || e.used("PAK00000001") != 8 {
		t.Fatalf("second install: %v, used %d", again.Statuses, e.used("PAK00000001"))
	}
}

// TestStoreOnlyThenDeploy: licenses from two PAKs of one SKU, the first
// used up after two devices, kept in inventory, then deployed.
func TestStoreOnlyThenDeploy(t *testing.T) {
	e := bulkEnv(t, nil)
	f := e.simFleet(5, only3750)
	e.discover(f, "")
	e.addPAK("PAK0000000A", "ipservices", 2, "3750e")
	e.addPAK("PAK0000000B", "ipservices", 10, "3750e")
	j := e.install(InstallRequest{PAKs: []string{"PAK0000000A", "PAK0000000B"}, Family: "3750e", StoreOnly: true})
	if j.Done != 5 || j.Statuses[StatusStored] != 5 {
		t.Fatalf("store-only job %+v", j)
	}
	if a, b := e.used("PAK0000000A"), e.used("PAK0000000B"); a != 2 || b != 3 {
		t.Fatalf("PAK A used %d (want 2), PAK B used %d (want 3)", a, b)
	}
	for _, d := range f.Devices() {
		if st := d.Snapshot(); st.Active != "ipbase" || slices.ContainsFunc(st.Licenses, func(l devicesim.LicenseView) bool { return l.Type == "permanent" }) {
			t.Fatalf("store-only installed something on %s: %+v", d.UDI(), st.Licenses)
		}
	}
	if n := len(e.b.LicensesWhere("", LicenseFilter{State: LicenseIssued})); n != 5 {
		t.Fatalf("%d licenses waiting in inventory, want 5", n)
	}
	dep := e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartDeploy(ctx, "admin:test", DefaultTenant, DeployRequest{All: true})
	})
	if dep.Kind != JobDeploy || dep.Done != 5 || dep.Statuses[StatusInstalled] != 5 {
		t.Fatalf("deploy job %+v", dep)
	}
	for _, d := range f.Devices() {
		ls := e.licensesOf(d.UDI().String())
		if len(ls) != 1 || ls[0].State != LicenseInstalled || !slices.ContainsFunc(d.Snapshot().Licenses, func(l devicesim.LicenseView) bool { return l.ID == ls[0].ID }) {
			t.Fatalf("%s after deploy: records %+v", d.UDI(), ls)
		}
	}
	if _, err := e.b.StartDeploy(context.Background(), "admin:test", DefaultTenant, DeployRequest{All: true}); err == nil ||
		!strings.Contains(err.Error(), "has licenses waiting in inventory") {
		t.Fatalf("deploy with nothing stored: %v", err)
	}
}

// TestPolicyLicensesDiscoveredDevices: a policy for 3750-E switches
// licenses them when discovery finds them (and only them), once.
func TestPolicyLicensesDiscoveredDevices(t *testing.T) {
	e := bulkEnv(t, nil)
	f := e.simFleet(10, nil)
	e.addPAK("PAK00000001", "ipservices", 100, "3750e")
	e.addPAK("PAK00000002", "ipservices", 100, "3560e")
	ctx := context.Background()
	if _, err := e.b.PutPolicy(ctx, "admin:test", DefaultTenant, PolicyRequest{Name: "sw", Feature: "ipservices", Family: "3750e", PAKs: []string{"PAK00000001"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.PutPolicy(ctx, "admin:test", DefaultTenant, PolicyRequest{Name: "keep", Feature: "ipservices", Family: "3560e", StoreOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.PutPolicy(ctx, "admin:test", DefaultTenant, PolicyRequest{Name: "bad", Feature: "ipservices", Family: "880"}); err == nil {
		t.Fatal("a policy for a feature the family cannot license was accepted")
	}
	j := e.discover(f, "")
	n3750, n3560 := 0, 0
	for i, d := range f.Devices() {
		r := wantResult(t, j, f.Addrs[i], true, StatusDiscovered, "", 1)
		ls := e.licensesOf(d.UDI().String())
		switch d.Family().ID {
		case "3750e":
			n3750++
			if len(ls) != 1 || ls[0].State != LicenseInstalled || r.License != ls[0].ID || !strings.Contains(r.Detail, "policy sw: installed ipservices permanent license") {
				t.Fatalf("%s: result %+v, records %+v", d.UDI(), r, ls)
			}
			if rec, _ := e.b.Device("", d.UDI().String()); !onDevice(rec, ls[0].ID) {
				t.Fatalf("%s: the recorded device does not show the license", d.UDI())
			}
		case "3560e":
			n3560++
			if len(ls) != 1 || ls[0].State != LicenseIssued || !strings.Contains(r.Detail, "policy keep: stored") {
				t.Fatalf("%s: result %+v, records %+v", d.UDI(), r, ls)
			}
		default:
			if len(ls) != 0 || r.Detail != "" {
				t.Fatalf("%s (%s) was licensed by a policy: %+v", d.UDI(), d.Family().ID, r)
			}
		}
	}
	if n3750 == 0 || n3560 == 0 || e.used("PAK00000001") != n3750 || e.used("PAK00000002") != n3560 {
		t.Fatalf("%d 3750-E, %d 3560-E; PAKs used %d and %d", n3750, n3560, e.used("PAK00000001"), e.used("PAK00000002"))
	}
	again := e.discover(f, "")
	if again.Statuses[StatusUnchanged] != len(f.Addrs) || e.used("PAK00000001") != n3750 || e.used("PAK00000002") != n3560 {
		t.Fatalf("second discovery: %v; PAKs used %d and %d", again.Statuses, e.used("PAK00000001"), e.used("PAK00000002"))
	}
	// A policy added later acts on known devices at the next discovery;
	// their records change.
	e.addPAK("PAK00000003", "advipservices", 100, "880")
	if _, err := e.b.PutPolicy(ctx, "admin:test", DefaultTenant, PolicyRequest{Name: "rt", Feature: "advipservices", Family: "880"}); err != nil {
		t.Fatal(err)
	}
	third := e.discover(f, "")
	n880 := 0
	for i, d := range f.Devices() {
		if d.Family().ID == "880" {
			n880++
			wantResult(t, third, f.Addrs[i], true, StatusChanged, "", 1)
		}
	}
	if n880 == 0 || e.used("PAK00000003") != n880 || third.Statuses[StatusChanged] != n880 {
		t.Fatalf("third discovery: %v; PAK used %d for %d routers", third.Statuses, e.used("PAK00000003"), n880)
	}
}
