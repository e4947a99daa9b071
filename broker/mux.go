package broker

import (
	"encoding/base64"
	"net/http"
	"sort"
	"sync"
)

// routeMux is an http.ServeMux that remembers its patterns, so that a test
// can hold them against the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// Handle registers a handler and records its pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.mu.Lock()
	m.patterns = append(m.patterns, pattern)
	m.mu.Unlock()
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers a handler function and records its pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Patterns returns the registered patterns, sorted.
func (m *routeMux) Patterns() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]string(nil), m.patterns...)
	sort.Strings(out)
	return out
}

// route is one operation of the API: its pattern, the least role that may
// call it ("" for public routes), its documentation and its handler.
type route struct {
	method, path string
	role         string
	doc          opDoc
	h            handler
	// local routes answer from this node without a consistency barrier
	// (cluster status must work without a quorum).
	local bool
}

// add registers a route from the table.
func (a *API) add(method, path, role string, doc opDoc, h handler) {
	rt := &route{method: method, path: path, role: role, doc: doc, h: h}
	a.routes = append(a.routes, rt)
	a.mux.HandleFunc(method+" "+path, a.wrap(rt))
}

// auth wraps a handler registered outside the table (cluster_api.go) with
// the same authentication and idempotency as table routes; it reads this
// node's state without a consistency barrier.
func (a *API) auth(min string, h func(http.ResponseWriter, *http.Request, Principal)) http.HandlerFunc {
	return a.wrap(&route{role: min, h: h, local: true})
}

// describe documents a route registered outside the table (for example by
// routesCluster), so that it appears in /v1/openapi.json.
func (a *API) describe(method, path, role string, doc opDoc) {
	doc.role = role
	a.docs[method+" "+path] = doc
}

// Patterns lists every pattern registered on the API's mux.
func (a *API) Patterns() []string { return a.mux.Patterns() }

// Pagination limits.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// page cuts one page out of items, which are sorted by key: up to ?limit
// items after ?cursor.
func page[T any](r *http.Request, items []T, key func(T) string) (listResponse[T], error) {
	limit, err := queryInt(r, "limit", defaultPageSize, 1, maxPageSize)
	if err != nil {
		return listResponse[T]{}, err
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(raw) == 0 {
			return listResponse[T]{}, apiErr("bad_request", "invalid cursor %q: pass next_cursor from the previous page", c)
		}
		after := string(raw)
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	out := listResponse[T]{Items: []T{}, Total: len(items)}
	end := min(start+limit, len(items))
	if start < end {
		out.Items = items[start:end]
	}
	if end < len(items) && end > 0 {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return out, nil
}
