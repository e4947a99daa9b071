package devicesim_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

func freePort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestFleetInstallAndReload(t *testing.T) {
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t, "127.77.0.1")
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 4, FirstAddress: netip.MustParseAddr("127.77.0.1"),
		Port: port, Trust: kr.TrustStore(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	ctx := context.Background()
	cfg := netconf.ClientConfig{User: "admin", Password: "admin",
		HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	c, err := netconf.Dial(ctx, "127.77.0.1:"+itoa(port), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := f.Devices()[0]
	if id.UDI() != dev.UDI().String() {
		t.Fatalf("identity %s, want %s", id.UDI(), dev.UDI())
	}
	if c.Framing() != netconf.FramingChunked {
		t.Fatalf("framing %v, want chunked", c.Framing())
	}
	lic, err := kr.Sign(keyengine.Grant{ID: "L1", UDI: dev.UDI(), Feature: "ipservices", Type: keyengine.Permanent,
		IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Status != netconf.StatusInstalled {
		t.Fatalf("install results %+v", res)
	}
	res, err = c.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic}))
	if err != nil || res[0].Status != netconf.StatusAlreadyPresent {
		t.Fatalf("second install %+v %v", res, err)
	}
	// A key for device 0 is refused by device 1.
	c1, err := netconf.Dial(ctx, "127.77.0.2:"+itoa(port), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c1.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic}))
	if err != nil || res[0].Status != netconf.StatusFailed || !strings.Contains(res[0].Reason, dev.UDI().String()) {
		t.Fatalf("wrong-device install %+v %v", res, err)
	}
	c1.Close()

	st, err := c.Licensing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ActiveLevel != "ipbase" || st.NextBootLevel != "ipservices" {
		t.Fatalf("before reload: active %s next %s", st.ActiveLevel, st.NextBootLevel)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	c, err = netconf.Dial(ctx, "127.77.0.1:"+itoa(port), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err = c.Licensing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ActiveLevel != "ipservices" {
		t.Fatalf("after reload: active %s", st.ActiveLevel)
	}
	found := false
	for _, l := range st.Licenses {
		if l.ID == "L1" {
			found = true
			if l.State != "inUse" || l.Type != "permanent" {
				t.Fatalf("license %+v", l)
			}
		}
	}
	if !found {
		t.Fatal("installed license not reported")
	}
}
