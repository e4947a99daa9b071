package devicesim_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim/simtest"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

// yangModule finds a YANG module: in netconf/yang if the netconf package
// ships it, else in testdata/yang (copies from Debian's libyuma-base,
// /usr/share/yuma/modules/ietf).
func yangModule(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"../netconf/yang", "testdata/yang"} {
		m, _ := filepath.Glob(filepath.Join(dir, name+"*.yang"))
		if len(m) > 0 {
			return m[0]
		}
	}
	t.Fatalf("YANG module %s not found in ../netconf/yang or testdata/yang", name)
	return ""
}

// yanglint validates file with the given yanglint arguments.
func yanglint(t *testing.T, file string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("yanglint")
	if err != nil {
		t.Fatal("yanglint not found: install it with `apt-get install libyang2-tools` (.ci/run does)")
	}
	mods := []string{yangModule(t, "ietf-hardware@"), yangModule(t, "iana-hardware@"), yangModule(t, "licbroker-licensing")}
	full := append([]string{"-p", "testdata/yang", "-p", "../netconf/yang"}, args...)
	full = append(append(full, mods...), file)
	out, err := exec.Command(bin, full...).CombinedOutput()
	if err != nil {
		data, _ := os.ReadFile(file)
		t.Fatalf("yanglint %s: %v\n%s\ninstance data:\n%s", strings.Join(args, " "), err, out, data)
	}
}

func TestInstanceDataValidatesAgainstYANG(t *testing.T) {
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The devices trust both keyrings at first; later only kr.
	both, err := keyengine.ParseTrustedKeys(append(kr.TrustStore().MarshalTrustedKeys(), untrusted.TrustStore().MarshalTrustedKeys()...))
	if err != nil {
		t.Fatal(err)
	}
	sim := simtest.Start(t, simtest.Options{Count: 5, Trust: both})
	l := &lab{t: t, kr: kr, fleet: sim.Fleet}
	ctx := context.Background()
	dir := t.TempDir()

	// Device 0 holds every kind of license in every state we can make.
	d := l.dev(0)
	levels := d.Family().Levels
	counted, err := kr.Sign(keyengine.Grant{ID: "COUNTED1", UDI: d.UDI(), Feature: levels[1], Type: keyengine.Permanent,
		Counted: true, Count: 5, IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute), Comment: "spare for site <B> & C"})
	if err != nil {
		t.Fatal(err)
	}
	ext := l.sign(d.UDI(), levels[len(levels)-1], keyengine.Extension, 10)
	l.install(d, counted, ext)
	if err := d.ActivateEvaluation(levels[1], true); err != nil {
		t.Fatal(err)
	}
	if err := d.SetBootLevel(levels[len(levels)-1]); err != nil {
		t.Fatal(err)
	}
	l.reload(d)
	l.advance(11 * day) // the extension expires while in use
	// A key of a signer the devices no longer trust shows as inactive.
	old, err := untrusted.Sign(keyengine.Grant{ID: "OLDKEY1", UDI: d.UDI(), Feature: levels[1], Type: keyengine.Permanent,
		IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	l.install(d, old)
	sim.SetTrust(kr.TrustStore())

	c, err := sim.Dial(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, op := range []string{
		"", // everything
		`<hardware xmlns="` + netconf.HardwareNS + `"/>`,
		`<licensing xmlns="` + netconf.LicensingNS + `"><license/></licensing>`,
	} {
		data, err := c.Get(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (!strings.Contains(string(data), "expiredInUse") || !strings.Contains(string(data), ">inactive<") ||
			!strings.Contains(string(data), "<count>5</count>") || !strings.Contains(string(data), "<comment>spare for site &lt;B&gt; &amp; C</comment>")) {
			t.Fatalf("get did not show the license states we set up:\n%s", data)
		}
		file := filepath.Join(dir, "get.xml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		yanglint(t, file, "-t", "get")
	}
	cfg, err := c.GetConfig(ctx, "running", "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "get-config.xml")
	os.WriteFile(file, cfg, 0o644)
	yanglint(t, file, "-t", "getconfig")

	// Every family's data.
	for i := 1; i < 5; i++ {
		c, err := sim.Dial(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Get(ctx, "")
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(file, data, 0o644)
		yanglint(t, file, "-t", "get")
	}

	// The install-license reply, with installed, already-present and
	// failed lines, validates against the RPC's output.
	other := l.dev(1)
	lics := []keyengine.License{l.sign(d.UDI(), levels[len(levels)-1], keyengine.Permanent, 0), counted, l.sign(other.UDI(), "ipservices", keyengine.Permanent, 0)}
	var op strings.Builder
	op.WriteString(`<install-license xmlns="` + netconf.LicensingNS + `"><license-file>`)
	xmlEscape(&op, keyengine.EncodeFile(lics))
	op.WriteString(`</license-file></install-license>`)
	reply, err := c.Call(ctx, op.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<status>installed</status>", "<status>already-present</status>", "<status>failed</status>"} {
		if !strings.Contains(string(reply.Body), want) {
			t.Fatalf("install reply lacks %s:\n%s", want, reply.Body)
		}
	}
	rpcFile, replyFile := filepath.Join(dir, "rpc.xml"), filepath.Join(dir, "reply.xml")
	os.WriteFile(rpcFile, []byte(`<rpc xmlns="`+netconf.BaseNS+`" message-id="1">`+op.String()+`</rpc>`), 0o644)
	os.WriteFile(replyFile, []byte(`<rpc-reply xmlns="`+netconf.BaseNS+`" message-id="1">`+string(reply.Body)+`</rpc-reply>`), 0o644)
	yanglint(t, replyFile, "-t", "nc-reply", "-R", rpcFile)
}

func xmlEscape(b *strings.Builder, s []byte) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	b.WriteString(r.Replace(string(s)))
}
