// Command devicesim runs a fleet of simulated network devices (Catalyst
// 3750-E / 3560-E switches, 860 / 880 ISR routers) that speak NETCONF over
// SSH, one loopback address per device.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/licbroker/licbroker/configs"
	"github.com/licbroker/licbroker/devicesim"
	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{Use: "devicesim", Short: "Simulated network devices over NETCONF", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newServeCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "devicesim: "+err.Error())
		os.Exit(1)
	}
}

func newServeCmd() *cobra.Command {
	var cfgFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a fleet of simulated devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configs.LoadFleet(cfgFile, cmd.Flags())
			if err != nil {
				return err
			}
			return serve(cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "", "config file (YAML)")
	f.Int("count", 20, "number of devices")
	f.String("first-address", "127.1.0.1", "address of the first device; the others follow")
	f.Int("port", 8300, "NETCONF port of every device")
	f.String("state-dir", "", "directory keeping device state across restarts")
	f.String("trust", "", "PEM file with the public keys devices trust (the broker's trusted-keys.pem)")
	f.Uint64("seed", 1, "seed for serial numbers and host keys")
	f.String("control-addr", "127.0.0.1:8399", "HTTP control endpoint address (empty to disable)")
	return cmd
}

func serve(cfg configs.Fleet) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if cfg.Trust == "" {
		return errors.New("--trust is required: the broker's trusted-keys.pem (in its data directory)")
	}
	fleet, err := devicesim.NewFleet(devicesim.FleetConfig{
		Count: cfg.Count, FirstAddress: netip.MustParseAddr(cfg.FirstAddress), Port: cfg.Port, Seed: cfg.Seed,
		Mix: cfg.Mix, Username: cfg.Username, Password: cfg.Password, TrustFile: cfg.Trust,
		StateDir: cfg.StateDir, Clock: devicesim.NewClock(time.Now(), cfg.ClockSpeed), Logger: log,
	})
	if err != nil {
		return err
	}
	if err := fleet.Start(); err != nil {
		return err
	}
	defer fleet.Close()
	devs := fleet.Devices()
	log.Info("fleet listening", "devices", len(devs), "first", devs[0].Addr, "last", devs[len(devs)-1].Addr, "port", cfg.Port)

	var ctl *http.Server
	if cfg.ControlAddr != "" {
		ln, err := net.Listen("tcp", cfg.ControlAddr)
		if err != nil {
			return fmt.Errorf("control endpoint: %w", err)
		}
		ctl = &http.Server{Handler: controlHandler(fleet), ReadHeaderTimeout: 5 * time.Second}
		go ctl.Serve(ln)
		log.Info("control endpoint", "url", "http://"+ln.Addr().String())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("shutting down")
	if ctl != nil {
		ctl.Close()
	}
	return nil
}

// controlHandler serves the local control endpoint.
func controlHandler(f *devicesim.Fleet) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		type dev struct {
			Index   int    `json:"index"`
			Address string `json:"address"`
			UDI     string `json:"udi"`
			Active  string `json:"active_level"`
		}
		var out []dev
		for _, d := range f.Devices() {
			out = append(out, dev{Index: d.Index, Address: fmt.Sprintf("%s:%d", d.Addr, f.Port()), UDI: d.UDI().String(), Active: d.ActiveLevel()})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	return m
}
