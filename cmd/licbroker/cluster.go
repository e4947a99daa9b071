package main

import (
	"strconv"

	"github.com/spf13/cobra"
)

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and manage the broker cluster"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "Show nodes, roles, leader and indexes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st struct {
				NodeID       string `json:"node_id"`
				State        string `json:"state"`
				Leader       string `json:"leader_id"`
				Term         uint64 `json:"term"`
				CommitIndex  uint64 `json:"commit_index"`
				AppliedIndex uint64 `json:"applied_index"`
				LastContact  string `json:"last_contact"`
				Servers      []struct {
					ID       string `json:"id"`
					Addr     string `json:"addr"`
					Suffrage string `json:"suffrage"`
				} `json:"servers"`
			}
			if err := newClient(g).do("GET", "/v1/cluster/status", nil, &st); err != nil {
				return err
			}
			tb := &table{header: []string{"node", "raft_addr", "suffrage", "role", "leader", "term", "commit", "applied"}}
			for _, s := range st.Servers {
				role := "follower"
				if s.ID == st.Leader {
					role = "leader"
				}
				tb.add(s.ID, s.Addr, s.Suffrage, role, st.Leader, strconv.FormatUint(st.Term, 10),
					strconv.FormatUint(st.CommitIndex, 10), strconv.FormatUint(st.AppliedIndex, 10))
			}
			return g.print(st, tb)
		},
	})
	return cmd
}
