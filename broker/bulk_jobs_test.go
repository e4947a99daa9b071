package broker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/raftstore"
)

// Component tests of jobs over time: re-reads, cancel, resume after a
// restart, the refresh schedule (helpers in bulk_test.go).

// TestUDIChangedAndRefresh: a device replaced at the same address is
// reported (its new host key refused; once the key is trusted, the new
// identity recorded beside the old record, not merged into it); refresh
// reports changes, a lost license and the replaced device.
func TestUDIChangedAndRefresh(t *testing.T) {
	e := bulkEnv(t, nil)
	f := e.simFleet(4, only3750)
	e.discover(f, "")
	e.addPAK("PAK00000001", "ipservices", 10, "3750e")
	inst := e.install(InstallRequest{PAK: "PAK00000001", Devices: []string{f.Devices()[0].UDI().String(), f.Devices()[1].UDI().String()}})
	lid := byTarget(inst)[f.Devices()[0].UDI().String()].License
	old1 := f.Devices()[1].UDI().String()
	if err := f.Devices()[1].Replace(); err != nil {
		t.Fatal(err)
	}
	new1 := f.Devices()[1].UDI().String()
	if err := f.Devices()[0].ClearLicense(lid); err != nil {
		t.Fatal(err)
	}
	st := f.Devices()[2].Snapshot()
	m, _ := devicesim.ModelByPID(st.PID)
	var up string
	for _, v := range m.Versions {
		if v != st.Version {
			up = v
		}
	}
	if err := f.Devices()[2].Upgrade(up); err != nil {
		t.Fatal(err)
	}
	ref := e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartRefresh(ctx, "admin:test", DefaultTenant, RefreshRequest{All: true})
	})
	wantResult(t, ref, f.Devices()[0].UDI().String(), false, StatusLicenseMissing, lid, 1)
	wantResult(t, ref, old1, false, StatusHostKey, "host key", 1)
	r2 := wantResult(t, ref, f.Devices()[2].UDI().String(), true, StatusChanged, "", 1)
	if !strings.Contains(r2.Detail, "software "+st.Version+" -> "+up) {
		t.Fatalf("refresh detail %q", r2.Detail)
	}
	if d, _ := e.b.Device("", f.Devices()[2].UDI().String()); d.SoftwareVersion != up {
		t.Fatalf("refresh did not record the upgrade: %s", d.SoftwareVersion)
	}
	wantResult(t, ref, f.Devices()[3].UDI().String(), true, StatusUnchanged, "", 1)

	// Discovery refuses the replacement's new host key (only a rehost
	// approves one). Once the key is trusted (here: forgotten on this node,
	// as an operator would), discovery reports the new identity and keeps
	// the old record beside it.
	d1 := e.discover(f, "")
	wantResult(t, d1, f.Addrs[1], false, StatusHostKey, "changed", 1)
	if err := e.b.cfg.KnownHosts.Forget(f.Addrs[1]); err != nil {
		t.Fatal(err)
	}
	d2 := e.discover(f, "")
	r := wantResult(t, d2, f.Addrs[1], true, StatusUDIChanged, "", 1)
	if r.UDI != new1 || !strings.Contains(r.Detail, "was "+old1) {
		t.Fatalf("udi-changed result %+v", r)
	}
	oldRec, err1 := e.b.Device("", old1)
	newRec, err2 := e.b.Device("", new1)
	if err1 != nil || err2 != nil || oldRec.Address != f.Addrs[1] || newRec.Address != f.Addrs[1] {
		t.Fatalf("records after the replacement: %+v %v / %+v %v", oldRec, err1, newRec, err2)
	}
	// A refresh of the old record now reaches the new device and says so.
	ref2 := e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartRefresh(ctx, "admin:test", DefaultTenant, RefreshRequest{Devices: []string{old1}})
	})
	wantResult(t, ref2, old1, false, StatusUDIChanged, "now answers as "+new1, 1)

	// Rehosted away, the old record is dead: selections leave it out, and
	// a job that names it says so without contacting anything.
	if _, err := e.b.Rehost(context.Background(), "admin:test", DefaultTenant, RehostRequest{Failed: old1, Replacement: new1}); err != nil {
		t.Fatal(err)
	}
	ref3 := e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartRefresh(ctx, "admin:test", DefaultTenant, RefreshRequest{All: true})
	})
	if _, found := byTarget(ref3)[old1]; found || ref3.Total != 4 {
		t.Fatalf("a refresh of all devices included the rehosted %s: %d targets", old1, ref3.Total)
	}
	wantResult(t, ref3, new1, true, StatusUnchanged, "", 1)
	ref4 := e.run(func(ctx context.Context) (*Job, error) {
		return e.b.StartRefresh(ctx, "admin:test", DefaultTenant, RefreshRequest{Devices: []string{old1}})
	})
	wantResult(t, ref4, old1, false, StatusReplaced, "replaced by "+new1, 1)
}

// TestCancelAndProgress: a job over slow devices reports its progress
// while it runs; a cancel ends it at once and the runner stops.
func TestCancelAndProgress(t *testing.T) {
	e := bulkEnv(t, func(c *Config) { c.DeviceTimeout = 5 * time.Second })
	f := e.simFleet(20, nil)
	for i := range f.Addrs {
		f.SetFault(i, devicesim.Fault{Latency: 300 * time.Millisecond})
	}
	j, err := e.b.StartDiscover(context.Background(), "admin:test", DefaultTenant, DiscoverRequest{Targets: []string{f.Prefix.String()}, Port: f.Port, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	var v *Job
	for deadline := time.Now().Add(30 * time.Second); ; {
		if v, err = e.b.JobView("", j.ID, ResultsNone); err != nil {
			t.Fatal(err)
		}
		if v.Done >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v.State != JobRunning || v.Remaining != v.Total-v.Done-v.Failed || v.Remaining == 0 || v.Rate <= 0 || v.Results != nil || v.Runner != "local" || v.Epoch != 1 {
		t.Fatalf("progress %+v", v)
	}
	c, err := e.b.CancelJob(context.Background(), "admin:test", DefaultTenant, j.ID)
	if err != nil || c.State != JobCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if _, err := e.b.CancelJob(context.Background(), "admin:test", DefaultTenant, j.ID); err == nil || !strings.Contains(err.Error(), "already cancelled") {
		t.Fatalf("second cancel: %v", err)
	}
	waitFor(t, "the runner to let the job go", func() bool {
		e.b.jobMu.Lock()
		defer e.b.jobMu.Unlock()
		return len(e.b.active) == 0
	})
	time.Sleep(time.Second)
	end, _ := e.b.JobView("", j.ID, ResultsAll)
	if end.State != JobCancelled || end.Done+end.Failed >= end.Total || end.Failed != 0 {
		t.Fatalf("after cancel: %s, %d ok, %d failed of %d", end.State, end.Done, end.Failed, end.Total)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// restart stops the broker and its store and starts them again on the same
// data directory (a crash without a clean hand-over of running jobs).
func (e *env) restart() {
	e.t.Helper()
	e.b.Close()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.state = NewState()
	store, err := raftstore.Open(raftstore.Config{NodeID: "n1", Dir: e.dir + "/raft", BindAddr: e.raftAddr, Bootstrap: true}, e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = store
	e.t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := store.WaitLeader(ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := store.Barrier(ctx); err != nil {
		e.t.Fatal(err)
	}
	if e.b, err = New(e.config(), store, e.state); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(e.b.Close)
}

// TestJobResumesAfterRestart: the node working an install job stops mid
// job; when it comes back it claims the job again and works only what is
// left. Every device ends licensed with exactly one license, and the PAK's
// used count equals the devices.
func TestJobResumesAfterRestart(t *testing.T) {
	e := bulkEnv(t, func(c *Config) { c.DeviceConcurrency = 4; c.DeviceTimeout = 5 * time.Second })
	f := e.simFleet(30, only3750)
	e.discover(f, "")
	e.addPAK("PAK00000001", "ipservices", 100, "3750e")
	for i := range f.Addrs {
		f.SetFault(i, devicesim.Fault{Latency: 100 * time.Millisecond})
	}
	j, err := e.b.StartInstall(context.Background(), "admin:test", DefaultTenant, InstallRequest{PAK: "PAK00000001", All: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "some results", func() bool {
		v, _ := e.b.JobView("", j.ID, ResultsNone)
		return v.Done >= 6
	})
	e.restart()
	waitFor(t, "the restarted node to replay the job", func() bool { _, err := e.b.Job("", j.ID); return err == nil })
	end := e.waitJob(j.ID)
	if end.State != JobDone || end.Done != 30 || end.Failed != 0 || len(end.Results) != 30 || end.Epoch != 2 {
		t.Fatalf("resumed job: %s claim %d, %d ok, %d failed, %d results", end.State, end.Epoch, end.Done, end.Failed, len(end.Results))
	}
	for _, d := range f.Devices() {
		ls := e.licensesOf(d.UDI().String())
		if len(ls) != 1 || ls[0].State != LicenseInstalled {
			t.Fatalf("%s: %d license records %+v", d.UDI(), len(ls), ls)
		}
		if n := len(slices.DeleteFunc(d.Snapshot().Licenses, func(l devicesim.LicenseView) bool { return l.Type != "permanent" })); n != 1 {
			t.Fatalf("%s holds %d permanent licenses", d.UDI(), n)
		}
	}
	if u := e.used("PAK00000001"); u != 30 {
		t.Fatalf("PAK used %d, want 30", u)
	}
	if items, _ := e.b.Audit(AuditFilter{Object: "job/" + j.ID}); !slices.ContainsFunc(items, func(a AuditEntry) bool { return strings.Contains(a.Change, "resumes the job") }) {
		t.Fatalf("no audit entry for the resumption: %+v", items)
	}
}

// TestScheduledRefresh: with a refresh interval, the leader re-reads every
// device of each tenant on its own.
func TestScheduledRefresh(t *testing.T) {
	e := bulkEnv(t, func(c *Config) { c.RefreshInterval = 500 * time.Millisecond })
	f := e.simFleet(3, nil)
	e.discover(f, "")
	var sched Job
	waitFor(t, "a scheduled refresh", func() bool {
		for _, j := range e.b.Jobs(DefaultTenant) {
			if j.Kind == JobRefresh && j.Params.Scheduled && j.State == JobDone {
				sched = j
				return true
			}
		}
		return false
	})
	if sched.Actor != "system:schedule" || sched.Total != 3 || sched.Done != 3 {
		t.Fatalf("scheduled refresh %+v", sched)
	}
}
