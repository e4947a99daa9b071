package devicesim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/devicesim/simtest"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// sweepFaults assigns a fault kind to device i of the sweep: every eighth
// device is healthy, the others cycle through the fault kinds.
var sweepFaults = []struct {
	name  string
	fault devicesim.Fault
	off   bool
	want  string // outcome the client sees
}{
	{name: "healthy", want: "ok"},
	{name: "unreachable", fault: devicesim.Fault{Unreachable: true}, want: "timeout"},
	{name: "slow", fault: devicesim.Fault{Latency: time.Second}, want: "slow"},
	{name: "auth failure", fault: devicesim.Fault{AuthFailure: true}, want: "auth"},
	{name: "drop before", fault: devicesim.Fault{Drop: devicesim.DropBefore}, want: "dropped"},
	{name: "drop after", fault: devicesim.Fault{Drop: devicesim.DropAfter}, want: "dropped"},
	{name: "storage full", fault: devicesim.Fault{StorageFull: true}, want: "storage-full"},
	{name: "powered off", off: true, want: "refused"},
}

// TestFleetSweepWithFaults reaches every device of a 300-device fleet over
// real SSH and NETCONF on loopback, with every fault kind injected into
// some of them, and checks what the client sees on each.
func TestFleetSweepWithFaults(t *testing.T) {
	const n = 300
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fleet := simtest.Start(t, simtest.Options{Count: n, Trust: kr.TrustStore()})
	for i, d := range fleet.Devices() {
		k := sweepFaults[i%len(sweepFaults)]
		if err := d.SetFault(k.fault); err != nil {
			t.Fatal(err)
		}
		if k.off {
			if err := d.PowerOff(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	// A short dial timeout where the device is meant to stay silent, a
	// generous one elsewhere, so that a loaded machine cannot fake a
	// timeout.
	dialer := netconf.NewDialer(fleet.ClientConfig())
	cfg := fleet.ClientConfig()
	cfg.DialTimeout, cfg.HelloTimeout = time.Second, time.Second
	shortDialer := netconf.NewDialer(cfg)
	type result struct {
		outcome string
		id      netconf.Identity
		framing netconf.Framing
		took    time.Duration
		err     error
	}
	visit := func(d *devicesim.Device) (r result) {
		start := time.Now()
		defer func() { r.took = time.Since(start) }()
		dl := dialer
		if d.Fault().Unreachable {
			dl = shortDialer
		}
		c, err := dl.Dial(ctx, d.Address())
		switch {
		case err != nil && strings.Contains(err.Error(), "deadline exceeded"):
			return result{outcome: "timeout", err: err}
		case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
			return result{outcome: "auth", err: err}
		case err != nil && time.Since(start) < 2*time.Second:
			return result{outcome: "refused", err: err}
		case err != nil:
			return result{outcome: "dial error", err: err}
		}
		defer c.Close()
		t0 := time.Now()
		id, err := c.Identity(ctx)
		if err != nil {
			return result{outcome: "dropped", err: err}
		}
		r = result{outcome: "ok", id: id, framing: c.Framing()}
		if time.Since(t0) >= time.Second {
			r.outcome = "slow"
		}
		lic, err := kr.Sign(keyengine.Grant{ID: "SWEEP" + itoa(d.Index), UDI: d.UDI(), Feature: d.Family().Levels[1],
			Type: keyengine.Permanent, IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
		if err != nil {
			return result{outcome: "sign error", err: err}
		}
		res, err := c.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic}))
		switch {
		case err != nil:
			r.outcome, r.err = "install error", err
		case res[0].Status == netconf.StatusFailed && res[0].Reason == "license storage full":
			r.outcome = "storage-full"
		case res[0].Status != netconf.StatusInstalled:
			r.outcome, r.err = "install "+res[0].Status, errors.New(res[0].Reason)
		}
		return r
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				results[i] = visit(fleet.Devices()[i])
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()

	seen := map[string]bool{}
	families := map[string]int{}
	for i, r := range results {
		d := fleet.Devices()[i]
		k := sweepFaults[i%len(sweepFaults)]
		families[d.Family().ID]++
		if r.outcome != k.want {
			t.Errorf("device %d (%s, %s): client saw %q (%v) after %s, want %q", i, d.Address(), k.name, r.outcome, r.err, r.took, k.want)
			continue
		}
		if r.outcome == "ok" || r.outcome == "slow" || r.outcome == "storage-full" {
			if r.id.UDI() != d.UDI().String() || r.id.SoftwareVersion != d.Version() || r.framing != netconf.FramingChunked {
				t.Errorf("device %d: identity %+v framing %v, want %s %s chunked", i, r.id, r.framing, d.UDI(), d.Version())
			}
			if seen[r.id.Serial] {
				t.Errorf("serial %s seen twice", r.id.Serial)
			}
			seen[r.id.Serial] = true
		}
		// What the devices did: a license only where the install answered.
		installed := len(d.Snapshot().Licenses) > len(d.Family().Levels)-1
		if installed != (r.outcome == "ok" || r.outcome == "slow") {
			t.Errorf("device %d (%s): license installed=%t after outcome %s", i, k.name, installed, r.outcome)
		}
	}
	// Default mix 3750e:2, 3560e:1, 880:1, 860:1.
	if families["3750e"] != 120 || families["3560e"] != 60 || families["880"] != 60 || families["860"] != 60 {
		t.Errorf("family counts %v", families)
	}
	// Addresses of the block that are no device: reset at once.
	for _, addr := range []string{fleet.Prefix.Addr().String(), fleet.Devices()[n-1].Addr.Next().String()} {
		start := time.Now()
		_, err := dialer.Dial(ctx, net.JoinHostPort(addr, itoa(fleet.Port)))
		if err == nil || time.Since(start) > 2*time.Second {
			t.Errorf("dial %s (no device): err %v after %s, want a quick failure", addr, err, time.Since(start))
		}
	}
}

func TestCredentials(t *testing.T) {
	_, clientKey, err := ed25519GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519GenerateKey()
	otherSigner, _ := ssh.NewSignerFromKey(otherKey)
	var first, last string
	sim := simtest.Start(t, simtest.Options{Count: 4, Configure: func(c *devicesim.FleetConfig) {
		c.AuthorizedKeys = []ssh.PublicKey{signer.PublicKey()}
		next := c.FirstAddress.Next()
		first, last = next.String(), next.Next().String()
		c.DeviceCredentials = []devicesim.DeviceCredentials{{First: next, Last: next.Next(), Username: "netops", Password: "n3tops"}}
	}})
	ctx := context.Background()
	try := func(i int, user, pass string, key ssh.Signer) error {
		cfg := sim.ClientConfig()
		cfg.User, cfg.Password, cfg.Signer = user, pass, key
		c, err := netconf.Dial(ctx, sim.Addrs[i], cfg)
		if err == nil {
			_, err = c.Identity(ctx)
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name       string
		dev        int
		user, pass string
		key        ssh.Signer
		ok         bool
	}{
		{"fleet password", 0, "admin", "admin", nil, true},
		{"fleet password on an overridden device", 1, "admin", "admin", nil, false},
		{"range password", 1, "netops", "n3tops", nil, true},
		{"range password, last device of the range", 2, "netops", "n3tops", nil, true},
		{"range password outside the range", 3, "netops", "n3tops", nil, false},
		{"authorized key", 3, "admin", "", signer, true},
		{"unknown key", 3, "admin", "", otherSigner, false},
		{"authorized key, wrong user", 3, "root", "", signer, false},
	} {
		err := try(tc.dev, tc.user, tc.pass, tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("%s (%s..%s): err %v, want ok=%t", tc.name, first, last, err, tc.ok)
		}
	}
	if u, p := sim.DeviceCredentials(sim.Devices()[2]); u != "netops" || p != "n3tops" {
		t.Errorf("DeviceCredentials of device 2: %s %s", u, p)
	}
}

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// TestSSHAlgorithms: a fleet restricted to some key exchanges and ciphers
// offers only those; a client that wants others is refused at the
// handshake. A bad name, or host key algorithms (the devices' keys are
// Ed25519), is a bad configuration.
func TestSSHAlgorithms(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{Count: 1, Configure: func(c *devicesim.FleetConfig) {
		c.SSHAlgorithms = netconf.SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeECDHP256}, Ciphers: []string{ssh.CipherAES128GCM}}
	}})
	ctx := context.Background()
	for _, tc := range []struct {
		algs netconf.SSHAlgorithms
		ok   bool
	}{
		{netconf.SSHAlgorithms{}, true},
		{netconf.SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeCurve25519}}, false},
		{netconf.SSHAlgorithms{Ciphers: []string{ssh.CipherChaCha20Poly1305}}, false},
		{netconf.SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeECDHP256}}, true},
	} {
		cfg := sim.ClientConfig()
		cfg.Algorithms = tc.algs
		c, err := netconf.Dial(ctx, sim.Addrs[0], cfg)
		if err == nil {
			_, err = c.Identity(ctx)
			c.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("client %+v: err %v, want ok=%t", tc.algs, err, tc.ok)
		}
	}
	for _, algs := range []netconf.SSHAlgorithms{
		{KeyExchanges: []string{"ecdh-sha2-nistp255"}},
		{HostKeys: []string{ssh.KeyAlgoED25519}},
	} {
		if _, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 1, SSHAlgorithms: algs}); !errors.Is(err, devicesim.ErrBadConfig) {
			t.Errorf("fleet with %+v: %v", algs, err)
		}
	}
}
