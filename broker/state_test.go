package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// step is one command of a state machine scenario and what it must yield.
type step struct {
	name    string
	typ     string
	actor   string
	at      time.Duration // after t0
	payload any
	// wantCode is the business error code expected ("" for success);
	// wantMsg a part of its message.
	wantCode, wantMsg string
	check             func(t *testing.T, d *stateData, data json.RawMessage)
}

func applyStep(t *testing.T, s *State, index uint64, st step) Result {
	t.Helper()
	actor := st.actor
	if actor == "" {
		actor = "admin:tok-test"
	}
	raw, err := newCommand(st.typ, actor, t0.Add(st.at), st.payload)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(s.Apply(index, raw), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// runSteps applies a scenario in order, as the log would.
func runSteps(t *testing.T, s *State, steps []step) {
	t.Helper()
	for i, st := range steps {
		ok := t.Run(fmt.Sprintf("%02d_%s", i, st.name), func(t *testing.T) {
			res := applyStep(t, s, uint64(i+1), st)
			switch {
			case st.wantCode == "" && res.Error != nil:
				t.Fatalf("%s: unexpected error %s: %s", st.typ, res.Error.Code, res.Error.Message)
			case st.wantCode != "" && res.Error == nil:
				t.Fatalf("%s: succeeded, want error %s", st.typ, st.wantCode)
			case st.wantCode != "" && (res.Error.Code != st.wantCode || !strings.Contains(res.Error.Message, st.wantMsg)):
				t.Fatalf("%s: error %s %q, want %s containing %q", st.typ, res.Error.Code, res.Error.Message, st.wantCode, st.wantMsg)
			}
			if st.check != nil {
				s.read(func(d *stateData) { st.check(t, d, res.Data) })
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

func dev(tenant, udi, family, level string) Device {
	pid, sn, _ := strings.Cut(udi, ":")
	return Device{UDI: udi, PID: pid, Serial: sn, Tenant: tenant, Address: "127.9.0.1:830", Family: family,
		Levels: familyLevels[family], ActiveLevel: level, NextBootLevel: level, LastSeen: t0}
}

func lic(id, udi, feature, typ string) License {
	return License{ID: id, UDI: udi, Feature: feature, Type: typ, IssuedAt: t0, File: []byte("<signed/>")}
}

const (
	sw1 = "WS-C3750E-24TD-S:FDO1307R0W9"
	sw2 = "WS-C3750E-24TD-S:FDO1307R0WA"
	sw3 = "WS-C3750E-24TD-S:FDO1307R0WB"
	sw4 = "WS-C3560E-24TD-S:FDO1307R0WC"
	rt1 = "CISCO881-K9:FTX1234A0BC"
)

func pak(tenant, id string, lines ...PAKLine) pakAdd {
	return pakAdd{PAK: PAK{ID: id, Tenant: tenant, Lines: lines}}
}

func line(feature, typ string, qty int, fams ...string) PAKLine {
	l := PAKLine{Feature: feature, Type: typ, Quantity: qty, Families: fams}
	if typ == "extension" {
		l.Days = 30
	}
	return l
}

func wantAudit(t *testing.T, d *stateData, object, change string) {
	t.Helper()
	for i := d.Audit.len() - 1; i >= 0; i-- {
		if e := d.Audit.at(i).entry(true); e.Object == object && strings.Contains(e.Change, change) {
			return
		}
	}
	t.Fatalf("no audit entry for %s containing %q; last: %+v", object, change, d.Audit.at(d.Audit.len()-1).entry(true))
}

// TestStateCommands walks every command type through success and failure
// in one log.
func TestStateCommands(t *testing.T) {
	s := NewState()
	runSteps(t, s, []step{
		{name: "tenant", typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) { wantAudit(t, d, "tenant/acme", "created") }},
		{name: "tenant2", typ: CmdTenantCreate, payload: tenantCreate{Name: "globex"}},
		{name: "tenant dup", typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}, wantCode: "conflict", wantMsg: "already exists"},
		{name: "token", typ: CmdTokenCreate, payload: tokenCreate{Token: Token{ID: "tok-1", Hash: "h1", Role: RoleOperator, Tenant: "acme"}},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if d.Tokens["h1"] == nil || d.Tokens["h1"].Created != t0 {
					t.Fatalf("token not stored with command time: %+v", d.Tokens["h1"])
				}
				if bytes.Contains(data, []byte("h1")) {
					t.Fatalf("token result shows the hash: %s", data)
				}
			}},
		{name: "token bad tenant", typ: CmdTokenCreate, payload: tokenCreate{Token: Token{ID: "tok-2", Hash: "h2", Role: RoleViewer, Tenant: "nope"}}, wantCode: "not_found"},
		{name: "token admin with tenant", typ: CmdTokenCreate, payload: tokenCreate{Token: Token{ID: "tok-3", Hash: "h3", Role: RoleAdmin, Tenant: "acme"}}, wantCode: "bad_request"},
		{name: "token revoke", typ: CmdTokenRevoke, payload: tokenRevoke{ID: "tok-1"},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if len(d.Tokens) != 0 {
					t.Fatal("token not revoked")
				}
				wantAudit(t, d, "token/tok-1", "revoked")
			}},
		{name: "token revoke unknown", typ: CmdTokenRevoke, payload: tokenRevoke{ID: "tok-1"}, wantCode: "not_found"},
		{name: "credential", typ: CmdCredentialPut, payload: credentialPut{Credential: Credential{Name: "default", Tenant: "acme", Username: "admin", Sealed: []byte("xx")}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) { wantAudit(t, d, "credential/default", "added") }},
		{name: "credential bad tenant", typ: CmdCredentialPut, payload: credentialPut{Credential: Credential{Name: "x", Tenant: "nope"}}, wantCode: "not_found"},
		{name: "devices", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase"), dev("acme", sw2, "3750e", "ipbase"), dev("globex", rt1, "880", "advsecurity")}},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if string(data) != `{"added":3,"changed":0,"unchanged":0}` {
					t.Fatalf("upsert result %s", data)
				}
				wantAudit(t, d, "device/"+sw1, "discovered")
			}},
		{name: "devices changed and foreign", typ: CmdDevicesUpsert, at: time.Hour, payload: devicesUpsert{Devices: func() []Device {
			a := dev("acme", sw1, "3750e", "ipservices")
			a.LastSeen = t0.Add(time.Hour)
			a.Licenses = []DeviceLicense{{ID: "L1", Feature: "ipservices", Type: "permanent", State: "inUse"}}
			b := dev("acme", sw2, "3750e", "ipbase")
			b.LastSeen = t0.Add(time.Hour)
			return []Device{a, b, dev("acme", rt1, "880", "advsecurity")}
		}()},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if string(data) != `{"added":0,"changed":1,"unchanged":1,"conflicts":["`+rt1+`"]}` {
					t.Fatalf("upsert result %s", data)
				}
				if d.Devices[rt1].Tenant != "globex" {
					t.Fatal("a device moved tenant")
				}
				wantAudit(t, d, "device/"+sw1, "active level ipbase -> ipservices")
				wantAudit(t, d, "device/"+sw1, "license L1 (ipservices permanent) added")
			}},
		{name: "devices unknown tenant", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("nope", sw3, "3750e", "ipbase")}}, wantCode: "not_found"},
		{name: "groups", typ: CmdDeviceGroups, payload: deviceGroups{Tenant: "acme", UDIs: []string{sw1, sw2}, Add: []string{"core", "lab"}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if fmt.Sprint(d.Devices[sw1].Groups) != "[core lab]" {
					t.Fatalf("groups %v", d.Devices[sw1].Groups)
				}
			}},
		{name: "groups remove", typ: CmdDeviceGroups, payload: deviceGroups{Tenant: "acme", UDIs: []string{sw2}, Remove: []string{"lab"}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if fmt.Sprint(d.Devices[sw2].Groups) != "[core]" || fmt.Sprint(d.Devices[sw1].Groups) != "[core lab]" {
					t.Fatalf("groups %v %v", d.Devices[sw1].Groups, d.Devices[sw2].Groups)
				}
				wantAudit(t, d, "device/"+sw2, "groups [core lab] -> [core]")
			}},
		{name: "groups kept by upsert", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw2, "3750e", "ipbase")}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if fmt.Sprint(d.Devices[sw2].Groups) != "[core]" {
					t.Fatalf("upsert dropped groups: %v", d.Devices[sw2].Groups)
				}
			}},
		{name: "groups other tenant", typ: CmdDeviceGroups, payload: deviceGroups{Tenant: "acme", UDIs: []string{sw1, rt1}, Add: []string{"x"}}, wantCode: "not_found", wantMsg: rt1,
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if fmt.Sprint(d.Devices[sw1].Groups) != "[core lab]" {
					t.Fatal("a failed group change was half applied")
				}
			}},
		{name: "pak", typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 2, "3750e"), line("ipservices", "extension", 1, "3750e")),
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				wantAudit(t, d, "pak/PAK00000001", "added line 2: 1 x ipservices extension")
			}},
		{name: "pak dup", typ: CmdPAKAdd, payload: pak("globex", "PAK00000001", line("advipservices", "permanent", 1, "880")), wantCode: "conflict", wantMsg: "already registered"},
		{name: "pak no lines", typ: CmdPAKAdd, payload: pak("acme", "PAK00000002"), wantCode: "bad_request"},
		{name: "pak zero qty", typ: CmdPAKAdd, payload: pak("acme", "PAK00000002", line("ipservices", "permanent", 0, "3750e")), wantCode: "bad_request"},
		{name: "pak globex", typ: CmdPAKAdd, payload: pak("globex", "PAK00000003", line("advipservices", "permanent", 5, "880"))},
		{name: "redeem", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: lic("LA", sw1, "ipservices", "permanent")},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if d.PAKs["PAK00000001"].Lines[0].Used != 1 || d.Licenses["LA"].State != LicenseIssued || d.Licenses["LA"].Tenant != "acme" {
					t.Fatalf("after redeem: %+v %+v", d.PAKs["PAK00000001"].Lines[0], d.Licenses["LA"])
				}
				wantAudit(t, d, "license/LA", "redeemed PAK PAK00000001 line 1 (1 of 2 used)")
			}},
		{name: "redeem again same device", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: lic("LB", sw1, "ipservices", "permanent")},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				var r redeemResult
				json.Unmarshal(data, &r)
				if !r.Existing || r.License.ID != "LA" || d.PAKs["PAK00000001"].Lines[0].Used != 1 || d.Licenses["LB"] != nil {
					t.Fatalf("second redemption spent again: %+v used %d", r, d.PAKs["PAK00000001"].Lines[0].Used)
				}
			}},
		{name: "extension covered by permanent", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 1, License: lic("LC", sw1, "ipservices", "extension")},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if d.PAKs["PAK00000001"].Lines[1].Used != 0 {
					t.Fatal("an extension was spent on a device with a permanent license")
				}
			}},
		{name: "redeem last unit", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: lic("LD", sw2, "ipservices", "permanent")}},
		{name: "redeem exhausted", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: lic("LE", sw3, "ipservices", "permanent")},
			wantCode: "not_found", wantMsg: "device " + sw3},
		{name: "device sw3", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw3, "3750e", "ipbase"), dev("acme", sw4, "3560e", "ipbase")}}},
		{name: "redeem exhausted known", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: lic("LE", sw3, "ipservices", "permanent")},
			wantCode: "pak_exhausted", wantMsg: "used up: 2 of 2 redeemed",
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if d.Licenses["LE"] != nil || d.PAKs["PAK00000001"].Lines[0].Used != 2 {
					t.Fatal("an exhausted PAK was spent")
				}
			}},
		{name: "redeem other tenant's PAK", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000003", Line: 0, License: lic("LF", sw3, "advipservices", "permanent")}, wantCode: "not_found", wantMsg: "PAK PAK00000003"},
		{name: "redeem other tenant's device", typ: CmdRedeem, payload: redeem{Tenant: "globex", PAK: "PAK00000003", Line: 0, License: lic("LF", sw3, "advipservices", "permanent")}, wantCode: "not_found", wantMsg: "device"},
		{name: "redeem extension", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 1, License: lic("LF", sw3, "ipservices", "extension")}},
		{name: "redeem wrong family", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 1, License: lic("LF2", sw4, "ipservices", "extension")},
			wantCode: "not_eligible", wantMsg: "family 3560e"},
		{name: "redeem wrong feature", typ: CmdRedeem, payload: redeem{Tenant: "globex", PAK: "PAK00000003", Line: 0, License: lic("LG", rt1, "advsecurity", "permanent")}, wantCode: "bad_request", wantMsg: "does not match"},
		{name: "redeem bad line", typ: CmdRedeem, payload: redeem{Tenant: "globex", PAK: "PAK00000003", Line: 4, License: lic("LG", rt1, "advipservices", "permanent")}, wantCode: "bad_request", wantMsg: "no line 5"},
		{name: "install", typ: CmdLicenseState, payload: licenseState{ID: "LA", State: LicenseInstalled, What: "installed on " + sw1},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				l := d.Licenses["LA"]
				if l.State != LicenseInstalled || len(l.History) != 2 || l.History[1].What != "installed on "+sw1 {
					t.Fatalf("license after install: %+v", l)
				}
			}},
		{name: "install again is a no-op", typ: CmdLicenseState, payload: licenseState{ID: "LA", State: LicenseInstalled, What: "again"},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if len(d.Licenses["LA"].History) != 2 {
					t.Fatal("a repeated install added history")
				}
			}},
		{name: "revoke other tenant", typ: CmdLicenseState, payload: licenseState{Tenant: "globex", ID: "LA", State: LicenseRevoked, What: "x"}, wantCode: "not_found"},
		{name: "revoke", typ: CmdLicenseState, payload: licenseState{Tenant: "acme", ID: "LA", State: LicenseRevoked, What: "revoked: stolen"}},
		{name: "revoked cannot install", typ: CmdLicenseState, payload: licenseState{ID: "LA", State: LicenseInstalled, What: "x"}, wantCode: "conflict", wantMsg: "is revoked"},
		{name: "redeem after revoke spends", typ: CmdPAKAdd, payload: pak("acme", "PAK00000004", line("ipservices", "permanent", 1, "3750e"))},
		{name: "redeem after revoke", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000004", Line: 0, License: lic("LH", sw1, "ipservices", "permanent")},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				var r redeemResult
				json.Unmarshal(data, &r)
				if r.Existing || r.License.ID != "LH" {
					t.Fatalf("a revoked license still covered the device: %+v", r)
				}
			}},
		{name: "spare", typ: CmdSpareAdd, payload: spareAdd{Spare: Spare{UDI: "WS-C3750E-24TD-S:FDO1307R0WS", PID: "WS-C3750E-24TD-S", Family: "3750e"},
			Licenses: []License{lic("LS", "WS-C3750E-24TD-S:FDO1307R0WS", "ipservices", "permanent")}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if d.Spares["WS-C3750E-24TD-S:FDO1307R0WS"].State != SpareStocked || d.Licenses["LS"].Tenant != "" {
					t.Fatal("spare not stocked in the depot")
				}
			}},
		{name: "spare in service", typ: CmdSpareAdd, payload: spareAdd{Spare: Spare{UDI: sw1}}, wantCode: "conflict", wantMsg: "in service"},
		{name: "spare wrong license", typ: CmdSpareAdd, payload: spareAdd{Spare: Spare{UDI: "WS-C3750E-24TD-S:FDO1307R0WT"}, Licenses: []License{lic("LT", sw1, "ipservices", "permanent")}}, wantCode: "bad_request"},
		{name: "assign", typ: CmdSpareAssign, payload: spareAssign{UDI: "WS-C3750E-24TD-S:FDO1307R0WS", Tenant: "acme", Replaces: sw2, RMA: "RMA123"},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				sp := d.Spares["WS-C3750E-24TD-S:FDO1307R0WS"]
				if sp.State != SpareAssigned || sp.Tenant != "acme" || d.Licenses["LS"].Tenant != "acme" {
					t.Fatalf("spare after assign: %+v", sp)
				}
				wantAudit(t, d, "spare/WS-C3750E-24TD-S:FDO1307R0WS", "replacement for "+sw2)
			}},
		{name: "assign again", typ: CmdSpareAssign, payload: spareAssign{UDI: "WS-C3750E-24TD-S:FDO1307R0WS", Tenant: "acme", Replaces: sw2}},
		{name: "assign elsewhere", typ: CmdSpareAssign, payload: spareAssign{UDI: "WS-C3750E-24TD-S:FDO1307R0WS", Tenant: "globex"}, wantCode: "conflict"},
		{name: "assign unknown", typ: CmdSpareAssign, payload: spareAssign{UDI: sw3, Tenant: "acme"}, wantCode: "not_found"},
		{name: "job", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "job-1", Tenant: "acme", Kind: JobInstall, Params: JobParams{Targets: []string{sw1, sw2}}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if j := d.Jobs["job-1"]; j.State != JobRunning || j.Total != 2 || j.Created != t0 {
					t.Fatalf("job %+v", j)
				}
			}},
		{name: "job dup", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "job-1", Tenant: "acme"}}, wantCode: "conflict"},
		{name: "job results", typ: CmdJobResults, payload: jobResults{ID: "job-1", Results: []JobResult{{Target: sw1, OK: true}, {Target: sw2, Status: "unreachable"}}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if j := d.Jobs["job-1"]; j.Done != 1 || j.Failed != 1 || len(j.Results) != 2 {
					t.Fatalf("job %+v", j)
				}
			}},
		{name: "job finish", typ: CmdJobFinish, at: time.Minute, payload: jobFinish{ID: "job-1", State: JobDone},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if j := d.Jobs["job-1"]; j.State != JobDone || !j.Finished.Equal(t0.Add(time.Minute)) {
					t.Fatalf("job %+v", j)
				}
			}},
		{name: "job cancel finished", typ: CmdJobCancel, payload: jobCancel{ID: "job-1"}, wantCode: "conflict", wantMsg: "already done"},
		{name: "job2", typ: CmdJobCreate, payload: jobCreate{Job: Job{ID: "job-2", Tenant: "acme", Kind: JobDiscover}}},
		{name: "job cancel other tenant", typ: CmdJobCancel, payload: jobCancel{Tenant: "globex", ID: "job-2"}, wantCode: "not_found"},
		{name: "job cancel", typ: CmdJobCancel, payload: jobCancel{Tenant: "acme", ID: "job-2"}},
		{name: "job finish after cancel keeps cancelled", typ: CmdJobFinish, payload: jobFinish{ID: "job-2", State: JobDone},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				if d.Jobs["job-2"].State != JobCancelled {
					t.Fatal("a cancelled job became done")
				}
			}},
	})
}

// TestRedeemRaceInLogOrder: many requests for the last units of a line,
// proposed concurrently, are decided by log order — the first ones win, the
// rest are refused, and never more than the quantity is spent.
func TestRedeemRaceInLogOrder(t *testing.T) {
	s := NewState()
	steps := []step{
		{typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}},
		{typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 3, "3750e"))},
	}
	var devs []Device
	for i := 0; i < 10; i++ {
		devs = append(devs, dev("acme", fmt.Sprintf("WS-C3750E-24TD-S:FDO1307R%03d", i), "3750e", "ipbase"))
	}
	steps = append(steps, step{typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: devs}})
	for i, st := range steps {
		if res := applyStep(t, s, uint64(i+1), st); res.Error != nil {
			t.Fatal(res.Error)
		}
	}
	// Interleave: each device asks twice, in an order a racing cluster
	// could produce.
	order := []int{4, 7, 4, 1, 9, 7, 2, 1, 0, 4}
	var won []string
	for i, k := range order {
		res := applyStep(t, s, uint64(10+i), step{typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001",
			License: lic(fmt.Sprintf("L%02d", i), devs[k].UDI, "ipservices", "permanent")}})
		if res.Error != nil {
			if res.Error.Code != "pak_exhausted" {
				t.Fatalf("request %d: %v", i, res.Error)
			}
			continue
		}
		var r redeemResult
		json.Unmarshal(res.Data, &r)
		if !r.Existing {
			won = append(won, devs[k].UDI)
		}
	}
	want := []string{devs[4].UDI, devs[7].UDI, devs[1].UDI}
	if fmt.Sprint(won) != fmt.Sprint(want) {
		t.Fatalf("winners %v, want the first three distinct devices in log order %v", won, want)
	}
	s.read(func(d *stateData) {
		if u := d.PAKs["PAK00000001"].Lines[0].Used; u != 3 || len(d.Licenses) != 3 {
			t.Fatalf("used %d, licenses %d", u, len(d.Licenses))
		}
	})
}

// TestIdempotencyKeys: claim, replay, mismatch, in-progress, lease expiry,
// release on 5xx, TTL and the size bound.
func TestIdempotencyKeys(t *testing.T) {
	s := NewState()
	outcome := func(at time.Duration, key, hash string) idemOutcome {
		t.Helper()
		res := applyStep(t, s, 1, step{typ: CmdIdemBegin, at: at, payload: idemBegin{Key: key, Hash: hash}})
		var o idemOutcome
		json.Unmarshal(res.Data, &o)
		return o
	}
	end := func(at time.Duration, key, hash string, status int, body string) {
		applyStep(t, s, 1, step{typ: CmdIdemEnd, at: at, payload: idemEnd{Key: key, Hash: hash, Status: status, Body: []byte(body)}})
	}
	if o := outcome(0, "tok/a", "h"); o.Outcome != idemProceed {
		t.Fatalf("first claim: %+v", o)
	}
	if o := outcome(time.Second, "tok/a", "h"); o.Outcome != idemInProgress {
		t.Fatalf("concurrent claim: %+v", o)
	}
	end(2*time.Second, "tok/a", "h", 201, `{"ok":1}`)
	if o := outcome(3*time.Second, "tok/a", "h"); o.Outcome != idemReplay || o.Status != 201 || string(o.Body) != `{"ok":1}` {
		t.Fatalf("replay: %+v", o)
	}
	if o := outcome(3*time.Second, "tok/a", "other"); o.Outcome != idemMismatch {
		t.Fatalf("mismatch: %+v", o)
	}
	// A 5xx releases the key.
	outcome(0, "tok/b", "h")
	end(time.Second, "tok/b", "h", 503, `{}`)
	if o := outcome(2*time.Second, "tok/b", "h"); o.Outcome != idemProceed {
		t.Fatalf("after 5xx: %+v", o)
	}
	// A claim older than the lease can be taken over.
	if o := outcome(2*time.Second+idemLease, "tok/b", "h"); o.Outcome != idemProceed {
		t.Fatalf("stale claim: %+v", o)
	}
	// Entries expire after the TTL.
	if o := outcome(idemTTL+time.Hour, "tok/a", "h"); o.Outcome != idemProceed {
		t.Fatalf("after TTL: %+v", o)
	}
	// The table is bounded.
	for i := 0; i < maxIdemKeys+50; i++ {
		outcome(idemTTL+2*time.Hour, fmt.Sprintf("tok/k%d", i), "h")
	}
	s.read(func(d *stateData) {
		if len(d.Idem) > maxIdemKeys+1 || len(d.IdemOrder) > maxIdemKeys+1 {
			t.Fatalf("idempotency table holds %d keys (order %d), bound %d", len(d.Idem), len(d.IdemOrder), maxIdemKeys)
		}
		if _, ok := d.Idem["tok/k0"]; ok {
			t.Fatal("the oldest key was not evicted")
		}
	})
}

// TestAuditBounded: the audit log keeps the newest maxAudit entries and
// numbers entries without gaps.
func TestAuditBounded(t *testing.T) {
	s := NewState()
	applyStep(t, s, 1, step{typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}})
	a := &applier{d: &s.d, c: &Command{Type: "test", Time: t0}}
	for i := 0; i < maxAudit+maxAudit/10+5; i++ {
		a.audit("acme", "x", "%d", i)
	}
	if n := s.d.Audit.len(); n > maxAudit+maxAudit/10 || n < maxAudit {
		t.Fatalf("audit holds %d entries", n)
	}
	first, last := s.d.Audit.at(0).entry(true), s.d.Audit.at(s.d.Audit.len()-1).entry(true)
	if last.Seq != s.d.AuditSeq || first.Seq != last.Seq-uint64(s.d.Audit.len())+1 {
		t.Fatalf("audit sequence has gaps: first %d last %d len %d", first.Seq, last.Seq, s.d.Audit.len())
	}
	for i := range s.d.Audit.len() {
		if e := s.d.Audit.at(i).entry(true); e.Seq != first.Seq+uint64(i) || e.Change != fmt.Sprint(e.Seq-2) {
			t.Fatalf("audit entry %d is %+v", i, e)
		}
	}
}

// TestStateDeterministicAndSnapshot: two replicas applying the same log
// end byte-identical; a snapshot restored mid-log continues identically.
func TestStateDeterministicAndSnapshot(t *testing.T) {
	var log [][]byte
	add := func(typ string, at time.Duration, p any) {
		raw, _ := newCommand(typ, "admin:tok-x", t0.Add(at), p)
		log = append(log, raw)
	}
	add(CmdTenantCreate, 0, tenantCreate{Name: "acme"})
	add(CmdDevicesUpsert, 0, devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase"), dev("acme", sw2, "3750e", "ipbase")}})
	add(CmdPAKAdd, 0, pak("acme", "PAK00000001", line("ipservices", "permanent", 1, "3750e")))
	add(CmdIdemBegin, 0, idemBegin{Key: "k", Hash: "h"})
	add(CmdRedeem, time.Second, redeem{Tenant: "acme", PAK: "PAK00000001", License: lic("LA", sw1, "ipservices", "permanent")})
	add(CmdRedeem, time.Second, redeem{Tenant: "acme", PAK: "PAK00000001", License: lic("LB", sw2, "ipservices", "permanent")})
	add(CmdLicenseState, 2*time.Second, licenseState{ID: "LA", State: LicenseInstalled, What: "installed"})
	add(CmdDeviceGroups, 3*time.Second, deviceGroups{UDIs: []string{sw1}, Add: []string{"g"}})

	run := func(s *State, from int) [][]byte {
		var out [][]byte
		for i := from; i < len(log); i++ {
			out = append(out, s.Apply(uint64(i+1), log[i]))
		}
		return out
	}
	snap := func(s *State) []byte {
		w, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w(&b)
		return b.Bytes()
	}
	a, b := NewState(), NewState()
	ra, rb := run(a, 0), run(b, 0)
	if fmt.Sprint(ra) != fmt.Sprint(rb) || !bytes.Equal(snap(a), snap(b)) {
		t.Fatal("two replicas diverged")
	}
	// Restore from a snapshot taken after four commands, then continue.
	c := NewState()
	for i := 0; i < 4; i++ {
		c.Apply(uint64(i+1), log[i])
	}
	d := NewState()
	if err := d.Restore(bytes.NewReader(snap(c))); err != nil {
		t.Fatal(err)
	}
	rd := run(d, 4)
	if fmt.Sprint(rd) != fmt.Sprint(ra[4:]) || !bytes.Equal(snap(d), snap(a)) {
		t.Fatalf("a restored replica diverged:\n%s\n%s", rd, ra[4:])
	}
	// The derived index was rebuilt: LB lost to the exhausted PAK, so sw1 is
	// covered and a repeat on the restored replica spends nothing.
	var res Result
	raw, _ := newCommand(CmdRedeem, "x", t0, redeem{Tenant: "acme", PAK: "PAK00000001", License: lic("LC", sw1, "ipservices", "permanent")})
	json.Unmarshal(d.Apply(99, raw), &res)
	if res.Error != nil || !strings.Contains(string(res.Data), `"existing":true`) {
		t.Fatalf("after restore: %s %v", res.Data, res.Error)
	}
}

// TestUndecodableCommandPanics: a log entry that is not a command is a bug.
func TestUndecodableCommandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewState().Apply(1, []byte("not json"))
}
