package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newLicenseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "license", Short: "Obtain, install and inspect licenses"}
	var paks []string
	var isel selector
	var storeOnly, wait bool
	install := &cobra.Command{
		Use:   "install --pak PAK [--pak PAK2...] (--device UDI... | --all | --group G | --family F | --pid P) [--store-only] [--wait]",
		Short: "License devices from PAKs (sign, record, install over NETCONF, or keep in inventory)",
		Long: `License devices from one or more PAKs. For every SKU a device is eligible
for, a key bound to the device is signed and redeemed from the first PAK
with units left, then installed over NETCONF (or, with --store-only, kept in
inventory for "license deploy"). A device that already holds a live license
for the feature is not charged again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := isel.body()
			in["paks"], in["store_only"] = paks, storeOnly
			c := newClient(g)
			var j jobJSON
			if err := c.do("POST", "/v1/licenses/install", in, &j); err != nil {
				return err
			}
			if !wait {
				return printJobStarted(g, j)
			}
			return waitJobOpts(g, c, j.ID, true)
		},
	}
	f := install.Flags()
	f.StringSliceVar(&paks, "pak", nil, "PAK id (repeatable: several PAKs pool their units per SKU)")
	isel.flags(install, true)
	f.BoolVar(&storeOnly, "store-only", false, "keep the licenses in inventory; do not install them")
	f.BoolVar(&wait, "wait", false, "wait for the job (progress bar on a terminal) and show its results")
	install.MarkFlagRequired("pak")
	cmd.AddCommand(install)

	var fDevice, fPAK, fState string
	list := &cobra.Command{
		Use: "list", Short: "List license records", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[licenseJSON](newClient(g), "/v1/licenses"+query("device", fDevice, "pak", fPAK, "state", fState))
			if err != nil {
				return err
			}
			return g.print(items, licenseTable(items...))
		},
	}
	list.Flags().StringVar(&fDevice, "device", "", "only this device's (UDI)")
	list.Flags().StringVar(&fPAK, "pak", "", "only from this PAK")
	list.Flags().StringVar(&fState, "state", "", "only in this state: issued, installed, revoked, rehosted")
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use: "show ID", Short: "Show a license record and its history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l licenseJSON
			if err := newClient(g).do("GET", "/v1/licenses/"+pathEscape(args[0]), nil, &l); err != nil {
				return err
			}
			tb := &table{header: []string{"time", "actor", "what"}}
			for _, e := range l.History {
				tb.add(e.Time.Format(time.RFC3339), e.Actor, e.What)
			}
			if g.output == "table" {
				if err := g.print(l, licenseTable(l)); err != nil {
					return err
				}
				fmt.Println()
			}
			return g.print(l, tb)
		},
	})
	var reason string
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a license record (the device is not contacted)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l licenseJSON
			if err := newClient(g).do("POST", "/v1/licenses/"+pathEscape(args[0])+"/revoke", map[string]string{"reason": reason}, &l); err != nil {
				return err
			}
			return g.print(l, licenseTable(l))
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.AddCommand(revoke)
	cmd.AddCommand(newLicenseFileCmd(g), newTempCmd(g), newEvaluationsCmd(g))
	var dsel selector
	var file string
	var dpaks []string
	var dwait bool
	deploy := &cobra.Command{
		Use:   "deploy (--device UDI... | --all | --group G | --family F | --pid P) [--pak PAK...] [--wait] | deploy --device UDI --file F",
		Short: "Install the licenses kept in inventory on their devices, or a license file on one device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				if len(dsel.devices) != 1 || dsel.all || dsel.group != "" || dsel.family != "" || dsel.pid != "" || len(dpaks) > 0 {
					return fmt.Errorf("--file installs on exactly one --device (no other selection or --pak)")
				}
				return deployFile(g, dsel.devices[0], file)
			}
			in := dsel.body()
			in["paks"] = dpaks
			c := newClient(g)
			var j jobJSON
			if err := c.do("POST", "/v1/licenses/deploy", in, &j); err != nil {
				return err
			}
			if !dwait {
				return printJobStarted(g, j)
			}
			return waitJobOpts(g, c, j.ID, true)
		},
	}
	dsel.flags(deploy, true)
	deploy.Flags().StringVar(&file, "file", "", "license file to install as it is (on one --device)")
	deploy.Flags().StringSliceVar(&dpaks, "pak", nil, "only the licenses of this PAK (repeatable)")
	deploy.Flags().BoolVar(&dwait, "wait", false, "wait for the job (progress bar on a terminal) and show its results")
	cmd.AddCommand(deploy)
	return cmd
}

func licenseTable(ls ...licenseJSON) *table {
	tb := &table{header: []string{"id", "tenant", "udi", "pak", "feature", "type", "state", "issued", "expires"}}
	for _, x := range ls {
		exp := "never"
		if x.Expires != nil {
			exp = x.Expires.Format(time.RFC3339)
		}
		tb.add(x.ID, orDash(x.Tenant), x.UDI, orDash(x.PAK), x.Feature, x.Type, x.State, x.IssuedAt.Format(time.RFC3339), exp)
	}
	return tb
}

// deployFile installs a license file on one device as it is.
func deployFile(g *globals, udi, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var out struct {
		Results []struct {
			Line      int    `json:"line"`
			LicenseID string `json:"license_id"`
			Feature   string `json:"feature"`
			Status    string `json:"status"`
			Reason    string `json:"reason"`
		} `json:"results"`
	}
	if err := newClient(g).do("POST", "/v1/licenses/deploy-file", map[string]string{"device": udi, "file": string(data)}, &out); err != nil {
		return err
	}
	tb := &table{header: []string{"line", "license", "feature", "status", "reason"}}
	var firstFail string
	for _, r := range out.Results {
		tb.add(strconv.Itoa(r.Line), orDash(r.LicenseID), orDash(r.Feature), r.Status, orDash(r.Reason))
		if r.Status == "failed" && firstFail == "" {
			firstFail = fmt.Sprintf("device %s refused license line %d: %s", udi, r.Line, r.Reason)
		}
	}
	if err := g.print(out, tb); err != nil {
		return err
	}
	if firstFail != "" {
		return fmt.Errorf("%s", firstFail)
	}
	return nil
}
