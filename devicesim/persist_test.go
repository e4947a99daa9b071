package devicesim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
)

func TestProcessRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	open := func() *devicesim.Fleet {
		f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 30, Trust: kr.TrustStore(), StateDir: dir, Seed: 7,
			FirstAddress: netipAddr("127.201.0.1"), Clock: devicesim.NewFrozenClock(start)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := open()
	l := &lab{t: t, kr: kr, fleet: f}
	d0, d1, d2 := f.Devices()[0], f.Devices()[1], f.Devices()[2]
	// d0: licensed and reloaded; d1: licensed, not reloaded; d2: replaced
	// (RMA); d3: evaluation in use; d4: powered off.
	l.install(d0, l.sign(d0.UDI(), d0.Family().Levels[1], keyengine.Permanent, 0))
	l.reload(d0)
	l.install(d1, l.sign(d1.UDI(), d1.Family().Levels[1], keyengine.Permanent, 0))
	oldKey := d2.HostKey()
	if err := d2.Replace(); err != nil {
		t.Fatal(err)
	}
	d3 := f.Devices()[3]
	if err := d3.ActivateEvaluation(d3.Family().Levels[1], true); err != nil {
		t.Fatal(err)
	}
	l.reload(d3)
	l.advance(10 * day)
	if err := f.Devices()[4].PowerOff(); err != nil {
		t.Fatal(err)
	}
	before := make([]devicesim.State, f.Len())
	for i, d := range f.Devices() {
		before[i] = d.Snapshot()
	}
	newKey := d2.HostKey()
	f.Close()

	g := open()
	defer g.Close()
	for i, d := range g.Devices() {
		got := d.Snapshot()
		if got.PID != before[i].PID || got.Serial != before[i].Serial || got.Active != before[i].Active ||
			got.NextBoot != before[i].NextBoot || len(got.Licenses) != len(before[i].Licenses) {
			t.Errorf("device %d after restart: %+v, before %+v", i, got, before[i])
		}
	}
	if g.Devices()[1].ActiveLevel() != g.Devices()[1].Family().Levels[0] {
		t.Error("a process restart reloaded device 1")
	}
	if k := g.Devices()[2].HostKey(); string(k.Marshal()) != string(newKey.Marshal()) || string(k.Marshal()) == string(oldKey.Marshal()) {
		t.Error("replaced device's host key not kept across restart")
	}
	// Simulated time did not run backwards and the evaluation kept its
	// usage time.
	if now := g.Clock().Now(); now.Before(start.Add(10 * day)) {
		t.Errorf("clock after restart %s, want >= %s", now, start.Add(10*day))
	}
	ev := licenseView(t, g.Devices()[3].Snapshot(), "", g.Devices()[3].Family().Levels[1])
	if ev.State != "inUse" || ev.UsedSeconds < uint64(10*day/time.Second) {
		t.Errorf("evaluation after restart: %+v", ev)
	}
	if g.Devices()[4].Powered() {
		t.Error("powered-off device came back on after a restart")
	}
	// A device reload is still a reload.
	if err := g.Devices()[1].Reload(); err != nil {
		t.Fatal(err)
	}
	if g.Devices()[1].ActiveLevel() != g.Devices()[1].Family().Levels[1] {
		t.Error("reload after restart did not activate the installed license")
	}
}

func TestStateDirChecks(t *testing.T) {
	dir := t.TempDir()
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 3, StateDir: dir, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Devices()[0].SetBootLevel("ipbase"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = devicesim.NewFleet(devicesim.FleetConfig{Count: 3, StateDir: dir, Seed: 2})
	if !errors.Is(err, devicesim.ErrStateDir) || !strings.Contains(err.Error(), "seed 1") {
		t.Fatalf("other seed: %v", err)
	}
	_, err = devicesim.NewFleet(devicesim.FleetConfig{Count: 3, StateDir: dir, Seed: 1, Mix: map[string]int{"880": 1}})
	if !errors.Is(err, devicesim.ErrStateDir) {
		t.Fatalf("other mix: %v", err)
	}
	// More devices than before: the first ones keep their identity.
	g, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 5, StateDir: dir, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g.Devices()[0].Snapshot().BootLevel != "ipbase" {
		t.Fatal("growing the fleet lost device 0's state")
	}
	g.Close()
	path := filepath.Join(dir, "device-00000.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = devicesim.NewFleet(devicesim.FleetConfig{Count: 3, StateDir: dir, Seed: 1})
	if !errors.Is(err, devicesim.ErrStateDir) || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt state file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"pid":"WS-C9999","serial":"X","active_level":"ipbase"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = devicesim.NewFleet(devicesim.FleetConfig{Count: 3, StateDir: dir, Seed: 1})
	if !errors.Is(err, devicesim.ErrStateDir) || !strings.Contains(err.Error(), "WS-C9999") {
		t.Fatalf("unknown PID in state file: %v", err)
	}
}

func TestTrustRotation(t *testing.T) {
	dir := t.TempDir()
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "trusted-keys.pem")
	if err := os.WriteFile(trust, kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 1, TrustFile: trust, Mix: map[string]int{"3750e": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := &lab{t: t, kr: kr, fleet: f}
	d := f.Devices()[0]
	old := l.sign(d.UDI(), "ipservices", keyengine.Permanent, 0)
	l.install(d, old)
	// The broker rotates: the new key signs; the file lists both.
	if _, err := kr.Rotate(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	fresh := l.sign(d.UDI(), "advipservices", keyengine.Permanent, 0)
	if r := d.Install(keyengine.EncodeFile([]keyengine.License{fresh})); r[0].Status != devicesim.StatusFailed {
		t.Fatalf("new key accepted before the trust reload: %+v", r)
	}
	if err := os.WriteFile(trust, kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := f.ReloadTrust()
	if err != nil || len(ids) != 2 {
		t.Fatalf("reload trust: %v %v", ids, err)
	}
	l.install(d, fresh)
	l.reload(d)
	if d.ActiveLevel() != "advipservices" {
		t.Fatalf("active %s", d.ActiveLevel())
	}
	// A broken file keeps the old keys.
	if err := os.WriteFile(trust, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReloadTrust(); err == nil {
		t.Fatal("garbage trust file accepted")
	}
	if len(f.TrustedKeyIDs()) != 2 {
		t.Fatal("failed reload dropped the trusted keys")
	}
	// Keys no longer trusted do not count at boot.
	f.SetTrust(keyengine.NewTrustStore())
	l.reload(d)
	if d.ActiveLevel() != "ipbase" {
		t.Fatalf("untrusted licenses still used at boot: %s", d.ActiveLevel())
	}
}
