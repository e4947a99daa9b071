package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// JSON shapes of the rehost API (the client does not import broker).

type rehostedLicenseJSON struct {
	From      string     `json:"from"`
	To        string     `json:"to"`
	Feature   string     `json:"feature"`
	Type      string     `json:"type"`
	Expires   *time.Time `json:"expires_at"`
	Preloaded bool       `json:"preloaded"`
}

type hostKeyJSON struct {
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
	Previous    string `json:"previous"`
}

type rehostJSON struct {
	Failed      string                `json:"failed"`
	Replacement string                `json:"replacement"`
	Tenant      string                `json:"tenant"`
	RMA         string                `json:"rma"`
	Spare       bool                  `json:"spare"`
	Licenses    []rehostedLicenseJSON `json:"licenses"`
	Created     time.Time             `json:"created"`
	Installed   *time.Time            `json:"installed"`
	HostKey     *hostKeyJSON          `json:"host_key"`
	History     []eventJSON           `json:"history"`
}

type rehostInstallJSON struct {
	Address string `json:"address"`
	OK      bool   `json:"ok"`
	Reason  string `json:"reason"`
	Results []struct {
		License string `json:"license"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
	} `json:"results"`
	HostKey       *hostKeyJSON `json:"host_key"`
	ActiveLevel   string       `json:"active_level"`
	NextBootLevel string       `json:"next_boot_level"`
}

type rehostResultJSON struct {
	Rehost   rehostJSON         `json:"rehost"`
	Existing bool               `json:"existing"`
	Licenses []licenseJSON      `json:"licenses"`
	Install  *rehostInstallJSON `json:"install"`
}

// count renders "1 license", "2 licenses".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func rehostTable(rs ...rehostJSON) *table {
	tb := &table{header: []string{"failed", "replacement", "tenant", "rma", "licenses", "spare", "created", "installed"}}
	for _, r := range rs {
		tb.add(r.Failed, r.Replacement, r.Tenant, orDash(r.RMA), strconv.Itoa(len(r.Licenses)), strconv.FormatBool(r.Spare),
			r.Created.Format(time.RFC3339), timeOr(r.Installed, "-"))
	}
	return tb
}

// rehostLicensesTable lists what moved, the new license's state and the
// device's install answer.
func rehostLicensesTable(res rehostResultJSON) *table {
	state := map[string]string{}
	for _, l := range res.Licenses {
		state[l.ID] = l.State
	}
	install := map[string]string{}
	if res.Install != nil {
		for _, r := range res.Install.Results {
			install[r.License] = r.Status
		}
	}
	tb := &table{header: []string{"from", "to", "feature", "type", "expires", "key", "state", "install"}}
	for _, l := range res.Rehost.Licenses {
		key := "regenerated"
		if l.Preloaded {
			key = "preloaded"
		}
		tb.add(l.From, l.To, l.Feature, l.Type, timeOr(l.Expires, "never"), key, orDash(state[l.To]), orDash(install[l.To]))
	}
	return tb
}

func newRehostCmd(g *globals) *cobra.Command {
	var in struct {
		Failed      string `json:"failed"`
		Replacement string `json:"replacement"`
		RMA         string `json:"rma,omitempty"`
		Install     bool   `json:"install,omitempty"`
		Address     string `json:"address,omitempty"`
		HostKey     string `json:"host_key,omitempty"`
	}
	cmd := &cobra.Command{
		Use:   "rehost --failed UDI --replacement UDI [--rma N] [--install]",
		Short: "Move a failed device's licenses to its replacement (RMA); repeating it changes nothing",
		Long: "Revokes the failed device's licenses and regenerates them for the replacement (same features, types and end dates)\n" +
			"from the broker's records; the failed device is not contacted. A depot spare's preloaded keys are used where they match.\n" +
			"--install pushes the keys to the replacement over NETCONF: at its inventory address, --address, or else the failed\n" +
			"device's address, where its new SSH host key is accepted once the device proves to be the replacement\n" +
			"(--host-key pins the exact key).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res rehostResultJSON
			if err := newClient(g).do("POST", "/v1/rehosts", in, &res); err != nil {
				return err
			}
			rh := res.Rehost
			if g.output == "table" {
				switch {
				case res.Existing:
					fmt.Printf("%s was already rehosted to %s on %s: nothing changed", rh.Failed, rh.Replacement, rh.Created.Format(time.DateOnly))
				default:
					fmt.Printf("rehosted %s from %s to %s", count(len(rh.Licenses), "license"), rh.Failed, rh.Replacement)
				}
				if rh.RMA != "" {
					fmt.Printf(" (RMA %s)", rh.RMA)
				}
				fmt.Println()
				if i := res.Install; i != nil && i.HostKey != nil {
					fmt.Printf("accepted the replacement's host key %s at %s (was %s)\n", i.HostKey.Fingerprint, i.HostKey.Address, orDash(i.HostKey.Previous))
				}
				if i := res.Install; i != nil && i.OK {
					fmt.Printf("installed on %s at %s; it runs %s, next reload %s\n", rh.Replacement, i.Address, i.ActiveLevel, i.NextBootLevel)
				}
			}
			if err := g.print(res, rehostLicensesTable(res)); err != nil {
				return err
			}
			if i := res.Install; i != nil && !i.OK {
				return fmt.Errorf("rehost recorded (%s for %s), but installing failed: %s", count(len(rh.Licenses), "license"), rh.Replacement, i.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Failed, "failed", "", "UDI of the failed device (PID:SN)")
	f.StringVar(&in.Replacement, "replacement", "", "UDI of the replacement unit (PID:SN)")
	f.StringVar(&in.RMA, "rma", "", "RMA number, if one exists (attach it later with rehost attach-rma)")
	f.BoolVar(&in.Install, "install", false, "install the new keys on the replacement over NETCONF")
	f.StringVar(&in.Address, "address", "", "with --install: IP:port where the replacement answers, if not at the failed device's address")
	f.StringVar(&in.HostKey, "host-key", "", "with --install: the replacement's SSH host key fingerprint (SHA256:...); no other key is accepted")
	cmd.MarkFlagRequired("failed")
	cmd.MarkFlagRequired("replacement")

	var failed, rma string
	attach := &cobra.Command{
		Use: "attach-rma --failed UDI --rma N", Short: "Attach an RMA number to a rehost done before it existed", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rh rehostJSON
			if err := newClient(g).do("POST", "/v1/rehosts/"+pathEscape(failed)+"/rma", map[string]string{"rma": rma}, &rh); err != nil {
				return err
			}
			return g.print(rh, rehostTable(rh))
		},
	}
	attach.Flags().StringVar(&failed, "failed", "", "UDI of the failed device")
	attach.Flags().StringVar(&rma, "rma", "", "RMA number")
	attach.MarkFlagRequired("failed")
	attach.MarkFlagRequired("rma")
	cmd.AddCommand(attach)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List rehosts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[rehostJSON](newClient(g), "/v1/rehosts")
			if err != nil {
				return err
			}
			return g.print(items, rehostTable(items...))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show FAILED_UDI", Short: "Show the rehost of a failed device, what moved and its history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rh rehostJSON
			if err := newClient(g).do("GET", "/v1/rehosts/"+pathEscape(args[0]), nil, &rh); err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(rh, rehostTable(rh))
			}
			if err := g.print(rh, rehostTable(rh)); err != nil {
				return err
			}
			fmt.Println()
			lics, err := getAll[licenseJSON](newClient(g), "/v1/licenses"+query("device", rh.Replacement))
			if err != nil {
				return err
			}
			if err := g.print(rh, rehostLicensesTable(rehostResultJSON{Rehost: rh, Licenses: lics})); err != nil {
				return err
			}
			fmt.Println()
			tb := &table{header: []string{"time", "actor", "what"}}
			for _, e := range rh.History {
				tb.add(e.Time.Format(time.RFC3339), e.Actor, e.What)
			}
			return g.print(rh, tb)
		},
	})
	return cmd
}
