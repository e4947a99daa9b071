package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func extLic(id, udi, feature string, ends time.Time) License {
	l := lic(id, udi, feature, "extension")
	l.Expires = &ends
	return l
}

func newLic(id, udi, from string, src License) License {
	l := lic(id, udi, src.Feature, src.Type)
	l.Expires, l.RehostedFrom = src.Expires, from
	return l
}

// rehostLog is a log that licenses sw1 (permanent and extension), rehosts
// it to sw2, installs, attaches an RMA and tracks an evaluation.
func rehostLog() []step {
	ends := t0.Add(30 * 24 * time.Hour)
	perm, ext := lic("LP1", sw1, "ipservices", "permanent"), extLic("LE1", sw1, "advipservices", ends)
	evDev := dev("acme", sw3, "3750e", "ipbase")
	evDev.Licenses = []DeviceLicense{{Feature: "ipservices", Type: "evaluation", State: "notInUse", ExpiresAt: ptime(t0.Add(60 * 24 * time.Hour))}}
	evDev.NextBootLevel = "ipservices"
	key := HostKeyApproval{Address: "127.9.0.1:830", Key: "AAAAC3NzaC1lZDI1NTE5AAAAIA==", Fingerprint: "SHA256:new", Previous: "SHA256:old"}
	return []step{
		{name: "tenant", typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}},
		{name: "tenant2", typ: CmdTenantCreate, payload: tenantCreate{Name: "globex"}},
		{name: "devices", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipservices"), dev("acme", sw4, "3560e", "ipbase")}}},
		{name: "pak", typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 5, "3750e"), line("advipservices", "extension", 5, "3750e"))},
		{name: "redeem perm", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 0, License: perm}},
		{name: "redeem ext", typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", Line: 1, License: ext}},
		{name: "another tenant's scope", typ: CmdRehostCreate, payload: rehostCreate{Tenant: "globex", Failed: sw1, Replacement: sw2},
			wantCode: "not_found", wantMsg: "device " + sw1 + " not found"},
		{name: "wrong family", typ: CmdRehostCreate, payload: rehostCreate{Failed: sw1, Replacement: rt1},
			wantCode: "not_eligible", wantMsg: "family 880"},
		{name: "proposal misses a license", typ: CmdRehostCreate, at: time.Minute,
			payload:  rehostCreate{Failed: sw1, Replacement: sw2, Licenses: []License{newLic("LN1", sw2, "LP1", perm)}},
			wantCode: "changed", wantMsg: "run it again"},
		{name: "proposal with another end date", typ: CmdRehostCreate, at: time.Minute,
			payload: rehostCreate{Failed: sw1, Replacement: sw2, Licenses: []License{newLic("LN1", sw2, "LP1", perm),
				newLic("LN2", sw2, "LE1", extLic("x", sw2, "advipservices", ends.Add(time.Hour)))}},
			wantCode: "changed"},
		{name: "rehost", typ: CmdRehostCreate, at: time.Minute, actor: "operator:tok-op",
			payload: rehostCreate{Tenant: "acme", Failed: sw1, Replacement: sw2, Licenses: []License{newLic("LN1", sw2, "LP1", perm), newLic("LN2", sw2, "LE1", ext)}},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				var out rehostCreated
				json.Unmarshal(data, &out)
				if out.Existing || len(out.Rehost.Licenses) != 2 || d.Devices[sw1].ReplacedBy != sw2 {
					t.Fatalf("rehost: %s", data)
				}
				for from, to := range map[string]string{"LP1": "LN1", "LE1": "LN2"} {
					f, n := d.Licenses[from], d.Licenses[to]
					if f.State != LicenseRehosted || f.RehostedTo != to || n.State != LicenseIssued || n.Tenant != "acme" || n.PAK != "PAK00000001" {
						t.Fatalf("%s -> %s: %+v %+v", from, to, f, n)
					}
				}
				if d.Licenses["LN2"].Line != 1 || d.PAKs["PAK00000001"].Lines[0].Used != 1 || d.PAKs["PAK00000001"].Lines[1].Used != 1 {
					t.Fatal("rehost spent PAK units or lost the line")
				}
				wantAudit(t, d, "rehost/"+sw1, "2 licenses (0 preloaded, 2 regenerated)")
			}},
		{name: "again, nothing changes", typ: CmdRehostCreate, at: time.Hour,
			payload: rehostCreate{Failed: sw1, Replacement: sw2, Licenses: []License{newLic("LX1", sw2, "LP1", perm)}},
			check: func(t *testing.T, d *stateData, data json.RawMessage) {
				if _, ok := d.Licenses["LX1"]; ok || len(d.Licenses) != 4 || !bytes.Contains(data, []byte(`"existing":true`)) {
					t.Fatalf("repeat: %s", data)
				}
			}},
		{name: "another replacement", typ: CmdRehostCreate, payload: rehostCreate{Failed: sw1, Replacement: sw3},
			wantCode: "conflict", wantMsg: "already rehosted to " + sw2},
		{name: "a failed 3560-E takes no 3750-E", typ: CmdRehostCreate,
			payload: rehostCreate{Failed: sw4, Replacement: sw2}, wantCode: "not_eligible", wantMsg: "family 3750e"},
		{name: "RMA", typ: CmdRehostRMA, payload: rehostRMA{Failed: sw1, RMA: "RMA1"}},
		{name: "RMA again", typ: CmdRehostRMA, payload: rehostRMA{Failed: sw1, RMA: "RMA1"}},
		{name: "another RMA", typ: CmdRehostRMA, payload: rehostRMA{Failed: sw1, RMA: "RMA2"}, wantCode: "conflict", wantMsg: "already has RMA RMA1"},
		{name: "RMA of no rehost", typ: CmdRehostRMA, payload: rehostRMA{Failed: sw4, RMA: "RMA3"}, wantCode: "not_found", wantMsg: "has not been rehosted"},
		{name: "installed: a foreign license", typ: CmdRehostInstalled, payload: rehostInstalled{Failed: sw1, Installed: []string{"LP1"}},
			wantCode: "bad_request", wantMsg: "not one of the rehost's licenses"},
		{name: "installed", typ: CmdRehostInstalled, at: 2 * time.Hour, payload: rehostInstalled{Failed: sw1, Installed: []string{"LN1", "LN2"}, HostKey: &key},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				rh := d.Rehosts[sw1]
				if rh.Installed == nil || rh.HostKey == nil || d.HostKeys[key.Address].Key != key.Key || d.HostKeys[key.Address].UDI != sw2 ||
					d.Licenses["LN1"].State != LicenseInstalled {
					t.Fatalf("installed: %+v", rh)
				}
				wantAudit(t, d, "rehost/"+sw1, "accepted new SSH host key SHA256:new at 127.9.0.1:830 for replacement "+sw2+" (was SHA256:old)")
			}},
		{name: "evaluation found by a read", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{evDev}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				ev := d.Evaluations[evalKey(sw3, "ipservices")]
				if ev == nil || ev.State != "notInUse" || ev.Origin != EvaluationFound || !ev.EndsAt.Equal(t0.Add(60*24*time.Hour)) {
					t.Fatalf("evaluation: %+v", ev)
				}
			}},
		{name: "activation of no evaluation", typ: CmdEvaluationActivate,
			payload: evaluationActivate{Feature: "advipservices", Device: evDev}, wantCode: "device_error", wantMsg: "does not report an activated evaluation"},
		{name: "activation", typ: CmdEvaluationActivate, at: 3 * time.Hour, actor: "operator:tok-op",
			payload: evaluationActivate{Tenant: "acme", Feature: "ipservices", Device: evDev},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				ev := d.Evaluations[evalKey(sw3, "ipservices")]
				if ev.ActivatedBy != "operator:tok-op" || ev.Origin != EvaluationActivated || len(ev.History) != 2 {
					t.Fatalf("activated: %+v", ev)
				}
			}},
		{name: "expired: the end date is kept", typ: CmdDevicesUpsert, at: 4 * time.Hour, payload: devicesUpsert{Devices: []Device{func() Device {
			d := evDev
			d.Licenses = []DeviceLicense{{Feature: "ipservices", Type: "evaluation", State: "expiredInUse"}}
			return d
		}()}},
			check: func(t *testing.T, d *stateData, _ json.RawMessage) {
				ev := d.Evaluations[evalKey(sw3, "ipservices")]
				if ev.State != "expiredInUse" || ev.EndsAt == nil || !ev.EndsAt.Equal(t0.Add(60*24*time.Hour)) {
					t.Fatalf("expired: %+v", ev)
				}
			}},
	}
}

// TestRehostStateMachine walks rehost and evaluation commands through
// success and refusal in one log.
func TestRehostStateMachine(t *testing.T) {
	runSteps(t, NewState(), rehostLog())
}

// TestRehostDeterministicAndSnapshot: replicas applying the rehost log end
// byte-identical, and a replica restored mid-log continues identically.
func TestRehostDeterministicAndSnapshot(t *testing.T) {
	var log [][]byte
	for _, st := range rehostLog() {
		actor := st.actor
		if actor == "" {
			actor = "admin:tok-x"
		}
		raw, _ := newCommand(st.typ, actor, t0.Add(st.at), st.payload)
		log = append(log, raw)
	}
	run := func(s *State, from int) []string {
		var out []string
		for i := from; i < len(log); i++ {
			out = append(out, string(s.Apply(uint64(i+1), log[i])))
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
	ra := run(a, 0)
	if fmt.Sprint(ra) != fmt.Sprint(run(b, 0)) || !bytes.Equal(snap(a), snap(b)) {
		t.Fatal("two replicas diverged")
	}
	const mid = 11 // after the rehost
	c := NewState()
	for i := 0; i < mid; i++ {
		c.Apply(uint64(i+1), log[i])
	}
	d := NewState()
	if err := d.Restore(bytes.NewReader(snap(c))); err != nil {
		t.Fatal(err)
	}
	if rd := run(d, mid); fmt.Sprint(rd) != fmt.Sprint(ra[mid:]) || !bytes.Equal(snap(d), snap(a)) {
		t.Fatal("a restored replica diverged")
	}
	if d.d.Rehosts[sw1] == nil || len(d.d.HostKeys) != 1 || len(d.d.Evaluations) != 1 {
		t.Fatal("restored replica lost rehosts, host keys or evaluations")
	}
}
