package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// redeemPayloads are license.redeem payloads that exercise every field
// of the binary encoding and every escape of the JSON result.
func redeemPayloads() []redeem {
	exp := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	zero := time.Time{}
	return []redeem{
		{Tenant: DefaultTenant, PAK: "PAK00000001", License: License{ID: "lic-1", UDI: sw1, Feature: "ipservices", Type: "permanent", IssuedAt: t0}},
		{Tenant: "acme", PAK: "PAK00000002", Line: 1, License: License{ID: "lic-2", Tenant: "acme", UDI: sw2, PAK: "PAK00000002", Line: 1,
			Feature: "advipservices", Type: "extension", State: LicenseIssued, IssuedAt: t0.Add(time.Nanosecond), Expires: &exp,
			RehostedTo: "lic-9", RehostedFrom: "lic-0", File: []byte("<licenseFile>\x00\xff</licenseFile>"),
			History: []Event{{Time: t0, Actor: "admin:tok-1", What: "first"}, {Time: exp, Actor: "", What: "second <&> \"quoted\""}},
			Updated: exp}},
		{Tenant: "ténant\u2028", PAK: "P<&>", Line: -3, License: License{ID: "l\"\\\n\t\x01", UDI: "\xff\xfe", Feature: "f", Type: "t",
			IssuedAt: zero, Expires: &zero, History: []Event{{What: "日本語"}}}},
		{},
	}
}

// The binary encoding of license.redeem carries exactly what the JSON one
// does.
func TestRedeemBinaryRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	for i, p := range redeemPayloads() {
		raw := encodeRedeem("operator:tok-1", now, &p)
		var c Command
		decodeBinary(raw, &c, nil)
		if c.Type != CmdRedeem || !c.Time.Equal(now) || c.Actor != "operator:tok-1" || c.redeem == nil {
			t.Fatalf("payload %d: envelope %+v", i, c)
		}
		want, _ := json.Marshal(p)
		got, _ := json.Marshal(*c.redeem)
		if !bytes.Equal(got, want) {
			t.Errorf("payload %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// Times travel as instants and come back in UTC.
	p := redeem{License: License{IssuedAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))}}
	var c Command
	decodeBinary(encodeRedeem("a", now, &p), &c, nil)
	if l := c.redeem.License.IssuedAt; !l.Equal(p.License.IssuedAt) || l.Location() != time.UTC {
		t.Fatalf("issued_at %v, want %v in UTC", l, p.License.IssuedAt)
	}
}

// A malformed binary command is a bug: it panics with a clear message
// rather than applying something else.
func TestRedeemBinaryMalformedPanics(t *testing.T) {
	p := redeemPayloads()[1]
	raw := encodeRedeem("operator:tok-1", t0, &p)
	for name, bad := range map[string][]byte{
		"truncated": raw[:len(raw)-3],
		"trailing":  append(append([]byte(nil), raw...), 0),
		"code":      append([]byte{cmdBinaryV1, 99}, raw[2:]...),
		"empty":     {cmdBinaryV1},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "broker: undecodable binary command") {
					t.Errorf("%s: recovered %v", name, r)
				}
			}()
			NewState().Apply(1, bad)
		}()
	}
}

// A log written with JSON redeem commands (before the binary encoding)
// applies exactly as the same log in the binary encoding: same results,
// same state, through Apply and ApplyBatch.
func TestRedeemJSONAndBinaryLogsAgree(t *testing.T) {
	var jsonLog, binLog [][]byte
	add := func(typ string, p any) {
		j, err := newJSONCommand(typ, "admin:tok-1", t0, p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := newCommand(typ, "admin:tok-1", t0, p)
		jsonLog, binLog = append(jsonLog, j), append(binLog, b)
	}
	add(CmdTenantCreate, tenantCreate{Name: "acme"})
	add(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase"), dev("acme", sw2, "3750e", "ipbase"),
		dev("acme", sw3, "3750e", "ipbase")}})
	add(CmdPAKAdd, pak("acme", "PAK00000001", line("ipservices", "permanent", 2, "3750e"), line("ipservices", "extension", 5, "3750e")))
	for _, r := range []redeem{
		{Tenant: "acme", PAK: "PAK00000001", License: lic("LA", sw1, "ipservices", "permanent")},
		{Tenant: "acme", PAK: "PAK00000001", License: lic("LB", sw1, "ipservices", "permanent")}, // existing
		{Tenant: "acme", PAK: "PAK00000001", License: lic("LC", sw2, "ipservices", "permanent")},
		{Tenant: "acme", PAK: "PAK00000001", License: lic("LD", sw3, "ipservices", "permanent")}, // exhausted
		{Tenant: "acme", PAK: "PAK00000001", Line: 1, License: func() License {
			l := lic("LE", sw3, "ipservices", "extension")
			e := t0.Add(30 * 24 * time.Hour)
			l.Expires = &e
			return l
		}()},
		{Tenant: "other", PAK: "PAK00000001", License: lic("LF", sw3, "ipservices", "permanent")}, // not found
		{Tenant: "acme", PAK: "PAK00000001", Line: 7, License: lic("LG", sw3, "ipservices", "permanent")},
	} {
		add(CmdRedeem, r)
	}
	if bytes.Equal(jsonLog[4], binLog[4]) || jsonLog[4][0] != '{' || binLog[4][0] != cmdBinaryV1 {
		t.Fatal("the two logs do not use the two encodings")
	}
	type run struct {
		name string
		log  [][]byte
		f    func(s *State, i int, cmd []byte) []byte
	}
	apply := func(s *State, i int, cmd []byte) []byte { return s.Apply(uint64(i+1), cmd) }
	batch := func(s *State, i int, cmd []byte) []byte { return s.ApplyBatch(uint64(i+1), [][]byte{cmd}, true)[0] }
	var first []byte
	var firstRes [][]byte
	for _, r := range []run{{"json/apply", jsonLog, apply}, {"binary/apply", binLog, apply}, {"json/batch", jsonLog, batch}, {"binary/batch", binLog, batch}} {
		s := NewState()
		var res [][]byte
		for i, c := range r.log {
			res = append(res, r.f(s, i, c))
		}
		snap := snapshotBytes(t, s)
		if first == nil {
			first, firstRes = snap, res
			continue
		}
		for i := range res {
			if !bytes.Equal(res[i], firstRes[i]) {
				t.Errorf("%s: result %d\n got %s\nwant %s", r.name, i, res[i], firstRes[i])
			}
		}
		if !bytes.Equal(snap, first) {
			t.Fatalf("%s: state differs:\n got %s\nwant %s", r.name, snap, first)
		}
	}
	for _, w := range []string{`"existing":true`, "pak_exhausted", `"id":"LE"`, `"expires_at":"2026-03-31T10:00:00Z"`} {
		if !bytes.Contains(bytes.Join(firstRes, nil), []byte(w)) {
			t.Fatalf("no result contains %s: the test does not cover it", w)
		}
	}
}

func snapshotBytes(t *testing.T, s *State) []byte {
	t.Helper()
	w, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The result of a redemption is encoded without encoding/json, into the
// same bytes.
func TestRedeemResultMatchesEncodingJSON(t *testing.T) {
	for i, p := range redeemPayloads() {
		for _, existing := range []bool{false, true} {
			data, err := json.Marshal(redeemResult{License: p.License, Existing: existing})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(Result{Data: data})
			if got := appendRedeemResult(nil, &p.License, existing); !bytes.Equal(got, want) {
				t.Errorf("payload %d existing=%v:\n got %s\nwant %s", i, existing, got, want)
			}
		}
	}
}

// A redemption's audit entry, kept compact and formatted when read, reads
// as it always did, also after a snapshot and restore.
func TestRedeemAuditEntry(t *testing.T) {
	s := NewState()
	runSteps(t, s, []step{
		{name: "tenant", typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}},
		{name: "devices", typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase")}}},
		{name: "pak", typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 3, "3750e"))},
		{name: "redeem", typ: CmdRedeem, actor: "operator:tok-7", at: time.Minute,
			payload: redeem{Tenant: "acme", PAK: "PAK00000001", License: lic("LA", sw1, "ipservices", "permanent")}},
	})
	want := AuditEntry{Seq: 4, Index: 4, Time: t0.Add(time.Minute), Actor: "operator:tok-7", Tenant: "acme", Action: CmdRedeem,
		Object: "license/LA", Change: "redeemed PAK PAK00000001 line 1 (1 of 3 used) for " + sw1 + ": ipservices permanent"}
	b := &Broker{state: s}
	check := func(name string, b *Broker) {
		got, _ := b.Audit(AuditFilter{Action: CmdRedeem, Limit: 1})
		if len(got) != 1 || got[0] != want {
			t.Fatalf("%s: audit %+v\nwant %+v", name, got, want)
		}
		for _, f := range []AuditFilter{{Object: "license/LA", Action: CmdRedeem}, {Object: "LA", Actor: "tok-7"}, {Action: "license.redeem"}, {Actor: "tok-7"}, {Tenant: "acme", Action: CmdRedeem}} {
			if got, _ := b.Audit(f); len(got) == 0 || got[0] != want {
				t.Fatalf("%s: filter %+v found %+v", name, f, got)
			}
		}
		if got, _ := b.Audit(AuditFilter{Object: "license/LB"}); len(got) != 0 {
			t.Fatalf("%s: filter license/LB found %+v", name, got)
		}
	}
	check("applied", b)
	// Later changes to the license do not change its redemption's entry.
	runSteps(t, s, []step{{name: "revoke", typ: CmdLicenseState, at: 2 * time.Minute,
		payload: licenseState{ID: "LA", State: LicenseRevoked, What: "revoked"}}})
	if got, _ := b.Audit(AuditFilter{Action: CmdRedeem}); len(got) != 1 || got[0] != want {
		t.Fatalf("after a revoke: %+v", got)
	}
	r := NewState()
	if err := r.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	check("restored", &Broker{state: r})
	if a, b := snapshotBytes(t, s), snapshotBytes(t, r); !bytes.Equal(a, b) {
		t.Fatalf("restored state writes another snapshot:\n%s\n%s", a, b)
	}
}

// A snapshot is the state at the moment Snapshot was called, though the
// audit log is written later, while commands go on being applied (and
// the log is trimmed).
func TestSnapshotWhileApplying(t *testing.T) {
	n := maxAudit/10 + 3*auditChunkLen
	s := NewState()
	for i, c := range benchSetup(n, t0) {
		s.Apply(uint64(i+1), c)
	}
	recs := makeRecords(n)
	// Fill the audit log to just below the trim.
	a := &applier{d: &s.d, c: &Command{Type: "test", Time: t0}}
	for s.d.Audit.len() < maxAudit+maxAudit/10-n/2 {
		a.audit("", "x", "filler")
	}
	for i := range n / 2 {
		s.Apply(uint64(1000+i), recs[i])
	}
	want := snapshotBytes(t, s)
	write, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := n / 2; i < n; i++ {
			s.ApplyBatch(uint64(1000+i), recs[i:i+1], false)
		}
	}()
	var got bytes.Buffer
	if err := write(&got); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if s.d.Audit.len() >= maxAudit+maxAudit/10-n/2+n {
		t.Fatal("the audit log was not trimmed: the test does not cover it")
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("snapshot changed while it was written (%d bytes, want %d)", got.Len(), len(want))
	}
	r := NewState()
	if err := r.Restore(bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, r), want) {
		t.Fatal("snapshot does not round-trip")
	}
}

// A snapshot written before the audit log moved to the end of the state
// (and before records were kept compact) restores, and writes the same
// entries back.
func TestRestoreSnapshotWithAuditInTheMiddle(t *testing.T) {
	old := `{"index":7,"tenants":{"acme":{"name":"acme","created":"2026-03-01T10:00:00Z"}},"devices":{},"paks":{},` +
		`"licenses":{},"spares":{},"jobs":{},"credentials":{},"tokens":{},"policies":{},"rehosts":{},"host_keys":{},` +
		`"evaluations":{},"idempotency":{},"idempotency_order":null,` +
		`"audit":[{"seq":1,"index":1,"time":"2026-03-01T10:00:00Z","actor":"admin:tok-1","tenant":"acme","action":"tenant.create","object":"tenant/acme","change":"created tenant acme"},` +
		`{"seq":2,"index":7,"time":"2026-03-01T10:01:00Z","actor":"operator:tok-7","tenant":"acme","action":"license.redeem","object":"license/LA","change":"redeemed PAK PAK00000001 line 1 (1 of 3 used) for ` + sw1 + `: ipservices permanent"}],` +
		`"audit_seq":2}`
	s := NewState()
	if err := s.ValidateSnapshot(strings.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(strings.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	got, _ := (&Broker{state: s}).Audit(AuditFilter{})
	if len(got) != 2 || got[0].Change != "redeemed PAK PAK00000001 line 1 (1 of 3 used) for "+sw1+": ipservices permanent" ||
		got[1].Object != "tenant/acme" || got[0].Time != t0.Add(time.Minute) {
		t.Fatalf("restored audit: %+v", got)
	}
	var d struct {
		Audit    []AuditEntry `json:"audit"`
		AuditSeq uint64       `json:"audit_seq"`
		Index    uint64       `json:"index"`
	}
	if err := json.Unmarshal(snapshotBytes(t, s), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Audit) != 2 || d.Audit[1] != got[0] || d.Audit[0] != got[1] || d.AuditSeq != 2 || d.Index != 7 {
		t.Fatalf("snapshot of the restored state: %+v", d)
	}
}

// recordingStore remembers the commands proposed through it.
type recordingStore struct {
	Store
	mu   sync.Mutex
	cmds [][]byte
}

func (r *recordingStore) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
	return r.Store.Apply(ctx, cmd)
}

// A redemption is proposed in the binary encoding, or as JSON with
// Config.JSONCommands (for a rolling upgrade); either way it is recorded
// the same.
func TestRedeemProposedEncoding(t *testing.T) {
	e := newEnv(t)
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev(DefaultTenant, sw1, "3750e", "ipbase"),
		dev(DefaultTenant, sw2, "3750e", "ipbase")}}, nil)
	ctx := context.Background()
	p, err := e.b.AddPAK(ctx, "t", DefaultTenant, PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		json  bool
		udi   string
		first byte
	}{{false, sw1, cmdBinaryV1}, {true, sw2, '{'}} {
		rec := &recordingStore{Store: e.store}
		cfg := e.config()
		cfg.JSONCommands = c.json
		b, err := New(cfg, rec, e.state)
		if err != nil {
			t.Fatal(err)
		}
		l, err := b.obtain(ctx, "operator:tok-1", DefaultTenant, p, 0, e.device(c.udi))
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.cmds) != 1 || rec.cmds[0][0] != c.first {
			t.Fatalf("JSONCommands=%v: proposed %d commands, first byte %q", c.json, len(rec.cmds), rec.cmds[0][0])
		}
		got, err := e.b.License("", l.ID)
		if err != nil || got.UDI != c.udi || got.State != LicenseIssued || len(got.File) == 0 || !bytes.Equal(got.File, l.File) ||
			len(got.History) != 1 || got.History[0].What != "issued from PAK PAK00000001 line 1" {
			t.Fatalf("JSONCommands=%v: recorded %+v, %v", c.json, got, err)
		}
	}
}

// The binary command and the hand-written JSON result name each field of
// redeem, License and Event. The fullest payload must set every one of
// them, so that a field added to those structs fails the round-trip and
// result tests above until both encoders carry it.
func TestRedeemPayloadsSetEveryField(t *testing.T) {
	full := redeemPayloads()[1]
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		for i := range v.NumField() {
			f, ft := v.Field(i), v.Type().Field(i)
			if !ft.IsExported() {
				continue
			}
			if f.IsZero() {
				t.Errorf("%s.%s is zero in the fullest payload: set it (and encode it in encodeRedeem, decodeBinary and appendLicenseJSON)", path, ft.Name)
			}
			switch {
			case f.Kind() == reflect.Struct && ft.Type != reflect.TypeOf(time.Time{}):
				check(path+"."+ft.Name, f)
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct && f.Len() > 0:
				check(path+"."+ft.Name+"[0]", f.Index(0))
			}
		}
	}
	check("redeem", reflect.ValueOf(full))
}
