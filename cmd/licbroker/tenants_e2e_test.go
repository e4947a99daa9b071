package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type e2eToken struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// tenantView is what one tenant created, to check the other cannot see it.
type tenantView struct {
	name            string
	addr            string // address of devices[0]
	op, viewer      *cli
	devices         []string
	pak, lic, jobID string
}

// TestTenantIsolation runs two tenants, each with an operator and a viewer,
// through the real binaries: each discovers and licenses its own devices,
// and no token of one tenant can list, read, download, report on, audit or
// change anything of the other.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	base := fleetBase()
	simPort := strconv.Itoa(freePortOn(t, base+".1"))
	_, admin := startBroker(t, dataDir, simPort)
	sim := start(t, nil, "devicesim", "serve", "--count", "8", "--first-address", base+".1", "--port", simPort,
		"--state-dir", filepath.Join(dataDir, "sim"), "--trust", filepath.Join(dataDir, "trusted-keys.pem"), "--control-addr", "")
	waitListening(t, base+".8:"+simPort, sim)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("admin\n"), 0o600)

	tenants := map[string]*tenantView{}
	for i, name := range []string{"acme", "globex"} {
		admin.ok("tenant", "create", name)
		tv := &tenantView{name: name}
		for _, role := range []string{"operator", "viewer"} {
			var tok e2eToken
			admin.json(&tok, "token", "create", "--tenant", name, "--role", role, "--name", name+"-"+role)
			c := &cli{t: t, server: admin.server, token: tok.Token}
			if role == "operator" {
				tv.op = c
			} else {
				tv.viewer = c
			}
		}
		tv.op.ok("credentials", "add", "default", "--username", "admin", "--password-file", pw)
		// acme gets devices .1-.4, globex .5-.8.
		var addrs []string
		for k := 1; k <= 4; k++ {
			addrs = append(addrs, base+"."+strconv.Itoa(i*4+k))
		}
		var job struct {
			ID   string `json:"id"`
			Done int    `json:"done"`
		}
		tv.op.json(&job, append([]string{"device", "discover", "--wait"}, addrs...)...)
		if job.Done != 4 {
			t.Fatalf("%s discovered %d devices", name, job.Done)
		}
		var devs []e2eDevice
		tv.op.json(&devs, "device", "list")
		for _, d := range devs {
			tv.devices = append(tv.devices, d.UDI)
		}
		// A PAK for every family with advipservices, installed on one device.
		tv.pak = "PAK" + strings.ToUpper(name[:4]) + "0001"
		tv.op.ok("pak", "add", "--id", tv.pak, "--line", "feature=advipservices,quantity=4")
		var inst struct {
			ID      string `json:"id"`
			Results []struct {
				License string `json:"license"`
				Status  string `json:"status"`
			} `json:"results"`
		}
		tv.op.json(&inst, "license", "install", "--pak", tv.pak, "--device", tv.devices[0], "--wait")
		if len(inst.Results) != 1 || inst.Results[0].Status != "installed" {
			t.Fatalf("%s install: %+v", name, inst)
		}
		tv.lic, tv.jobID = inst.Results[0].License, inst.ID
		tv.addr = addrOf(t, admin, tv.devices[0])
		tenants[name] = tv
	}

	// The four callers' views are independent: check them in parallel.
	t.Run("views", func(t *testing.T) {
		checkViews(t, tenants)
	})

	// The admin sees both tenants, and what each token did.
	var devs []e2eDevice
	admin.json(&devs, "device", "list")
	if len(devs) != 8 {
		t.Fatalf("admin sees %d devices", len(devs))
	}
	var entries []struct{ Actor, Tenant, Object string }
	admin.json(&entries, "audit", "--action", "pak.add", "--limit", "1000")
	if len(entries) != 2 {
		t.Fatalf("pak.add audit entries: %+v", entries)
	}
	var acmeOnly []e2eDevice
	admin.json(&acmeOnly, "device", "list", "--tenant", "acme")
	if len(acmeOnly) != 4 {
		t.Fatalf("admin scoped to acme sees %d devices", len(acmeOnly))
	}
	admin.fails(`tenant "nobody" does not exist`, "device", "list", "--tenant", "nobody")

	// A depot spare: only the admin sees it until it is assigned; then its
	// preloaded license belongs to the customer it went to, and only to it.
	const spare = "WS-C3750E-24TD-S:FDO1399S0P1"
	var sp struct {
		Licenses []string `json:"licenses"`
		State    string   `json:"state"`
	}
	admin.json(&sp, "spare", "add", "--udi", spare, "--feature", "ipservices")
	if len(sp.Licenses) != 1 || sp.State != "stocked" {
		t.Fatalf("spare: %+v", sp)
	}
	tenants["acme"].op.fails("may not", "spare", "list")
	for _, tv := range tenants {
		if out := tv.viewer.ok("license", "list", "-o", "csv"); strings.Contains(out, sp.Licenses[0]) {
			t.Fatalf("%s sees a depot spare's license before assignment", tv.name)
		}
	}
	admin.json(&sp, "spare", "assign", spare, "--to", "acme", "--replaces", tenants["acme"].devices[3], "--rma", "RMA0042")
	admin.ok("spare", "assign", spare, "--to", "acme", "--replaces", tenants["acme"].devices[3])
	admin.fails("already assigned to tenant acme", "spare", "assign", spare, "--to", "globex")
	if out := tenants["acme"].viewer.ok("license", "show", sp.Licenses[0]); !strings.Contains(out, "replacement for "+tenants["acme"].devices[3]) {
		t.Fatalf("acme's spare license history:\n%s", out)
	}
	tenants["globex"].viewer.fails("not found", "license", "show", sp.Licenses[0])
}

// addrOf returns a device's address as the admin sees it (without port).
func addrOf(t *testing.T, admin *cli, udi string) string {
	var d e2eDevice
	admin.json(&d, "device", "show", udi)
	h, _, err := net.SplitHostPort(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTLS serves the API over HTTPS with a configured certificate; the CLI
// trusts it with --cacert, and refuses it without.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	host := fleetBase() + ".1"
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, host, certFile, keyFile)
	httpAddr := freeAddr(t, host)
	start(t, []string{"LICBROKER_TLS_CERT_FILE=" + certFile, "LICBROKER_TLS_KEY_FILE=" + keyFile}, "licbroker", "serve",
		"--data-dir", dir, "--http-addr", httpAddr, "--raft-addr", freeAddr(t, "127.0.0.1"))
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		tok, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
		if resp, err := hc.Get("https://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && len(tok) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("TLS broker not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
	c := &cli{t: t, server: "https://" + httpAddr, token: strings.TrimSpace(string(tok))}
	if out := c.ok("whoami", "--cacert", certFile); !strings.Contains(out, "admin") {
		t.Fatalf("whoami over TLS: %s", out)
	}
	c.fails("certificate", "whoami")
	plain := &cli{t: t, server: "http://" + httpAddr, token: c.token}
	plain.fails("", "whoami")
}

func writeSelfSigned(t *testing.T, host, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "licbroker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP(host)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// checkViews checks, for each tenant's operator and viewer, that it sees
// its own objects and nothing of the other tenant.
func checkViews(t *testing.T, tenants map[string]*tenantView) {
	for _, own := range []string{"acme", "globex"} {
		other := map[string]string{"acme": "globex", "globex": "acme"}[own]
		me, them := tenants[own], tenants[other]
		for _, c := range []*cli{me.op, me.viewer} {
			role := "operator"
			if c == me.viewer {
				role = "viewer"
			}
			t.Run(own+"-"+role, func(t *testing.T) {
				t.Parallel()
				c.t = t
				// Lists show exactly the own objects.
				var devs []e2eDevice
				c.json(&devs, "device", "list")
				if len(devs) != 4 {
					t.Fatalf("%d devices", len(devs))
				}
				summary := c.ok("report", "summary", "-o", "csv")
				auditJSON := c.ok("audit", "-o", "json", "--limit", "1000")
				out := c.ok("device", "list", "-o", "csv") + c.ok("pak", "list", "-o", "csv") + c.ok("license", "list", "-o", "csv") +
					c.ok("job", "list", "-o", "csv") + c.ok("credentials", "list", "-o", "csv") + c.ok("device", "groups", "-o", "csv") +
					c.ok("report", "expiring", "-o", "json", "--within", "90d") + c.ok("report", "unused") + c.ok("report", "paks", "-o", "csv") +
					summary + auditJSON
				for _, m := range append([]string{other, them.pak, them.lic, them.jobID}, them.devices...) {
					if strings.Contains(out, m) {
						t.Fatalf("%s's %s sees %q of %s", own, role, m, other)
					}
				}
				if !strings.Contains(out, me.pak) || !strings.Contains(out, me.lic) || !strings.Contains(out, me.devices[3]) {
					t.Fatalf("%s's %s does not see its own objects", own, role)
				}
				rows, err := csv.NewReader(strings.NewReader(summary)).ReadAll()
				if err != nil || len(rows) < 5 {
					t.Fatalf("summary CSV: %v %v", rows, err)
				}
				for _, r := range rows[1:] {
					if r[0] != own {
						t.Fatalf("summary row of another tenant: %v", r)
					}
				}
				var audit []struct{ Tenant, Action string }
				if err := json.Unmarshal([]byte(auditJSON), &audit); err != nil || len(audit) == 0 {
					t.Fatalf("audit log: %v %s", err, auditJSON)
				}
				for _, e := range audit {
					if e.Tenant != own {
						t.Fatalf("audit entry of tenant %q: %+v", e.Tenant, e)
					}
				}
				// Reading by id: another tenant's objects are not found.
				c.fails("device "+them.devices[0]+" not found", "device", "show", them.devices[0])
				c.fails("PAK "+them.pak+" not found", "pak", "show", them.pak)
				c.fails("license "+them.lic+" not found", "license", "file", them.lic)
				c.fails("license "+them.lic+" not found", "license", "show", them.lic)
				c.fails("job "+them.jobID+" not found", "job", "show", them.jobID)
				c.fails("tenant \""+other+"\" not found", "tenant", "show", other)
				c.fails("may not read the audit log of tenant "+other, "audit", "--of-tenant", other)
				// Naming the other tenant is refused.
				c.fails("may not act in tenant "+other, "device", "list", "--tenant", other)
				// Admin-only actions are refused.
				c.fails("may not", "tenant", "list")
				c.fails("may not", "token", "create", "--tenant", own, "--role", "viewer")
				// The own license file downloads.
				if f := c.ok("license", "file", me.lic); !strings.Contains(f, me.lic) {
					t.Fatalf("license file: %s", f)
				}
				if role == "viewer" {
					c.fails("viewer token may not", "pak", "add", "--id", "PAKVIEW0001", "--feature", "ipservices", "--quantity", "1")
					c.fails("viewer token may not", "license", "install", "--pak", me.pak, "--device", me.devices[1])
					c.fails("viewer token may not", "device", "reload", me.devices[0])
					c.fails("viewer token may not", "license", "revoke", me.lic)
					c.fails("viewer token may not", "device", "group", me.devices[0], "--add", "x")
					return
				}
				// An operator cannot use or change the other tenant's objects.
				c.fails("PAK "+them.pak+" not found", "license", "install", "--pak", them.pak, "--device", me.devices[1])
				c.fails("device "+them.devices[1]+" not found", "license", "install", "--pak", me.pak, "--device", them.devices[1])
				c.fails("device "+them.devices[0]+" not found", "device", "group", them.devices[0], "--add", "x")
				c.fails("device "+them.devices[0]+" not found", "device", "reload", them.devices[0])
				c.fails("license "+them.lic+" not found", "license", "revoke", them.lic)
				c.fails("job "+them.jobID+" not found", "job", "cancel", them.jobID)
				// Discovering the other tenant's devices does not take them over.
				var job struct {
					Results []struct{ Status, Reason string } `json:"results"`
				}
				c.json(&job, "device", "discover", them.addr, "--wait")
				if len(job.Results) != 1 || job.Results[0].Status != "conflict" {
					t.Fatalf("discovering another tenant's device: %+v", job)
				}
				// Groups on own devices work.
				c.ok("device", "group", me.devices[0], me.devices[1], "--add", "core")
				var grouped []e2eDevice
				c.json(&grouped, "device", "list", "--group", "core")
				if len(grouped) != 2 {
					t.Fatalf("group core: %d devices", len(grouped))
				}
			})
		}
	}

}
