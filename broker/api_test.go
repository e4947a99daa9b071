package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// world is two tenants with devices, PAKs, licenses, jobs, credentials,
// and an operator and a viewer token each.
type world struct {
	*env
	tokens  map[string]string // "acme/operator" -> secret
	devices map[string][]string
	paks    map[string]string
	lics    map[string]string
	jobs    map[string]string
	spare   string
	markers map[string][]string // identifiers only that tenant may see
	files   map[string]string
	stored  map[string]string // a device with a license kept in inventory
	silent  string            // an address that accepts connections and says nothing
}

var uniq atomic.Int64

func newWorld(t *testing.T) *world {
	e := newEnv(t)
	w := &world{env: e, tokens: map[string]string{}, devices: map[string][]string{}, paks: map[string]string{},
		lics: map[string]string{}, jobs: map[string]string{}, markers: map[string][]string{}, files: map[string]string{},
		stored: map[string]string{}, silent: silentListener(t)}
	ctx := context.Background()
	for _, tn := range []string{"acme", "globex"} {
		if _, err := e.b.CreateTenant(ctx, "admin:test", tn); err != nil {
			t.Fatal(err)
		}
		for _, role := range []string{RoleOperator, RoleViewer} {
			w.tokens[tn+"/"+role] = e.token(tn, role)
		}
		if _, err := e.b.PutCredential(ctx, "admin:test", tn, "default", "admin", []byte("admin"), false); err != nil {
			t.Fatal(err)
		}
	}
	// acme's devices are real simulated devices, discovered over NETCONF.
	_, cidr, port := e.fleet(3)
	f, err := e.b.StartDiscover(ctx, "admin:test", "acme", DiscoverRequest{Targets: []string{strings.TrimSuffix(cidr, "0/24") + "0/29"}, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	j := e.waitJob(f.ID)
	if j.Done != 3 {
		t.Fatalf("discovery: %+v", j)
	}
	w.jobs["acme"] = j.ID
	for _, d := range e.b.Devices("acme") {
		w.devices["acme"] = append(w.devices["acme"], d.UDI)
	}
	// globex's devices are recorded directly.
	g1, g2 := dev("globex", "CISCO881-K9:FTX1301A0GX", "880", "advsecurity"), dev("globex", "CISCO867-K9:FTX1301A0GY", "860", "advsecurity")
	e.propose(CmdDevicesUpsert, devicesUpsert{Devices: []Device{g1, g2}}, nil)
	w.devices["globex"] = []string{g1.UDI, g2.UDI}

	if _, err := e.b.AddPAK(ctx, "admin:test", "acme", PAKRequest{ID: "PAKACME0001", Feature: "ipservices", Quantity: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.AddPAK(ctx, "admin:test", "globex", PAKRequest{ID: "PAKGLOB0001", Feature: "advipservices", Quantity: 100}); err != nil {
		t.Fatal(err)
	}
	w.paks = map[string]string{"acme": "PAKACME0001", "globex": "PAKGLOB0001"}
	for tn, pk := range w.paks {
		p, _ := e.b.PAK(tn, pk)
		var udi string
		for _, u := range w.devices[tn] {
			d, _ := e.b.Device(tn, u)
			if _, ok := pickLine(p, d); ok {
				udi = u
				break
			}
		}
		js, err := e.b.StartInstall(ctx, "admin:test", tn, InstallRequest{PAK: pk, Devices: []string{udi}, StoreOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		jj := e.waitJob(js.ID)
		if jj.Done != 1 {
			t.Fatalf("%s install: %+v", tn, jj)
		}
		w.lics[tn] = jj.Results[0].License
		w.stored[tn] = udi
		if _, err := e.b.PutPolicy(ctx, "admin:test", tn, PolicyRequest{Name: tn + "-pol", Feature: p.Lines[0].Feature}); err != nil {
			t.Fatal(err)
		}
		l, _ := e.b.License(tn, w.lics[tn])
		w.files[tn] = string(l.File)
		if tn == "globex" {
			w.jobs[tn] = jj.ID
		}
	}
	sp, err := e.b.AddSpare(ctx, "admin:test", SpareRequest{UDI: "WS-C3750E-24TD-S:FDO1399S0P1", Features: []string{"ipservices"}})
	if err != nil {
		t.Fatal(err)
	}
	w.spare = sp.UDI
	for _, tn := range []string{"acme", "globex"} {
		w.markers[tn] = append([]string{`"` + tn + `"`, w.paks[tn], w.lics[tn], w.jobs[tn]}, w.devices[tn]...)
	}
	return w
}

// silentListener accepts connections on a random loopback address and never
// answers, until the test ends.
func silentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", randomLoopback()+":0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// principal is a caller of the API in the route matrix.
type principal struct {
	name, token, role, tenant string
	forge                     string // X-Licbroker-Tenant to send
}

// routeCase says how to call one route on an object of owner, and what an
// authorised caller gets.
type routeCase struct {
	path     func(owner string) string
	body     func(owner string) any
	okStatus int
	// cross is the status for an operator or viewer of the other tenant:
	// 404 for ids of another tenant, okStatus where the route acts in the
	// caller's own tenant.
	cross int
}

func (w *world) cases() map[string]routeCase {
	fixed := func(p string) func(string) string { return func(string) string { return p } }
	dev0 := func(o string) string { return w.devices[o][0] }
	n := func() int64 { return uniq.Add(1) }
	return map[string]routeCase{
		"GET /healthz":           {path: fixed("/healthz"), okStatus: 200},
		"GET /readyz":            {path: fixed("/readyz"), okStatus: 200},
		"GET /metrics":           {path: fixed("/metrics"), okStatus: 200},
		"GET /v1/openapi.json":   {path: fixed("/v1/openapi.json"), okStatus: 200},
		"GET /v1/cluster/status": {path: fixed("/v1/cluster/status"), okStatus: 200, cross: 200},
		"GET /v1/whoami":         {path: fixed("/v1/whoami"), okStatus: 200, cross: 200},
		"GET /v1/tenants":        {path: fixed("/v1/tenants"), okStatus: 200},
		"POST /v1/tenants":       {path: fixed("/v1/tenants"), okStatus: 201, body: func(string) any { return TenantRequest{Name: fmt.Sprintf("t%d", n())} }},
		"GET /v1/tenants/{name}": {path: func(o string) string { return "/v1/tenants/" + o }, okStatus: 200, cross: 404},
		"GET /v1/tokens":         {path: fixed("/v1/tokens"), okStatus: 200},
		"POST /v1/tokens":        {path: fixed("/v1/tokens"), okStatus: 201, body: func(o string) any { return TokenRequest{Tenant: o, Role: RoleViewer} }},
		"DELETE /v1/tokens/{id}": {path: func(o string) string {
			_, tk, _ := w.b.CreateToken(context.Background(), "t", o, RoleViewer)
			return "/v1/tokens/" + tk.ID
		}, okStatus: 200},
		"GET /v1/credentials": {path: fixed("/v1/credentials"), okStatus: 200, cross: 200},
		"POST /v1/credentials": {path: fixed("/v1/credentials"), okStatus: 201, cross: 201, body: func(string) any {
			return CredentialRequest{Name: fmt.Sprintf("c%d", n()), Username: "u", Password: "p"}
		}},
		"POST /v1/discover":             {path: fixed("/v1/discover"), okStatus: 202, cross: 202, body: func(string) any { return DiscoverRequest{Targets: []string{"127.3.3.3"}, Port: 1} }},
		"GET /v1/devices":               {path: fixed("/v1/devices"), okStatus: 200, cross: 200},
		"GET /v1/devices/{udi}":         {path: func(o string) string { return "/v1/devices/" + dev0(o) }, okStatus: 200, cross: 404},
		"POST /v1/devices/{udi}/reload": {path: func(o string) string { return "/v1/devices/" + w.devices["acme"][0] + "/reload" }, okStatus: 200, cross: 404},
		"POST /v1/devices/{udi}/groups": {path: func(o string) string { return "/v1/devices/" + dev0(o) + "/groups" }, okStatus: 200, cross: 404, body: func(string) any { return GroupsRequest{Add: []string{"core"}} }},
		"GET /v1/groups":                {path: fixed("/v1/groups"), okStatus: 200, cross: 200},
		"GET /v1/spares":                {path: fixed("/v1/spares"), okStatus: 200},
		"POST /v1/spares": {path: fixed("/v1/spares"), okStatus: 201, body: func(string) any {
			return SpareRequest{UDI: fmt.Sprintf("WS-C3560E-24TD-S:FDO1399S%03d", n()), Features: []string{"ipservices"}}
		}},
		"GET /v1/spares/{udi}":         {path: func(string) string { return "/v1/spares/" + w.spare }, okStatus: 200},
		"POST /v1/spares/{udi}/assign": {path: func(string) string { return "/v1/spares/" + w.spare + "/assign" }, okStatus: 200, body: func(string) any { return AssignRequest{Tenant: "acme"} }},
		"GET /v1/paks":                 {path: fixed("/v1/paks"), okStatus: 200, cross: 200},
		"POST /v1/paks": {path: fixed("/v1/paks"), okStatus: 201, cross: 201, body: func(string) any {
			return PAKRequest{ID: fmt.Sprintf("PAKNEW%05d", n()), Feature: "ipservices", Quantity: 1}
		}},
		"GET /v1/paks/{id}": {path: func(o string) string { return "/v1/paks/" + w.paks[o] }, okStatus: 200, cross: 404},
		"GET /v1/licenses":  {path: fixed("/v1/licenses"), okStatus: 200, cross: 200},
		"POST /v1/licenses/install": {path: fixed("/v1/licenses/install"), okStatus: 202, cross: 404, body: func(o string) any {
			return InstallRequest{PAK: w.paks[o], Devices: []string{w.devices[o][0]}, StoreOnly: true}
		}},
		"POST /v1/licenses/deploy-file": {path: fixed("/v1/licenses/deploy-file"), okStatus: 200, cross: 404, body: func(string) any { return DeployFileRequest{Device: w.devices["acme"][0], File: w.files["acme"]} }},
		"GET /v1/licenses/{id}":         {path: func(o string) string { return "/v1/licenses/" + w.lics[o] }, okStatus: 200, cross: 404},
		"GET /v1/licenses/{id}/file":    {path: func(o string) string { return "/v1/licenses/" + w.lics[o] + "/file" }, okStatus: 200, cross: 404},
		"POST /v1/licenses/{id}/revoke": {path: func(o string) string { return "/v1/licenses/" + w.lics[o] + "/revoke" }, okStatus: 200, cross: 404, body: func(string) any { return RevokeRequest{Reason: "test"} }},
		"GET /v1/jobs":                  {path: fixed("/v1/jobs"), okStatus: 200, cross: 200},
		"GET /v1/jobs/{id}":             {path: func(o string) string { return "/v1/jobs/" + w.jobs[o] }, okStatus: 200, cross: 404},
		"POST /v1/jobs/{id}/cancel": {path: func(o string) string {
			// A discovery of an address that never answers runs for a while.
			id := fmt.Sprintf("job-t%d", n())
			host, port, _ := net.SplitHostPort(w.silent)
			pn, _ := strconv.Atoi(port)
			w.propose(CmdJobCreate, jobCreate{Job: Job{ID: id, Tenant: o, Kind: JobDiscover,
				Params: JobParams{Specs: []string{host}, Port: pn, Credentials: "default"}}}, nil)
			return "/v1/jobs/" + id + "/cancel"
		}, okStatus: 200, cross: 404},
		"POST /v1/jobs/{id}/retry": {path: func(o string) string { return "/v1/jobs/" + w.jobs[o] + "/retry" }, okStatus: 202, cross: 404},
		"POST /v1/refresh": {path: fixed("/v1/refresh"), okStatus: 202, cross: 404, body: func(o string) any {
			return RefreshRequest{Devices: []string{dev0(o)}}
		}},
		"POST /v1/licenses/deploy": {path: fixed("/v1/licenses/deploy"), okStatus: 202, cross: 404, body: func(o string) any {
			return DeployRequest{Devices: []string{w.stored[o]}}
		}},
		"GET /v1/policies": {path: fixed("/v1/policies"), okStatus: 200, cross: 200},
		"POST /v1/policies": {path: fixed("/v1/policies"), okStatus: 201, cross: 201, body: func(string) any {
			return PolicyRequest{Name: fmt.Sprintf("p%d", n()), Feature: "ipservices", Family: "3750e"}
		}},
		"GET /v1/policies/{name}": {path: func(o string) string { return "/v1/policies/" + o + "-pol" }, okStatus: 200, cross: 404},
		"DELETE /v1/policies/{name}": {path: func(o string) string {
			name := fmt.Sprintf("del%d", n())
			if _, err := w.b.PutPolicy(context.Background(), "admin:test", o, PolicyRequest{Name: name, Feature: "ipservices"}); err != nil {
				w.t.Fatal(err)
			}
			return "/v1/policies/" + name
		}, okStatus: 200, cross: 404},
		"GET /v1/reports/{name}": {path: fixed("/v1/reports/summary"), okStatus: 200, cross: 200},
		"GET /v1/audit":          {path: fixed("/v1/audit?limit=1000"), okStatus: 200, cross: 200},
	}
}

// TestAPIRoutesRolesAndTenants calls every route of the API as every kind
// of caller — no token, a bad token, each tenant's operator and viewer, a
// forged tenant header, the admin — on objects of tenant acme, and checks
// the status, that error bodies are {"error":{code,message}}, that no 2xx
// response of one tenant's token shows the other tenant's identifiers, and
// that every response matches the OpenAPI document.
func TestAPIRoutesRolesAndTenants(t *testing.T) {
	w := newWorld(t)
	doc := mustDoc(t, w.api)
	cases := w.cases()
	maps.Copy(cases, w.rehostTempCases())
	principals := []principal{
		{name: "no token"},
		{name: "bad token", token: "lb_nope"},
		{name: "acme operator", token: w.tokens["acme/operator"], role: RoleOperator, tenant: "acme"},
		{name: "acme viewer", token: w.tokens["acme/viewer"], role: RoleViewer, tenant: "acme"},
		{name: "globex operator", token: w.tokens["globex/operator"], role: RoleOperator, tenant: "globex"},
		{name: "globex viewer", token: w.tokens["globex/viewer"], role: RoleViewer, tenant: "globex"},
		{name: "globex operator forging acme", token: w.tokens["globex/operator"], role: RoleOperator, tenant: "globex", forge: "acme"},
		{name: "admin", token: w.admin, role: RoleAdmin, forge: "acme"},
	}
	for _, pat := range w.api.Patterns() {
		if pat == "/" {
			continue
		}
		rc, ok := cases[pat]
		if !ok {
			t.Errorf("route %s has no case in the access matrix", pat)
			continue
		}
		method, _, _ := strings.Cut(pat, " ")
		minRole := routeRole(w.api, pat)
		for _, p := range principals {
			t.Run(pat+"/"+p.name, func(t *testing.T) {
				q := req{method: method, path: rc.path("acme"), token: p.token}
				if rc.body != nil {
					q.body = rc.body("acme")
				}
				if p.forge != "" {
					q.header = map[string]string{HeaderTenant: p.forge}
				}
				want := rc.okStatus
				switch {
				case minRole == "":
				case p.token == "" || p.role == "":
					want = http.StatusUnauthorized
				case roleRank[p.role] < roleRank[minRole]:
					want = http.StatusForbidden
				case p.forge != "" && p.role != RoleAdmin:
					want = http.StatusForbidden
				case p.tenant == "globex":
					want = rc.cross
				}
				r := w.do(q)
				if r.status != want {
					t.Fatalf("%s %s as %s: status %d, want %d: %s", method, q.path, p.name, r.status, want, r.body)
				}
				if r.status >= 400 && (r.errCode() == "" || r.errMsg() == "") {
					t.Fatalf("error without code and message: %s", r.body)
				}
				if r.status < 300 && p.tenant != "" {
					other := "globex"
					if p.tenant == "globex" {
						other = "acme"
					}
					for _, m := range w.markers[other] {
						if strings.Contains(string(r.body), m) {
							t.Fatalf("%s sees %s of tenant %s in %s %s:\n%s", p.name, m, other, method, q.path, r.body)
						}
					}
				}
				validateResponse(t, doc, pat, r)
			})
		}
	}
}

func routeRole(a *API, pattern string) string {
	for _, rt := range a.routes {
		if rt.method+" "+rt.path == pattern {
			return rt.role
		}
	}
	return a.docs[pattern].role
}

func mustDoc(t *testing.T, a *API) *openapi3.T {
	t.Helper()
	doc, err := a.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	return doc
}

// validateResponse checks a response against the operation's documented
// response for its status (or the default error response).
func validateResponse(t *testing.T, doc *openapi3.T, pattern string, r resp) {
	t.Helper()
	method, path, _ := strings.Cut(pattern, " ")
	item := doc.Paths.Find(path)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("%s is not in the OpenAPI document", pattern)
	}
	op := item.GetOperation(method)
	rr := op.Responses.Status(r.status)
	if rr == nil {
		if r.status < 400 {
			t.Fatalf("%s answered %d, which the document does not list", pattern, r.status)
		}
		rr = op.Responses.Default()
	}
	ct := strings.TrimSpace(strings.Split(r.header.Get("Content-Type"), ";")[0])
	mt := rr.Value.Content.Get(ct)
	if mt == nil {
		if ct == "text/plain" && strings.HasPrefix(pattern, "GET /metrics") {
			return
		}
		t.Fatalf("%s answered %d with Content-Type %q, which the document does not list", pattern, r.status, ct)
	}
	if ct != "application/json" {
		return
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %v", pattern, err)
	}
	if err := mt.Schema.Value.VisitJSON(v); err != nil {
		t.Fatalf("%s %d: response does not match the document: %v\n%s", pattern, r.status, err, r.body)
	}
}

// TestOpenAPIMatchesRoutes walks the mux and the document both ways: every
// registered pattern is documented, and every documented operation is
// served by the mux under that exact pattern.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	doc := mustDoc(t, e.api)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, pat := range e.api.Patterns() {
		if pat == "/" {
			continue
		}
		if !documented[pat] {
			t.Errorf("route %s is not in /v1/openapi.json", pat)
		}
	}
	for pat := range documented {
		method, path, _ := strings.Cut(pat, " ")
		concrete := pathParam.ReplaceAllString(path, "X")
		r := httptest.NewRequest(method, concrete, nil)
		if _, got := e.api.mux.Handler(r); got != pat {
			t.Errorf("documented %s, but the mux serves %s %s with %q", pat, method, concrete, got)
		}
	}
	// The served document is the same as the generated one.
	var served map[string]any
	e.ok(req{method: "GET", path: "/v1/openapi.json"}, 200, &served)
	if paths, _ := served["paths"].(map[string]any); len(paths) != len(doc.Paths.Map()) {
		t.Fatalf("served document has %d paths, generated %d", len(paths), len(doc.Paths.Map()))
	}
	if !slices.Contains(e.api.Patterns(), "GET /v1/openapi.json") {
		t.Fatal("no openapi route")
	}
}
