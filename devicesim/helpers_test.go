package devicesim_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
)

// lab is a fleet that is not served (device behaviour tests) with the
// broker's keyring.
type lab struct {
	t     *testing.T
	kr    *keyengine.Keyring
	fleet *devicesim.Fleet
	seq   atomic.Int64
}

// newLab builds a fleet of count devices of one family, not served.
func newLab(t *testing.T, family string, count int, mut ...func(*devicesim.FleetConfig)) *lab {
	t.Helper()
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := devicesim.FleetConfig{Count: count, Mix: map[string]int{family: 1}, Trust: kr.TrustStore(),
		FirstAddress: netip.MustParseAddr("127.200.0.1"), Clock: devicesim.NewFrozenClock(time.Now())}
	for _, m := range mut {
		m(&cfg)
	}
	f, err := devicesim.NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &lab{t: t, kr: kr, fleet: f}
}

func (l *lab) dev(i int) *devicesim.Device { return l.fleet.Devices()[i] }

// sign issues a license for d. days > 0 makes a time-limited license
// (extension unless typ says otherwise) valid for that many days from now.
func (l *lab) sign(udi keyengine.UDI, feature string, typ keyengine.LicenseType, days int) keyengine.License {
	l.t.Helper()
	now := l.fleet.Clock().Now()
	g := keyengine.Grant{ID: "LIC" + itoa(int(l.seq.Add(1))), UDI: udi, Feature: feature, Type: typ,
		IssuedAt: now, NotBefore: now.Add(-time.Minute)}
	if days > 0 {
		g.NotAfter = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	lic, err := l.kr.Sign(g)
	if err != nil {
		l.t.Fatal(err)
	}
	return lic
}

// install installs licenses on d and fails the test unless every line is
// installed.
func (l *lab) install(d *devicesim.Device, lics ...keyengine.License) {
	l.t.Helper()
	for _, r := range d.Install(keyengine.EncodeFile(lics)) {
		if r.Status != devicesim.StatusInstalled {
			l.t.Fatalf("install on %s: line %d %s: %s", d.UDI(), r.Line, r.Status, r.Reason)
		}
	}
}

func (l *lab) reload(d *devicesim.Device) {
	l.t.Helper()
	if err := d.Reload(); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) advance(d time.Duration) {
	l.t.Helper()
	if _, err := l.fleet.AdvanceClock(d); err != nil {
		l.t.Fatal(err)
	}
}

// licenseView returns the view of the license with id, or of the built-in
// evaluation license of feature when id is "".
func licenseView(t *testing.T, s devicesim.State, id, feature string) devicesim.LicenseView {
	t.Helper()
	for _, v := range s.Licenses {
		if (id != "" && v.ID == id) || (id == "" && v.Type == "evaluation" && v.Store == "built-in" && v.Feature == feature) {
			return v
		}
	}
	t.Fatalf("no license %q / evaluation %q in %+v", id, feature, s.Licenses)
	return devicesim.LicenseView{}
}

const day = 24 * time.Hour

// randomBase returns a random loopback /24 base like "127.53.17", so
// that concurrent tests do not share addresses.
func randomBase() string {
	return fmt.Sprintf("127.%d.%d", 10+rand.IntN(241), rand.IntN(256))
}

func itoa(i int) string { return strconv.Itoa(i) }

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
