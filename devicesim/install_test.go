package devicesim_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
)

// tamperLine rewrites the base64 line of the only license in file with
// edit applied to the raw bytes (canonical grant followed by signature).
func tamperLine(t *testing.T, file []byte, edit func(raw []byte)) []byte {
	t.Helper()
	re := regexp.MustCompile(`<line>([^<]+)</line>`)
	m := re.FindSubmatch(file)
	if m == nil {
		t.Fatal("no line in license file")
	}
	raw, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	edit(raw)
	return bytes.Replace(file, m[1], []byte(base64.StdEncoding.EncodeToString(raw)), 1)
}

func TestInstallVerifiesEachLine(t *testing.T) {
	l := newLab(t, "3750e", 2)
	d, other := l.dev(0), l.dev(1)
	good := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	stranger, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := stranger.Sign(keyengine.Grant{ID: "FOREIGN1", UDI: d.UDI(), Feature: "ipservices", Type: keyengine.Permanent,
		IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	wrongUDI := l.sign(other.UDI(), "ipservices", keyengine.Permanent, 0)
	samePIDOtherSN := l.sign(keyengine.UDI{PID: d.UDI().PID, SN: "FDO1199ZZZZ"}, "ipservices", keyengine.Permanent, 0)
	routerLevel := l.sign(d.UDI(), "advsecurity", keyengine.Permanent, 0)
	future := l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)
	future.Grant.NotBefore = time.Now().Add(48 * time.Hour)
	future, _ = l.kr.Sign(future.Grant)

	enc := func(lics ...keyengine.License) []byte { return keyengine.EncodeFile(lics) }
	flipSig := tamperLine(t, enc(l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)), func(raw []byte) { raw[len(raw)-1] ^= 1 })
	// Change the feature inside the signed grant (the summary follows, so
	// that only the signature can tell).
	forgedLic := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	forgedLic.Grant.Feature = "advipservices"
	forged := enc(forgedLic)
	editedSummary := bytes.Replace(enc(l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)),
		[]byte("<feature>ipservices</feature>"), []byte("<feature>advipservices</feature>"), 1)
	compact := []byte(keyengine.EncodeCompactKey(l.sign(d.UDI(), "advipservices", keyengine.Extension, 30)))
	compactOther := []byte(keyengine.EncodeCompactKey(l.sign(other.UDI(), "advipservices", keyengine.Permanent, 0)))

	cases := []struct {
		name       string
		file       []byte
		wantStatus string
		wantReason string
	}{
		{"valid key", enc(good), devicesim.StatusInstalled, ""},
		{"same key again", enc(good), devicesim.StatusAlreadyPresent, ""},
		{"key for another device", enc(wrongUDI), devicesim.StatusFailed, "license is for device " + other.UDI().String() + ", not " + d.UDI().String()},
		{"key for another serial of the same model", enc(samePIDOtherSN), devicesim.StatusFailed, "license is for device"},
		{"key signed by an untrusted key", enc(foreign), devicesim.StatusFailed, "unknown key id"},
		{"flipped signature bit", flipSig, devicesim.StatusFailed, "bad signature"},
		{"feature changed inside the signed grant", forged, devicesim.StatusFailed, "bad signature"},
		{"summary edited", editedSummary, devicesim.StatusFailed, "does not match"},
		{"level of another family", enc(routerLevel), devicesim.StatusFailed, "not a feature level of " + d.UDI().PID},
		{"not yet valid", enc(future), devicesim.StatusFailed, "not yet valid"},
		{"compact key", compact, devicesim.StatusInstalled, ""},
		{"compact key for another device", compactOther, devicesim.StatusFailed, "license is for device " + other.UDI().String()},
		{"not a license file", []byte("hello"), devicesim.StatusFailed, "malformed license file"},
		{"XML but no license file", []byte("<foo/>"), devicesim.StatusFailed, "malformed license file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := d.Install(tc.file)
			if len(res) != 1 {
				t.Fatalf("%d results, want 1: %+v", len(res), res)
			}
			if res[0].Status != tc.wantStatus || !strings.Contains(res[0].Reason, tc.wantReason) {
				t.Fatalf("result %+v, want %s with reason containing %q", res[0], tc.wantStatus, tc.wantReason)
			}
			if strings.HasPrefix(res[0].Reason, "keyengine:") || strings.Contains(res[0].Reason, "\n") {
				t.Fatalf("reason is not one clean line: %q", res[0].Reason)
			}
		})
	}
	// Only the valid keys are stored.
	s := d.Snapshot()
	if n := len(s.Licenses) - 2; n != 2 {
		t.Fatalf("%d installed licenses, want 1: %+v", n, s.Licenses)
	}
	if s.NextBoot != "advipservices" {
		t.Fatalf("next boot %s", s.NextBoot)
	}
}

func TestInstallMixedFile(t *testing.T) {
	l := newLab(t, "3560e", 2)
	d, other := l.dev(0), l.dev(1)
	a := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	b := l.sign(other.UDI(), "ipservices", keyengine.Permanent, 0)
	c := l.sign(d.UDI(), "advipservices", keyengine.Extension, 30)
	l.install(d, a)
	res := d.Install(keyengine.EncodeFile([]keyengine.License{a, b, c, c}))
	want := []string{devicesim.StatusAlreadyPresent, devicesim.StatusFailed, devicesim.StatusInstalled, devicesim.StatusAlreadyPresent}
	if len(res) != len(want) {
		t.Fatalf("results %+v", res)
	}
	for i, r := range res {
		if r.Status != want[i] || r.Line != uint32(i+1) {
			t.Errorf("line %d: %+v, want %s", i+1, r, want[i])
		}
	}
	if res[2].LicenseID != c.Grant.ID || res[2].Feature != "advipservices" {
		t.Errorf("line 3 names %s %s", res[2].LicenseID, res[2].Feature)
	}
	// Installed licenses get increasing indexes after the built-in ones.
	s := d.Snapshot()
	if licenseView(t, s, a.Grant.ID, "").Index != 3 || licenseView(t, s, c.Grant.ID, "").Index != 4 {
		t.Fatalf("indexes: %+v", s.Licenses)
	}
}

func TestInstallStorageFull(t *testing.T) {
	l := newLab(t, "880", 1)
	d := l.dev(0)
	if err := d.SetFault(devicesim.Fault{StorageFull: true}); err != nil {
		t.Fatal(err)
	}
	lic := l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)
	res := d.Install(keyengine.EncodeFile([]keyengine.License{lic}))
	if res[0].Status != devicesim.StatusFailed || res[0].Reason != "license storage full" {
		t.Fatalf("storage full: %+v", res)
	}
	if err := d.SetFault(devicesim.Fault{}); err != nil {
		t.Fatal(err)
	}
	l.install(d, lic)
}

func TestInstallWriteFailureLosesNothing(t *testing.T) {
	dir := t.TempDir()
	l := newLab(t, "3750e", 1, func(c *devicesim.FleetConfig) { c.StateDir = dir })
	d := l.dev(0)
	first := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	l.install(d, first)
	before := d.Snapshot()
	// Make the state file impossible to replace.
	path := filepath.Join(dir, "device-00000.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := d.Install(keyengine.EncodeFile([]keyengine.License{l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)}))
	if res[0].Status != devicesim.StatusFailed || !strings.Contains(res[0].Reason, "writing license storage") {
		t.Fatalf("install with a broken store: %+v", res)
	}
	after := d.Snapshot()
	if len(after.Licenses) != len(before.Licenses) || after.NextBoot != before.NextBoot {
		t.Fatalf("failed install changed the device: %+v", after.Licenses)
	}
	if err := d.Reload(); err == nil {
		t.Fatal("reload with a broken store succeeded")
	}
	if d.ActiveLevel() != "ipbase" {
		t.Fatalf("failed reload changed the level to %s", d.ActiveLevel())
	}
}

// TestInstallOneBadLineFailsAlone: an edited or corrupt license in a file
// does not stop the others.
func TestInstallOneBadLineFailsAlone(t *testing.T) {
	l := newLab(t, "880", 1)
	d := l.dev(0)
	a := l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)
	b := l.sign(d.UDI(), "advipservices", keyengine.Extension, 10)
	c := l.sign(d.UDI(), "advsecurity", keyengine.Permanent, 0)
	file := keyengine.EncodeFile([]keyengine.License{a, b, c})
	// Edit b's summary: its expiry claims "never".
	i := bytes.Index(file, []byte(`<license id="`+b.Grant.ID+`"`))
	j := i + bytes.Index(file[i:], []byte("<expires>"))
	k := j + bytes.Index(file[j:], []byte("</expires>"))
	edited := append(append(append([]byte{}, file[:j]...), "<expires>never"...), file[k:]...)
	res := d.Install(edited)
	if len(res) != 3 || res[0].Status != devicesim.StatusInstalled || res[1].Status != devicesim.StatusFailed ||
		!strings.Contains(res[1].Reason, "does not match") || res[1].LicenseID != b.Grant.ID || res[2].Status != devicesim.StatusInstalled {
		t.Fatalf("results %+v", res)
	}
	// A corrupt <line> fails alone too.
	e := l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)
	f2 := keyengine.EncodeFile([]keyengine.License{l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0), e})
	m := bytes.LastIndex(f2, []byte("<line>")) + len("<line>")
	f2[m], f2[m+1] = '!', '!'
	res = d.Install(f2)
	if len(res) != 2 || res[0].Status != devicesim.StatusInstalled || res[1].Status != devicesim.StatusFailed ||
		!strings.Contains(res[1].Reason, "base64") || res[1].LicenseID != e.Grant.ID {
		t.Fatalf("corrupt line: %+v", res)
	}
}

// TestVerifiedOnceStillJudgedEachTime: a stored license's signature is
// checked once, but every read still judges its period, its device and
// its key: an extension runs out, and a key revoked in the very store the
// devices trust makes its licenses inactive at once and unused at boot.
func TestVerifiedOnceStillJudgedEachTime(t *testing.T) {
	ts := (*keyengine.TrustStore)(nil)
	l := newLab(t, devicesim.Family3750E, 1, func(c *devicesim.FleetConfig) { ts = c.Trust })
	d := l.dev(0)
	perm := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	ext := l.sign(d.UDI(), "advipservices", keyengine.Extension, 10)
	l.install(d, perm, ext)
	l.reload(d)
	if d.ActiveLevel() != "advipservices" {
		t.Fatalf("active %s", d.ActiveLevel())
	}
	for range 3 { // reads after the first verification
		if s := d.Snapshot(); licenseView(t, s, ext.Grant.ID, "").State != "inUse" || licenseView(t, s, perm.Grant.ID, "").State != "notInUse" {
			t.Fatalf("licenses: %+v", s.Licenses)
		}
	}
	l.advance(11 * day)
	if v := licenseView(t, d.Snapshot(), ext.Grant.ID, ""); v.State != "expiredInUse" {
		t.Fatalf("extension after its end: %+v", v)
	}
	ts.Revoke(perm.Grant.KeyID)
	if v := licenseView(t, d.Snapshot(), perm.Grant.ID, ""); v.State != "inactive" {
		t.Fatalf("license of a revoked key: %+v", v)
	}
	l.reload(d)
	if d.ActiveLevel() != "ipbase" {
		t.Fatalf("active after reload with the key revoked and the extension expired: %s", d.ActiveLevel())
	}
}
