package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestStateJobs walks the job commands: targets fixed at creation (listed,
// expanded CIDRs, "all eligible"), numbered claims, results refused from
// an older claim and kept once per target, device records and license
// installations committed with the results, retries of failed targets,
// and policies.
func TestStateJobs(t *testing.T) {
	s := NewState()
	other := dev("globex", "WS-C3750E-24TD-S:FDO1307R0WE", "3750e", "ipbase")
	stored := lic("LSTORED", sw2, "ipservices", "permanent")
	job := func(d *stateData, id string) *Job { return d.Jobs[id] }
	runSteps(t, s, []step{
		{typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}},
		{typ: CmdTenantCreate, payload: tenantCreate{Name: "globex"}},
		{typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase"), dev("acme", sw2, "3750e", "ipbase"),
			dev("acme", sw4, "3560e", "ipbase"), dev("acme", rt1, "880", "advsecurity"), other}}},
		{typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 10, "3750e"))},
		{typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", License: stored}},

		{name: "discovery expands its CIDR", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-disc", Tenant: "acme", Kind: JobDiscover,
			Params: JobParams{Specs: []string{"127.9.0.0/30", "127.9.1.7", "127.9.2.3:2022"}, Port: 830}}},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				j := job(d, "j-disc")
				want := []string{"127.9.0.1:830", "127.9.0.2:830", "127.9.1.7:830", "127.9.2.3:2022"}
				if !slices.Equal(j.Params.Targets, want) || j.Total != 4 || j.State != JobRunning {
					t.Fatalf("targets %v total %d", j.Params.Targets, j.Total)
				}
				var out Job
				json.Unmarshal(data, &out)
				if len(out.Params.Targets) != 0 || out.Total != 4 {
					t.Fatalf("job.create returned its targets: %+v", out)
				}
			}},
		{name: "bad CIDR", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-bad", Tenant: "acme", Kind: JobDiscover,
			Params: JobParams{Specs: []string{"127.9.0.0/33"}, Port: 830}}}, wantCode: "bad_request", wantMsg: "invalid CIDR"},
		{name: "install all eligible", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-inst", Tenant: "acme", Kind: JobInstall,
			Params: JobParams{PAKs: []string{"PAK00000001"}, All: true}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if got := job(d, "j-inst").Params.Targets; !slices.Equal(got, []string{sw1, sw2}) {
					t.Fatalf("eligible targets %v, want the two 3750-E of acme", got)
				}
			}},
		{name: "install by family finds none", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-none", Tenant: "acme", Kind: JobInstall,
			Params: JobParams{PAKs: []string{"PAK00000001"}, Filter: &DeviceFilter{Family: "880"}}}},
			wantCode: "not_eligible", wantMsg: "matches family 880 and is eligible"},
		{name: "install of another tenant's PAK", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-x", Tenant: "globex", Kind: JobInstall,
			Params: JobParams{PAKs: []string{"PAK00000001"}, All: true}}}, wantCode: "not_found"},
		{name: "deploy selects stored licenses", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-dep", Tenant: "acme", Kind: JobDeploy,
			Params: JobParams{All: true}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if got := job(d, "j-dep").Params.Targets; !slices.Equal(got, []string{sw2}) {
					t.Fatalf("deploy targets %v, want %s", got, sw2)
				}
			}},
		{name: "refresh of another tenant's device", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-r", Tenant: "acme", Kind: JobRefresh,
			Params: JobParams{Targets: []string{other.UDI}}}}, wantCode: "not_found"},

		{name: "claim", typ: CmdJobClaim, payload: jobClaim{ID: "j-inst", Runner: "n1", Epoch: 1}},
		{name: "claim again with the same number", typ: CmdJobClaim, payload: jobClaim{ID: "j-inst", Runner: "n2", Epoch: 1},
			wantCode: "conflict", wantMsg: "claimed by node n1"},
		{name: "results with devices and installs", typ: CmdJobResults, at: time.Second, payload: jobResults{ID: "j-inst", Epoch: 1,
			Results:   []JobResult{{Target: sw2, UDI: sw2, OK: true, Status: StatusInstalled, License: stored.ID}},
			Devices:   []Device{func() Device { d := dev("acme", sw2, "3750e", "ipbase"); d.SoftwareVersion = "12.2(55)SE"; return d }()},
			Installed: []jobInstalled{{ID: stored.ID, What: "installed on " + sw2}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				j := job(d, "j-inst")
				if j.Done != 1 || j.Statuses[StatusInstalled] != 1 || j.Updated == nil || !j.Updated.Equal(t0.Add(time.Second)) {
					t.Fatalf("job %+v", j)
				}
				if d.Licenses[stored.ID].State != LicenseInstalled || d.Devices[sw2].SoftwareVersion != "12.2(55)SE" {
					t.Fatal("license state or device record not committed with the results")
				}
				wantAudit(t, d, "device/"+sw2, "software (none) -> 12.2(55)SE")
			}},
		{name: "leader change: claim 2", typ: CmdJobClaim, payload: jobClaim{ID: "j-inst", Runner: "n2", Epoch: 2},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				wantAudit(t, d, "job/j-inst", "node n2 resumes the job from node n1 with 1 of 2 targets left")
			}},
		{name: "old runner's results refused", typ: CmdJobResults, payload: jobResults{ID: "j-inst", Epoch: 1,
			Results: []JobResult{{Target: sw1, OK: true}}}, wantCode: "conflict", wantMsg: "superseded"},
		{name: "a target keeps its first result", typ: CmdJobResults, payload: jobResults{ID: "j-inst", Epoch: 2,
			Results: []JobResult{{Target: sw2, Status: StatusTimeout}, {Target: sw1, Status: StatusRefused, Reason: "storage full"}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				j := job(d, "j-inst")
				if j.Done != 1 || j.Failed != 1 || len(j.Results) != 2 || j.Results[0].Status != StatusInstalled {
					t.Fatalf("job %+v", j)
				}
			}},
		{name: "old runner cannot finish", typ: CmdJobFinish, payload: jobFinish{ID: "j-inst", Epoch: 1, State: JobDone}, wantCode: "conflict"},
		{name: "retry while running", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-retry", Tenant: "acme", RetryOf: "j-inst"}},
			wantCode: "conflict", wantMsg: "still running"},
		{name: "finish", typ: CmdJobFinish, payload: jobFinish{ID: "j-inst", Epoch: 2, State: JobDone}},
		{name: "claim a finished job", typ: CmdJobClaim, payload: jobClaim{ID: "j-inst", Runner: "n3", Epoch: 3}, wantCode: "conflict", wantMsg: "already done"},
		{name: "retry the failed targets", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-retry", Tenant: "acme", RetryOf: "j-inst"}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				j := job(d, "j-retry")
				if j.Kind != JobInstall || !slices.Equal(j.Params.Targets, []string{sw1}) || j.Params.PAKs[0] != "PAK00000001" || j.Params.All {
					t.Fatalf("retry job %+v", j)
				}
			}},
		{name: "retry of another tenant's job", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "j-retry2", Tenant: "globex", RetryOf: "j-inst"}},
			wantCode: "not_found"},

		{name: "policy", typ: CmdPolicyPut, payload: policyPut{Policy: Policy{Name: "gold", Tenant: "acme", Feature: "ipservices", Type: "permanent",
			PAKs: []string{"PAK00000001"}, Devices: DeviceFilter{Family: "3750e"}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if p := d.Policies["acme/gold"]; p == nil || p.Created != t0 {
					t.Fatalf("policy %+v", p)
				}
				wantAudit(t, d, "policy/gold", "ipservices permanent from PAK PAK00000001 for devices family 3750e, deploy")
			}},
		{name: "policy with another tenant's PAK", typ: CmdPolicyPut, payload: policyPut{Policy: Policy{Name: "x", Tenant: "globex",
			Feature: "ipservices", PAKs: []string{"PAK00000001"}}}, wantCode: "not_found"},
		{name: "policy delete", typ: CmdPolicyDelete, payload: policyDelete{Tenant: "acme", Name: "gold"}},
		{name: "policy delete again", typ: CmdPolicyDelete, payload: policyDelete{Tenant: "acme", Name: "gold"}, wantCode: "not_found"},
	})
}

// TestStateJobsTrimmed: beyond maxJobs jobs the oldest finished ones are
// dropped, running ones never; a snapshot restore rebuilds the per-job
// index of targets with results.
func TestStateJobsTrimmed(t *testing.T) {
	s := NewState()
	i := uint64(1)
	apply := func(typ string, p any) {
		t.Helper()
		if res := applyStep(t, s, i, step{typ: typ, payload: p, at: time.Duration(i) * time.Millisecond}); res.Error != nil {
			t.Fatal(res.Error)
		}
		i++
	}
	apply(CmdTenantCreate, tenantCreate{Name: "acme"})
	apply(CmdJobCreate, jobCreate{Job: Job{ID: "keep-running", Tenant: "acme", Kind: JobDiscover, Params: JobParams{Targets: []string{"a", "b"}}}})
	apply(CmdJobResults, jobResults{ID: "keep-running", Results: []JobResult{{Target: "a", OK: true}}})
	for n := 0; n < maxJobs+maxJobs/10; n++ {
		id := fmt.Sprintf("j%05d", n)
		apply(CmdJobCreate, jobCreate{Job: Job{ID: id, Tenant: "acme", Kind: JobDiscover, Params: JobParams{Targets: []string{"x"}}}})
		apply(CmdJobFinish, jobFinish{ID: id, State: JobDone})
	}
	s.read(func(d *stateData) {
		if len(d.Jobs) > maxJobs+1 || d.Jobs["keep-running"] == nil || d.Jobs["j00000"] != nil || d.Jobs[fmt.Sprintf("j%05d", maxJobs+maxJobs/10-1)] == nil {
			t.Fatalf("%d jobs kept; running kept %v, oldest dropped %v", len(d.Jobs), d.Jobs["keep-running"] != nil, d.Jobs["j00000"] == nil)
		}
	})
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewState()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	r.read(func(d *stateData) {
		if _, ok := d.jobDone["keep-running"]["a"]; !ok || len(d.jobDone["keep-running"]) != 1 {
			t.Fatalf("restored index %v", d.jobDone["keep-running"])
		}
	})
}
