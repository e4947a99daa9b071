package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/licbroker/licbroker/broker"
	"github.com/licbroker/licbroker/configs"
	"github.com/licbroker/licbroker/raftstore"
)

// clusterInfo adapts raftstore.Store to broker.ClusterInfo and
// broker.ClusterAdmin.
type clusterInfo struct{ s *raftstore.Store }

func (c clusterInfo) Status() any { return c.s.Status() }

func (c clusterInfo) Ready() error {
	if st := c.s.Status(); st.Leader == "" {
		return raftstore.ErrNoQuorum
	}
	return nil
}

func (c clusterInfo) Members(ctx context.Context) any { return c.s.ClusterStatus(ctx) }

func (c clusterInfo) AuthorizeJoin(secret, id, addr string) error {
	return c.s.AuthorizeJoin(secret, id, addr)
}

func (c clusterInfo) Join(ctx context.Context, id, addr string) error { return c.s.Join(ctx, id, addr) }

func (c clusterInfo) Remove(ctx context.Context, id string) error { return c.s.Remove(ctx, id) }

func (c clusterInfo) TransferLeadership(ctx context.Context, id string) error {
	return c.s.TransferLeadership(ctx, id)
}

func (c clusterInfo) SnapshotSave(ctx context.Context, w io.Writer) error {
	_, err := c.s.SnapshotSave(ctx, w)
	return err
}

func (c clusterInfo) SnapshotRestore(ctx context.Context, r io.Reader) (any, error) {
	return c.s.SnapshotRestore(ctx, r)
}

// joinCluster asks the member at cfg.Join to add this node, with the join
// secret from the configuration or else the admin token in
// LICBROKER_TOKEN. It retries while the member is unreachable or has no
// quorum, for up to a minute; a refusal ends it at once.
func joinCluster(ctx context.Context, cfg configs.Broker, log *slog.Logger) error {
	addr := cfg.RaftAdvertise
	if addr == "" {
		addr = cfg.RaftAddr
	}
	body, _ := json.Marshal(map[string]string{"node_id": cfg.NodeID, "raft_addr": addr})
	url := strings.TrimRight(cfg.Join, "/") + "/v1/cluster/join"
	hc := &http.Client{Timeout: 15 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("join %s: %w", cfg.Join, err)
		}
		req.Header.Set("Content-Type", "application/json")
		if cfg.JoinSecret != "" {
			req.Header.Set(broker.JoinSecretHeader, cfg.JoinSecret)
		} else if tok := os.Getenv("LICBROKER_TOKEN"); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		} else {
			return fmt.Errorf("join %s: set join_secret in the config or the admin token in LICBROKER_TOKEN", cfg.Join)
		}
		resp, err := hc.Do(req)
		var msg string
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			msg = resp.Status
			if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
				msg = e.Error.Message
			}
			switch {
			case resp.StatusCode/100 == 2:
				log.Info("joined the cluster", "via", cfg.Join, "node", cfg.NodeID, "raft", addr)
				return nil
			case resp.StatusCode/100 == 4:
				return fmt.Errorf("join %s refused: %s", cfg.Join, msg)
			}
		} else {
			msg = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("join %s: gave up after a minute: %s", cfg.Join, msg)
		}
		log.Warn("join: retrying", "via", cfg.Join, "err", msg)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
