package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestBulkLeaderKillE2E: a bulk install runs on a cluster of three real
// `licbroker serve` processes; the leader working it is killed with
// SIGKILL mid job. The new leader claims the job and works the devices
// that have no result yet. In the end every eligible device holds exactly
// one license, on the device and in the records, and the PAKs' used counts
// equal the licensed devices.
func TestBulkLeaderKillE2E(t *testing.T) {
	t.Parallel()
	const devices = 60
	c := newE2ECluster(t, 3)
	base := fleetBase()
	simPort := strconv.Itoa(freePortOn(t, base+".1"))
	extra := "netconf_port: " + simPort + "\ndevice_concurrency: 4\ndevice_timeout: 10s\njob_retry_backoff: 200ms\n"
	for _, nd := range c.nodes {
		c.writeConfig(nd, c.nodes, extra)
		c.start(nd)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("%s output:\n%s", nd.id, nd.p.output())
			}
		}
	})
	clis := make([]*cli, 3)
	for i, nd := range c.nodes {
		clis[i] = c.ready(nd)
	}
	st := waitStatus(t, clis[0], "a leader", func(st e2eStatus) bool { return st.Leader != "" })
	leader := -1
	for i, nd := range c.nodes {
		if nd.id == st.Leader {
			leader = i
		}
	}
	f1 := (leader + 1) % 3

	ctl := simCtl{t: t, addr: freeAddr(t, "127.0.0.1")}
	sim := start(t, nil, "devicesim", "serve", "--count", strconv.Itoa(devices), "--first-address", base+".1", "--port", simPort,
		"--trust", filepath.Join(c.nodes[leader].dataDir, "trusted-keys.pem"), "--control-addr", ctl.addr)
	waitListening(t, fmt.Sprintf("%s.%d:%s", base, devices, simPort), sim)
	waitListening(t, ctl.addr, sim)

	// Everything goes through a follower: writes are forwarded to the
	// leader, which works the jobs.
	op := clis[f1]
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("admin\n"), 0o600)
	op.ok("credentials", "add", "default", "--username", "admin", "--password-file", pw)
	var disc e2eJob
	op.json(&disc, "device", "discover", base+".0/26", "--wait")
	if disc.Done != devices {
		t.Fatalf("discovery: %+v", disc)
	}
	op.ok("pak", "add", "--id", "PAKKILLSW01", "--feature", "ipservices", "--quantity", "100", "--family", "3750e", "--family", "3560e")
	op.ok("pak", "add", "--id", "PAKKILLRT01", "--feature", "advipservices", "--quantity", "100", "--family", "880", "--family", "860")
	// Slow devices, so that the job is still running when the leader dies.
	ctl.fault(0, devices-1, `{"latency": "150ms"}`)
	var started e2eJob
	op.json(&started, "license", "install", "--pak", "PAKKILLSW01", "--pak", "PAKKILLRT01", "--all")
	var j e2eJob
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		op.json(&j, "job", "show", started.ID)
		if j.Done >= 8 {
			break
		}
		if j.State != "running" || time.Now().After(deadline) {
			t.Fatalf("install did not get going: %+v", j)
		}
	}
	var runner struct {
		Runner string `json:"runner"`
		Epoch  int    `json:"epoch"`
	}
	op.json(&runner, "job", "show", started.ID)
	if runner.Runner != c.nodes[leader].id || runner.Epoch != 1 {
		t.Fatalf("job runs on %s (claim %d), want the leader %s", runner.Runner, runner.Epoch, c.nodes[leader].id)
	}
	killed := c.nodes[leader]
	killed.p.cmd.Process.Signal(syscall.SIGKILL)
	<-killed.p.done
	doneAtKill := j.Done
	if doneAtKill >= devices {
		t.Fatalf("the job ended before the leader was killed (%d done)", doneAtKill)
	}
	ctl.fault(0, devices-1, "")

	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _, err := op.run("job", "show", started.ID, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &j) == nil && j.State != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job was not finished by a new leader: %+v", j)
		}
	}
	op.json(&runner, "job", "show", started.ID)
	if j.State != "done" || j.Done != devices || j.Failed != 0 || runner.Runner == killed.id || runner.Epoch < 2 {
		t.Fatalf("after the kill: %s on %s (claim %d), %d ok, %d failed of %d: %v", j.State, runner.Runner, runner.Epoch, j.Done, j.Failed, j.Total, j.Statuses)
	}
	t.Logf("leader %s killed after %d of %d devices; %s finished the job (claim %d): %v", killed.id, doneAtKill, devices, runner.Runner, runner.Epoch, j.Statuses)

	// Records: one license per device, installed; PAKs used = devices.
	var lics []struct {
		ID, UDI, PAK, State string
	}
	op.json(&lics, "license", "list")
	per := map[string]int{}
	for _, l := range lics {
		if l.State != "installed" {
			t.Fatalf("license %s of %s is %s", l.ID, l.UDI, l.State)
		}
		per[l.UDI]++
	}
	var devs []e2eDevice
	op.json(&devs, "device", "list")
	for _, d := range devs {
		if per[d.UDI] != 1 {
			t.Fatalf("%s has %d license records", d.UDI, per[d.UDI])
		}
	}
	var paks []struct {
		ID    string                         `json:"id"`
		Lines []struct{ Quantity, Used int } `json:"lines"`
	}
	op.json(&paks, "pak", "list")
	used := 0
	for _, p := range paks {
		used += p.Lines[0].Used
	}
	if len(devs) != devices || len(lics) != devices || used != devices {
		t.Fatalf("%d devices, %d licenses, PAK units used %d; want %d each", len(devs), len(lics), used, devices)
	}
	// Devices: each holds exactly one permanent license, the recorded one.
	for i := 0; i < devices; i++ {
		resp, err := http.Get(fmt.Sprintf("http://%s/devices/%d", ctl.addr, i))
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			UDI      string `json:"udi"`
			Licenses []struct{ ID, Type string }
		}
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		n := 0
		for _, l := range info.Licenses {
			if l.Type == "permanent" {
				n++
			}
		}
		if n != 1 || per[info.UDI] != 1 {
			t.Fatalf("device %d (%s) holds %d permanent licenses: %+v", i, info.UDI, n, info.Licenses)
		}
	}
	// The killed node comes back and catches up.
	c.start(killed)
	back := c.ready(killed)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var again e2eJob
		out, _, err := back.run("job", "show", started.ID, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &again) == nil && again.State == "done" && again.Done == devices {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted node does not see the finished job: %s", out)
		}
	}
}
