// Command devicesim runs a fleet of simulated network devices (Catalyst
// 3750-E / 3560-E switches, 860 / 880 ISR routers) that speak NETCONF over
// SSH, one loopback address per device, and controls a running fleet
// through its local HTTP control endpoint.
package main

import (
	"context"
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
	"github.com/licbroker/licbroker/netconf"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

func main() {
	root := &cobra.Command{Use: "devicesim", Short: "Simulated network devices over NETCONF", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newServeCmd())
	addControlCmds(root)
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
		Long: `Run a fleet of simulated devices. The fleet listens once on 0.0.0.0:<port>
and serves each of its loopback addresses as one device. SIGHUP re-reads the
trusted keys file; SIGINT or SIGTERM stops the fleet (state is kept in
--state-dir).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configs.LoadFleet(cfgFile, cmd.Flags())
			if err != nil {
				return err
			}
			dir, _ := cmd.Flags().GetString("profile-dir")
			return serve(cfg, dir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "", "config file (YAML)")
	f.Int("count", 20, "number of devices")
	f.String("first-address", "127.1.0.1", "address of the first device; the others follow")
	f.Int("port", 8300, "NETCONF port of every device")
	f.String("state-dir", "", "directory keeping device state across restarts")
	f.String("trust", "", "PEM file with the public keys devices trust (the broker's trusted-keys.pem)")
	f.Uint64("seed", 1, "seed for serial numbers, models and host keys")
	f.String("control-addr", "127.0.0.1:8399", "HTTP control endpoint address, loopback only (empty to disable)")
	f.Float64("clock-speed", 1, "speed of simulated time (1440 = a day per minute)")
	f.String("authorized-keys", "", "OpenSSH authorized_keys file whose keys may log in")
	f.String("profile-dir", "", "on SIGUSR1 start a CPU profile in this directory, on SIGUSR2 stop it (for benchmarks)")
	f.MarkHidden("profile-dir")
	return cmd
}

// fleetConfig turns the loaded configuration into a devicesim.FleetConfig.
func fleetConfig(cfg configs.Fleet, log *slog.Logger) (devicesim.FleetConfig, error) {
	fc := devicesim.FleetConfig{
		Count: cfg.Count, FirstAddress: netip.MustParseAddr(cfg.FirstAddress), Port: cfg.Port, Seed: cfg.Seed,
		Mix: cfg.Mix, Username: cfg.Username, Password: cfg.Password, TrustFile: cfg.Trust,
		StateDir: cfg.StateDir, Clock: devicesim.NewClock(time.Now(), cfg.ClockSpeed), Logger: log,
		SilentHold:    cfg.SilentHold,
		SSHAlgorithms: netconf.SSHAlgorithms{KeyExchanges: cfg.SSHKeyExchanges, Ciphers: cfg.SSHCiphers, MACs: cfg.SSHMACs},
	}
	if cfg.AuthorizedKeys != "" {
		keys, err := readAuthorizedKeys(cfg.AuthorizedKeys)
		if err != nil {
			return fc, err
		}
		fc.AuthorizedKeys = keys
	}
	for _, dc := range cfg.DeviceCredentials {
		fc.DeviceCredentials = append(fc.DeviceCredentials, devicesim.DeviceCredentials{
			First: netip.MustParseAddr(dc.First), Last: netip.MustParseAddr(dc.Last),
			Username: dc.Username, Password: dc.Password, AuthorizedKeys: fc.AuthorizedKeys})
	}
	return fc, nil
}

func readAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	var keys []ssh.PublicKey
	for len(data) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			if len(keys) == 0 {
				return nil, fmt.Errorf("authorized keys %s: no public key found: %w", path, err)
			}
			break
		}
		keys = append(keys, k)
		data = rest
	}
	return keys, nil
}

func serve(cfg configs.Fleet, profileDir string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if cfg.Trust == "" {
		return errors.New("--trust is required: the broker's trusted-keys.pem (in its data directory)")
	}
	fc, err := fleetConfig(cfg, log)
	if err != nil {
		return err
	}
	fleet, err := devicesim.NewFleet(fc)
	if err != nil {
		return err
	}
	if err := fleet.Start(); err != nil {
		return err
	}
	defer fleet.Close()

	var ctl *http.Server
	ctlDone := make(chan error, 1)
	if cfg.ControlAddr != "" {
		ln, err := net.Listen("tcp", cfg.ControlAddr)
		if err != nil {
			return fmt.Errorf("control endpoint: %w", err)
		}
		ctl = &http.Server{Handler: fleet.ControlHandler(), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute}
		go func() { ctlDone <- ctl.Serve(ln) }()
		log.Info("control endpoint", "url", "http://"+ln.Addr().String())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if profileDir != "" {
		stopProf := profileOnSignals(profileDir, log)
		defer stopProf()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		select {
		case <-hup:
			if ids, err := fleet.ReloadTrust(); err != nil {
				log.Error("SIGHUP: trusted keys not reloaded", "err", err)
			} else {
				log.Info("SIGHUP: trusted keys reloaded", "keys", ids)
			}
		case err := <-ctlDone:
			return fmt.Errorf("control endpoint: %w", err)
		case <-ctx.Done():
			log.Info("shutting down")
			if ctl != nil {
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ctl.Shutdown(sctx)
				cancel()
			}
			return nil
		}
	}
}
