package broker

import "net/http"

// routesBulk registers the routes of bulk operations: refresh, deploy of
// stored licenses, job retry and licensing policies.
func (a *API) routesBulk() {
	b := a.b
	a.add("POST", "/v1/refresh", RoleOperator, opDoc{summary: "Start a job that re-reads devices over NETCONF", request: RefreshRequest{}, response: Job{}, status: http.StatusAccepted},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in RefreshRequest
			if readJSON(w, r, &in) {
				j, err := b.StartRefresh(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusAccepted, j, err)
			}
		})
	a.add("POST", "/v1/licenses/deploy", RoleOperator, opDoc{summary: "Start a job that installs licenses kept in inventory on their devices", request: DeployRequest{}, response: Job{}, status: http.StatusAccepted},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in DeployRequest
			if readJSON(w, r, &in) {
				j, err := b.StartDeploy(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusAccepted, j, err)
			}
		})
	a.add("POST", "/v1/jobs/{id}/retry", RoleOperator, opDoc{summary: "Start a job over the failed targets of an ended job", response: Job{}, status: http.StatusAccepted},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			j, err := b.RetryJob(r.Context(), p.actor(), p.Scope, r.PathValue("id"))
			respond(w, http.StatusAccepted, j, err)
		})
	a.add("GET", "/v1/policies", RoleViewer, opDoc{summary: "List licensing policies", response: listResponse[Policy]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Policies(p.Scope), func(x Policy) string { return x.Tenant + "/" + x.Name })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("POST", "/v1/policies", RoleOperator, opDoc{summary: "Add or replace a licensing policy (SKU and device filter; acts on discovered devices)", request: PolicyRequest{}, response: Policy{}, status: http.StatusCreated},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in PolicyRequest
			if readJSON(w, r, &in) {
				x, err := b.PutPolicy(r.Context(), p.actor(), p.writeTenant(), in)
				respond(w, http.StatusCreated, x, err)
			}
		})
	a.add("GET", "/v1/policies/{name}", RoleViewer, opDoc{summary: "Show a licensing policy", response: Policy{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			x, err := b.Policy(p.writeTenant(), r.PathValue("name"))
			respond(w, http.StatusOK, x, err)
		})
	a.add("DELETE", "/v1/policies/{name}", RoleOperator, opDoc{summary: "Delete a licensing policy", response: Policy{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			x, err := b.DeletePolicy(r.Context(), p.actor(), p.writeTenant(), r.PathValue("name"))
			respond(w, http.StatusOK, x, err)
		})
}
