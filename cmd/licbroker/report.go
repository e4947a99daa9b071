package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// reportNames mirrors broker.ReportNames (the client does not import
// broker).
var reportNames = []string{"summary", "expiring", "unused", "paks"}

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports: summary, expiring, unused, paks (rendered by the broker in -o table|json|csv)"}
	for _, name := range reportNames {
		var within, group string
		short := map[string]string{
			"summary":  "Device Summary: each device, its levels and licenses, and the levels not activated",
			"expiring": "Evaluation and extension licenses ending within a window",
			"unused":   "Licenses installed but not in use, and licenses issued but not installed",
			"paks":     "PAK inventory: used and remaining per line",
		}[name]
		sub := &cobra.Command{
			Use: name, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				body, err := newClient(g).raw("GET", "/v1/reports/"+name+query("format", g.output, "within", within, "group", group), nil)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(body)
				return err
			},
		}
		if name == "expiring" {
			sub.Flags().StringVar(&within, "within", "14d", "window, e.g. 14d, 2w, 36h")
		}
		if name != "paks" {
			sub.Flags().StringVar(&group, "group", "", "only devices in this group")
		}
		cmd.AddCommand(sub)
	}
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fmt.Errorf("name a report: summary, expiring, unused or paks")
	}
	return cmd
}
