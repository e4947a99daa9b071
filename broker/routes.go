package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/licbroker/licbroker/netconf"
)

// Request and response bodies of the API that have no domain type.

// TenantRequest creates a tenant.
type TenantRequest struct {
	Name string `json:"name"`
}

// TokenRequest creates an API token.
type TokenRequest struct {
	Tenant string `json:"tenant,omitempty"`
	Role   string `json:"role"`
	Name   string `json:"name,omitempty"`
}

// TokenCreated is a new token with its secret, shown this once.
type TokenCreated struct {
	TokenInfo
	Token string `json:"token"`
}

// CredentialRequest adds or replaces a device login profile. Exactly one
// of Password and Key (a PEM private key) is given.
type CredentialRequest struct {
	Name     string `json:"name"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Key      string `json:"key,omitempty"`
}

// DeployFileRequest installs a license file on a device as it is.
type DeployFileRequest struct {
	Device string `json:"device"`
	File   string `json:"file"`
}

// DeployFileResult is the device's answer per license line.
type DeployFileResult struct {
	Device  string                  `json:"device"`
	Results []netconf.InstallResult `json:"results"`
}

// RevokeRequest revokes a license record.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Whoami describes the caller.
type Whoami struct {
	TokenID string `json:"token_id"`
	Role    string `json:"role"`
	Tenant  string `json:"tenant"`
	Scope   string `json:"scope"`
}

// AuditPage is a page of the audit log, newest first.
type AuditPage struct {
	Items      []AuditEntry `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

var pageParams = []qparam{
	{"limit", "integer", fmt.Sprintf("page size, 1 to %d (default %d)", maxPageSize, defaultPageSize)},
	{"cursor", "string", "next_cursor of the previous page"},
}

// routesCore registers every route of the table.
func (a *API) routesCore() {
	b := a.b
	a.add("GET", "/healthz", "", opDoc{summary: "Liveness: the process serves HTTP", response: map[string]string{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
	a.add("GET", "/v1/openapi.json", "", opDoc{summary: "This OpenAPI document", response: map[string]any{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(a.openAPIJSON())
		})
	a.add("GET", "/v1/whoami", RoleViewer, opDoc{summary: "The caller's token, role and tenant", response: Whoami{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			writeJSON(w, http.StatusOK, Whoami{TokenID: p.TokenID, Role: p.Role, Tenant: p.Tenant, Scope: p.Scope})
		})

	// Tenants and tokens (admin).
	a.add("GET", "/v1/tenants", RoleAdmin, opDoc{summary: "List tenants", response: listResponse[Tenant]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Tenants(), func(t Tenant) string { return t.Name })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/tenants", RoleAdmin, opDoc{summary: "Create a tenant", request: TenantRequest{}, response: Tenant{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in TenantRequest
			if readJSON(w, r, &in) {
				t, err := b.CreateTenant(r.Context(), p.actor(), in.Name)
				respond(w, http.StatusCreated, t, err)
			}
		})
	a.add("GET", "/v1/tenants/{name}", RoleViewer, opDoc{summary: "Show a tenant (others' tenants are not found)", response: Tenant{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			name := r.PathValue("name")
			if p.Role != RoleAdmin && name != p.Tenant {
				writeError(w, apiErr("not_found", "tenant %q not found", name))
				return
			}
			t, err := b.Tenant(name)
			respond(w, http.StatusOK, t, err)
		})
	a.add("GET", "/v1/tokens", RoleAdmin, opDoc{summary: "List API tokens (never their secrets)", response: listResponse[TokenInfo]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Tokens(p.Scope), func(t TokenInfo) string { return t.ID })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/tokens", RoleAdmin, opDoc{summary: "Create an API token; the secret is in this response only", request: TokenRequest{}, response: TokenCreated{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in TokenRequest
			if !readJSON(w, r, &in) {
				return
			}
			secret, t, err := b.CreateNamedToken(r.Context(), p.actor(), in.Tenant, in.Role, in.Name)
			if err != nil {
				writeError(w, err)
				return
			}
			var replay errorBody
			replay.Error.Code = "conflict"
			replay.Error.Message = fmt.Sprintf("token %s was already created for this Idempotency-Key; its secret was shown once (revoke it and create another if it was lost)", t.ID)
			rb, _ := json.Marshal(replay)
			setReplay(r, http.StatusConflict, rb)
			writeJSON(w, http.StatusCreated, TokenCreated{TokenInfo: t.info(), Token: secret})
		})
	a.add("DELETE", "/v1/tokens/{id}", RoleAdmin, opDoc{summary: "Revoke an API token", response: TokenInfo{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			t, err := b.RevokeToken(r.Context(), p.actor(), r.PathValue("id"))
			respond(w, http.StatusOK, t, err)
		})

	// Credential profiles.
	a.add("GET", "/v1/credentials", RoleViewer, opDoc{summary: "List device login profiles (never their secrets)", response: listResponse[CredentialInfo]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Credentials(p.Scope), func(c CredentialInfo) string { return c.Tenant + "/" + c.Name })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/credentials", RoleOperator, opDoc{summary: "Add or replace a device login profile (stored encrypted)", request: CredentialRequest{}, response: CredentialInfo{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in CredentialRequest
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
		})

	a.routesDevices()
	a.routesLicenses()
	a.routesRehostTemp()
	a.routesJobsReports()
	a.routesBulk()
}

func (a *API) routesDevices() {
	b := a.b
	a.add("POST", "/v1/discover", RoleOperator, opDoc{summary: "Start a discovery job over CIDRs or addresses", request: DiscoverRequest{}, response: Job{}, status: http.StatusAccepted},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in DiscoverRequest
			if readJSON(w, r, &in) {
				j, err := b.StartDiscover(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusAccepted, j, err)
			}
		})
	a.add("GET", "/v1/devices", RoleViewer, opDoc{summary: "List devices", response: listResponse[Device]{},
		query: append([]qparam{{"group", "string", "only devices in this group"}, {"family", "string", "only this family (3750e, 3560e, 880, 860)"}}, pageParams...)},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			q := r.URL.Query()
			f := DeviceFilter{Group: q.Get("group"), Family: q.Get("family")}
			pg, err := page(r, b.DevicesWhere(p.Scope, f), func(d Device) string { return d.UDI })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("GET", "/v1/devices/{udi}", RoleViewer, opDoc{summary: "Show a device and the licenses seen on it", response: Device{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			d, err := b.Device(p.Scope, r.PathValue("udi"))
			respond(w, http.StatusOK, d, err)
		})
	a.add("POST", "/v1/devices/{udi}/reload", RoleOperator, opDoc{summary: "Reload a device over NETCONF and record its new state", response: Device{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			d, err := b.ReloadDevice(r.Context(), p.actor(), p.Scope, r.PathValue("udi"))
			respond(w, http.StatusOK, d, err)
		})
	a.add("POST", "/v1/devices/{udi}/groups", RoleOperator, opDoc{summary: "Add a device to groups or remove it from groups", request: GroupsRequest{}, response: Device{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in GroupsRequest
			if !readJSON(w, r, &in) {
				return
			}
			ds, err := b.SetGroups(r.Context(), p.actor(), p.Scope, []string{r.PathValue("udi")}, in)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, ds[0])
		})
	a.add("GET", "/v1/groups", RoleViewer, opDoc{summary: "List device groups with their sizes", response: listResponse[GroupInfo]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Groups(p.Scope), func(g GroupInfo) string { return g.Tenant + "/" + g.Name })
			respond(w, http.StatusOK, pg, err)
		})

	// Depot spares (admin: they belong to the provider until assigned).
	a.add("GET", "/v1/spares", RoleAdmin, opDoc{summary: "List depot spares", response: listResponse[Spare]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Spares(), func(s Spare) string { return s.UDI })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/spares", RoleAdmin, opDoc{summary: "Stock a spare with preloaded permanent licenses", request: SpareRequest{}, response: Spare{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in SpareRequest
			if readJSON(w, r, &in) {
				s, err := b.AddSpare(r.Context(), p.actor(), in)
				respond(w, http.StatusCreated, s, err)
			}
		})
	a.add("GET", "/v1/spares/{udi}", RoleAdmin, opDoc{summary: "Show a depot spare", response: Spare{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			s, err := b.Spare(r.PathValue("udi"))
			respond(w, http.StatusOK, s, err)
		})
	a.add("POST", "/v1/spares/{udi}/assign", RoleAdmin, opDoc{summary: "Assign a spare and its licenses to a tenant", request: AssignRequest{}, response: Spare{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in AssignRequest
			if readJSON(w, r, &in) {
				s, err := b.AssignSpare(r.Context(), p.actor(), r.PathValue("udi"), in)
				respond(w, http.StatusOK, s, err)
			}
		})
}

func (a *API) routesLicenses() {
	b := a.b
	a.add("GET", "/v1/paks", RoleViewer, opDoc{summary: "List PAKs with used and remaining quantities per line", response: listResponse[PAK]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.PAKs(p.Scope), func(k PAK) string { return k.ID })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/paks", RoleOperator, opDoc{summary: "Register a PAK and its lines", request: PAKRequest{}, response: PAK{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in PAKRequest
			if readJSON(w, r, &in) {
				k, err := b.AddPAK(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusCreated, k, err)
			}
		})
	a.add("GET", "/v1/paks/{id}", RoleViewer, opDoc{summary: "Show a PAK", response: PAK{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			k, err := b.PAK(p.Scope, r.PathValue("id"))
			respond(w, http.StatusOK, k, err)
		})
	a.add("GET", "/v1/licenses", RoleViewer, opDoc{summary: "List license records", response: listResponse[License]{},
		query: append([]qparam{{"device", "string", "only this device's (UDI)"}, {"pak", "string", "only from this PAK"}, {"state", "string", "issued, installed, revoked or rehosted"}}, pageParams...)},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			q := r.URL.Query()
			f := LicenseFilter{UDI: q.Get("device"), PAK: q.Get("pak"), State: q.Get("state")}
			pg, err := page(r, b.LicensesWhere(p.Scope, f), func(l License) string { return l.ID })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/licenses/install", RoleOperator, opDoc{summary: "Start a job that licenses devices from PAKs (sign, record, install or store)", request: InstallRequest{}, response: Job{}, status: http.StatusAccepted},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in InstallRequest
			if readJSON(w, r, &in) {
				j, err := b.StartInstall(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusAccepted, j, err)
			}
		})
	a.add("POST", "/v1/licenses/deploy-file", RoleOperator, opDoc{summary: "Install a license file on a device as it is", request: DeployFileRequest{}, response: DeployFileResult{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in DeployFileRequest
			if readJSON(w, r, &in) {
				res, err := b.DeployFile(r.Context(), p.actor(), p.Scope, in.Device, []byte(in.File))
				respond(w, http.StatusOK, DeployFileResult{Device: in.Device, Results: res}, err)
			}
		})
	a.add("GET", "/v1/licenses/{id}", RoleViewer, opDoc{summary: "Show a license record and its history", response: License{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			l, err := b.License(p.Scope, r.PathValue("id"))
			if l != nil {
				l.File = nil
			}
			respond(w, http.StatusOK, l, err)
		})
	a.add("GET", "/v1/licenses/{id}/file", RoleViewer, opDoc{summary: "Download a license's signed license file", produces: "application/xml"},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			l, err := b.License(p.Scope, r.PathValue("id"))
			if err != nil {
				writeError(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			// The id was checked against the license id format; it is
			// the only part of the file name.
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", l.ID+".lic"))
			w.Write(l.File)
		})
	a.add("POST", "/v1/licenses/{id}/revoke", RoleOperator, opDoc{summary: "Revoke a license record", request: RevokeRequest{}, response: License{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in RevokeRequest
			if r.ContentLength != 0 && !readJSON(w, r, &in) {
				return
			}
			l, err := b.RevokeLicense(r.Context(), p.actor(), p.Scope, r.PathValue("id"), in.Reason)
			respond(w, http.StatusOK, l, err)
		})
}

func (a *API) routesJobsReports() {
	b := a.b
	a.add("GET", "/v1/jobs", RoleViewer, opDoc{summary: "List jobs, newest first, without per-target results", response: listResponse[Job]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Jobs(p.Scope), jobKey)
			respond(w, http.StatusOK, pg, err)
		})
	a.add("GET", "/v1/jobs/{id}", RoleViewer, opDoc{summary: "Show a job, its progress and its per-target results", response: Job{},
		query: []qparam{{"results", "string", "all (default), failed or none: which per-target results to include"}}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			j, err := b.JobView(p.Scope, r.PathValue("id"), r.URL.Query().Get("results"))
			respond(w, http.StatusOK, j, err)
		})
	a.add("POST", "/v1/jobs/{id}/cancel", RoleOperator, opDoc{summary: "Cancel a running job", response: Job{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			j, err := b.CancelJob(r.Context(), p.actor(), p.Scope, r.PathValue("id"))
			respond(w, http.StatusOK, j, err)
		})
	a.add("GET", "/v1/reports/{name}", RoleViewer, opDoc{summary: "Generate a report: summary, expiring, unused or paks", response: Report{},
		produces: "text/csv, text/plain",
		query: []qparam{{"format", "string", "json (default), csv or table"}, {"within", "string", "window of the expiring report, e.g. 14d (default), 2w, 36h"},
			{"group", "string", "only devices in this group"}}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			q := r.URL.Query()
			opt := ReportOptions{Tenant: p.Scope, Group: q.Get("group")}
			if v := q.Get("within"); v != "" {
				d, err := ParseWindow(v)
				if err != nil {
					writeError(w, err)
					return
				}
				opt.Within = d
			}
			format := q.Get("format")
			switch format {
			case "", FormatJSON, FormatCSV, FormatTable:
			default:
				writeError(w, apiErr("bad_request", "unknown format %q (want json, csv or table)", format))
				return
			}
			rep, err := b.BuildReport(r.PathValue("name"), opt)
			if err != nil {
				writeError(w, err)
				return
			}
			var buf bytes.Buffer
			if err := rep.Render(&buf, format); err != nil {
				writeError(w, err)
				return
			}
			w.Header().Set("Content-Type", ContentType(format))
			w.Write(buf.Bytes())
		})
	a.add("GET", "/v1/audit", RoleViewer, opDoc{summary: "List the audit log, newest first", response: AuditPage{},
		query: []qparam{{"actor", "string", "role, token id or role:token"}, {"action", "string", "command type or its prefix, e.g. license"},
			{"object", "string", "object id or part of it, e.g. pak/PAK00000001"}, {"since", "string", "RFC 3339 time"},
			{"until", "string", "RFC 3339 time"}, {"tenant", "string", "admin only: one tenant"},
			{"limit", "integer", fmt.Sprintf("page size, 1 to %d (default %d)", maxPageSize, defaultPageSize)}, {"cursor", "string", "next_cursor of the previous page"}}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			q := r.URL.Query()
			f := AuditFilter{Tenant: p.Scope, Actor: q.Get("actor"), Action: q.Get("action"), Object: q.Get("object")}
			if t := q.Get("tenant"); t != "" {
				if p.Role != RoleAdmin && t != p.Tenant {
					writeError(w, apiErr("forbidden", "%s token of tenant %s may not read the audit log of tenant %s", article(p.Role), p.Tenant, t))
					return
				}
				f.Tenant = t
			}
			var err error
			if f.Since, err = queryTime(r, "since"); err == nil {
				f.Until, err = queryTime(r, "until")
			}
			if err == nil {
				f.Limit, err = queryInt(r, "limit", defaultPageSize, 1, maxPageSize)
			}
			if err != nil {
				writeError(w, err)
				return
			}
			if c := q.Get("cursor"); c != "" {
				n, perr := parseUint(c)
				if perr != nil {
					writeError(w, apiErr("bad_request", "invalid cursor %q: pass next_cursor from the previous page", c))
					return
				}
				f.Before = n
			}
			items, more := b.Audit(f)
			out := AuditPage{Items: items}
			if more && len(items) > 0 {
				out.NextCursor = fmt.Sprint(items[len(items)-1].Seq)
			}
			writeJSON(w, http.StatusOK, out)
		})
}
