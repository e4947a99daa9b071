package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/licbroker/licbroker/broker"
	"github.com/licbroker/licbroker/configs"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"github.com/licbroker/licbroker/raftstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var cfgFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker node (Raft store, signing keys, REST API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configs.LoadBroker(cfgFile, cmd.Flags())
			if err != nil {
				return err
			}
			return serve(cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "", "config file (YAML)")
	f.String("data-dir", "./data", "data directory")
	f.String("http-addr", "127.0.0.1:7800", "HTTP API address")
	f.String("raft-addr", "127.0.0.1:7900", "Raft address")
	f.String("node-id", "node1", "node id, unique in the cluster")
	f.Bool("bootstrap", true, "form a new cluster if this node has no Raft state")
	f.String("join", "", "URL of a cluster member to join")
	return cmd
}

// Paths inside a node's data directory.
const (
	keyringFile     = "keys/keyring.pem"
	trustedKeysFile = "trusted-keys.pem"
	adminTokenFile  = "admin-token"
	credKeyFile     = "credentials.key"
	knownHostsFile  = "known_hosts"
	raftDir         = "raft"
)

func serve(cfg configs.Broker) error {
	level := slog.LevelInfo
	if cfg.LogLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	algs := netconf.SSHAlgorithms{KeyExchanges: cfg.SSHKeyExchanges, Ciphers: cfg.SSHCiphers, MACs: cfg.SSHMACs,
		HostKeys: cfg.SSHHostKeyAlgorithms}
	if err := algs.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	kr, err := loadKeyring(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, trustedKeysFile), kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		return fmt.Errorf("writing trusted keys: %w", err)
	}
	credKey, err := credentialsKey(cfg)
	if err != nil {
		return err
	}
	kh, err := netconf.OpenKnownHosts(filepath.Join(cfg.DataDir, knownHostsFile))
	if err != nil {
		return err
	}

	state := broker.NewState()
	var peers []raftstore.Peer
	for _, p := range cfg.Peers {
		peers = append(peers, raftstore.Peer{ID: p.ID, Addr: p.RaftAddr})
	}
	rcfg := raftstore.Config{NodeID: cfg.NodeID, Dir: filepath.Join(cfg.DataDir, raftDir), BindAddr: cfg.RaftAddr,
		AdvertiseAddr: cfg.RaftAdvertise, Bootstrap: cfg.Bootstrap && cfg.Join == "", Peers: peers,
		JoinSecret: cfg.JoinSecret, Logger: log, PlainEntries: cfg.LegacyLogFormat}
	if cfg.RaftTLSCert != "" {
		if rcfg.TLS, err = raftstore.LoadTLS(cfg.RaftTLSCert, cfg.RaftTLSKey, cfg.RaftTLSCA); err != nil {
			return err
		}
	}
	store, err := raftstore.Open(rcfg, state)
	if err != nil {
		return err
	}
	defer store.Close()

	b, err := broker.New(broker.Config{Signer: kr, KnownHosts: kh, CredentialsKey: credKey,
		NetconfPort: cfg.NetconfPort, DeviceConcurrency: cfg.DeviceConcurrency, DeviceTimeout: cfg.DeviceTimeout, SSHAlgorithms: algs, Logger: log,
		NodeID: cfg.NodeID, JobAttempts: cfg.JobAttempts, JobBackoff: cfg.JobRetryBackoff, RefreshInterval: cfg.RefreshInterval,
		JSONCommands: cfg.LegacyLogFormat}, store, state)
	if err != nil {
		return err
	}
	defer b.Close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(store.Collectors()...)
	api := broker.NewAPIWithConfig(b, clusterInfo{store}, broker.APIConfig{MaxBody: cfg.APIMaxBodyBytes, Registry: reg})
	srv := &http.Server{Handler: broker.WithSnapshotUploads(api), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { errc <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile) }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Join != "" && !store.HasState() {
		if err := joinCluster(ctx, cfg, log); err != nil {
			srv.Close()
			return err
		}
	}
	startWg := startInit(ctx, store, b, cfg.DataDir, log)
	defer startWg.Wait()
	log.Info("broker ready", "node", cfg.NodeID, "http", scheme+"://"+ln.Addr().String(), "raft", cfg.RaftAddr, "data", cfg.DataDir)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// firstStart waits for a leader, creates the default tenant and, when no
// valid admin token file exists, an admin token written with mode 0600.
// Every node of a cluster does this: each gets its own admin token file.
func firstStart(ctx context.Context, store *raftstore.Store, b *broker.Broker, dataDir string, log *slog.Logger) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store.WaitLeader(wctx); err != nil {
		return err
	}
	// Read the cluster's latest state before deciding what is missing.
	if err := store.Barrier(wctx); err != nil {
		return err
	}
	if err := b.Init(wctx); err != nil {
		return fmt.Errorf("initialising state: %w", err)
	}
	path := filepath.Join(dataDir, adminTokenFile)
	if data, err := os.ReadFile(path); err == nil && b.HasToken(strings.TrimSpace(string(data))) {
		return nil
	}
	secret, _, err := b.CreateToken(wctx, "system", "", broker.RoleAdmin)
	if err != nil {
		return fmt.Errorf("creating admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing admin token: %w", err)
	}
	log.Info("created admin token", "file", path)
	return nil
}

// loadKeyring loads the signing keyring. A single node creates
// <data-dir>/keys/keyring.pem on first start; a cluster node loads
// keyring_file, which must exist (the same keyring on every node).
func loadKeyring(cfg configs.Broker) (*keyengine.Keyring, error) {
	path := filepath.Join(cfg.DataDir, keyringFile)
	if cfg.KeyringFile != "" {
		path = cfg.KeyringFile
	}
	kr, err := keyengine.LoadKeyringFile(path)
	if err == nil {
		return kr, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if cfg.Clustered() || cfg.KeyringFile != "" {
		return nil, fmt.Errorf("keyring_file %s does not exist: every node of a cluster signs with the same keyring; "+
			"create it once with `licbroker key init --data-dir DIR` and copy DIR/%s to each node", path, keyringFile)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	kr, err = keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		return nil, err
	}
	if err := keyengine.SaveKeyringFile(path, kr); err != nil {
		return nil, err
	}
	return kr, nil
}

func credentialsKey(cfg configs.Broker) ([]byte, error) {
	if cfg.CredentialsKey != "" {
		return hex.DecodeString(cfg.CredentialsKey)
	}
	path := filepath.Join(cfg.DataDir, credKeyFile)
	if data, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: want 64 hex characters", path)
		}
		return k, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// startInit runs firstStart in the background until it succeeds, so that
// a node waiting to be added to a cluster still serves /readyz and
// /healthz. The returned group ends when it does.
func startInit(ctx context.Context, store *raftstore.Store, b *broker.Broker, dataDir string, log *slog.Logger) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			err := firstStart(ctx, store, b, dataDir, log)
			if err == nil || ctx.Err() != nil {
				return
			}
			log.Warn("initialising: waiting for the cluster", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return &wg
}
