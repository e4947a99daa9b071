package simtest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim/simtest"
	"github.com/licbroker/licbroker/netconf"
)

func TestStart(t *testing.T) {
	var addr string
	t.Run("fleet", func(t *testing.T) {
		f := simtest.Start(t, simtest.Options{Count: 300, Username: "ops", Password: "s3cret"})
		if len(f.Addrs) != 300 || f.Username != "ops" || f.Password != "s3cret" {
			t.Fatalf("fleet %d addrs, user %s", len(f.Addrs), f.Username)
		}
		if f.Prefix.Bits() != 23 {
			t.Fatalf("prefix %s for 300 devices, want a /23", f.Prefix)
		}
		for i, d := range f.Devices() {
			if !f.Prefix.Contains(d.Addr) || d.Addr == f.Prefix.Addr() || f.Addrs[i] != d.Address() {
				t.Fatalf("device %d at %s (%s) outside %s", i, d.Addr, f.Addrs[i], f.Prefix)
			}
		}
		// The known_hosts file pins every device's host key.
		kh, err := netconf.OpenKnownHosts(f.KnownHostsFile())
		if err != nil {
			t.Fatal(err)
		}
		fps := f.Fingerprints()
		for _, i := range []int{0, 150, 299} {
			if got := kh.Fingerprint(f.Addrs[i]); got == "" || got != fps[f.Addrs[i]] {
				t.Fatalf("known_hosts has %q for %s, want %q", got, f.Addrs[i], fps[f.Addrs[i]])
			}
			cfg := f.ClientConfig()
			cfg.HostKeyCallback = kh.Callback()
			c, err := netconf.Dial(context.Background(), f.Addrs[i], cfg)
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.Identity(context.Background())
			c.Close()
			if err != nil || id.UDI() != f.Devices()[i].UDI().String() {
				t.Fatalf("identity of %d: %+v %v", i, id, err)
			}
		}
		// The host key callback refuses a key that is not the device's.
		if err := f.HostKeyCallback()("", mustTCPAddr(t, f.Addrs[0]), f.Devices()[1].HostKey()); err == nil {
			t.Fatal("host key of device 1 accepted for device 0")
		}
		addr = f.Addrs[0]
	})
	// The fleet stopped with its test.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("fleet still listening on %s after its test", addr)
	}
}

func TestTwoFleetsSideBySide(t *testing.T) {
	a := simtest.Start(t, simtest.Options{Count: 3, Seed: 1})
	b := simtest.Start(t, simtest.Options{Count: 3, Seed: 2})
	if a.Port == b.Port {
		t.Fatalf("two fleets share port %d", a.Port)
	}
	for _, f := range []*simtest.Fleet{a, b} {
		c, err := f.Dial(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Identity(context.Background())
		c.Close()
		if err != nil || id.UDI() != f.Devices()[2].UDI().String() {
			t.Fatalf("identity %+v %v", id, err)
		}
	}
}

func mustTCPAddr(t *testing.T, s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
