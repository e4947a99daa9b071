package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

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

// API serves the REST API.
type API struct {
	b   *Broker
	mux *http.ServeMux
}

// NewAPI returns the HTTP handler for the broker's API. cluster may be nil.
func NewAPI(b *Broker, cluster ClusterInfo) *API {
	a := &API{b: b, mux: http.NewServeMux()}
	m := a.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.routesCluster(cluster)

	m.HandleFunc("GET /v1/tenants", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.Tenants()))
	}))
	m.HandleFunc("POST /v1/tenants", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in struct {
			Name string `json:"name"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		t, err := b.CreateTenant(r.Context(), p.actor(), in.Name)
		respond(w, http.StatusCreated, t, err)
	}))
	m.HandleFunc("POST /v1/tokens", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in struct {
			Tenant string `json:"tenant"`
			Role   string `json:"role"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		secret, t, err := b.CreateToken(r.Context(), p.actor(), in.Tenant, in.Role)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "role": t.Role, "tenant": t.Tenant, "token": secret})
	}))

	m.HandleFunc("GET /v1/credentials", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.Credentials(p.Scope)))
	}))
	m.HandleFunc("POST /v1/credentials", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in struct {
			Name     string `json:"name"`
			Username string `json:"username"`
			Password string `json:"password,omitempty"`
			Key      string `json:"key,omitempty"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		if (in.Password == "") == (in.Key == "") {
			writeError(w, apiErr("bad_request", "give exactly one of password or key"))
			return
		}
		secret, isKey := []byte(in.Password), false
		if in.Key != "" {
			secret, isKey = []byte(in.Key), true
		}
		c, err := b.PutCredential(r.Context(), p.actor(), p.writeTenant(), in.Name, in.Username, secret, isKey)
		respond(w, http.StatusCreated, c, err)
	}))

	m.HandleFunc("POST /v1/discover", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in DiscoverRequest
		if !readJSON(w, r, &in) {
			return
		}
		j, err := b.StartDiscover(r.Context(), p.actor(), p.writeTenant(), in)
		respond(w, http.StatusAccepted, j, err)
	}))
	m.HandleFunc("GET /v1/devices", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.Devices(p.Scope)))
	}))
	m.HandleFunc("GET /v1/devices/{udi}", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		d, err := b.Device(p.Scope, r.PathValue("udi"))
		respond(w, http.StatusOK, d, err)
	}))
	m.HandleFunc("POST /v1/devices/{udi}/reload", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		d, err := b.ReloadDevice(r.Context(), p.actor(), p.Scope, r.PathValue("udi"))
		respond(w, http.StatusOK, d, err)
	}))

	m.HandleFunc("GET /v1/paks", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.PAKs(p.Scope)))
	}))
	m.HandleFunc("GET /v1/paks/{id}", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		k, err := b.PAK(p.Scope, r.PathValue("id"))
		respond(w, http.StatusOK, k, err)
	}))
	m.HandleFunc("POST /v1/paks", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in PAKRequest
		if !readJSON(w, r, &in) {
			return
		}
		k, err := b.AddPAK(r.Context(), p.actor(), p.writeTenant(), in)
		respond(w, http.StatusCreated, k, err)
	}))

	m.HandleFunc("POST /v1/licenses/install", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in InstallRequest
		if !readJSON(w, r, &in) {
			return
		}
		j, err := b.StartInstall(r.Context(), p.actor(), p.writeTenant(), in)
		respond(w, http.StatusAccepted, j, err)
	}))
	m.HandleFunc("POST /v1/licenses/deploy-file", a.auth(RoleOperator, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in struct {
			Device string `json:"device"`
			File   string `json:"file"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		res, err := b.DeployFile(r.Context(), p.actor(), p.Scope, in.Device, []byte(in.File))
		respond(w, http.StatusOK, map[string]any{"device": in.Device, "results": res}, err)
	}))
	m.HandleFunc("GET /v1/licenses", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.Licenses(p.Scope)))
	}))
	m.HandleFunc("GET /v1/licenses/{id}", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		l, err := b.License(p.Scope, r.PathValue("id"))
		if l != nil {
			l.File = nil
		}
		respond(w, http.StatusOK, l, err)
	}))
	m.HandleFunc("GET /v1/licenses/{id}/file", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		l, err := b.License(p.Scope, r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", l.ID+".lic"))
		w.Write(l.File)
	}))

	m.HandleFunc("GET /v1/jobs", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		writeJSON(w, http.StatusOK, list(b.Jobs(p.Scope)))
	}))
	m.HandleFunc("GET /v1/jobs/{id}", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		j, err := b.Job(p.Scope, r.PathValue("id"))
		respond(w, http.StatusOK, j, err)
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr("not_found", "no route %s %s", r.Method, r.URL.Path))
	})
	return a
}

// Handle mounts an extra handler (for example /metrics) on the API's mux.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	a.mux.ServeHTTP(w, r)
}

var roleRank = map[string]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// auth checks the bearer token and that its role is at least min.
func (a *API) auth(min string, h func(http.ResponseWriter, *http.Request, Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			writeError(w, apiErr("unauthorized", "missing API token (set LICBROKER_TOKEN or --token)"))
			return
		}
		var t *Token
		a.b.state.read(func(d *stateData) {
			if v, ok := d.Tokens[HashToken(secret)]; ok {
				cp := *v
				t = &cp
			}
		})
		if t == nil {
			writeError(w, apiErr("unauthorized", "unknown API token"))
			return
		}
		if roleRank[t.Role] < roleRank[min] {
			writeError(w, apiErr("forbidden", "role %s may not do this (needs %s)", t.Role, min))
			return
		}
		p := Principal{TokenID: t.ID, Role: t.Role, Tenant: t.Tenant, Scope: t.Tenant}
		if t.Role == RoleAdmin {
			p.Scope = r.Header.Get("X-Licbroker-Tenant")
			if p.Scope != "" && !a.b.tenantExists(p.Scope) {
				writeError(w, apiErr("not_found", "tenant %q does not exist", p.Scope))
				return
			}
		}
		h(w, r, p)
	}
}

// listResponse wraps lists so that fields can be added later.
type listResponse[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func list[T any](items []T) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Items: items, Total: len(items)}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeError(w, apiErr("too_large", "request body exceeds %d bytes", mbe.Limit))
		case errors.Is(err, io.EOF):
			writeError(w, apiErr("bad_request", "request body is empty; want JSON"))
		default:
			writeError(w, apiErr("bad_request", "invalid JSON body: %v", strings.TrimPrefix(err.Error(), "json: ")))
		}
		return false
	}
	if dec.More() {
		writeError(w, apiErr("bad_request", "invalid JSON body: more than one value"))
		return false
	}
	return true
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

func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = apiErr("unavailable", "timed out: %v", err)
	}
	ae := asAPIError(err)
	writeJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}
