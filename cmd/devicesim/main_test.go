package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// These tests run the real devicesim binary.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devicesim-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "devicesim")
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building devicesim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port free on every address (the fleet binds the
// wildcard address).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type server struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

// syncBuffer is the process's output, written by exec's copier while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), log: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("devicesim did not stop on SIGTERM; log:\n%s", s.log)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, s *server, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, s.log)
		}
		select {
		case err := <-s.done:
			t.Fatalf("devicesim exited (%v) while waiting for %s; log:\n%s", err, what, s.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func run(t *testing.T, ctl string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DEVICESIM_CONTROL_ADDR="+ctl)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, ctl string, args ...string) string {
	t.Helper()
	out, err := run(t, ctl, args...)
	if err != nil {
		t.Fatalf("devicesim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestServeControlAndRestart(t *testing.T) {
	dir := t.TempDir()
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "trusted-keys.pem")
	if err := os.WriteFile(trust, kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("127.%d.%d", 10+rand.IntN(241), rand.IntN(256))
	port := strconv.Itoa(freePort(t))
	ctl := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	args := []string{"--count", "6", "--first-address", base + ".1", "--port", port, "--state-dir", filepath.Join(dir, "state"),
		"--trust", trust, "--control-addr", ctl, "--seed", "42"}
	s := startServe(t, args...)
	waitFor(t, s, "the control endpoint", func() bool { _, err := run(t, ctl, "list"); return err == nil })

	var devs []devicesim.DeviceInfo
	if err := json.Unmarshal([]byte(mustRun(t, ctl, "list", "-o", "json")), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs) != 6 || devs[5].Address != base+".6:"+port || devs[0].ActiveLevel == "" {
		t.Fatalf("list: %+v", devs)
	}
	if out := mustRun(t, ctl, "list"); !strings.Contains(out, devs[3].UDI) || !strings.Contains(out, "NEXT BOOT") {
		t.Fatalf("list table:\n%s", out)
	}

	// Install a license over NETCONF, reload from the CLI.
	ctx := context.Background()
	cfg := netconf.ClientConfig{User: "admin", Password: "admin", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	udi, err := keyengine.ParseUDI(devs[0].UDI)
	if err != nil {
		t.Fatal(err)
	}
	top := devicesim.Families[devs[0].Family].Levels
	lic, err := kr.Sign(keyengine.Grant{ID: "E2E1", UDI: udi, Feature: top[len(top)-1], Type: keyengine.Permanent,
		IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := netconf.Dial(ctx, devs[0].Address, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.InstallLicense(ctx, keyengine.EncodeFile([]keyengine.License{lic})); err != nil || res[0].Status != netconf.StatusInstalled {
		t.Fatalf("install: %+v %v", res, err)
	}
	c.Close()
	if out := mustRun(t, ctl, "reload", "0"); !strings.Contains(out, "reloaded (active "+top[len(top)-1]) {
		t.Fatalf("reload: %s", out)
	}
	if out := mustRun(t, ctl, "show", base+".1"); !strings.Contains(out, "E2E1") || !strings.Contains(out, "inUse") {
		t.Fatalf("show:\n%s", out)
	}

	// Faults over a range, clock, power, replace, upgrade.
	mustRun(t, ctl, "fault", "set", base+".2-"+base+".3", "--auth-failure")
	if _, err := netconf.Dial(ctx, devs[2].Address, cfg); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("auth fault from the CLI: %v", err)
	}
	mustRun(t, ctl, "fault", "clear", "1-2")
	if c, err := netconf.Dial(ctx, devs[2].Address, cfg); err != nil {
		t.Fatalf("after fault clear: %v", err)
	} else {
		c.Close()
	}
	if out, err := run(t, ctl, "fault", "set", "1", "--drop", "sideways"); err == nil || !strings.Contains(out, "drop") {
		t.Fatalf("bad drop mode accepted: %s", out)
	}
	if out, err := run(t, ctl, "reload", "99"); err == nil || !strings.Contains(out, "no such device") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("reload of a missing device: %q", out)
	}
	mustRun(t, ctl, "clock", "advance", "10d")
	if out := mustRun(t, ctl, "clock", "speed", "60"); !strings.Contains(out, "speed 60x") {
		t.Fatalf("clock speed: %s", out)
	}
	mustRun(t, ctl, "power", "off", "4")
	old := devs[5]
	mustRun(t, ctl, "replace", "5")
	var d5 devicesim.DeviceInfo
	json.Unmarshal([]byte(mustRun(t, ctl, "show", "5", "-o", "json")), &d5)
	if d5.Serial == old.Serial || d5.HostKey == old.HostKey || d5.PID != old.PID {
		t.Fatalf("replace: before %+v after %+v", old, d5)
	}

	// The broker rotates its key: SIGHUP re-reads the trusted keys.
	if _, err := kr.Rotate(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trust, kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, s, "the SIGHUP trust reload", func() bool { return strings.Contains(s.log.String(), "SIGHUP: trusted keys reloaded") })
	if out := mustRun(t, ctl, "trust", "reload"); !strings.Contains(out, "2 key(s)") {
		t.Fatalf("trust reload: %s", out)
	}

	// A process restart keeps every device as it was.
	s.stop(t)
	s = startServe(t, args...)
	waitFor(t, s, "the restarted fleet", func() bool { _, err := run(t, ctl, "list"); return err == nil })
	var after []devicesim.DeviceInfo
	if err := json.Unmarshal([]byte(mustRun(t, ctl, "list", "-o", "json")), &after); err != nil {
		t.Fatal(err)
	}
	if after[0].ActiveLevel != top[len(top)-1] || after[4].Powered || after[5].Serial != d5.Serial || after[5].HostKey != d5.HostKey {
		t.Fatalf("after restart: %+v", after)
	}
	// Simulated time survived the restart; the speed is the configured one.
	out := mustRun(t, ctl, "clock", "show")
	f := strings.Fields(out)
	if len(f) < 3 {
		t.Fatalf("clock show: %q", out)
	}
	now, err := time.Parse(time.RFC3339, strings.TrimSuffix(f[2], ","))
	if err != nil || now.Before(time.Now().Add(9*24*time.Hour)) {
		t.Fatalf("clock after restart: %q (%v), want 10 days ahead", out, err)
	}
	if !strings.Contains(out, "speed 1x") {
		t.Fatalf("restart keeps the configured speed: %s", out)
	}
}

func TestServeBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trust", ""}, "--trust is required"},
		{[]string{"--trust", "/nonexistent.pem", "--control-addr", ""}, "nonexistent.pem"},
		{[]string{"--first-address", "10.1.0.1", "--trust", "x"}, "loopback"},
		{[]string{"--control-addr", "0.0.0.0:1", "--trust", "x"}, "control_addr"},
		{[]string{"--config", "/nonexistent.yaml"}, "nonexistent.yaml"},
	} {
		out, err := exec.Command(bin, append([]string{"serve", "--port", strconv.Itoa(freePort(t))}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) || !strings.HasPrefix(string(out), "devicesim: ") {
			t.Errorf("serve %v: %v %q, want an error naming %q", tc.args, err, out, tc.want)
		}
	}
}
