package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newDeviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Discover and inspect devices"}
	var port, concurrency int
	var creds string
	var wait bool
	discover := &cobra.Command{
		Use:   "discover CIDR... [--port N] [--credentials NAME] [--concurrency N] [--wait]",
		Short: "Discover devices by address over NETCONF (identity and license state)",
		Long: `Discover devices by address: each address of the CIDRs is dialed over
SSH, the netconf subsystem opened, and the device's identity (ietf-hardware)
and license state read and recorded. Addresses where nothing answers, or
where the login fails or the NETCONF server has no licensing model, are
listed with the reason; the job goes on. A device at a known address whose
identity changed is reported and recorded beside the old record.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{"targets": args, "port": port, "credentials": creds, "concurrency": concurrency}
			var j jobJSON
			c := newClient(g)
			if err := c.do("POST", "/v1/discover", in, &j); err != nil {
				return err
			}
			if !wait {
				return printJobStarted(g, j)
			}
			return waitJob(g, c, j.ID)
		},
	}
	discover.Flags().IntVar(&port, "port", 0, "NETCONF port (default: the broker's netconf_port, 830 unless configured)")
	discover.Flags().StringVar(&creds, "credentials", "default", "device login profile")
	discover.Flags().IntVar(&concurrency, "concurrency", 0, "sessions open at once (default: the broker's device_concurrency)")
	discover.Flags().BoolVar(&wait, "wait", false, "wait for the job (progress bar on a terminal) and show its results")
	cmd.AddCommand(discover)

	var sel selector
	var rwait bool
	refresh := &cobra.Command{
		Use:   "refresh [UDI...] [--all | --group G | --family F | --pid P] [--wait]",
		Short: "Re-read devices over NETCONF and record what changed",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sel.devices = append(sel.devices, args...)
			in := sel.body()
			c := newClient(g)
			var j jobJSON
			if err := c.do("POST", "/v1/refresh", in, &j); err != nil {
				return err
			}
			if !rwait {
				return printJobStarted(g, j)
			}
			return waitJobOpts(g, c, j.ID, true)
		},
	}
	sel.flags(refresh, false)
	refresh.Flags().BoolVar(&rwait, "wait", false, "wait for the job (progress bar on a terminal) and show its results")
	cmd.AddCommand(refresh)

	var group, family string
	list := &cobra.Command{
		Use: "list", Short: "List devices", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[deviceJSON](newClient(g), "/v1/devices"+query("group", group, "family", family))
			if err != nil {
				return err
			}
			tb := &table{header: []string{"udi", "tenant", "address", "family", "version", "active", "next_boot", "licenses", "groups"}}
			for _, d := range items {
				tb.add(d.UDI, d.Tenant, d.Address, d.Family, d.SoftwareVersion, d.ActiveLevel, d.NextBootLevel, licenseSummary(d.Licenses),
					orDash(strings.Join(d.Groups, " ")))
			}
			return g.print(items, tb)
		},
	}
	list.Flags().StringVar(&group, "group", "", "only devices in this group")
	list.Flags().StringVar(&family, "family", "", "only this family (3750e, 3560e, 880, 860)")
	cmd.AddCommand(list)
	var add, remove []string
	grp := &cobra.Command{
		Use: "group UDI... (--add G | --remove G)...", Short: "Add devices to groups or remove them (a device may be in several)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(g)
			var out []deviceJSON
			for _, u := range args {
				var d deviceJSON
				if err := c.do("POST", "/v1/devices/"+pathEscape(u)+"/groups", map[string][]string{"add": add, "remove": remove}, &d); err != nil {
					return fmt.Errorf("%s: %w", u, err)
				}
				out = append(out, d)
			}
			tb := &table{header: []string{"udi", "groups"}}
			for _, d := range out {
				tb.add(d.UDI, orDash(strings.Join(d.Groups, " ")))
			}
			return g.print(out, tb)
		},
	}
	grp.Flags().StringSliceVar(&add, "add", nil, "group to add the devices to (repeatable)")
	grp.Flags().StringSliceVar(&remove, "remove", nil, "group to remove the devices from (repeatable)")
	cmd.AddCommand(grp)
	cmd.AddCommand(&cobra.Command{
		Use: "groups", Short: "List device groups and their sizes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[struct {
				Name    string `json:"name"`
				Tenant  string `json:"tenant"`
				Devices int    `json:"devices"`
			}](newClient(g), "/v1/groups")
			if err != nil {
				return err
			}
			tb := &table{header: []string{"group", "tenant", "devices"}}
			for _, x := range items {
				tb.add(x.Name, x.Tenant, strconv.Itoa(x.Devices))
			}
			return g.print(items, tb)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show UDI", Short: "Show one device and its licenses", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d deviceJSON
			if err := newClient(g).do("GET", "/v1/devices/"+pathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			return g.print(d, deviceTable(d))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "reload UDI", Short: "Reload a device over NETCONF and record its new state", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d deviceJSON
			if err := newClient(g).do("POST", "/v1/devices/"+pathEscape(args[0])+"/reload", nil, &d); err != nil {
				return err
			}
			return g.print(d, deviceTable(d))
		},
	})
	return cmd
}

// licenseSummary lists the installed (non built-in) licenses as
// feature/type/state.
func licenseSummary(ls []deviceLicenseJSON) string {
	var parts []string
	for _, l := range ls {
		if l.Type == "evaluation" && l.State == "inactive" {
			continue
		}
		parts = append(parts, l.Feature+"/"+l.Type+"/"+l.State)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func deviceTable(d deviceJSON) *table {
	tb := &table{header: []string{"udi", "address", "family", "version", "active", "next_boot", "license", "feature", "type", "state", "expires"}}
	if len(d.Licenses) == 0 {
		tb.add(d.UDI, d.Address, d.Family, d.SoftwareVersion, d.ActiveLevel, d.NextBootLevel, "-", "-", "-", "-", "-")
	}
	for _, l := range d.Licenses {
		exp := "never"
		if l.ExpiresAt != nil {
			exp = l.ExpiresAt.Format(time.RFC3339)
		} else if l.Type != "permanent" {
			exp = "-"
		}
		tb.add(d.UDI, d.Address, d.Family, d.SoftwareVersion, d.ActiveLevel, d.NextBootLevel, orDash(l.ID), l.Feature, l.Type, l.State, exp)
	}
	return tb
}

// selector holds the flags that choose the devices of a job.
type selector struct {
	devices            []string
	all                bool
	group, family, pid string
	concurrency        int
}

// flags adds the selection flags to a command (--device too if withDevice).
func (s *selector) flags(cmd *cobra.Command, withDevice bool) {
	f := cmd.Flags()
	if withDevice {
		f.StringSliceVar(&s.devices, "device", nil, "device UDI (repeatable)")
	}
	f.BoolVar(&s.all, "all", false, "every device of the tenant (that the job applies to)")
	f.StringVar(&s.group, "group", "", "the devices of this group")
	f.StringVar(&s.family, "family", "", "the devices of this family (3750e, 3560e, 880, 860)")
	f.StringVar(&s.pid, "pid", "", "the devices whose product ID starts with this")
	f.IntVar(&s.concurrency, "concurrency", 0, "sessions open at once (default: the broker's device_concurrency)")
}

// body is the selection as request fields.
func (s *selector) body() map[string]any {
	return map[string]any{"devices": s.devices, "all": s.all, "group": s.group, "family": s.family, "pid": s.pid,
		"concurrency": s.concurrency}
}
