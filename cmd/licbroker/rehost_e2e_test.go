package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// simctl runs a devicesim control command against the fleet's control
// endpoint and returns its output.
func simctl(t *testing.T, ctl string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "devicesim"), append(args, "--control-addr", ctl)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("devicesim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type simInfo struct {
	UDI     string `json:"udi"`
	HostKey string `json:"host_key_fingerprint"`
	Active  string `json:"active_level"`
	Powered bool   `json:"powered"`
}

type e2eExpiring struct {
	Items []struct {
		UDI, Feature, Type, State, Source string
		PeriodLeft                        string `json:"period_left"`
	} `json:"items"`
}

// TestRehostAndEvaluationE2E runs the real binaries: a licensed switch is
// powered off and replaced by a new unit at its address; `licbroker
// rehost --install` moves its licenses and trusts the new unit's host key;
// the repeat changes nothing, an RMA number is attached later, wrong
// replacements are refused with one-line errors; the replacement's
// licenses download as one file that verifies for it and not for another
// tenant. Then an evaluation license runs its course on the simulator's
// clock: activate, watch it in report expiring and /metrics, expire,
// reload, fall back.
func TestRehostAndEvaluationE2E(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base := fleetBase()
	simPort := strconv.Itoa(freePortOn(t, base+".1"))
	ctl := freeAddr(t, "127.0.0.1")
	_, c := startBroker(t, dataDir, simPort)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("admin\n"), 0o600)
	c.ok("credentials", "add", "default", "--username", "admin", "--password-file", pw)
	sim := start(t, nil, "devicesim", "serve", "--count", "12", "--first-address", base+".1", "--port", simPort,
		"--state-dir", filepath.Join(dataDir, "sim"), "--trust", filepath.Join(dataDir, "trusted-keys.pem"), "--control-addr", ctl)
	waitListening(t, base+".12:"+simPort, sim)
	waitListening(t, ctl, sim)
	c.ok("device", "discover", base+".0/28", "--wait")
	var devs []e2eDevice
	c.json(&devs, "device", "list")
	var sw []e2eDevice
	var other *e2eDevice
	for i, d := range devs {
		if d.Family == "3750e" {
			sw = append(sw, d)
		} else if other == nil {
			other = &devs[i]
		}
	}
	if len(devs) != 12 || len(sw) < 3 || other == nil {
		t.Fatalf("fleet: %d devices, %d 3750-E switches", len(devs), len(sw))
	}
	failed, licensed, spare := sw[0], sw[1], sw[2]
	c.ok("pak", "add", "--id", "PAKRMAE2E01", "--feature", "ipservices", "--type", "permanent", "--quantity", "5", "--family", "3750e")
	c.ok("license", "install", "--pak", "PAKRMAE2E01", "--device", failed.UDI, "--device", licensed.UDI, "--wait")
	c.ok("device", "reload", failed.UDI)

	// The switch fails; a new unit takes its address.
	simctl(t, ctl, "power", "off", failed.Address)
	simctl(t, ctl, "replace", failed.Address)
	var repl simInfo
	if err := json.Unmarshal([]byte(simctl(t, ctl, "show", failed.Address, "-o", "json")), &repl); err != nil {
		t.Fatal(err)
	}
	if repl.UDI == failed.UDI || !repl.Powered {
		t.Fatalf("replacement: %+v", repl)
	}
	// Until the rehost, the broker refuses the new unit's key.
	c.fails("host key", "device", "reload", failed.UDI)

	out := c.ok("rehost", "--failed", failed.UDI, "--replacement", repl.UDI, "--install")
	if !strings.Contains(out, "rehosted 1 license from "+failed.UDI+" to "+repl.UDI) || !strings.Contains(out, "accepted the replacement's host key "+repl.HostKey) ||
		!strings.Contains(out, "next reload ipservices") || !strings.Contains(out, "regenerated  installed  installed") {
		t.Fatalf("rehost output:\n%s", out)
	}
	if out := c.ok("rehost", "--failed", failed.UDI, "--replacement", repl.UDI); !strings.Contains(out, "already rehosted to "+repl.UDI) || !strings.Contains(out, "nothing changed") {
		t.Fatalf("repeated rehost:\n%s", out)
	}
	c.ok("rehost", "attach-rma", "--failed", failed.UDI, "--rma", "RMA-4471")
	var rh struct {
		RMA       string  `json:"rma"`
		Installed *string `json:"installed"`
		Licenses  []struct{ From, To string }
	}
	c.json(&rh, "rehost", "show", failed.UDI)
	if rh.RMA != "RMA-4471" || rh.Installed == nil || len(rh.Licenses) != 1 {
		t.Fatalf("rehost show: %+v", rh)
	}
	var lics []licenseJSON
	c.json(&lics, "license", "list", "--device", failed.UDI)
	if len(lics) != 1 || lics[0].State != "rehosted" {
		t.Fatalf("failed device's licenses: %+v", lics)
	}
	c.json(&lics, "license", "list", "--device", repl.UDI)
	if len(lics) != 1 || lics[0].State != "installed" || lics[0].ID != rh.Licenses[0].To {
		t.Fatalf("replacement's licenses: %+v", lics)
	}
	var d e2eDevice
	c.ok("device", "reload", repl.UDI)
	c.json(&d, "device", "show", repl.UDI)
	if d.ActiveLevel != "ipservices" || d.Address != failed.Address {
		t.Fatalf("replacement after reload: %+v", d)
	}

	// Refused, one line each, nothing changed.
	c.fails("is of family "+other.Family+" but the failed device", "rehost", "--failed", licensed.UDI, "--replacement", other.UDI)
	c.fails("replacement "+licensed.UDI+" is already licensed", "rehost", "--failed", spare.UDI, "--replacement", licensed.UDI)
	c.fails("already replaces "+failed.UDI, "rehost", "--failed", licensed.UDI, "--replacement", repl.UDI)
	c.fails("already has RMA RMA-4471", "rehost", "attach-rma", "--failed", failed.UDI, "--rma", "RMA-9")
	c.fails("invalid UDI", "rehost", "--failed", "nocolon", "--replacement", repl.UDI)
	var rhs []rehostJSON
	c.json(&rhs, "rehost", "list")
	if len(rhs) != 1 {
		t.Fatalf("refused rehosts were recorded: %+v", rhs)
	}

	// Electronic delivery: one file with the device's licenses, verified
	// for the replacement; another tenant's token cannot fetch it.
	file := filepath.Join(t.TempDir(), "repl.lic")
	os.WriteFile(file, []byte(c.ok("license", "file", "--device", repl.UDI)), 0o600)
	c.ok("key", "verify", file, "--udi", repl.UDI, "--trusted", filepath.Join(dataDir, "trusted-keys.pem"))
	c.ok("tenant", "create", "globex")
	var tok e2eToken
	c.json(&tok, "token", "create", "--tenant", "globex", "--role", "viewer")
	globex := &cli{t: t, server: c.server, token: tok.Token}
	globex.fails("not found", "license", "file", "--device", repl.UDI)

	// An evaluation license on the simulator's clock.
	ev := other
	feature := "ipservices"
	if ev.Family == "880" || ev.Family == "860" {
		feature = "advipservices"
	}
	base0 := ev.ActiveLevel
	out = c.ok("license", "temp", "--device", ev.UDI, "--feature", feature, "--reload")
	if !strings.Contains(out, "evaluation") || !strings.Contains(out, "inUse") {
		t.Fatalf("license temp:\n%s", out)
	}
	expiring := func(within string) e2eExpiring {
		var r e2eExpiring
		c.json(&r, "report", "expiring", "--within", within)
		return r
	}
	if r := expiring("14d"); len(r.Items) != 0 {
		t.Fatalf("expiring 14d right after activation: %+v", r)
	}
	if r := expiring("61d"); len(r.Items) != 1 || r.Items[0].UDI != ev.UDI || r.Items[0].Type != "evaluation" || r.Items[0].State != "inUse" {
		t.Fatalf("expiring 61d: %+v", r)
	}
	simctl(t, ctl, "clock", "advance", "50d")
	c.ok("device", "discover", strings.Split(ev.Address, ":")[0], "--wait")
	// 10 days less the seconds of real time the device has run since.
	if r := expiring("14d"); len(r.Items) != 1 || r.Items[0].PeriodLeft != "1 week 2 days" && r.Items[0].PeriodLeft != "1 week 3 days" {
		t.Fatalf("expiring 14d after 50 days: %+v", r)
	}
	if m := scrape(t, c.server); !strings.Contains(m, `licbroker_licenses_expiring{type="evaluation",within="14d"} 1`) ||
		!strings.Contains(m, `licbroker_licenses_expiring{type="evaluation",within="7d"} 0`) || strings.Contains(m, "globex") {
		t.Fatalf("metrics after 50 days:\n%s", grepLines(m, "licbroker_licenses_"))
	}
	simctl(t, ctl, "clock", "advance", "11d")
	c.ok("device", "discover", strings.Split(ev.Address, ":")[0], "--wait")
	if r := expiring("14d"); len(r.Items) != 1 || r.Items[0].State != "expiredInUse" || r.Items[0].PeriodLeft != "expired, in use until reload" {
		t.Fatalf("expiring after the evaluation ran out: %+v", r)
	}
	c.json(&d, "device", "show", ev.UDI)
	if d.ActiveLevel != feature {
		t.Fatalf("expired evaluation: device runs %s until reload, want %s", d.ActiveLevel, feature)
	}
	c.ok("device", "reload", ev.UDI)
	c.json(&d, "device", "show", ev.UDI)
	var evs []struct{ State string }
	c.json(&evs, "license", "evaluations", "--device", ev.UDI)
	if d.ActiveLevel != base0 || len(evs) != 1 || evs[0].State != "expiredNotInUse" {
		t.Fatalf("after reload: device runs %s (want %s), evaluations %+v", d.ActiveLevel, base0, evs)
	}
	c.fails("expired", "license", "temp", "--device", ev.UDI, "--feature", feature)
	if r := expiring("14d"); len(r.Items) != 0 {
		t.Fatalf("an ended evaluation is still listed: %+v", r)
	}
}

func scrape(t *testing.T, server string) string {
	t.Helper()
	res, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
