package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestAPIBadInput: every kind of bad request gets a clear 4xx naming the
// problem, and changes nothing.
func TestAPIBadInput(t *testing.T) {
	e := newEnv(t)
	e.b.CreateTenant(context.Background(), "t", "acme")
	op := e.token("acme", RoleOperator)
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase")}}, nil)
	seqBefore := func() uint64 {
		var n uint64
		e.state.read(func(d *stateData) { n = d.AuditSeq })
		return n
	}
	before := seqBefore()
	big := `{"id":"PAK00000001","feature":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	cases := []struct {
		name   string
		q      req
		status int
		code   string
		msg    string
	}{
		{"bad JSON", req{method: "POST", path: "/v1/paks", body: `{"id": "PAK00000001",`}, 400, "bad_request", "invalid JSON body"},
		{"not JSON", req{method: "POST", path: "/v1/paks", body: `id=PAK00000001`}, 400, "bad_request", "invalid JSON body at byte 1"},
		{"empty body", req{method: "POST", path: "/v1/paks", body: ``}, 400, "bad_request", "request body is empty"},
		{"two values", req{method: "POST", path: "/v1/paks", body: `{"id":"PAK00000001"} {}`}, 400, "bad_request", "more than one value"},
		{"unknown field", req{method: "POST", path: "/v1/paks", body: `{"id":"PAK00000001","feature":"ipservices","quantity":1,"colour":"red"}`}, 400, "bad_request", `unknown field "colour"`},
		{"wrong type", req{method: "POST", path: "/v1/paks", body: `{"id":"PAK00000001","feature":"ipservices","quantity":"five"}`}, 400, "bad_request", `field "quantity" must be int`},
		{"oversize body", req{method: "POST", path: "/v1/paks", body: big}, 413, "too_large", "exceeds 1048576 bytes"},
		{"oversize with key", req{method: "POST", path: "/v1/paks", body: big, header: map[string]string{HeaderIdempotencyKey: "k1"}}, 413, "too_large", "exceeds"},
		{"wrong content type", req{method: "POST", path: "/v1/paks", body: `{}`, header: map[string]string{"Content-Type": "text/xml"}}, 415, "unsupported_media_type", "not JSON"},
		{"short PAK id", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK1", Feature: "ipservices", Quantity: 1}}, 400, "bad_request", `invalid PAK id "PAK1": want 11 letters or digits, not 4`},
		{"PAK id character", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK0000000-", Feature: "ipservices", Quantity: 1}}, 400, "bad_request", "character '-' at position 11"},
		{"PAK id in path", req{method: "GET", path: "/v1/paks/PAK%2F..%2F1"}, 400, "bad_request", "invalid PAK id"},
		{"PAK unknown feature", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Feature: "turbo", Quantity: 1}}, 400, "bad_request", `feature "turbo" is not a licensable level`},
		{"PAK base level", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Feature: "ipbase", Quantity: 1, Families: []string{"3750e"}}}, 400, "bad_request", "not a licensable level of family 3750e"},
		{"PAK quantity", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: -1}}, 400, "bad_request", "quantity -1"},
		{"PAK extension days", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Feature: "ipservices", Type: "extension", Quantity: 1}}, 400, "bad_request", "needs --days"},
		{"PAK both forms", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: 1, Lines: []PAKLineRequest{{Feature: "ipservices", Quantity: 1}}}}, 400, "bad_request", "not both"},
		{"PAK duplicate lines", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Lines: []PAKLineRequest{{Feature: "ipservices", Quantity: 1}, {Feature: "ipservices", Quantity: 2}}}}, 400, "bad_request", "lines 1 and 2 both sell"},
		{"PAK bad line", req{method: "POST", path: "/v1/paks", body: PAKRequest{ID: "PAK00000001", Lines: []PAKLineRequest{{Feature: "ipservices", Quantity: 1}, {Feature: "ipservices", Type: "demo", Quantity: 2}}}}, 400, "bad_request", `line 2: license type "demo"`},
		{"UDI without colon", req{method: "GET", path: "/v1/devices/nocolon"}, 400, "bad_request", `invalid UDI "nocolon": want PID:SN`},
		{"UDI bad character", req{method: "GET", path: "/v1/devices/WS-C3750E:FDO%20X"}, 400, "bad_request", "invalid UDI"},
		{"install bad UDI", req{method: "POST", path: "/v1/licenses/install", body: InstallRequest{PAK: "PAK00000009", Devices: []string{"x"}}}, 404, "not_found", "PAK PAK00000009 not found"},
		{"groups bad name", req{method: "POST", path: "/v1/devices/" + sw1 + "/groups", body: GroupsRequest{Add: []string{"a b"}}}, 400, "bad_request", "invalid character"},
		{"groups nothing", req{method: "POST", path: "/v1/devices/" + sw1 + "/groups", body: GroupsRequest{}}, 400, "bad_request", "nothing to do"},
		{"license id", req{method: "GET", path: "/v1/licenses/..%2F..%2Fetc%2Fpasswd/file"}, 400, "bad_request", "invalid license id"},
		{"license id short", req{method: "POST", path: "/v1/licenses/L123/revoke"}, 400, "bad_request", "invalid license id"},
		{"limit", req{method: "GET", path: "/v1/devices?limit=0"}, 400, "bad_request", "invalid limit"},
		{"limit big", req{method: "GET", path: "/v1/devices?limit=100000"}, 400, "bad_request", "from 1 to 1000"},
		{"cursor", req{method: "GET", path: "/v1/devices?cursor=!!!"}, 400, "bad_request", "invalid cursor"},
		{"consistency", req{method: "GET", path: "/v1/devices?consistency=eventual"}, 400, "bad_request", "invalid consistency"},
		{"stale write", req{method: "POST", path: "/v1/paks?consistency=stale", body: `{}`}, 400, "bad_request", "reads only"},
		{"report name", req{method: "GET", path: "/v1/reports/..%2F..%2Fetc%2Fpasswd"}, 404, "not_found", "no report"},
		{"report format", req{method: "GET", path: "/v1/reports/summary?format=xml"}, 400, "bad_request", "unknown format"},
		{"report window", req{method: "GET", path: "/v1/reports/expiring?within=soon"}, 400, "bad_request", "invalid window"},
		{"report window zero", req{method: "GET", path: "/v1/reports/expiring?within=0d"}, 400, "bad_request", "more than zero"},
		{"audit since", req{method: "GET", path: "/v1/audit?since=yesterday"}, 400, "bad_request", "RFC 3339"},
		{"audit cursor", req{method: "GET", path: "/v1/audit?cursor=abc"}, 400, "bad_request", "invalid cursor"},
		{"idempotency key", req{method: "POST", path: "/v1/paks", body: `{}`, header: map[string]string{HeaderIdempotencyKey: "a b"}}, 400, "bad_request", "not printable ASCII"},
		{"credential both", req{method: "POST", path: "/v1/credentials", body: CredentialRequest{Name: "x", Username: "u", Password: "p", Key: "k"}}, 400, "bad_request", "exactly one"},
		{"credential bad key", req{method: "POST", path: "/v1/credentials", body: CredentialRequest{Name: "x", Username: "u", Key: "not a key"}}, 400, "bad_request", "not a usable"},
		{"discover CIDR", req{method: "POST", path: "/v1/discover", body: DiscoverRequest{Targets: []string{"10.0.0.0/33"}}}, 400, "bad_request", "invalid CIDR"},
		{"discover too big", req{method: "POST", path: "/v1/discover", body: DiscoverRequest{Targets: []string{"10.0.0.0/8"}}}, 400, "bad_request", "more than the limit"},
		{"discover port", req{method: "POST", path: "/v1/discover", body: DiscoverRequest{Targets: []string{"10.0.0.1"}, Port: 70000}}, 400, "bad_request", "out of range"},
		{"discover concurrency", req{method: "POST", path: "/v1/discover", body: DiscoverRequest{Targets: []string{"10.0.0.1"}, Concurrency: 5000}}, 400, "bad_request", "concurrency 5000 must be between 1 and 2048"},
		{"discover credentials", req{method: "POST", path: "/v1/discover", body: DiscoverRequest{Targets: []string{"10.0.0.1"}, Credentials: "nope"}}, 404, "not_found", `credential profile "nope" does not exist`},
		{"install no PAK", req{method: "POST", path: "/v1/licenses/install", body: InstallRequest{All: true}}, 400, "bad_request", "no PAK given"},
		{"refresh nothing", req{method: "POST", path: "/v1/refresh", body: RefreshRequest{}}, 400, "bad_request", "no device given"},
		{"refresh both", req{method: "POST", path: "/v1/refresh", body: RefreshRequest{Devices: []string{sw1}, All: true}}, 400, "bad_request", "give either devices or a selection"},
		{"refresh family", req{method: "POST", path: "/v1/refresh", body: RefreshRequest{Family: "9999"}}, 400, "bad_request", `unknown family "9999"`},
		{"refresh group", req{method: "POST", path: "/v1/refresh", body: RefreshRequest{Group: "a b"}}, 400, "bad_request", "group name"},
		{"refresh unknown device", req{method: "POST", path: "/v1/refresh", body: RefreshRequest{Devices: []string{sw2}}}, 404, "not_found", "device " + sw2 + " not found"},
		{"deploy nothing stored", req{method: "POST", path: "/v1/licenses/deploy", body: DeployRequest{All: true}}, 422, "not_eligible", "has licenses waiting in inventory"},
		{"policy type", req{method: "POST", path: "/v1/policies", body: PolicyRequest{Name: "p", Feature: "ipservices", Type: "demo"}}, 400, "bad_request", `license type "demo"`},
		{"policy feature", req{method: "POST", path: "/v1/policies", body: PolicyRequest{Name: "p", Feature: "turbo"}}, 400, "bad_request", "not a licensable level"},
		{"policy name", req{method: "POST", path: "/v1/policies", body: PolicyRequest{Name: "a b", Feature: "ipservices"}}, 400, "bad_request", "policy name"},
		{"policy PAK", req{method: "POST", path: "/v1/policies", body: PolicyRequest{Name: "p", Feature: "ipservices", PAKs: []string{"PAK0000000X"}}}, 404, "not_found", "PAK PAK0000000X not found"},
		{"job results", req{method: "GET", path: "/v1/jobs/job-x?results=some"}, 400, "bad_request", `invalid results "some"`},
		{"job retry", req{method: "POST", path: "/v1/jobs/job-nope/retry"}, 404, "not_found", "job job-nope not found"},
		{"no route", req{method: "GET", path: "/v1/nothing"}, 404, "not_found", "no route GET /v1/nothing"},
		{"wrong method", req{method: "PUT", path: "/v1/devices"}, 405, "method_not_allowed", "allowed: GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.token = op
			r := e.do(c.q)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.code != "" && (r.errCode() != c.code || !strings.Contains(r.errMsg(), c.msg)) {
				t.Fatalf("error %s %q, want %s containing %q", r.errCode(), r.errMsg(), c.code, c.msg)
			}
			if strings.Contains(r.errMsg(), "\n") {
				t.Fatalf("error message has more than one line: %q", r.errMsg())
			}
		})
	}
	if after := seqBefore(); after != before {
		var d []AuditEntry
		e.state.read(func(s *stateData) {
			for i := s.Audit.len() - int(after-before); i < s.Audit.len(); i++ {
				d = append(d, s.Audit.at(i).entry(true))
			}
		})
		t.Fatalf("bad requests changed the state: %+v", d)
	}
	if ks := e.b.PAKs(""); len(ks) != 0 {
		t.Fatalf("a refused PAK was recorded: %+v", ks)
	}
}

// TestAPIIdempotency: a retried write returns the first response and does
// nothing again; a key reused for another request is refused; token
// secrets are never replayed.
func TestAPIIdempotency(t *testing.T) {
	e := newEnv(t)
	key := map[string]string{HeaderIdempotencyKey: "pak-1"}
	body := PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: 3}
	first := e.ok(req{method: "POST", path: "/v1/paks", token: e.admin, body: body, header: key}, 201, nil)
	again := e.ok(req{method: "POST", path: "/v1/paks", token: e.admin, body: body, header: key}, 201, nil)
	if !bytes.Equal(first.body, again.body) || again.header.Get(HeaderReplayed) != "true" || first.header.Get(HeaderReplayed) != "" {
		t.Fatalf("replay differs:\n%s\n%s", first.body, again.body)
	}
	// Without the key the same request conflicts: it did run only once.
	r := e.do(req{method: "POST", path: "/v1/paks", token: e.admin, body: body})
	if r.status != 409 {
		t.Fatalf("unkeyed repeat: %d %s", r.status, r.body)
	}
	body.Quantity = 4
	r = e.do(req{method: "POST", path: "/v1/paks", token: e.admin, body: body, header: key})
	if r.status != 422 || !strings.Contains(r.errMsg(), "different request") {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	// Keys are per token: another admin token may use the same key.
	other, _, _ := e.b.CreateToken(context.Background(), "t", "", RoleAdmin)
	body.ID = "PAK00000002"
	e.ok(req{method: "POST", path: "/v1/paks", token: other, body: body, header: key}, 201, nil)

	// Token creation: the secret is shown once; a retry says so.
	tk := map[string]string{HeaderIdempotencyKey: "tok-1"}
	var created TokenCreated
	e.ok(req{method: "POST", path: "/v1/tokens", token: e.admin, body: TokenRequest{Role: RoleAdmin}, header: tk}, 201, &created)
	r = e.do(req{method: "POST", path: "/v1/tokens", token: e.admin, body: TokenRequest{Role: RoleAdmin}, header: tk})
	if r.status != 409 || !strings.Contains(r.errMsg(), created.ID) || strings.Contains(string(r.body), created.Token) {
		t.Fatalf("token replay: %d %s", r.status, r.body)
	}
	if n := len(e.b.Tokens("")); n != 3 {
		t.Fatalf("%d tokens, want 3", n)
	}
	e.state.read(func(d *stateData) {
		raw, _ := json.Marshal(d)
		if bytes.Contains(raw, []byte(created.Token)) {
			t.Fatal("a token secret is in the replicated state")
		}
	})

	// Concurrent copies of one keyed request: one runs, the others replay
	// or are told it is in progress; the PAK is registered once.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do(req{method: "POST", path: "/v1/paks", token: e.admin, header: map[string]string{HeaderIdempotencyKey: "race"},
				body: PAKRequest{ID: "PAK00000003", Feature: "ipservices", Quantity: 1}}).status
		}()
	}
	wg.Wait()
	created201 := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created201++
		case 409:
		default:
			t.Fatalf("concurrent keyed request answered %d", s)
		}
	}
	if created201 < 1 || len(e.b.PAKs("")) != 3 {
		t.Fatalf("statuses %v, %d PAKs", statuses, len(e.b.PAKs("")))
	}
}

// TestAPIConsistency: reads are linearizable by default; a stale read says
// how old the data may be.
func TestAPIConsistency(t *testing.T) {
	e := newEnv(t)
	r := e.ok(req{method: "GET", path: "/v1/paks", token: e.admin}, 200, nil)
	if r.header.Get(HeaderDataAge) != "" {
		t.Fatal("a strong read carries a data age")
	}
	r = e.ok(req{method: "GET", path: "/v1/paks?consistency=stale", token: e.admin}, 200, nil)
	if r.header.Get(HeaderDataAge) != "0.000" {
		t.Fatalf("stale read on the leader: data age %q", r.header.Get(HeaderDataAge))
	}
	// Without a quorum a strong read fails clearly; a stale one still works.
	e.store.Close()
	r = e.do(req{method: "GET", path: "/v1/paks", token: e.admin})
	if r.status != 503 || !strings.Contains(r.errMsg(), "consistency=stale") {
		t.Fatalf("strong read without quorum: %d %s", r.status, r.body)
	}
	r = e.do(req{method: "GET", path: "/v1/paks?consistency=stale", token: e.admin})
	if r.status != 200 || r.header.Get(HeaderDataAge) == "" {
		t.Fatalf("stale read without quorum: %d %s", r.status, r.body)
	}
}

// TestAPIPagination pages through a list without loss or repeats.
func TestAPIPagination(t *testing.T) {
	e := newEnv(t)
	var devs []Device
	for i := 0; i < 250; i++ {
		devs = append(devs, dev(DefaultTenant, fmt.Sprintf("WS-C3750E-24TD-S:FDO1307%04d", i), "3750e", "ipbase"))
	}
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: devs}, nil)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var pg listResponse[Device]
		e.ok(req{method: "GET", path: "/v1/devices?limit=100&cursor=" + cursor, token: e.admin}, 200, &pg)
		pages++
		if pg.Total != 250 {
			t.Fatalf("total %d", pg.Total)
		}
		for _, d := range pg.Items {
			if seen[d.UDI] {
				t.Fatalf("%s twice", d.UDI)
			}
			seen[d.UDI] = true
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("%d devices in %d pages", len(seen), pages)
	}
	// The audit log pages by sequence number.
	var ap AuditPage
	e.ok(req{method: "GET", path: "/v1/audit?limit=200", token: e.admin}, 200, &ap)
	var ap2 AuditPage
	e.ok(req{method: "GET", path: "/v1/audit?limit=200&cursor=" + ap.NextCursor, token: e.admin}, 200, &ap2)
	if len(ap.Items) != 200 || len(ap2.Items) == 0 || ap2.Items[0].Seq != ap.Items[199].Seq-1 || ap2.NextCursor != "" {
		t.Fatalf("audit pages: %d then %d (cursor %q)", len(ap.Items), len(ap2.Items), ap2.NextCursor)
	}
}

// TestCredentialsEncryptedAtRest: a password never appears in the Raft
// log, the snapshots or any API response.
func TestCredentialsEncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	const secret = "s3cr3t-Passw0rd-xyzzy"
	e.ok(req{method: "POST", path: "/v1/credentials", token: e.admin, body: CredentialRequest{Name: "lab", Username: "admin", Password: secret}}, 201, nil)
	for _, p := range []string{"/v1/credentials", "/v1/audit"} {
		if r := e.ok(req{method: "GET", path: p, token: e.admin}, 200, nil); bytes.Contains(r.body, []byte(secret)) {
			t.Fatalf("%s shows the secret", p)
		}
	}
	write, err := e.state.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	write(&snap)
	if bytes.Contains(snap.Bytes(), []byte(secret)) || !bytes.Contains(snap.Bytes(), []byte(`"lab"`)) {
		t.Fatal("the state snapshot holds the password in clear (or lacks the profile)")
	}
	found := 0
	filepath.Walk(e.dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			found++
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the password in clear", path)
			}
		}
		return nil
	})
	if found < 1 {
		t.Fatalf("only %d files under the data dir", found)
	}
	// The sealed secret still opens: the profile works.
	dl, err := e.b.dialer(DefaultTenant, "lab")
	if err != nil || dl == nil {
		t.Fatal(err)
	}
}

// TestConcurrentRedemptionThroughRaft: twenty devices race for five units
// through the real store; exactly five win and the PAK is never
// over-spent. One device racing with itself is charged once.
func TestConcurrentRedemptionThroughRaft(t *testing.T) {
	e := newEnv(t)
	var devs []Device
	for i := 0; i < 20; i++ {
		devs = append(devs, dev(DefaultTenant, fmt.Sprintf("WS-C3750E-24TD-S:FDO1307%04d", i), "3750e", "ipbase"))
	}
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: devs}, nil)
	ctx := context.Background()
	p, err := e.b.AddPAK(ctx, "t", DefaultTenant, PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: 5})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.b.obtain(ctx, "t", DefaultTenant, p, 0, &devs[i])
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if asAPIError(err).Code != "pak_exhausted" {
			t.Fatal(err)
		}
	}
	k, _ := e.b.PAK("", "PAK00000001")
	if won != 5 || k.Lines[0].Used != 5 || len(e.b.Licenses("")) != 5 {
		t.Fatalf("%d won, used %d, %d licenses", won, k.Lines[0].Used, len(e.b.Licenses("")))
	}

	p2, _ := e.b.AddPAK(ctx, "t", DefaultTenant, PAKRequest{ID: "PAK00000002", Feature: "advipservices", Quantity: 5})
	ids := make([]string, 10)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := e.b.obtain(ctx, "t", DefaultTenant, p2, 0, &devs[19])
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = l.ID
		}()
	}
	wg.Wait()
	k, _ = e.b.PAK("", "PAK00000002")
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("one device got several licenses: %v", ids)
		}
	}
	if k.Lines[0].Used != 1 {
		t.Fatalf("one device was charged %d times", k.Lines[0].Used)
	}
}

// TestMetrics: /metrics serves request counts by route pattern and state
// totals, without tenant names.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.b.CreateTenant(context.Background(), "t", "acme")
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{dev("acme", sw1, "3750e", "ipbase"), dev("acme", sw2, "3750e", "ipbase")}}, nil)
	e.ok(req{method: "POST", path: "/v1/paks", token: e.admin, body: PAKRequest{ID: "PAK00000001", Feature: "ipservices", Quantity: 7}}, 201, nil)
	e.ok(req{method: "GET", path: "/v1/devices/" + sw1, token: e.admin}, 200, nil)
	e.do(req{method: "GET", path: "/v1/devices/nocolon", token: e.admin})
	r := e.ok(req{method: "GET", path: "/metrics"}, 200, nil)
	body := string(r.body)
	for _, want := range []string{
		`licbroker_http_requests_total{code="200",route="GET /v1/devices/{udi}"} 1`,
		`licbroker_http_requests_total{code="400",route="GET /v1/devices/{udi}"} 1`,
		`licbroker_http_requests_total{code="201",route="POST /v1/paks"} 1`,
		"licbroker_devices 2",
		"licbroker_tenants 2",
		`licbroker_pak_units{kind="remaining"} 7`,
		"licbroker_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "acme") || strings.Contains(body, sw1) {
		t.Fatal("/metrics names a tenant or a device")
	}
}
