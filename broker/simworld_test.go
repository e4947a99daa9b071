package broker

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/devicesim/simtest"
	"github.com/licbroker/licbroker/netconf"
)

// simWorld is a broker on real Raft with a simulated fleet (real SSH and
// NETCONF on loopback) whose frozen clock the broker shares, and a
// known-hosts file on disk.
type simWorld struct {
	*env
	fleet *simtest.Fleet
	clock *devicesim.Clock
	known string
	ctx   context.Context
}

const testActor = "operator:tok-test"

func newSimWorld(t *testing.T, count int, mix map[string]int) *simWorld {
	t.Helper()
	clock := devicesim.NewFrozenClock(time.Now().UTC().Truncate(time.Second))
	known := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := netconf.OpenKnownHosts(known)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(c *Config) { c.Now, c.KnownHosts = clock.Now, kh })
	w := &simWorld{env: e, clock: clock, known: known, ctx: context.Background()}
	w.fleet = simtest.Start(t, simtest.Options{Count: count, Mix: mix, Trust: e.kr.TrustStore(), Clock: clock})
	if _, err := e.b.PutCredential(w.ctx, "admin:test", DefaultTenant, "default", w.fleet.Username, []byte(w.fleet.Password), false); err != nil {
		t.Fatal(err)
	}
	w.discover(DefaultTenant, w.fleet.Addrs...)
	return w
}

// discover (re-)reads devices at addresses (host:port) into tenant.
func (w *simWorld) discover(tenant string, addrs ...string) *Job {
	w.t.Helper()
	var hosts []string
	for _, a := range addrs {
		h, _, _ := net.SplitHostPort(a)
		hosts = append(hosts, h)
	}
	j, err := w.b.StartDiscover(w.ctx, "admin:test", tenant, DiscoverRequest{Targets: hosts, Port: w.fleet.Port})
	if err != nil {
		w.t.Fatal(err)
	}
	return w.waitJob(j.ID)
}

// udi returns the UDI of fleet device i as it is now.
func (w *simWorld) udi(i int) string { return w.fleet.Devices()[i].UDI().String() }

func (w *env) device(udi string) *Device {
	w.t.Helper()
	d, err := w.b.Device("", udi)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *env) license(id string) *License {
	w.t.Helper()
	l, err := w.b.License("", id)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// install licenses devices from a PAK, waits for the job and returns the
// license of each device.
func (w *simWorld) install(pak string, udis ...string) map[string]string {
	w.t.Helper()
	j, err := w.b.StartInstall(w.ctx, testActor, DefaultTenant, InstallRequest{PAK: pak, Devices: udis})
	if err != nil {
		w.t.Fatal(err)
	}
	j = w.waitJob(j.ID)
	ids := map[string]string{}
	for _, r := range j.Results {
		if !r.OK {
			w.t.Fatalf("install %s on %s: %s %s", pak, r.UDI, r.Status, r.Reason)
		}
		ids[r.UDI] = r.License
	}
	return ids
}

func (w *simWorld) reload(udi string) *Device {
	w.t.Helper()
	d, err := w.b.ReloadDevice(w.ctx, testActor, DefaultTenant, udi)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// expiring returns the expiring report's lines.
func (w *simWorld) expiring(within time.Duration) []ExpiringLicense {
	w.t.Helper()
	r, err := w.b.BuildReport(ReportExpiring, ReportOptions{Within: within})
	if err != nil {
		w.t.Fatal(err)
	}
	return r.Items.([]ExpiringLicense)
}

var metricLine = regexp.MustCompile(`(?m)^(licbroker_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$`)

// metrics scrapes /metrics and returns each sample by name{labels}.
func (w *simWorld) metrics() map[string]float64 {
	w.t.Helper()
	res, err := http.Get(w.srv.URL + "/metrics")
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	for _, m := range metricLine.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+m[2]] = v
	}
	return out
}

// oneLineErr fails unless err is an API error with code whose message is
// one line containing want.
func oneLineErr(t *testing.T, err error, code, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want %s error containing %q", code, want)
	}
	ae := asAPIError(err)
	if ae.Code != code || !strings.Contains(ae.Message, want) || strings.Contains(ae.Message, "\n") {
		t.Fatalf("error %s %q, want %s, one line containing %q", ae.Code, ae.Message, code, want)
	}
}

// near reports whether a and b are within d of each other.
func near(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff < d && diff > -d
}
