package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

type evaluationJSON struct {
	Tenant      string      `json:"tenant"`
	UDI         string      `json:"udi"`
	Feature     string      `json:"feature"`
	State       string      `json:"state"`
	Origin      string      `json:"origin"`
	ActivatedBy string      `json:"activated_by"`
	EndsAt      *time.Time  `json:"ends_at"`
	LastSeen    time.Time   `json:"last_seen"`
	History     []eventJSON `json:"history"`
}

type tempResultJSON struct {
	Device        string          `json:"device"`
	Kind          string          `json:"kind"`
	Evaluation    *evaluationJSON `json:"evaluation"`
	License       *licenseJSON    `json:"license"`
	Status        string          `json:"status"`
	ActiveLevel   string          `json:"active_level"`
	NextBootLevel string          `json:"next_boot_level"`
}

func evaluationTable(evs ...evaluationJSON) *table {
	tb := &table{header: []string{"tenant", "udi", "feature", "state", "origin", "activated_by", "ends", "last_seen"}}
	for _, e := range evs {
		tb.add(e.Tenant, e.UDI, e.Feature, e.State, e.Origin, orDash(e.ActivatedBy), timeOr(e.EndsAt, "-"), e.LastSeen.Format(time.RFC3339))
	}
	return tb
}

// newTempCmd is `license temp`: a device's built-in evaluation license, or
// an extension license from a PAK.
func newTempCmd(g *globals) *cobra.Command {
	var in struct {
		Device  string `json:"device"`
		Feature string `json:"feature"`
		PAK     string `json:"pak,omitempty"`
		Reload  bool   `json:"reload,omitempty"`
	}
	cmd := &cobra.Command{
		Use:   "temp --device UDI --feature F [--pak EXTENSION_PAK] [--reload]",
		Short: "Activate a device's built-in evaluation license (EULA accepted), or install an extension license from a PAK",
		Long: "Without --pak: activates the evaluation license of the feature built into the device over NETCONF, accepting its EULA;\n" +
			"it runs for 60 days of usage from the next reload (--reload reloads now). With --pak: issues an extension license\n" +
			"from the PAK's extension line for the feature and installs it. Both show in `report expiring`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res tempResultJSON
			if err := newClient(g).do("POST", "/v1/licenses/temp", in, &res); err != nil {
				return err
			}
			tb := &table{header: []string{"device", "kind", "feature", "license", "status", "state", "ends", "active_level", "next_boot_level"}}
			switch {
			case res.Evaluation != nil:
				e := res.Evaluation
				tb.add(res.Device, res.Kind, e.Feature, "-", res.Status, e.State, timeOr(e.EndsAt, "-"), res.ActiveLevel, res.NextBootLevel)
			case res.License != nil:
				l := res.License
				tb.add(res.Device, res.Kind, l.Feature, l.ID, res.Status, l.State, timeOr(l.Expires, "never"), res.ActiveLevel, res.NextBootLevel)
			}
			return g.print(res, tb)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Device, "device", "", "device UDI")
	f.StringVar(&in.Feature, "feature", "", "feature level, e.g. ipservices")
	f.StringVar(&in.PAK, "pak", "", "issue an extension license from this PAK instead")
	f.BoolVar(&in.Reload, "reload", false, "reload the device afterwards so that the level runs now")
	cmd.MarkFlagRequired("device")
	cmd.MarkFlagRequired("feature")
	return cmd
}

func newEvaluationsCmd(g *globals) *cobra.Command {
	var device, state string
	cmd := &cobra.Command{
		Use: "evaluations", Short: "List tracked evaluation licenses and when they end", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[evaluationJSON](newClient(g), "/v1/evaluations"+query("device", device, "state", state))
			if err != nil {
				return err
			}
			return g.print(items, evaluationTable(items...))
		},
	}
	cmd.Flags().StringVar(&device, "device", "", "only this device's (UDI)")
	cmd.Flags().StringVar(&state, "state", "", "only in this state: notInUse, inUse, expiredInUse, expiredNotInUse, replaced")
	return cmd
}

// newLicenseFileCmd is `license file ID` or `license file --device UDI`.
func newLicenseFileCmd(g *globals) *cobra.Command {
	var device string
	cmd := &cobra.Command{
		Use:   "file (ID | --device UDI)",
		Short: "Print a license's signed license file, or one file with every live license of a device (XML)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var path string
			switch {
			case len(args) == 1 && device == "":
				path = "/v1/licenses/" + pathEscape(args[0]) + "/file"
			case len(args) == 0 && device != "":
				path = "/v1/devices/" + pathEscape(device) + "/licenses/file"
			default:
				return fmt.Errorf("give a license ID or --device UDI, not both")
			}
			b, err := newClient(g).raw("GET", path, nil)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&device, "device", "", "every live license of this device (UDI) in one file")
	return cmd
}
