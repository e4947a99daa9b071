package broker

import (
	"fmt"
	"net/http"
	"strings"
)

// routesRehostTemp registers the rehost (RMA), temporary license and
// per-device license file routes.
func (a *API) routesRehostTemp() {
	b := a.b
	a.add("POST", "/v1/rehosts", RoleOperator, opDoc{summary: "Rehost a failed device's licenses to its replacement (idempotent); optionally install them",
		request: RehostRequest{}, response: RehostResult{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in RehostRequest
			if readJSON(w, r, &in) {
				res, err := b.Rehost(r.Context(), p.actor(), p.Scope, in)
				respond(w, http.StatusOK, res, err)
			}
		})
	a.add("GET", "/v1/rehosts", RoleViewer, opDoc{summary: "List rehosts", response: listResponse[Rehost]{}, query: pageParams},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			pg, err := page(r, b.Rehosts(p.Scope), func(rh Rehost) string { return rh.Failed })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("GET", "/v1/rehosts/{udi}", RoleViewer, opDoc{summary: "Show the rehost of a failed device and its history", response: Rehost{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			rh, err := b.RehostOf(p.Scope, r.PathValue("udi"))
			respond(w, http.StatusOK, rh, err)
		})
	a.add("POST", "/v1/rehosts/{udi}/rma", RoleOperator, opDoc{summary: "Attach an RMA number to the rehost of a failed device", request: RMARequest{}, response: Rehost{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in RMARequest
			if readJSON(w, r, &in) {
				rh, err := b.AttachRMA(r.Context(), p.actor(), p.Scope, r.PathValue("udi"), in.RMA)
				respond(w, http.StatusOK, rh, err)
			}
		})
	a.add("POST", "/v1/licenses/temp", RoleOperator, opDoc{summary: "Activate a device's evaluation license (EULA accepted), or issue and install an extension license from a PAK",
		request: TempRequest{}, response: TempResult{}},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			var in TempRequest
			if readJSON(w, r, &in) {
				res, err := b.TempLicense(r.Context(), p.actor(), p.Scope, in)
				respond(w, http.StatusOK, res, err)
			}
		})
	a.add("GET", "/v1/evaluations", RoleViewer, opDoc{summary: "List tracked evaluation licenses with their end dates", response: listResponse[Evaluation]{},
		query: append([]qparam{{"device", "string", "only this device's (UDI)"}, {"state", "string", "notInUse, inUse, expiredInUse, expiredNotInUse or replaced"}}, pageParams...)},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			q := r.URL.Query()
			items := b.Evaluations(p.Scope, EvaluationFilter{UDI: q.Get("device"), State: q.Get("state")})
			pg, err := page(r, items, func(ev Evaluation) string { return evalKey(ev.UDI, ev.Feature) })
			respond(w, http.StatusOK, pg, err)
		})
	a.add("GET", "/v1/devices/{udi}/licenses/file", RoleViewer, opDoc{summary: "Download one license file with every live license of a device", produces: "application/xml"},
		func(w http.ResponseWriter, r *http.Request, p Principal) {
			udi := r.PathValue("udi")
			file, lics, err := b.DeviceLicenseFile(p.Scope, udi)
			if err != nil {
				writeError(w, err)
				return
			}
			ids := make([]string, len(lics))
			for i, l := range lics {
				ids[i] = l.ID
			}
			w.Header().Set("Content-Type", "application/xml")
			// The UDI was validated; only its letters, digits and dashes
			// make the file name.
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "licenses-"+fileSafe(udi)+".lic"))
			w.Header().Set("X-Licbroker-Licenses", strings.Join(ids, ","))
			w.Write(file)
		})
}

// fileSafe keeps letters, digits and dashes of s and turns the rest into
// underscores.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
