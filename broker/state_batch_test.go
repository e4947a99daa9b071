package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ApplyBatch must leave exactly the state Apply leaves and give the same
// results, for every command type.
func TestApplyBatchMatchesApply(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cmd := func(typ string, p any) []byte {
		c, err := newCommand(typ, "admin:tok-1", now, p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	lic := func(n int, udi string) License {
		return License{ID: fmt.Sprintf("lic-%d", n), Tenant: DefaultTenant, UDI: udi, PAK: "PAK00000001", Feature: "ipservices",
			Type: "permanent", IssuedAt: now, File: []byte("<licenseFile/>")}
	}
	cmds := [][]byte{
		cmd(CmdTenantCreate, tenantCreate{Name: DefaultTenant}),
		cmd(CmdTenantCreate, tenantCreate{Name: DefaultTenant}), // conflict
		cmd(CmdTenantCreate, tenantCreate{Name: "acme"}),
		cmd(CmdTokenCreate, tokenCreate{Token: Token{ID: "tok-2", Hash: "abc", Role: RoleViewer, Tenant: "acme", Created: now}}),
		cmd(CmdCredentialPut, credentialPut{Credential: Credential{Name: "default", Tenant: DefaultTenant, Username: "admin", Sealed: []byte{1, 2}}}),
		cmd(CmdCredentialPut, credentialPut{Credential: Credential{Name: "x", Tenant: "nope"}}), // not found
		cmd(CmdDevicesUpsert, devicesUpsert{Devices: []Device{{UDI: "WS-C3750E-24TD-S:FDO1307R0W9", PID: "WS-C3750E-24TD-S",
			Serial: "FDO1307R0W9", Tenant: DefaultTenant, Family: "3750e", LastSeen: now},
			{UDI: "WS-C3750E-24TD-S:FDO0000000A", PID: "WS-C3750E-24TD-S", Serial: "FDO0000000A", Tenant: DefaultTenant, Family: "3750e"},
			{UDI: "WS-C3750E-24TD-S:FDO0000000B", PID: "WS-C3750E-24TD-S", Serial: "FDO0000000B", Tenant: DefaultTenant, Family: "3750e"}}}),
		cmd(CmdPAKAdd, pakAdd{PAK: PAK{ID: "PAK00000001", Tenant: DefaultTenant, Lines: []PAKLine{{Feature: "ipservices",
			Type: "permanent", Quantity: 2, Families: []string{"3750e"}}}}}),
		cmd(CmdPAKAdd, pakAdd{PAK: PAK{ID: "PAK00000001", Tenant: DefaultTenant}}), // conflict
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000001", License: lic(1, "WS-C3750E-24TD-S:FDO1307R0W9")}),
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000001", License: lic(2, "WS-C3750E-24TD-S:FDO1307R0W9")}), // again: same license
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000001", License: lic(3, "WS-C3750E-24TD-S:FDO0000000A")}),
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000001", License: lic(4, "WS-C3750E-24TD-S:FDO0000000B")}), // exhausted
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000009", License: lic(5, "WS-C3750E-24TD-S:FDO0000000C")}), // no PAK
		cmd(CmdRedeem, redeem{Tenant: DefaultTenant, PAK: "PAK00000001", Line: 3, License: lic(6, "WS-C3750E-24TD-S:FDO0000000D")}),
		cmd(CmdLicenseState, licenseState{ID: "lic-1", State: LicenseInstalled, What: "installed"}),
		cmd(CmdLicenseState, licenseState{ID: "lic-9", State: LicenseInstalled}), // not found
		cmd(CmdJobCreate, jobCreate{Job: Job{ID: "job-1", Tenant: DefaultTenant, Kind: JobInstall, State: JobRunning, Created: now}}),
		cmd(CmdJobResults, jobResults{ID: "job-1", Results: []JobResult{{Target: "a", OK: true, Status: "installed"}, {Target: "b", Status: "unreachable"}}}),
		cmd(CmdJobFinish, jobFinish{ID: "job-1", State: JobDone}),
	}
	one := NewState()
	var want [][]byte
	for i, c := range cmds {
		want = append(want, one.Apply(uint64(i/3+1), c))
	}
	// The sequence covers a redeem that spends, one that finds the
	// existing license and one refused because the PAK is used up.
	for _, w := range []string{`"existing":true`, "pak_exhausted", `"id":"lic-3"`} {
		if !bytes.Contains(bytes.Join(want, nil), []byte(w)) {
			t.Fatalf("no result contains %s: the test does not cover it", w)
		}
	}
	for _, results := range []bool{true, false} {
		batched := NewState()
		for i := 0; i < len(cmds); i += 3 {
			got := batched.ApplyBatch(uint64(i/3+1), cmds[i:min(i+3, len(cmds))], results)
			for k, g := range got {
				if !bytes.Equal(g, want[i+k]) {
					t.Errorf("command %d result:\n got %s\nwant %s", i+k, g, want[i+k])
				}
			}
			if !results && got != nil {
				t.Fatal("results without wantResults")
			}
		}
		snap := func(s *State) []byte {
			w, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			w(&b)
			return b.Bytes()
		}
		if a, b := snap(one), snap(batched); !bytes.Equal(a, b) {
			t.Fatalf("states differ (results=%v):\nApply:      %s\nApplyBatch: %s", results, a, b)
		}
	}
}

// A snapshot of a State validates; other JSON and garbage do not.
func TestValidateSnapshot(t *testing.T) {
	s := NewState()
	c, _ := newCommand(CmdTenantCreate, "system", time.Now(), tenantCreate{Name: DefaultTenant})
	s.Apply(1, c)
	w, _ := s.Snapshot()
	var b bytes.Buffer
	w(&b)
	if err := s.ValidateSnapshot(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("own snapshot: %v", err)
	}
	for _, bad := range []string{`{"tenants": 5}`, `not json`, `{"index":1} {"index":2}`, ``} {
		if err := s.ValidateSnapshot(strings.NewReader(bad)); err == nil {
			t.Errorf("%q validated", bad)
		}
	}
}
