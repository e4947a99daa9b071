package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/netconf/netconfdtest"
)

// End-to-end tests of the bulk operations: the real licbroker and devicesim
// binaries, faults injected with `devicesim fault`, the CLI as a user runs
// it.

type e2eResult struct {
	Target   string `json:"target"`
	UDI      string `json:"udi"`
	OK       bool   `json:"ok"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	License  string `json:"license"`
	Detail   string `json:"detail"`
	Attempts int    `json:"attempts"`
}

type e2eJob struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	State     string         `json:"state"`
	Total     int            `json:"total"`
	Done      int            `json:"done"`
	Failed    int            `json:"failed"`
	Remaining int            `json:"remaining"`
	Statuses  map[string]int `json:"statuses"`
	RetryOf   string         `json:"retry_of"`
	Results   []e2eResult    `json:"results"`
}

func (j e2eJob) result(t *testing.T, target string) e2eResult {
	t.Helper()
	for _, r := range j.Results {
		if r.Target == target || r.UDI == target {
			return r
		}
	}
	t.Fatalf("job %s has no result for %s: %+v", j.ID, target, j.Results)
	return e2eResult{}
}

// sim runs `devicesim` control commands against a fleet.
type simCtl struct {
	t    *testing.T
	addr string
}

// fault sets (or, with an empty body, clears) the faults of devices
// first..last through the control API, without a process per call.
func (s simCtl) fault(first, last int, body string) {
	s.t.Helper()
	for i := first; i <= last; i++ {
		method := http.MethodPut
		if body == "" {
			method = http.MethodDelete
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("http://%s/devices/%d/fault", s.addr, i), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			s.t.Fatalf("%s fault of device %d: %s", method, i, resp.Status)
		}
	}
}

func (s simCtl) run(args ...string) {
	s.t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "devicesim"), append(args, "--control-addr", s.addr)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("devicesim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestBulkFaultsE2E: discovery over a /28 where four devices are faulty
// and two addresses are empty lists each with its reason and records the
// rest; a retry after the faults are cleared finds the four. A bulk
// install where one switch refuses the license and one drops the session
// fails with the first reason, charges every switch once, and a retry
// finishes it. Store-only licenses are deployed later; refresh, cancel and
// the progress bar on a terminal work from the CLI.
func TestBulkFaultsE2E(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base := fleetBase()
	simPort := strconv.Itoa(freePortOn(t, base+".1"))
	_, c := startBroker(t, dataDir, simPort, "LICBROKER_DEVICE_TIMEOUT=2s", "LICBROKER_JOB_RETRY_BACKOFF=100ms")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("admin\n"), 0o600)
	c.ok("credentials", "add", "default", "--username", "admin", "--password-file", pw)
	ctl := simCtl{t: t, addr: freeAddr(t, "127.0.0.1")}
	sim := start(t, nil, "devicesim", "serve", "--count", "12", "--first-address", base+".1", "--port", simPort,
		"--state-dir", filepath.Join(dataDir, "sim"), "--trust", filepath.Join(dataDir, "trusted-keys.pem"), "--control-addr", ctl.addr)
	waitListening(t, base+".12:"+simPort, sim)
	waitListening(t, ctl.addr, sim)
	addr := func(i int) string { return fmt.Sprintf("%s.%d:%s", base, i+1, simPort) }

	ctl.run("fault", "set", "1", "--unreachable")
	ctl.fault(2, 2, `{"auth_failure": true}`)
	ctl.fault(3, 3, `{"latency": "5s"}`)
	ctl.fault(4, 4, `{"drop": "before"}`)
	var disc e2eJob
	c.json(&disc, "device", "discover", base+".0/28", "--wait")
	if disc.State != "done" || disc.Total != 14 || disc.Done != 8 || disc.Failed != 6 {
		t.Fatalf("discovery: %s, %d ok, %d failed of %d: %+v", disc.State, disc.Done, disc.Failed, disc.Total, disc.Results)
	}
	for i, want := range map[int][2]string{1: {"timeout", "ssh handshake"}, 2: {"auth-failed", "unable to authenticate"},
		3: {"timeout", "timed out"}, 4: {"dropped", ""}, 12: {"unreachable", ""}, 13: {"unreachable", ""}} {
		if r := disc.result(t, addr(i)); r.OK || r.Status != want[0] || !strings.Contains(r.Reason, want[1]) || r.Reason == "" {
			t.Fatalf("%s: %+v, want %s with a reason containing %q", addr(i), r, want[0], want[1])
		}
	}
	ctl.run("fault", "clear", "1-4")
	out, _, err := c.run("job", "retry", disc.ID, "--wait", "-o", "json")
	if err == nil {
		t.Fatal("the retry over two empty addresses succeeded")
	}
	var retry e2eJob
	c.json(&retry, "job", "show", jobID(t, out))
	if retry.RetryOf != disc.ID || retry.Total != 6 || retry.Done != 4 || retry.Statuses["unreachable"] != 2 {
		t.Fatalf("retry job %+v", retry)
	}
	var devs []e2eDevice
	c.json(&devs, "device", "list")
	if len(devs) != 12 {
		t.Fatalf("%d devices recorded, want 12", len(devs))
	}
	var sw, rt []string
	index := map[string]int{}
	for _, d := range devs {
		host, _, _ := net.SplitHostPort(d.Address)
		n, _ := strconv.Atoi(host[strings.LastIndexByte(host, '.')+1:])
		index[d.UDI] = n - 1
		switch d.Family {
		case "3750e":
			sw = append(sw, d.UDI)
		case "880":
			rt = append(rt, d.UDI)
		}
	}
	if len(sw) < 3 || len(rt) < 1 {
		t.Fatalf("fleet has %d 3750-E and %d 880", len(sw), len(rt))
	}

	// A bulk install: one switch refuses, one drops the session after
	// installing. The command fails with the first reason.
	c.ok("pak", "add", "--id", "PAK0000BLK1", "--feature", "ipservices", "--quantity", "50", "--family", "3750e")
	ctl.fault(index[sw[0]], index[sw[0]], `{"storage_full": true}`)
	ctl.fault(index[sw[1]], index[sw[1]], `{"drop": "after"}`)
	line := c.fails("license storage full", "license", "install", "--pak", "PAK0000BLK1", "--family", "3750e", "--wait")
	if !strings.Contains(line, "and 1 more failures") {
		t.Fatalf("error line %q does not count the other failure", line)
	}
	var jobs []e2eJob
	c.json(&jobs, "job", "list")
	inst := jobs[0]
	var failed e2eJob
	c.json(&failed, "job", "show", inst.ID, "--failed")
	if inst.Kind != "install" || len(failed.Results) != 2 || failed.result(t, sw[0]).Status != "refused" || failed.result(t, sw[1]).Status != "dropped" ||
		failed.result(t, sw[1]).Attempts != 3 {
		t.Fatalf("failed results of %s: %+v", inst.ID, failed.Results)
	}
	wantUsed := func(id string, n int) {
		t.Helper()
		var paks []struct {
			ID    string                         `json:"id"`
			Lines []struct{ Quantity, Used int } `json:"lines"`
		}
		c.json(&paks, "pak", "list")
		for _, p := range paks {
			if p.ID == id && p.Lines[0].Used != n {
				t.Fatalf("PAK %s used %d, want %d", id, p.Lines[0].Used, n)
			}
		}
	}
	wantUsed("PAK0000BLK1", len(sw))
	ctl.fault(index[sw[0]], index[sw[0]], "")
	ctl.fault(index[sw[1]], index[sw[1]], "")
	c.json(&retry, "job", "retry", inst.ID, "--wait")
	if retry.Done != 2 || retry.Failed != 0 {
		t.Fatalf("install retry %+v", retry)
	}
	wantUsed("PAK0000BLK1", len(sw))
	var again e2eJob
	c.json(&again, "license", "install", "--pak", "PAK0000BLK1", "--family", "3750e", "--wait")
	if again.Statuses["already-licensed"] != len(sw) {
		t.Fatalf("a second install: %v", again.Statuses)
	}
	wantUsed("PAK0000BLK1", len(sw))

	// Store-only, then deploy.
	c.ok("pak", "add", "--id", "PAK0000BLK2", "--feature", "advipservices", "--quantity", "50", "--family", "880")
	var stored, deployed e2eJob
	c.json(&stored, "license", "install", "--pak", "PAK0000BLK2", "--family", "880", "--store-only", "--wait")
	if stored.Statuses["stored"] != len(rt) {
		t.Fatalf("store-only: %v", stored.Statuses)
	}
	var d e2eDevice
	c.json(&d, "device", "show", rt[0])
	for _, l := range d.Licenses {
		if l.ID == stored.result(t, rt[0]).License {
			t.Fatal("a store-only license is on the device")
		}
	}
	c.json(&deployed, "license", "deploy", "--all", "--wait")
	if deployed.Kind != "deploy" || deployed.Done != len(rt) || deployed.Statuses["installed"] != len(rt) {
		t.Fatalf("deploy: %+v", deployed)
	}
	c.fails("has licenses waiting in inventory", "license", "deploy", "--all", "--wait")

	// A refresh of everything, with a progress bar when stderr is a
	// terminal and plain output when it is not.
	_, plain, err := c.run("device", "refresh", "--all", "--wait")
	if err != nil || strings.Contains(plain, "100%") || !strings.Contains(plain, "job ") {
		t.Fatalf("refresh without a terminal: %v\n%s", err, plain)
	}
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("`script` (Debian package bsdutils) is needed to run the CLI on a terminal: apt-get install bsdutils")
	}
	cmd := exec.Command(scriptBin, "-qec", filepath.Join(binDir, "licbroker")+" device refresh --all --wait", "/dev/null")
	cmd.Env = append(os.Environ(), "LICBROKER_ADDR="+c.server, "LICBROKER_TOKEN="+c.token, "LICBROKER_TENANT=")
	tty, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(tty), "100%") || !strings.Contains(string(tty), "12/12") {
		t.Fatalf("refresh on a terminal shows no progress bar: %v\n%q", err, tty)
	}

	// Cancel: a slow refresh, one device at a time.
	ctl.fault(0, 11, `{"latency": "400ms"}`)
	out = c.ok("device", "refresh", "--all", "--concurrency", "1", "-o", "json")
	id := jobID(t, out)
	c.ok("job", "cancel", id)
	var cancelled e2eJob
	time.Sleep(time.Second)
	c.json(&cancelled, "job", "show", id)
	if cancelled.State != "cancelled" || cancelled.Remaining == 0 || cancelled.Failed != 0 {
		t.Fatalf("cancelled job %+v", cancelled)
	}
	c.fails("already cancelled", "job", "cancel", id)

	// Bad input: one line naming the problem, and no job.
	c.json(&jobs, "job", "list")
	before := len(jobs)
	c.fails("invalid CIDR", "device", "discover", base+".0/33")
	c.fails("concurrency 99999 must be between 1 and 2048", "device", "discover", base+".0/28", "--concurrency", "99999")
	c.fails("give either devices or a selection", "license", "install", "--pak", "PAK0000BLK1", "--device", sw[0], "--all")
	c.fails("no device given", "device", "refresh")
	c.fails("PAK NOPE0000000 not found", "license", "install", "--pak", "NOPE0000000", "--all")
	c.fails("unknown family", "device", "refresh", "--family", "9999")
	c.fails("job job-nope not found", "job", "retry", "job-nope")
	c.json(&jobs, "job", "list")
	if len(jobs) != before {
		t.Fatalf("bad requests made %d jobs", len(jobs)-before)
	}
}

// jobID reads the id of a job printed as JSON.
func jobID(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, `"id": "`)
	if i < 0 {
		t.Fatalf("no job id in %q", out)
	}
	rest := out[i+7:]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestDiscoverNetconfdE2E: a real NETCONF server without the licensing
// model (yuma123's netconfd behind OpenSSH) is listed as not-licensing,
// with the reason, and the job succeeds.
func TestDiscoverNetconfdE2E(t *testing.T) {
	t.Parallel()
	nd := netconfdtest.Start(t)
	hostport, username, keyFile := nd.Addr, nd.Username, nd.KeyFile
	dataDir := t.TempDir()
	host, port, _ := net.SplitHostPort(hostport)
	_, c := startBroker(t, dataDir, port, "LICBROKER_DEVICE_TIMEOUT=10s")
	c.ok("credentials", "add", "nc", "--username", username, "--key-file", keyFile)
	var j e2eJob
	c.json(&j, "device", "discover", host, "--credentials", "nc", "--wait")
	r := j.result(t, hostport)
	if j.State != "done" || r.OK || r.Status != "not-licensing" || !strings.Contains(r.Reason, "does not advertise the licensing model") {
		t.Fatalf("netconfd: job %s, result %+v", j.State, r)
	}
	var devs []e2eDevice
	c.json(&devs, "device", "list")
	if len(devs) != 0 {
		t.Fatalf("netconfd was recorded as a device: %+v", devs)
	}
}
