// Package simtest starts a fleet of simulated devices inside a Go test with
// one call, so that integration tests need no separate process:
//
//	fleet := simtest.Start(t, simtest.Options{Count: 50, Trust: keyring.TrustStore()})
//	c, err := fleet.Dial(ctx, 0) // a NETCONF session with device 0
//
// The fleet listens on a free port on a random 127.x.y.0 block, keeps its
// state in a temporary directory and stops when the test ends. It is test
// code: import it from _test.go files only.
package simtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// MaxCount is the largest fleet Start builds (one 127.x.0.0/16 block).
const MaxCount = 65534

// Options configures a test fleet. Zero values select the defaults.
type Options struct {
	// Count is the number of devices (default 10).
	Count int
	// Seed makes the devices reproducible (default 1).
	Seed uint64
	// Mix weighs the families (default devicesim.DefaultMix).
	Mix map[string]int
	// Trust holds the broker's public keys; or TrustFile names its
	// trusted-keys.pem.
	Trust     *keyengine.TrustStore
	TrustFile string
	// StateDir keeps device state (default: a directory removed after
	// the test).
	StateDir string
	// Username and Password of every device (default admin / admin).
	Username, Password string
	// Clock is the simulated clock (default: real time).
	Clock *devicesim.Clock
	// Configure, if set, has the last word on the fleet configuration.
	Configure func(*devicesim.FleetConfig)
}

// Fleet is a running test fleet.
type Fleet struct {
	*devicesim.Fleet
	// Addrs are the devices' NETCONF addresses (host:port), by index.
	Addrs []string
	// Prefix is the smallest prefix that holds every device: scan it to
	// discover the fleet.
	Prefix netip.Prefix
	// Port is the NETCONF port of every device.
	Port int
	// Username and Password are the fleet-wide credentials.
	Username, Password string

	t         testing.TB
	knownOnce sync.Once
	known     string
}

// Start builds and serves a fleet and stops it when the test ends. It fails
// the test if the fleet cannot start.
func Start(t testing.TB, opts Options) *Fleet {
	t.Helper()
	f, err := start(t, opts)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	return f
}

func start(t testing.TB, opts Options) (*Fleet, error) {
	count := opts.Count
	if count == 0 {
		count = 10
	}
	if count < 1 || count > MaxCount {
		return nil, fmt.Errorf("count %d must be between 1 and %d", count, MaxCount)
	}
	prefix := randomPrefix(count)
	stateDir := opts.StateDir
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	cfg := devicesim.FleetConfig{Count: count, FirstAddress: prefix.Addr().Next(), Seed: opts.Seed, Mix: opts.Mix,
		Username: opts.Username, Password: opts.Password, Trust: opts.Trust, TrustFile: opts.TrustFile,
		StateDir: stateDir, Clock: opts.Clock, HandshakeTimeout: 5 * time.Second, SilentHold: 30 * time.Second}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	fleet, err := devicesim.NewFleet(cfg)
	if err != nil {
		return nil, err
	}
	// One wildcard socket on a port the kernel picks: free on every
	// address, so concurrent tests cannot collide.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return nil, err
	}
	if err := fleet.StartOn(ln); err != nil {
		ln.Close()
		return nil, err
	}
	t.Cleanup(func() { fleet.Close() })
	user, pass := fleet.Credentials()
	f := &Fleet{Fleet: fleet, Port: fleet.Port(), Username: user, Password: pass, t: t}
	f.Prefix = netip.PrefixFrom(prefix.Addr(), prefix.Bits())
	for _, d := range fleet.Devices() {
		f.Addrs = append(f.Addrs, d.Address())
	}
	return f, nil
}

// randomPrefix picks a random 127.x.y.0 block (x in 10..250) large enough
// for count devices from .1 on.
func randomPrefix(count int) netip.Prefix {
	blocks := (count + 2 + 255) / 256 // /24 blocks needed
	shift := bits.Len(uint(blocks - 1))
	y := rand.IntN(256>>shift) << shift
	a := netip.AddrFrom4([4]byte{127, byte(10 + rand.IntN(241)), byte(y), 0})
	return netip.PrefixFrom(a, 24-shift)
}

// ClientConfig returns a NETCONF client configuration for the fleet-wide
// credentials that checks each device's host key (HostKeyCallback) and
// uses short timeouts.
func (f *Fleet) ClientConfig() netconf.ClientConfig {
	return netconf.ClientConfig{User: f.Username, Password: f.Password, HostKeyCallback: f.HostKeyCallback(),
		DialTimeout: 10 * time.Second, HelloTimeout: 10 * time.Second, RPCTimeout: 30 * time.Second}
}

// Dial opens a NETCONF session with device i.
func (f *Fleet) Dial(ctx context.Context, i int) (*netconf.Client, error) {
	return netconf.Dial(ctx, f.Addrs[i], f.ClientConfig())
}

// HostKeyCallback accepts exactly each device's current host key (after a
// Replace, the new one).
func (f *Fleet) HostKeyCallback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		ap, err := netip.ParseAddrPort(remote.String())
		if err != nil {
			return fmt.Errorf("simtest: host key from %s: %w", remote, err)
		}
		d, ok := f.Device(ap.Addr())
		if !ok {
			return fmt.Errorf("simtest: %s is not a device of the fleet", remote)
		}
		if want := d.HostKey(); !bytes.Equal(want.Marshal(), key.Marshal()) {
			return fmt.Errorf("simtest: host key of %s is %s, want %s", remote, ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(want))
		}
		return nil
	}
}

// Fingerprints returns each device's host key fingerprint (SHA256:...) by
// address (host:port).
func (f *Fleet) Fingerprints() map[string]string {
	out := make(map[string]string, len(f.Addrs))
	for i, d := range f.Devices() {
		out[f.Addrs[i]] = ssh.FingerprintSHA256(d.HostKey())
	}
	return out
}

// KnownHostsFile writes, once, a known_hosts file with every device's host
// key ("host:port key-type base64", the syntax of netconf.OpenKnownHosts)
// and returns its path. Replaced devices keep their old key in it.
func (f *Fleet) KnownHostsFile() string {
	f.knownOnce.Do(func() {
		var b strings.Builder
		for i, d := range f.Devices() {
			k := d.HostKey()
			fmt.Fprintf(&b, "%s %s %s\n", f.Addrs[i], k.Type(), base64.StdEncoding.EncodeToString(k.Marshal()))
		}
		f.known = filepath.Join(f.t.TempDir(), "known_hosts")
		if err := os.WriteFile(f.known, []byte(b.String()), 0o600); err != nil {
			f.t.Fatalf("simtest: %v", err)
		}
	})
	return f.known
}
