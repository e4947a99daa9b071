package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

type auditJSON struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Tenant string    `json:"tenant"`
	Action string    `json:"action"`
	Object string    `json:"object"`
	Change string    `json:"change"`
}

func newAuditCmd(g *globals) *cobra.Command {
	var actor, action, object, since, until, of string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log (newest first): who changed what, in which tenant, when",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit %d: want 1 or more", limit)
			}
			c := newClient(g)
			var out []auditJSON
			cursor := ""
			for len(out) < limit {
				var page struct {
					Items      []auditJSON `json:"items"`
					NextCursor string      `json:"next_cursor"`
				}
				q := query("actor", actor, "action", action, "object", object, "since", since, "until", until, "tenant", of,
					"limit", strconv.Itoa(min(limit-len(out), 1000)), "cursor", cursor)
				if err := c.do("GET", "/v1/audit"+q, nil, &page); err != nil {
					return err
				}
				out = append(out, page.Items...)
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			tb := &table{header: []string{"seq", "time", "actor", "tenant", "action", "object", "change"}}
			for _, e := range out {
				tb.add(strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339), e.Actor, orDash(e.Tenant), e.Action, e.Object, e.Change)
			}
			return g.print(out, tb)
		},
	}
	f := cmd.Flags()
	f.StringVar(&actor, "actor", "", "only changes by this actor: a role, a token id, or role:token")
	f.StringVar(&action, "action", "", "only this action or its prefix, e.g. license or pak.add")
	f.StringVar(&object, "object", "", "only objects whose id contains this, e.g. PAK00000001 or a UDI")
	f.StringVar(&since, "since", "", "only changes at or after this RFC 3339 time")
	f.StringVar(&until, "until", "", "only changes before this RFC 3339 time")
	f.StringVar(&of, "of-tenant", "", "only this tenant's changes (admins; others see only their own)")
	f.IntVar(&limit, "limit", 100, "at most this many entries")
	return cmd
}

func newWhoamiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "whoami", Short: "Show the token's id, role and tenant", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var w struct {
				TokenID string `json:"token_id"`
				Role    string `json:"role"`
				Tenant  string `json:"tenant"`
				Scope   string `json:"scope"`
			}
			if err := newClient(g).do("GET", "/v1/whoami", nil, &w); err != nil {
				return err
			}
			tb := &table{header: []string{"token", "role", "tenant", "scope"}}
			tb.add(w.TokenID, w.Role, orDash(w.Tenant), orDash(w.Scope))
			return g.print(w, tb)
		},
	}
}
