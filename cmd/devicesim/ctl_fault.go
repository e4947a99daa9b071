package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/spf13/cobra"
)

func newFaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "fault", Short: "Inject faults into devices, or clear them"}
	set := &cobra.Command{Use: "set ID... [--unreachable] [--latency D] [--auth-failure] [--drop before|after] [--storage-full]",
		Short: "Set the faults of devices (replacing their current faults)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			var f devicesim.Fault
			f.Unreachable, _ = fl.GetBool("unreachable")
			f.AuthFailure, _ = fl.GetBool("auth-failure")
			f.StorageFull, _ = fl.GetBool("storage-full")
			drop, _ := fl.GetString("drop")
			f.Drop = devicesim.DropMode(drop)
			if lat, _ := fl.GetString("latency"); lat != "" {
				d, err := devicesim.ParseDuration(lat)
				if err != nil {
					return fmt.Errorf("--latency: %w", err)
				}
				f.Latency = d
			}
			if err := f.Validate(); err != nil {
				return err
			}
			if f == (devicesim.Fault{}) {
				return fmt.Errorf("no fault given: use --unreachable, --latency, --auth-failure, --drop or --storage-full (or `fault clear`)")
			}
			return putFaults(cmd, args, f, "fault "+f.String())
		}}
	set.Flags().Bool("unreachable", false, "accept connections and stay silent, so clients time out")
	set.Flags().String("latency", "", "delay every NETCONF reply, e.g. 2s")
	set.Flags().Bool("auth-failure", false, "fail every SSH authentication")
	set.Flags().String("drop", "", "drop the session without a reply: before or after applying the request")
	set.Flags().Bool("storage-full", false, "fail license installs with \"license storage full\"")
	clear := &cobra.Command{Use: "clear ID...", Short: "Clear the faults of devices", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return putFaults(cmd, args, devicesim.Fault{}, "healthy")
		}}
	cmd.AddCommand(ctlFlags(set), ctlFlags(clear))
	return cmd
}

func putFaults(cmd *cobra.Command, args []string, f devicesim.Fault, done string) error {
	ids, err := expandIDs(args)
	if err != nil {
		return err
	}
	c := newCtlClient(cmd)
	method := http.MethodPut
	var body any = f
	if f == (devicesim.Fault{}) {
		method, body = http.MethodDelete, nil
	}
	for _, id := range ids {
		if err := c.call(method, "/devices/"+url.PathEscape(id)+"/fault", body, nil); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d device(s): %s\n", len(ids), done)
	return nil
}

func newClockCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "clock", Short: "Show or change the fleet's simulated time"}
	show := &cobra.Command{Use: "show", Short: "Show the simulated time and speed", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clockCall(cmd, http.MethodGet, nil)
		}}
	advance := &cobra.Command{Use: "advance DURATION", Short: "Move simulated time forward, e.g. 61d, 8w4d, 36h",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := devicesim.ParseDuration(args[0]); err != nil {
				return err
			}
			return clockCall(cmd, http.MethodPost, devicesim.ClockRequest{Advance: args[0]})
		}}
	speed := &cobra.Command{Use: "speed FACTOR", Short: "Set the speed of simulated time (1 = real time, 1440 = a day per minute)",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			s, err := strconv.ParseFloat(strings.TrimSuffix(args[0], "x"), 64)
			if err != nil || s <= 0 {
				return fmt.Errorf("speed %q: want a positive number", args[0])
			}
			return clockCall(cmd, http.MethodPost, devicesim.ClockRequest{Speed: s})
		}}
	cmd.AddCommand(ctlFlags(show), ctlFlags(advance), ctlFlags(speed))
	return cmd
}

func clockCall(cmd *cobra.Command, method string, in any) error {
	var ci devicesim.ClockInfo
	if err := newCtlClient(cmd).call(method, "/clock", in, &ci); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "simulated time %s, speed %gx\n", ci.Now.Format(time.RFC3339), ci.Speed)
	return nil
}

func newTrustCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Manage the public keys the devices trust"}
	reload := &cobra.Command{Use: "reload", Short: "Re-read the trusted keys file (after the broker rotated its key)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				KeyIDs []string `json:"key_ids"`
			}
			if err := newCtlClient(cmd).call(http.MethodPost, "/trust/reload", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "devices trust %d key(s): %s\n", len(out.KeyIDs), strings.Join(out.KeyIDs, ", "))
			return nil
		}}
	cmd.AddCommand(ctlFlags(reload))
	return cmd
}
