package broker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/licbroker/licbroker/raftstore"
)

// ClusterInfo is what the API needs of the cluster for /v1/cluster/status
// and /readyz.
type ClusterInfo interface {
	Status() any
	Ready() error
}

// ClusterAdmin is what the API needs to manage the cluster. A ClusterInfo
// that also implements it gets the /v1/cluster management routes.
type ClusterAdmin interface {
	// Members reports every member's own status.
	Members(ctx context.Context) any
	// AuthorizeJoin decides whether a node presenting the join secret
	// may join as id at addr.
	AuthorizeJoin(secret, id, addr string) error
	Join(ctx context.Context, id, addr string) error
	Remove(ctx context.Context, id string) error
	// TransferLeadership hands leadership to id ("" = any follower).
	TransferLeadership(ctx context.Context, id string) error
	// SnapshotSave writes a snapshot file to w.
	SnapshotSave(ctx context.Context, w io.Writer) error
	// SnapshotRestore replaces the cluster's state with a snapshot file.
	SnapshotRestore(ctx context.Context, r io.Reader) (any, error)
}

// Headers of the cluster API.
const (
	// JoinSecretHeader carries the cluster join secret of a node asking
	// to join (instead of an admin token).
	JoinSecretHeader = "X-Licbroker-Join-Secret"
)

// snapshotRestorePath accepts bodies larger than the API's usual limit.
const snapshotRestorePath = "/v1/cluster/snapshot/restore"

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
	admin, _ := cluster.(ClusterAdmin)
	// Cluster routes answer from this node's own view: no read barrier
	// (status must work without a quorum).
	m.HandleFunc("GET /v1/cluster/status", a.auth(RoleViewer, func(w http.ResponseWriter, r *http.Request, p Principal) {
		switch {
		case admin != nil:
			writeJSON(w, http.StatusOK, admin.Members(r.Context()))
		case cluster != nil:
			writeJSON(w, http.StatusOK, cluster.Status())
		default:
			writeError(w, apiErr("not_found", "no cluster"))
		}
	}))
	if admin == nil {
		return
	}
	type nodeReq struct {
		NodeID   string `json:"node_id"`
		RaftAddr string `json:"raft_addr,omitempty"`
	}
	a.describe("POST", "/v1/cluster/join", RoleAdmin, opDoc{summary: "Add a voting node (admin token, or " + JoinSecretHeader +
		" from a node listed in this node's peers)", request: nodeReq{}, response: map[string]string{}})
	a.describe("POST", "/v1/cluster/remove", RoleAdmin, opDoc{summary: "Take a node out of the cluster", request: nodeReq{}, response: map[string]string{}})
	a.describe("POST", "/v1/cluster/transfer", RoleAdmin, opDoc{summary: "Hand the leadership to node_id (empty: any follower)", request: nodeReq{}, response: map[string]string{}})
	a.describe("GET", "/v1/cluster/snapshot", RoleAdmin, opDoc{summary: "A snapshot file of the whole state (checksummed)", produces: "application/octet-stream"})
	a.describe("POST", snapshotRestorePath, RoleAdmin, opDoc{summary: "Replace the cluster's state with a snapshot file; a damaged file is refused and changes nothing",
		response: raftstore.SnapshotInfo{}})
	// Join: an admin token, or the join secret from a node listed in the
	// peers of this node's configuration.
	m.HandleFunc("POST /v1/cluster/join", func(w http.ResponseWriter, r *http.Request) {
		var in nodeReq
		if secret := r.Header.Get(JoinSecretHeader); secret != "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			if !readJSON(w, r, &in) {
				return
			}
			if err := admin.AuthorizeJoin(secret, in.NodeID, in.RaftAddr); err != nil {
				writeError(w, clusterErr(err))
				return
			}
			respond(w, http.StatusOK, map[string]string{"joined": in.NodeID}, clusterErr(admin.Join(r.Context(), in.NodeID, in.RaftAddr)))
			return
		}
		a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
			if !readJSON(w, r, &in) {
				return
			}
			respond(w, http.StatusOK, map[string]string{"joined": in.NodeID}, clusterErr(admin.Join(r.Context(), in.NodeID, in.RaftAddr)))
		})(w, r)
	})
	m.HandleFunc("POST /v1/cluster/remove", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in nodeReq
		if !readJSON(w, r, &in) {
			return
		}
		respond(w, http.StatusOK, map[string]string{"removed": in.NodeID}, clusterErr(admin.Remove(r.Context(), in.NodeID)))
	}))
	m.HandleFunc("POST /v1/cluster/transfer", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in nodeReq
		if !readJSON(w, r, &in) {
			return
		}
		respond(w, http.StatusOK, map[string]string{"to": in.NodeID}, clusterErr(admin.TransferLeadership(r.Context(), in.NodeID)))
	}))
	m.HandleFunc("GET /v1/cluster/snapshot", a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		// The file is verified by its own checksum on receipt; an error
		// after the first byte can only cut the body short.
		w.Header().Set("Content-Type", "application/octet-stream")
		lw := &lazyWriter{w: w}
		if err := admin.SnapshotSave(r.Context(), lw); err != nil && !lw.started {
			w.Header().Del("Content-Type")
			writeError(w, clusterErr(err))
		}
	}))
	m.HandleFunc("POST "+snapshotRestorePath, a.auth(RoleAdmin, func(w http.ResponseWriter, r *http.Request, p Principal) {
		info, err := admin.SnapshotRestore(r.Context(), r.Body)
		respond(w, http.StatusOK, info, clusterErr(err))
	}))
}

// lazyWriter sets the status on the first write, so that an error before
// any byte still becomes a JSON error.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.started = true
	return l.w.Write(p)
}

// WithSnapshotUploads wraps the API so that snapshot restores may carry a
// body up to raftstore.MaxSnapshotFile; every other request keeps the
// API's limit.
func WithSnapshotUploads(a *API) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == snapshotRestorePath {
			r.Body = http.MaxBytesReader(w, r.Body, raftstore.MaxSnapshotFile+1)
			a.mux.ServeHTTP(w, r)
			return
		}
		a.ServeHTTP(w, r)
	})
}

// clusterErr maps a store error from a cluster operation to an API error.
func clusterErr(err error) error {
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, raftstore.ErrJoinRefused):
		st := "forbidden"
		if strings.Contains(err.Error(), "wrong join secret") {
			st = "unauthorized"
		}
		return apiErr(st, "%v", err)
	case errors.Is(err, raftstore.ErrUnknownNode):
		return apiErr("not_found", "%v", err)
	case errors.Is(err, raftstore.ErrBadSnapshot):
		return apiErr("bad_request", "%v", err)
	case errors.As(err, &mbe):
		return apiErr("too_large", "snapshot file exceeds %d bytes", mbe.Limit)
	}
	return storeErr(err)
}
