package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/licbroker/licbroker/broker"
	"github.com/licbroker/licbroker/raftstore"
	"github.com/spf13/cobra"
)

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and manage the broker cluster"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "Show every node: role, leader, term, last contact, commit and applied index", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cs raftstore.ClusterStatus
			if err := newClient(g).do("GET", "/v1/cluster/status", nil, &cs); err != nil {
				return err
			}
			tb := &table{header: []string{"node", "raft_addr", "suffrage", "role", "leader", "term", "last_contact", "commit", "applied", "error"}}
			for _, n := range cs.Nodes {
				if n.Status == nil {
					tb.add(n.ID, n.Addr, n.Suffrage, "unreachable", "-", "-", "-", "-", "-", n.Error)
					continue
				}
				st := n.Status
				tb.add(n.ID, n.Addr, n.Suffrage, strings.ToLower(st.State), orDash(st.Leader), strconv.FormatUint(st.Term, 10),
					st.LastContact, strconv.FormatUint(st.CommitIndex, 10), strconv.FormatUint(st.AppliedIndex, 10), "")
			}
			return g.print(cs, tb)
		},
	})

	var secret string
	join := &cobra.Command{
		Use:   "join NODE_ID RAFT_ADDR",
		Short: "Add a node to the cluster (admin token, or --secret for a node listed in the peers)",
		Long: "Add a voting node. With the admin token any node id may be added (the admin's request is its registration);\n" +
			"with --secret (env LICBROKER_JOIN_SECRET) only a node listed in the peers of the members' configuration, at its address.\n" +
			"Start the new node with an empty data directory and bootstrap off (or `serve --join URL`, which does this itself).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]string{"node_id": args[0], "raft_addr": args[1]}
			if secret != "" {
				return postWithSecret(g, secret, "/v1/cluster/join", in)
			}
			if err := newClient(g).do("POST", "/v1/cluster/join", in, nil); err != nil {
				return err
			}
			fmt.Printf("node %s (%s) joined\n", args[0], args[1])
			return nil
		},
	}
	join.Flags().StringVar(&secret, "secret", os.Getenv("LICBROKER_JOIN_SECRET"), "cluster join secret instead of the admin token (env LICBROKER_JOIN_SECRET)")
	cmd.AddCommand(join)

	cmd.AddCommand(&cobra.Command{
		Use: "remove NODE_ID", Short: "Take a node out of the cluster", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := newClient(g).do("POST", "/v1/cluster/remove", map[string]string{"node_id": args[0]}, nil); err != nil {
				return err
			}
			fmt.Printf("node %s removed\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "transfer [NODE_ID]", Short: "Hand the leadership to a node (default: the most up-to-date follower)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			to := ""
			if len(args) == 1 {
				to = args[0]
			}
			if err := newClient(g).do("POST", "/v1/cluster/transfer", map[string]string{"node_id": to}, nil); err != nil {
				return err
			}
			fmt.Println("leadership transferred")
			return nil
		},
	})
	cmd.AddCommand(newSnapshotCmd(g))
	return cmd
}

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save or restore the cluster's whole state (with a checksum)"}
	cmd.AddCommand(&cobra.Command{
		Use: "save FILE", Short: "Write a snapshot of the cluster's state to FILE", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := newClient(g).raw("GET", "/v1/cluster/snapshot", nil)
			if err != nil {
				return err
			}
			info, _, err := raftstore.VerifySnapshot(body)
			if err != nil {
				return fmt.Errorf("the broker sent a damaged snapshot (nothing written): %w", err)
			}
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".snapshot-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(body); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Sync(); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), args[0]); err != nil {
				return err
			}
			fmt.Printf("saved %s: index %d, term %d, %d bytes of state, sha256 %s\n", args[0], info.Index, info.Term, info.Size, info.SHA256)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "restore FILE", Short: "Replace the cluster's whole state with a snapshot file (disaster recovery)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if _, _, err := raftstore.VerifySnapshot(data); err != nil {
				return fmt.Errorf("%s: %w (nothing changed)", args[0], err)
			}
			var info raftstore.SnapshotInfo
			if err := newClient(g).doRaw("POST", "/v1/cluster/snapshot/restore", data, &info); err != nil {
				return err
			}
			fmt.Printf("restored %s: state of index %d from node %s\n", args[0], info.Index, info.Node)
			return nil
		},
	})
	return cmd
}

// doRaw sends a binary body and decodes a JSON answer.
func (c *client) doRaw(method, path string, body []byte, out any) error {
	return c.send(method, path, "application/octet-stream", body, "Authorization", "Bearer "+c.g.token, out)
}

// postWithSecret sends a join request authenticated by the join secret.
func postWithSecret(g *globals, secret, path string, in any) error {
	b, _ := json.Marshal(in)
	c := newClient(g)
	if err := c.send("POST", path, "application/json", b, broker.JoinSecretHeader, secret, nil); err != nil {
		return err
	}
	fmt.Println("joined")
	return nil
}

// send is a request with one authentication header.
func (c *client) send(method, path, ctype string, body []byte, hk, hv string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.g.server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("invalid --server %q: %v", c.g.server, err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(hk, hv)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach broker at %s: %v", c.g.server, unwrapURLErr(err))
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading response: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(rb, &e) == nil && e.Error.Message != "" {
			return &e.Error
		}
		return fmt.Errorf("broker answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}
