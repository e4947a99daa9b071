package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type spareJSON struct {
	UDI      string     `json:"udi"`
	PID      string     `json:"pid"`
	Family   string     `json:"family"`
	Licenses []string   `json:"licenses"`
	State    string     `json:"state"`
	Tenant   string     `json:"tenant"`
	Replaces string     `json:"replaces"`
	RMA      string     `json:"rma"`
	Created  time.Time  `json:"created"`
	Assigned *time.Time `json:"assigned"`
}

func spareTable(ss ...spareJSON) *table {
	tb := &table{header: []string{"udi", "family", "state", "tenant", "replaces", "rma", "licenses"}}
	for _, s := range ss {
		tb.add(s.UDI, s.Family, s.State, orDash(s.Tenant), orDash(s.Replaces), orDash(s.RMA), orDash(strings.Join(s.Licenses, " ")))
	}
	return tb
}

func newSpareCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "spare", Short: "Depot spares with preloaded licenses (admin)"}
	var udi string
	var features []string
	add := &cobra.Command{
		Use: "add --udi UDI --feature F...", Short: "Stock a spare with preloaded permanent licenses", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var s spareJSON
			if err := newClient(g).do("POST", "/v1/spares", map[string]any{"udi": udi, "features": features}, &s); err != nil {
				return err
			}
			return g.print(s, spareTable(s))
		},
	}
	add.Flags().StringVar(&udi, "udi", "", "the spare's UDI (PID:SN)")
	add.Flags().StringSliceVar(&features, "feature", nil, "feature level to preload (repeatable)")
	add.MarkFlagRequired("udi")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List depot spares", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[spareJSON](newClient(g), "/v1/spares")
			if err != nil {
				return err
			}
			return g.print(items, spareTable(items...))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show UDI", Short: "Show a depot spare", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s spareJSON
			if err := newClient(g).do("GET", "/v1/spares/"+pathEscape(args[0]), nil, &s); err != nil {
				return err
			}
			return g.print(s, spareTable(s))
		},
	})
	var to, replaces, rma string
	assign := &cobra.Command{
		Use: "assign UDI --to TENANT [--replaces UDI] [--rma N]", Short: "Give a spare and its licenses to a customer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s spareJSON
			in := map[string]string{"tenant": to, "replaces": replaces, "rma": rma}
			if err := newClient(g).do("POST", "/v1/spares/"+pathEscape(args[0])+"/assign", in, &s); err != nil {
				return err
			}
			return g.print(s, spareTable(s))
		},
	}
	assign.Flags().StringVar(&to, "to", "", "tenant the spare goes to")
	assign.Flags().StringVar(&replaces, "replaces", "", "UDI of the failed device it replaces")
	assign.Flags().StringVar(&rma, "rma", "", "RMA number")
	assign.MarkFlagRequired("to")
	cmd.AddCommand(assign)
	return cmd
}
