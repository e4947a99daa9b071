package devicesim_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/devicesim/simtest"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

// faultLab is a served fleet with the broker's keyring.
type faultLab struct {
	*lab
	sim *simtest.Fleet
}

func newFaultLab(t *testing.T, n int) *faultLab {
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sim := simtest.Start(t, simtest.Options{Count: n, Trust: kr.TrustStore(), Mix: map[string]int{"3750e": 1}})
	return &faultLab{lab: &lab{t: t, kr: kr, fleet: sim.Fleet}, sim: sim}
}

func (fl *faultLab) dial(i int, mut ...func(*netconf.ClientConfig)) (*netconf.Client, error) {
	cfg := fl.sim.ClientConfig()
	for _, m := range mut {
		m(&cfg)
	}
	return netconf.Dial(context.Background(), fl.sim.Addrs[i], cfg)
}

func (fl *faultLab) mustDial(i int) *netconf.Client {
	fl.t.Helper()
	c, err := fl.dial(i)
	if err != nil {
		fl.t.Fatalf("dial device %d: %v", i, err)
	}
	fl.t.Cleanup(func() { c.Close() })
	return c
}

func (fl *faultLab) setFault(i int, f devicesim.Fault) {
	fl.t.Helper()
	if err := fl.fleet.SetFault(i, f); err != nil {
		fl.t.Fatal(err)
	}
}

func TestFaultsSeenByClient(t *testing.T) {
	fl := newFaultLab(t, 12)
	ctx := context.Background()
	quick := func(c *netconf.ClientConfig) {
		c.DialTimeout, c.HelloTimeout = 700*time.Millisecond, 700*time.Millisecond
	}

	t.Run("unreachable: the client times out", func(t *testing.T) {
		fl.setFault(1, devicesim.Fault{Unreachable: true})
		start := time.Now()
		_, err := fl.dial(1, quick)
		if err == nil || time.Since(start) < 600*time.Millisecond || !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("dial: %v after %s, want a timeout", err, time.Since(start))
		}
		// TCP connects but no SSH banner ever comes.
		conn, err := net.DialTimeout("tcp", fl.sim.Addrs[1], time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := conn.Read(make([]byte, 64)); n != 0 || !isTimeout(err) {
			t.Fatalf("unreachable device said %d bytes (%v)", n, err)
		}
		fl.setFault(1, devicesim.Fault{})
		fl.mustDial(1)
	})

	t.Run("slow replies", func(t *testing.T) {
		fl.setFault(2, devicesim.Fault{Latency: 400 * time.Millisecond})
		c := fl.mustDial(2)
		start := time.Now()
		if _, err := c.Identity(ctx); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 400*time.Millisecond {
			t.Fatalf("reply after %s, want >= 400ms", el)
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := c.Identity(short); err == nil {
			t.Fatal("a 100ms deadline met a 400ms reply")
		}
	})

	t.Run("auth failure", func(t *testing.T) {
		fl.setFault(3, devicesim.Fault{AuthFailure: true})
		_, err := fl.dial(3)
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("dial: %v, want an authentication failure", err)
		}
		fl.setFault(3, devicesim.Fault{})
		fl.mustDial(3)
		// Wrong password without a fault fails the same way.
		if _, err := fl.dial(3, func(c *netconf.ClientConfig) { c.Password = "wrong" }); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("wrong password: %v", err)
		}
	})

	t.Run("session dropped before the request is applied", func(t *testing.T) {
		d := fl.dev(4)
		c := fl.mustDial(4)
		fl.setFault(4, devicesim.Fault{Drop: devicesim.DropBefore})
		if _, err := c.Identity(ctx); err == nil {
			t.Fatal("get answered on a dropping device")
		}
		c2 := fl.mustDial(4)
		lic := fl.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
		if _, err := c2.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic})); err == nil {
			t.Fatal("install answered on a dropping device")
		}
		fl.setFault(4, devicesim.Fault{})
		if n := len(d.Snapshot().Licenses); n != 2 {
			t.Fatalf("dropped install was applied: %d licenses", n)
		}
	})

	t.Run("session dropped after the request is applied", func(t *testing.T) {
		d := fl.dev(5)
		c := fl.mustDial(5)
		fl.setFault(5, devicesim.Fault{Drop: devicesim.DropAfter})
		lic := fl.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
		file := keyengine.EncodeFile([]keyengine.License{lic})
		if _, err := c.InstallLicense(ctx, file); err == nil {
			t.Fatal("install answered on a dropping device")
		}
		fl.setFault(5, devicesim.Fault{})
		c2 := fl.mustDial(5)
		res, err := c2.InstallLicense(ctx, file)
		if err != nil || len(res) != 1 || res[0].Status != netconf.StatusAlreadyPresent {
			t.Fatalf("retry after a lost reply: %+v %v", res, err)
		}
	})

	t.Run("install rejected: storage full", func(t *testing.T) {
		d := fl.dev(6)
		fl.setFault(6, devicesim.Fault{StorageFull: true})
		c := fl.mustDial(6)
		res, err := c.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{fl.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)}))
		if err != nil || len(res) != 1 || res[0].Status != netconf.StatusFailed || res[0].Reason != "license storage full" {
			t.Fatalf("install: %+v %v", res, err)
		}
	})

	t.Run("powered off: connections reset", func(t *testing.T) {
		d := fl.dev(7)
		c := fl.mustDial(7)
		if err := d.PowerOff(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Identity(ctx); err == nil {
			t.Fatal("session survived power off")
		}
		start := time.Now()
		if _, err := fl.dial(7); err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("dial a powered-off device: %v after %s", err, time.Since(start))
		}
		if err := d.Reload(); !errors.Is(err, devicesim.ErrPoweredOff) {
			t.Fatalf("reload while off: %v", err)
		}
		if err := d.PowerOn(); err != nil {
			t.Fatal(err)
		}
		fl.mustDial(7)
	})

	t.Run("replaced device: new serial and host key", func(t *testing.T) {
		known, err := netconf.OpenKnownHosts(fl.sim.KnownHostsFile())
		if err != nil {
			t.Fatal(err)
		}
		pinned := func(c *netconf.ClientConfig) { c.HostKeyCallback = known.Callback() }
		c, err := fl.dial(8, pinned)
		if err != nil {
			t.Fatal(err)
		}
		old, err := c.Identity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := fl.dev(8).Replace(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Identity(ctx); err == nil {
			t.Fatal("session survived the replacement")
		}
		var changed *netconf.HostKeyChangedError
		if _, err := fl.dial(8, pinned); !errors.As(err, &changed) {
			t.Fatalf("dial the replacement with the old key pinned: %v", err)
		}
		id, err := fl.mustDial(8).Identity(ctx)
		if err != nil || id.PID != old.PID || id.Serial == old.Serial {
			t.Fatalf("replacement identity %+v (old %+v) %v", id, old, err)
		}
	})

	t.Run("reload over NETCONF ends every session", func(t *testing.T) {
		d := fl.dev(9)
		a, b := fl.mustDial(9), fl.mustDial(9)
		res, err := a.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{fl.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)}))
		if err != nil || res[0].Status != netconf.StatusInstalled {
			t.Fatalf("install: %+v %v", res, err)
		}
		st, err := b.Licensing(ctx)
		if err != nil || st.ActiveLevel != "ipbase" || st.NextBootLevel != "advipservices" {
			t.Fatalf("before reload: %+v %v", st, err)
		}
		if err := a.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		// The reload has been answered: the other session is already gone,
		// and a session opened now sees the booted device and stays up.
		if _, err := b.Licensing(ctx); err == nil {
			t.Fatal("the other session survived the reload")
		}
		c := fl.mustDial(9)
		for i := 0; i < 5; i++ {
			st, err = c.Licensing(ctx)
			if err != nil || st.ActiveLevel != "advipservices" {
				t.Fatalf("session opened after the reload, read %d: %+v %v", i, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("evaluation over NETCONF with the clock advanced", func(t *testing.T) {
		c := fl.mustDial(10)
		if err := c.ActivateEvaluation(ctx, "ipservices"); err != nil {
			t.Fatal(err)
		}
		if err := fl.dev(10).Reload(); err != nil {
			t.Fatal(err)
		}
		c = fl.mustDial(10)
		fl.advance(61 * day)
		st, err := c.Licensing(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ev netconf.DeviceLicense
		for _, l := range st.Licenses {
			if l.Type == "evaluation" && l.Feature == "ipservices" {
				ev = l
			}
		}
		if st.ActiveLevel != "ipservices" || st.NextBootLevel != "ipbase" || ev.State != "expiredInUse" || ev.PeriodUsedSeconds < uint64(60*day/time.Second) {
			t.Fatalf("after 61 days: %+v %+v", st, ev)
		}
		var rpcErr *netconf.RPCError
		if err := c.ActivateEvaluation(ctx, "ipservices"); !errors.As(err, &rpcErr) || !strings.Contains(rpcErr.Message, "expired") {
			t.Fatalf("reactivate: %v", err)
		}
		if err := c.SetBootLevel(ctx, "enterprise"); !errors.As(err, &rpcErr) || rpcErr.Tag != "invalid-value" {
			t.Fatalf("bad boot level: %v", err)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
