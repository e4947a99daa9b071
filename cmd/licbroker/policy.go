package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type policyJSON struct {
	Name      string   `json:"name"`
	Tenant    string   `json:"tenant"`
	Feature   string   `json:"feature"`
	Type      string   `json:"type"`
	PAKs      []string `json:"paks"`
	StoreOnly bool     `json:"store_only"`
	Devices   struct {
		Group  string `json:"group"`
		Family string `json:"family"`
		PID    string `json:"pid"`
	} `json:"devices"`
	Updated time.Time `json:"updated"`
}

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Licensing policies: license devices automatically when discovery finds them"}
	var feature, typ, group, family, pid string
	var paks []string
	var storeOnly bool
	add := &cobra.Command{
		Use:   "add NAME --feature F [--type permanent|extension] [--pak PAK...] [--family F] [--group G] [--pid P] [--store-only]",
		Short: "Add or replace a policy (a SKU and a device filter)",
		Long: `Add or replace a policy. When discovery finds a device that matches the
filter and holds no live license for the feature, a license is obtained from
the policy's PAKs (any PAK of the tenant if none is named) and installed on
the device, or kept in inventory with --store-only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{"name": args[0], "feature": feature, "type": typ, "paks": paks, "group": group,
				"family": family, "pid": pid, "store_only": storeOnly}
			var p policyJSON
			if err := newClient(g).do("POST", "/v1/policies", in, &p); err != nil {
				return err
			}
			return g.print(p, policyTable(p))
		},
	}
	f := add.Flags()
	f.StringVar(&feature, "feature", "", "feature level to license, e.g. ipservices")
	f.StringVar(&typ, "type", "permanent", "license type: permanent or extension")
	f.StringSliceVar(&paks, "pak", nil, "PAK to draw from (repeatable; default: any PAK of the tenant)")
	f.StringVar(&family, "family", "", "only devices of this family (3750e, 3560e, 880, 860)")
	f.StringVar(&group, "group", "", "only devices of this group")
	f.StringVar(&pid, "pid", "", "only devices whose product ID starts with this")
	f.BoolVar(&storeOnly, "store-only", false, "keep the license in inventory instead of installing it")
	add.MarkFlagRequired("feature")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List policies", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[policyJSON](newClient(g), "/v1/policies")
			if err != nil {
				return err
			}
			return g.print(items, policyTable(items...))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show NAME", Short: "Show a policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p policyJSON
			if err := newClient(g).do("GET", "/v1/policies/"+pathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			return g.print(p, policyTable(p))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete a policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p policyJSON
			if err := newClient(g).do("DELETE", "/v1/policies/"+pathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			return g.print(p, policyTable(p))
		},
	})
	return cmd
}

func policyTable(ps ...policyJSON) *table {
	tb := &table{header: []string{"name", "tenant", "feature", "type", "paks", "family", "group", "pid", "action"}}
	for _, p := range ps {
		action := "deploy"
		if p.StoreOnly {
			action = "store"
		}
		paks := strings.Join(p.PAKs, " ")
		if paks == "" {
			paks = "(any)"
		}
		tb.add(p.Name, p.Tenant, p.Feature, p.Type, paks, orDash(p.Devices.Family), orDash(p.Devices.Group), orDash(p.Devices.PID), action)
	}
	return tb
}
