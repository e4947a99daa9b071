package broker

import "net/http"

// ClusterInfo is what the API needs of the cluster for /v1/cluster/status
// and /readyz.
type ClusterInfo interface {
	Status() any
	Ready() error
}

// routesCluster mounts /readyz and the /v1/cluster routes. cluster may be
// nil (no cluster information).
func (a *API) routesCluster(cluster ClusterInfo) {
	m := a.mux
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cluster != nil {
			if err := cluster.Ready(); err != nil {
				writeError(w, apiErr("unavailable", "not ready: %v", err))
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	m.HandleFunc("GET /v1/cluster/status", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		if cluster == nil {
			writeError(w, apiErr("not_found", "no cluster"))
			return
		}
		writeJSON(w, http.StatusOK, cluster.Status())
	}))
}
