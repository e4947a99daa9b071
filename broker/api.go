package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBody bounds a request body unless APIConfig says otherwise.
const DefaultMaxBody = 1 << 20

// Header names of the API.
const (
	// HeaderTenant lets an admin choose the tenant a request acts in.
	HeaderTenant = "X-Licbroker-Tenant"
	// HeaderDataAge carries, on a stale read, how old this node's data
	// may be, in seconds.
	HeaderDataAge = "X-Licbroker-Data-Age"
	// HeaderIdempotencyKey makes a write safe to retry.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed marks a response replayed for an Idempotency-Key.
	HeaderReplayed = "Idempotent-Replayed"
)

// Principal is the caller of an API request.
type Principal struct {
	TokenID string
	Role    string
	// Tenant is the token's tenant; empty for admins.
	Tenant string
	// Scope is the tenant the request acts in: the token's tenant, or for
	// an admin the X-Licbroker-Tenant header ("" means all tenants for
	// reads and the default tenant for writes).
	Scope string
}

func (p Principal) actor() string { return p.Role + ":" + p.TokenID }

// writeTenant is the tenant a write acts in.
func (p Principal) writeTenant() string {
	if p.Scope == "" {
		return DefaultTenant
	}
	return p.Scope
}

// APIConfig configures the API.
type APIConfig struct {
	// MaxBody bounds a request body in bytes (default DefaultMaxBody).
	MaxBody int64
	// ReadTimeout bounds the consistency barrier of a read (default 5s).
	ReadTimeout time.Duration
	// Registry receives the API's and the state's metrics and is served
	// at /metrics; register other collectors (Raft, Go runtime) on it
	// too. Default: a new registry.
	Registry *prometheus.Registry
}

// API serves the REST API.
type API struct {
	b       *Broker
	cfg     APIConfig
	mux     *routeMux
	routes  []*route
	docs    map[string]opDoc // by pattern, for routes registered outside the table
	metrics *httpMetrics

	docOnce sync.Once
	docJSON []byte
}

// NewAPI returns the HTTP handler for the broker's API. cluster may be nil.
func NewAPI(b *Broker, cluster ClusterInfo) *API {
	return NewAPIWithConfig(b, cluster, APIConfig{})
}

// NewAPIWithConfig is NewAPI with settings.
func NewAPIWithConfig(b *Broker, cluster ClusterInfo, cfg APIConfig) *API {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	a := &API{b: b, cfg: cfg, mux: newRouteMux(), docs: map[string]opDoc{}, metrics: newHTTPMetrics()}
	cfg.Registry.MustRegister(a.metrics.requests, a.metrics.duration, newStateCollector(b), newTempCollector(b))
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{ErrorLog: nil}))
	a.routesCluster(cluster)
	a.describeCluster()
	a.routesCore()
	a.mux.HandleFunc("/", a.noRoute)
	return a
}

// noRoute answers requests that no route matches: 405 with Allow when the
// path exists for other methods, else 404.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := a.mux.Handler(probe); pat != "/" && pat != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, apiErr("method_not_allowed", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, apiErr("not_found", "no route %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
}

// Handle mounts an extra handler (for example /metrics) on the API's mux.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	r.Body = http.MaxBytesReader(sw, r.Body, a.cfg.MaxBody)
	a.mux.ServeHTTP(sw, r)
	a.metrics.observe(r, sw.status(), time.Since(start))
}

// handler is an authenticated request handler.
type handler func(w http.ResponseWriter, r *http.Request, p Principal)

var roleRank = map[string]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// authenticate checks the bearer token and works out the principal.
func (a *API) authenticate(r *http.Request, min string) (Principal, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return Principal{}, apiErr("unauthorized", "missing API token (set LICBROKER_TOKEN or --token)")
	}
	t := a.b.tokenFor(secret)
	if t == nil {
		return Principal{}, apiErr("unauthorized", "unknown or revoked API token")
	}
	if roleRank[t.Role] < roleRank[min] {
		return Principal{}, apiErr("forbidden", "%s token may not %s %s (needs %s)", article(t.Role), r.Method, r.URL.Path, min)
	}
	p := Principal{TokenID: t.ID, Role: t.Role, Tenant: t.Tenant, Scope: t.Tenant}
	h := r.Header.Get(HeaderTenant)
	switch {
	case t.Role == RoleAdmin && h != "":
		if !a.b.tenantExists(h) {
			return Principal{}, apiErr("not_found", "tenant %q does not exist", h)
		}
		p.Scope = h
	case h != "" && h != t.Tenant:
		return Principal{}, apiErr("forbidden", "%s token of tenant %s may not act in tenant %s", article(t.Role), t.Tenant, h)
	}
	return p, nil
}

// article puts "a" or "an" before a role.
func article(role string) string {
	if role == RoleAdmin || role == RoleOperator {
		return "an " + role
	}
	return "a " + role
}

// wrap turns a route into an http.HandlerFunc: authentication and role,
// read consistency, idempotency.
func (a *API) wrap(rt *route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.role == "" {
			rt.h(w, r, Principal{})
			return
		}
		p, err := a.authenticate(r, rt.role)
		if err != nil {
			writeError(w, err)
			return
		}
		if !rt.local {
			if err := a.consistency(w, r); err != nil {
				writeError(w, err)
				return
			}
		}
		if r.Method != http.MethodGet && r.Header.Get(HeaderIdempotencyKey) != "" {
			a.idempotent(w, r, p, rt.h)
			return
		}
		rt.h(w, r, p)
	}
}

// consistency makes a request see every committed write (a barrier), unless
// a read asks for ?consistency=stale: then it is served from this node's
// state, and the data's age goes in X-Licbroker-Data-Age.
func (a *API) consistency(w http.ResponseWriter, r *http.Request) error {
	mode := r.URL.Query().Get("consistency")
	switch mode {
	case "", "strong":
	case "stale":
		if r.Method != http.MethodGet {
			return apiErr("bad_request", "consistency=stale is for reads only")
		}
		w.Header().Set(HeaderDataAge, strconv.FormatFloat(a.b.DataAge().Seconds(), 'f', 3, 64))
		return nil
	default:
		return apiErr("bad_request", "invalid consistency %q (want strong or stale)", mode)
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ReadTimeout)
	defer cancel()
	return a.b.Barrier(ctx)
}

// listResponse is a page of a list.
type listResponse[T any] struct {
	Items []T `json:"items"`
	// Total counts every matching item, not only this page.
	Total int `json:"total"`
	// NextCursor fetches the next page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// readJSON decodes a request body strictly: JSON only, known fields only,
// one value, within the size limit.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			writeError(w, apiErr("unsupported_media_type", "Content-Type %q is not JSON; send application/json", ct))
			return false
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, bodyErr(err))
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, bodyErr(err))
			return false
		}
		writeError(w, apiErr("bad_request", "invalid JSON body: more than one value"))
		return false
	}
	return true
}

func bodyErr(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apiErr("too_large", "request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return apiErr("bad_request", "request body is empty; want JSON")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apiErr("bad_request", "invalid JSON body: unexpected end of input")
	case errors.As(err, &se):
		return apiErr("bad_request", "invalid JSON body at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		return apiErr("bad_request", "invalid JSON body: field %q must be %s, not %s", te.Field, te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apiErr("bad_request", "invalid JSON body: unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return apiErr("bad_request", "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func respond(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = apiErr("unavailable", "timed out: %v", err)
	}
	ae := asAPIError(err)
	var body errorBody
	body.Error.Code, body.Error.Message = ae.Code, ae.Message
	writeJSON(w, ae.Status, body)
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func queryInt(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, apiErr("bad_request", "invalid %s %q: want a whole number from %d to %d", name, v, min, max)
	}
	return n, nil
}

func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, apiErr("bad_request", "invalid %s %q: want an RFC 3339 time like 2026-01-02T15:04:05Z", name, v)
	}
	return t, nil
}

func parseUint(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err == nil && n == 0 {
		err = fmt.Errorf("zero")
	}
	return n, err
}
