package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the real binaries and run them as processes on
// loopback addresses.

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "licbroker-e2e-bin")
	if err != nil {
		panic(err)
	}
	out, err := exec.Command("go", "build", "-race", "-o", dir+"/", "github.com/licbroker/licbroker/cmd/licbroker",
		"github.com/licbroker/licbroker/cmd/devicesim").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns host:port of a free TCP port on host.
func freeAddr(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a background process that is stopped when the test ends.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = &syncWriter{b: p.out}, &syncWriter{b: p.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGINT and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v; output:\n%s", p.cmd.Path, err, p.output())
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop on SIGINT; output:\n%s", p.cmd.Path, p.output())
	}
}

func (p *proc) output() string {
	return p.out.String()
}

type syncWriter struct{ b *bytes.Buffer }

var writeMu = make(chan struct{}, 1)

func (w *syncWriter) Write(b []byte) (int, error) {
	writeMu <- struct{}{}
	defer func() { <-writeMu }()
	return w.b.Write(b)
}

// cli runs the licbroker client and returns stdout, stderr and the error.
type cli struct {
	t      *testing.T
	server string
	token  string
}

func (c *cli) run(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(binDir, "licbroker"), args...)
	cmd.Env = append(os.Environ(), "LICBROKER_ADDR="+c.server, "LICBROKER_TOKEN="+c.token, "LICBROKER_TENANT=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// ok runs a command that must succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errs, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("licbroker %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// fails runs a command that must fail with a one-line error containing want.
func (c *cli) fails(want string, args ...string) string {
	c.t.Helper()
	out, errs, err := c.run(args...)
	if err == nil {
		c.t.Fatalf("licbroker %s succeeded, want failure containing %q\nstdout:\n%s", strings.Join(args, " "), want, out)
	}
	line := strings.TrimSpace(errs)
	if i := strings.LastIndex(line, "\nlicbroker: "); i >= 0 {
		line = line[i+1:]
	}
	if strings.Count(line, "\n") != 0 || !strings.HasPrefix(line, "licbroker: ") || !strings.Contains(line, want) {
		c.t.Fatalf("licbroker %s: error %q, want one line containing %q", strings.Join(args, " "), errs, want)
	}
	return line
}

func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("licbroker %s: bad JSON %v:\n%s", strings.Join(args, " "), err, out)
	}
}

// startBroker runs `licbroker serve` on free loopback ports (with extra
// environment settings) and waits until it is ready and has written its
// admin token.
func startBroker(t *testing.T, dataDir, netconfPort string, env ...string) (*proc, *cli) {
	t.Helper()
	httpAddr := freeAddr(t, "127.0.0.1")
	p := start(t, append([]string{"LICBROKER_NETCONF_PORT=" + netconfPort}, env...), "licbroker", "serve", "--data-dir", dataDir, "--http-addr", httpAddr,
		"--raft-addr", freeAddr(t, "127.0.0.1"), "--node-id", "node1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		tok, _ := os.ReadFile(filepath.Join(dataDir, "admin-token"))
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && len(tok) > 0 {
				return p, &cli{t: t, server: "http://" + httpAddr, token: strings.TrimSpace(string(tok))}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker not ready; output:\n%s", p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fleetBase picks a random 127.x.y.0/24 for a test fleet.
func fleetBase() string {
	return fmt.Sprintf("127.%d.%d", 10+rand.IntN(200), 1+rand.IntN(250))
}

func waitListening(t *testing.T, addr string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening; output:\n%s", addr, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type e2eDevice struct {
	UDI           string `json:"udi"`
	Family        string `json:"family"`
	Address       string `json:"address"`
	ActiveLevel   string `json:"active_level"`
	NextBootLevel string `json:"next_boot_level"`
	Licenses      []struct {
		ID        string  `json:"id"`
		Feature   string  `json:"feature"`
		Type      string  `json:"type"`
		State     string  `json:"state"`
		ExpiresAt *string `json:"expires_at"`
	} `json:"licenses"`
}

// TestWalkingSkeleton runs the README's tour: discover, add a PAK, install,
// reload, exhaust the PAK, refuse a key for another device, restart.
func TestWalkingSkeleton(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base := fleetBase()
	simPort := strconv.Itoa(freePortOn(t, base+".1"))
	broker, c := startBroker(t, dataDir, simPort)

	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("admin\n"), 0o600)
	c.ok("credentials", "add", "default", "--username", "admin", "--password-file", pw)
	var creds []map[string]string
	c.json(&creds, "credentials", "list")
	if len(creds) != 1 || creds[0]["name"] != "default" || creds[0]["kind"] != "password" || len(creds[0]) != 4 {
		t.Fatalf("credentials list (must never show the secret): %v", creds)
	}

	sim := start(t, nil, "devicesim", "serve", "--count", "20", "--first-address", base+".1", "--port", simPort,
		"--state-dir", filepath.Join(dataDir, "sim"), "--trust", filepath.Join(dataDir, "trusted-keys.pem"), "--control-addr", "")
	waitListening(t, base+".20:"+simPort, sim)

	// 1. Discover: 20 devices of the /27 answer; the other 10 addresses are
	// listed as unreachable and the job still succeeds.
	var job struct {
		State   string `json:"state"`
		Done    int    `json:"done"`
		Failed  int    `json:"failed"`
		Results []struct {
			Target, UDI, Status, Reason, License string
			OK                                   bool
		} `json:"results"`
	}
	c.json(&job, "device", "discover", base+".0/27", "--wait")
	if job.State != "done" || job.Done != 20 || job.Failed != 10 {
		t.Fatalf("discover job: state %s done %d failed %d", job.State, job.Done, job.Failed)
	}
	for _, r := range job.Results {
		if !r.OK && r.Status != "unreachable" {
			t.Fatalf("discover result %+v", r)
		}
	}
	var devs []e2eDevice
	c.json(&devs, "device", "list")
	fams := map[string][]e2eDevice{}
	for _, d := range devs {
		fams[d.Family] = append(fams[d.Family], d)
	}
	if len(devs) != 20 || len(fams["3750e"]) < 6 || len(fams["3560e"]) == 0 || len(fams["880"]) == 0 || len(fams["860"]) == 0 {
		t.Fatalf("devices by family: %d 3750e, %d 3560e, %d 880, %d 860", len(fams["3750e"]), len(fams["3560e"]), len(fams["880"]), len(fams["860"]))
	}
	sw := fams["3750e"]
	if sw[0].ActiveLevel != "ipbase" {
		t.Fatalf("fresh switch runs %s, want ipbase", sw[0].ActiveLevel)
	}

	// 2. A PAK for five ipservices licenses on 3750-E switches.
	c.ok("pak", "add", "--id", "PAK0000E2E1", "--feature", "ipservices", "--type", "permanent", "--quantity", "5", "--family", "3750e")

	// 3. Install on one switch.
	c.json(&job, "license", "install", "--pak", "PAK0000E2E1", "--device", sw[0].UDI, "--wait")
	if job.Done != 1 || job.Results[0].Status != "installed" || job.Results[0].License == "" {
		t.Fatalf("install: %+v", job)
	}
	licID := job.Results[0].License

	// 4. Reload: the device activates ipservices, the license is permanent and in use.
	c.ok("device", "reload", sw[0].UDI)
	var d e2eDevice
	c.json(&d, "device", "show", sw[0].UDI)
	if d.ActiveLevel != "ipservices" {
		t.Fatalf("after reload active_level %s, want ipservices", d.ActiveLevel)
	}
	found := false
	for _, l := range d.Licenses {
		if l.ID == licID {
			found = l.Type == "permanent" && l.State == "inUse" && l.ExpiresAt == nil
		}
	}
	if !found {
		t.Fatalf("license %s not permanent and in use: %+v", licID, d.Licenses)
	}

	// Installing again on the same device spends nothing.
	c.json(&job, "license", "install", "--pak", "PAK0000E2E1", "--device", sw[0].UDI, "--wait")
	if job.Results[0].License != licID {
		t.Fatalf("repeat install gave license %s, want %s", job.Results[0].License, licID)
	}

	// 5. Four more use the PAK up; the sixth fails with a one-line reason.
	args := []string{"license", "install", "--pak", "PAK0000E2E1", "--wait"}
	for _, s := range sw[1:5] {
		args = append(args, "--device", s.UDI)
	}
	c.json(&job, args...)
	if job.Done != 4 || job.Failed != 0 {
		t.Fatalf("installing four more: %+v", job)
	}
	c.fails("used up: 5 of 5 redeemed", "license", "install", "--pak", "PAK0000E2E1", "--device", sw[5].UDI, "--wait")
	var paks []struct {
		Lines []struct{ Quantity, Used int } `json:"lines"`
	}
	c.json(&paks, "pak", "list")
	if len(paks) != 1 || paks[0].Lines[0].Used != 5 {
		t.Fatalf("PAK after exhaustion: %+v", paks)
	}

	// A key for one device is refused by another, naming both UDIs.
	file := filepath.Join(t.TempDir(), "lic.xml")
	os.WriteFile(file, []byte(c.ok("license", "file", licID)), 0o644)
	line := c.fails("license is for device "+sw[0].UDI+", not "+sw[5].UDI, "license", "deploy", "--device", sw[5].UDI, "--file", file)
	t.Logf("refused as expected: %s", line)

	// Bad input gets a one-line error and changes nothing.
	c.fails("PAK id", "pak", "add", "--id", "SHORT", "--feature", "ipservices", "--quantity", "1")
	c.fails("not a licensable level", "pak", "add", "--id", "PAK0000E2E2", "--feature", "ipbase", "--quantity", "1", "--family", "3750e")
	c.fails("invalid UDI", "device", "show", "nocolon")
	c.json(&paks, "pak", "list")
	if len(paks) != 1 {
		t.Fatalf("a refused PAK was recorded: %+v", paks)
	}

	// A restart keeps every record.
	broker.stop(t)
	_, c = startBroker(t, dataDir, simPort)
	c.json(&devs, "device", "list")
	c.json(&paks, "pak", "list")
	if len(devs) != 20 || len(paks) != 1 || paks[0].Lines[0].Used != 5 {
		t.Fatalf("after restart: %d devices, PAKs %+v", len(devs), paks)
	}
	c.json(&d, "device", "show", sw[0].UDI)
	if d.ActiveLevel != "ipservices" {
		t.Fatalf("after restart active_level %s", d.ActiveLevel)
	}
}

func freePortOn(t *testing.T, host string) int {
	_, port, _ := net.SplitHostPort(freeAddr(t, host))
	n, _ := strconv.Atoi(port)
	return n
}
