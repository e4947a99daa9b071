package devicesim_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
)

func TestBootLevelSelection(t *testing.T) {
	type lic struct {
		feature string
		typ     keyengine.LicenseType
		days    int // validity of a time-limited license
	}
	perm := func(f string) lic { return lic{f, keyengine.Permanent, 0} }
	ext := func(f string, days int) lic { return lic{f, keyengine.Extension, days} }
	cases := []struct {
		name   string
		family string
		lics   []lic
		evals  []string // evaluation licenses activated, in order (the last sets the boot level)
		boot   string   // boot level set last ("" = leave)
		before time.Duration
		want   string
	}{
		{name: "no license boots the base level", family: "3750e", want: "ipbase"},
		{name: "880 base level", family: "880", want: "advsecurity"},
		{name: "860 base level", family: "860", want: "advsecurity"},
		{name: "permanent ipservices", family: "3750e", lics: []lic{perm("ipservices")}, want: "ipservices"},
		{name: "permanent advipservices on 3560e", family: "3560e", lics: []lic{perm("advipservices")}, want: "advipservices"},
		{name: "permanent advipservices on 880", family: "880", lics: []lic{perm("advipservices")}, want: "advipservices"},
		{name: "higher license covers a lower boot level", family: "3750e", lics: []lic{perm("advipservices")}, boot: "ipservices", want: "ipservices"},
		{name: "boot level above the licensed level", family: "3750e", lics: []lic{perm("ipservices")}, boot: "advipservices", want: "ipservices"},
		{name: "boot level below the licensed level", family: "3750e", lics: []lic{perm("ipservices")}, boot: "ipbase", want: "ipbase"},
		{name: "highest of several licenses", family: "3750e", lics: []lic{perm("ipservices"), perm("advipservices")}, want: "advipservices"},
		{name: "valid extension", family: "3750e", lics: []lic{ext("advipservices", 30)}, want: "advipservices"},
		{name: "expired extension", family: "3750e", lics: []lic{ext("advipservices", 30)}, before: 31 * day, want: "ipbase"},
		{name: "expired extension falls back to permanent", family: "3750e", lics: []lic{perm("ipservices"), ext("advipservices", 30)}, before: 31 * day, want: "ipservices"},
		{name: "activated evaluation", family: "3750e", evals: []string{"ipservices"}, want: "ipservices"},
		{name: "activated evaluation on 880", family: "880", evals: []string{"advipservices"}, want: "advipservices"},
		{name: "evaluation not yet counted: activation alone uses no time", family: "3750e", evals: []string{"advipservices"}, before: 100 * day, want: "advipservices"},
		{name: "evaluation above a permanent license", family: "3750e", lics: []lic{perm("ipservices")}, evals: []string{"advipservices"}, want: "advipservices"},
		{name: "evaluation activated but boot level set lower", family: "3750e", evals: []string{"advipservices"}, boot: "ipservices", want: "ipservices"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.family, 1)
			d := l.dev(0)
			for _, x := range tc.lics {
				l.install(d, l.sign(d.UDI(), x.feature, x.typ, x.days))
			}
			for _, e := range tc.evals {
				if err := d.ActivateEvaluation(e, true); err != nil {
					t.Fatal(err)
				}
			}
			if tc.boot != "" {
				if err := d.SetBootLevel(tc.boot); err != nil {
					t.Fatal(err)
				}
			}
			l.advance(tc.before)
			if got := d.Snapshot().NextBoot; got != tc.want {
				t.Errorf("next boot level %s, want %s", got, tc.want)
			}
			l.reload(d)
			if got := d.ActiveLevel(); got != tc.want {
				t.Errorf("active after reload %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLevelChangesOnlyAtReload(t *testing.T) {
	l := newLab(t, "3750e", 1)
	d := l.dev(0)
	lic := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	l.install(d, lic)
	s := d.Snapshot()
	if s.Active != "ipbase" || s.NextBoot != "ipservices" {
		t.Fatalf("after install: active %s next %s, want ipbase / ipservices", s.Active, s.NextBoot)
	}
	if v := licenseView(t, s, lic.Grant.ID, ""); v.State != "notInUse" || v.PeriodLeft != "Life time" || !v.NodeLocked || v.Store != "primary" {
		t.Fatalf("installed, not yet used: %+v", v)
	}
	l.reload(d)
	if v := licenseView(t, d.Snapshot(), lic.Grant.ID, ""); v.State != "inUse" {
		t.Fatalf("after reload: %+v", v)
	}
	// Clearing the license in use keeps the level until the next reload.
	if err := d.ClearLicense(lic.Grant.ID); err != nil {
		t.Fatal(err)
	}
	if s := d.Snapshot(); s.Active != "ipservices" || s.NextBoot != "ipbase" {
		t.Fatalf("after clear: active %s next %s", s.Active, s.NextBoot)
	}
	l.reload(d)
	if d.ActiveLevel() != "ipbase" {
		t.Fatalf("after clear and reload: %s", d.ActiveLevel())
	}
	if err := d.ClearLicense(lic.Grant.ID); !errors.Is(err, devicesim.ErrNoSuchLicense) {
		t.Fatalf("clearing twice: %v", err)
	}
}

func TestEvaluationExpiry(t *testing.T) {
	l := newLab(t, "3750e", 1)
	d := l.dev(0)
	// The EULA comes first.
	if err := d.ActivateEvaluation("ipservices", false); !errors.Is(err, devicesim.ErrEULANotAccepted) {
		t.Fatalf("activate without EULA: %v", err)
	}
	if v := licenseView(t, d.Snapshot(), "", "ipservices"); v.State != "inactive" || v.EULA || v.PeriodLeft != "Not Activated" {
		t.Fatalf("untouched evaluation: %+v", v)
	}
	if err := d.AcceptEULA("ipservices"); err != nil {
		t.Fatal(err)
	}
	if err := d.ActivateEvaluation("ipservices", false); err != nil {
		t.Fatal(err)
	}
	// Activated, not in use until the reload: no usage time counts.
	l.advance(10 * day)
	v := licenseView(t, d.Snapshot(), "", "ipservices")
	if v.State != "notInUse" || v.PeriodLeft != "8 weeks 4 days" || v.UsedSeconds != 0 || !v.EULA || v.NodeLocked {
		t.Fatalf("activated before reload: %+v", v)
	}
	l.reload(d)
	if d.ActiveLevel() != "ipservices" {
		t.Fatalf("active %s after reload with evaluation", d.ActiveLevel())
	}
	l.advance(30 * day)
	v = licenseView(t, d.Snapshot(), "", "ipservices")
	if v.State != "inUse" || v.PeriodLeft != "4 weeks 2 days" || v.UsedSeconds < uint64(30*day/time.Second) {
		t.Fatalf("30 days in use: %+v", v)
	}
	// Powered off, usage time does not count.
	if err := d.PowerOff(); err != nil {
		t.Fatal(err)
	}
	l.advance(20 * day)
	if err := d.PowerOn(); err != nil {
		t.Fatal(err)
	}
	if v := licenseView(t, d.Snapshot(), "", "ipservices"); v.UsedSeconds > uint64(31*day/time.Second) {
		t.Fatalf("usage counted while off: %+v", v)
	}
	// Expiry: the device keeps its level until the next reload.
	l.advance(31 * day)
	s := d.Snapshot()
	v = licenseView(t, s, "", "ipservices")
	if v.State != "expiredInUse" || v.LeftSeconds != 0 || v.UsedSeconds != uint64(60*day/time.Second) {
		t.Fatalf("expired before reload: %+v", v)
	}
	if s.Active != "ipservices" || s.NextBoot != "ipbase" {
		t.Fatalf("expired before reload: active %s next %s", s.Active, s.NextBoot)
	}
	// After the reload it falls back to the level it had before.
	l.reload(d)
	s = d.Snapshot()
	if s.Active != "ipbase" || licenseView(t, s, "", "ipservices").State != "expiredNotInUse" {
		t.Fatalf("expired after reload: active %s, %+v", s.Active, licenseView(t, s, "", "ipservices"))
	}
	if err := d.ActivateEvaluation("ipservices", true); !errors.Is(err, devicesim.ErrEvaluationExpired) {
		t.Fatalf("reactivating an expired evaluation: %v", err)
	}
	// The other level's evaluation is untouched and keeps its index.
	if v := licenseView(t, s, "", "advipservices"); v.State != "inactive" || v.Index != 2 {
		t.Fatalf("untouched evaluation: %+v", v)
	}
}

func TestEvaluationFallsBackToPermanentLevel(t *testing.T) {
	l := newLab(t, "3560e", 1)
	d := l.dev(0)
	l.install(d, l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0))
	l.reload(d)
	if err := d.ActivateEvaluation("advipservices", true); err != nil {
		t.Fatal(err)
	}
	l.reload(d)
	if d.ActiveLevel() != "advipservices" {
		t.Fatalf("active %s", d.ActiveLevel())
	}
	l.advance(61 * day)
	if d.ActiveLevel() != "advipservices" {
		t.Fatal("level changed without a reload")
	}
	l.reload(d)
	if d.ActiveLevel() != "ipservices" {
		t.Fatalf("after expiry and reload: %s, want ipservices", d.ActiveLevel())
	}
}

func TestExtensionExpiry(t *testing.T) {
	l := newLab(t, "880", 1)
	d := l.dev(0)
	ext := l.sign(d.UDI(), "advipservices", keyengine.Extension, 14)
	l.install(d, ext)
	l.reload(d)
	v := licenseView(t, d.Snapshot(), ext.Grant.ID, "")
	if d.ActiveLevel() != "advipservices" || v.State != "inUse" || v.Type != "extension" || v.ExpiresAt == nil ||
		v.LeftSeconds > uint64(14*day/time.Second) || v.LeftSeconds < uint64(14*day/time.Second)-2 {
		t.Fatalf("extension in use: active %s, %+v", d.ActiveLevel(), v)
	}
	l.advance(15 * day)
	s := d.Snapshot()
	if s.Active != "advipservices" || s.NextBoot != "advsecurity" || licenseView(t, s, ext.Grant.ID, "").State != "expiredInUse" {
		t.Fatalf("expired extension before reload: active %s next %s %+v", s.Active, s.NextBoot, licenseView(t, s, ext.Grant.ID, ""))
	}
	l.reload(d)
	s = d.Snapshot()
	if s.Active != "advsecurity" || licenseView(t, s, ext.Grant.ID, "").State != "expiredNotInUse" {
		t.Fatalf("expired extension after reload: active %s %+v", s.Active, licenseView(t, s, ext.Grant.ID, ""))
	}
	// An expired key is refused at install.
	old := l.sign(d.UDI(), "advipservices", keyengine.Extension, 1)
	l.advance(2 * day)
	if r := d.Install(keyengine.EncodeFile([]keyengine.License{old})); r[0].Status != devicesim.StatusFailed || !strings.Contains(r[0].Reason, "expired") {
		t.Fatalf("installing an expired extension: %+v", r)
	}
}

func TestImageUpgradeKeepsLicenses(t *testing.T) {
	l := newLab(t, "3750e", 1)
	d := l.dev(0)
	lic := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	l.install(d, lic)
	l.reload(d)
	for _, v := range []string{"12.2(55)SE", "12.2(35)SE"} {
		if err := d.Upgrade(v); err != nil {
			t.Fatal(err)
		}
		s := d.Snapshot()
		if s.Version != v || s.Active != "ipservices" || licenseView(t, s, lic.Grant.ID, "").State != "inUse" {
			t.Fatalf("after upgrade to %s: version %s active %s", v, s.Version, s.Active)
		}
	}
	// A higher feature level needs a new key: the boot level alone does
	// nothing.
	if err := d.SetBootLevel("advipservices"); err != nil {
		t.Fatal(err)
	}
	l.reload(d)
	if d.ActiveLevel() != "ipservices" {
		t.Fatalf("boot level without key: %s", d.ActiveLevel())
	}
	if err := d.Upgrade("15.1(4)M"); !errors.Is(err, devicesim.ErrUnknownVersion) {
		t.Fatalf("a router image on a switch: %v", err)
	}
	if d.Version() != "12.2(35)SE" {
		t.Fatalf("failed upgrade changed the version to %s", d.Version())
	}
}

func TestBadLevels(t *testing.T) {
	l := newLab(t, "3750e", 1)
	d := l.dev(0)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"boot level of another family", d.SetBootLevel("advsecurity"), devicesim.ErrUnknownLevel},
		{"evaluation of the base level", d.ActivateEvaluation("ipbase", true), devicesim.ErrBaseLevel},
		{"EULA of an unknown level", d.AcceptEULA("enterprise"), devicesim.ErrUnknownLevel},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := d.SetBootLevel("ipbase"); err != nil {
		t.Fatalf("base level as boot level: %v", err)
	}
}
