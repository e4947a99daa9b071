package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/spf13/cobra"
)

// ctlClient calls a running fleet's control endpoint.
type ctlClient struct {
	base string
	http *http.Client
}

func newCtlClient(cmd *cobra.Command) *ctlClient {
	addr, _ := cmd.Flags().GetString("control-addr")
	return &ctlClient{base: "http://" + addr, http: &http.Client{Timeout: 5 * time.Minute}}
}

// call sends a request and decodes the JSON answer into out (if not nil).
func (c *ctlClient) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control endpoint %s: %w (is `devicesim serve` running with --control-addr?)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("control endpoint %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return errors.New(strings.TrimPrefix(e.Error.Message, "devicesim: "))
		}
		return fmt.Errorf("control endpoint %s: %s", c.base, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("control endpoint %s: bad answer: %w", c.base, err)
		}
	}
	return nil
}

func ctlFlags(cmd *cobra.Command) *cobra.Command {
	def := os.Getenv("DEVICESIM_CONTROL_ADDR")
	if def == "" {
		def = "127.0.0.1:8399"
	}
	cmd.Flags().String("control-addr", def, "control endpoint of the running fleet (env DEVICESIM_CONTROL_ADDR)")
	return cmd
}

func outputFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().StringP("output", "o", "table", "output format: table or json")
	return cmd
}

func output(cmd *cobra.Command) (string, error) {
	o, _ := cmd.Flags().GetString("output")
	if o != "table" && o != "json" {
		return "", fmt.Errorf("--output %q: want table or json", o)
	}
	return o, nil
}

// expandIDs expands ranges of addresses ("127.1.0.1-127.1.0.20") and of
// indexes ("0-9"); other ids (UDIs, serials) pass through.
func expandIDs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		lo, hi, ok := strings.Cut(a, "-")
		if !ok {
			out = append(out, a)
			continue
		}
		if i, err1 := strconv.Atoi(lo); err1 == nil {
			j, err2 := strconv.Atoi(hi)
			if err2 != nil || j < i || j-i >= devicesim.MaxDevices {
				return nil, fmt.Errorf("bad index range %q", a)
			}
			for k := i; k <= j; k++ {
				out = append(out, strconv.Itoa(k))
			}
			continue
		}
		first, err1 := netip.ParseAddr(lo)
		last, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil {
			out = append(out, a) // a UDI such as WS-C3750E-24TD-S:FDO1307R0W9
			continue
		}
		if last.Less(first) {
			return nil, fmt.Errorf("bad address range %q: last before first", a)
		}
		for ad, n := first, 0; ; ad, n = ad.Next(), n+1 {
			if n >= devicesim.MaxDevices {
				return nil, fmt.Errorf("address range %q is larger than %d", a, devicesim.MaxDevices)
			}
			out = append(out, ad.String())
			if ad == last {
				break
			}
		}
	}
	return out, nil
}

// eachDevice runs a POST action on every device named by args and prints
// one line per device.
func eachDevice(action, done string) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ids, err := expandIDs(args)
		if err != nil {
			return err
		}
		c := newCtlClient(cmd)
		for _, id := range ids {
			var info devicesim.DeviceInfo
			if err := c.call(http.MethodPost, "/devices/"+url.PathEscape(id)+"/"+action, nil, &info); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s (active %s, powered %t)\n", info.Address, info.UDI, done, info.ActiveLevel, info.Powered)
		}
		return nil
	}
}

func addControlCmds(root *cobra.Command) {
	list := &cobra.Command{Use: "list", Short: "List the devices of the running fleet", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := output(cmd)
			if err != nil {
				return err
			}
			var devs []devicesim.DeviceInfo
			if err := newCtlClient(cmd).call(http.MethodGet, "/devices", nil, &devs); err != nil {
				return err
			}
			if o == "json" {
				return writeJSON(cmd, devs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INDEX\tADDRESS\tUDI\tVERSION\tACTIVE\tNEXT BOOT\tPOWER\tFAULT")
			for _, d := range devs {
				power := "on"
				if !d.Powered {
					power = "off"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Index, d.Address, d.UDI, d.SoftwareVersion,
					d.ActiveLevel, d.NextBootLevel, power, d.Fault)
			}
			return w.Flush()
		}}
	show := &cobra.Command{Use: "show ID", Short: "Show one device and its licenses", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := output(cmd)
			if err != nil {
				return err
			}
			var d devicesim.DeviceInfo
			if err := newCtlClient(cmd).call(http.MethodGet, "/devices/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			if o == "json" {
				return writeJSON(cmd, d)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "Device %d at %s: %s, %s %s\n", d.Index, d.Address, d.UDI, d.Image, d.SoftwareVersion)
			fmt.Fprintf(w, "License level %s, next reload %s; host key %s; fault %s\n\n", d.ActiveLevel, d.NextBootLevel, d.HostKey, d.Fault)
			fmt.Fprintln(w, "INDEX\tFEATURE\tTYPE\tSTATE\tPERIOD LEFT\tID")
			for _, l := range d.Licenses {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", l.Index, l.Feature, l.Type, l.State, l.PeriodLeft, l.ID)
			}
			return w.Flush()
		}}
	reload := &cobra.Command{Use: "reload ID...", Short: "Reload devices (ID: index, address, UDI, or a range a-b)",
		Args: cobra.MinimumNArgs(1), RunE: eachDevice("reload", "reloaded")}
	replace := &cobra.Command{Use: "replace ID...", Short: "Replace devices by new units (RMA): new serial and host key, same address",
		Args: cobra.MinimumNArgs(1), RunE: eachDevice("replace", "is the replacement")}
	power := &cobra.Command{Use: "power on|off ID...", Short: "Power devices on or off", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "on":
				return eachDevice("power-on", "powered on")(cmd, args[1:])
			case "off":
				return eachDevice("power-off", "powered off")(cmd, args[1:])
			}
			return fmt.Errorf("power %q: want on or off", args[0])
		}}
	upgrade := &cobra.Command{Use: "upgrade ID... --version V", Short: "Install another image release and reload (licenses are kept)",
		Args: cobra.MinimumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			v, _ := cmd.Flags().GetString("version")
			if v == "" {
				return errors.New("--version is required, e.g. 12.2(55)SE")
			}
			ids, err := expandIDs(args)
			if err != nil {
				return err
			}
			c := newCtlClient(cmd)
			for _, id := range ids {
				var info devicesim.DeviceInfo
				if err := c.call(http.MethodPost, "/devices/"+url.PathEscape(id)+"/upgrade", devicesim.UpgradeRequest{Version: v}, &info); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s runs %s (active %s)\n", info.Address, info.UDI, info.SoftwareVersion, info.ActiveLevel)
			}
			return nil
		}}
	upgrade.Flags().String("version", "", "software version, e.g. 12.2(55)SE")
	for _, c := range []*cobra.Command{outputFlag(list), outputFlag(show), reload, replace, power, upgrade} {
		root.AddCommand(ctlFlags(c))
	}
	root.AddCommand(newFaultCmd(), newClockCmd(), newTrustCmd())
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
