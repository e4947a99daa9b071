package broker

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func ptime(t time.Time) *time.Time { return &t }

// reportState builds two tenants' devices with every kind of license.
func reportBroker(t testing.TB) *Broker {
	s := NewState()
	cmds := []step{
		{typ: CmdTenantCreate, payload: tenantCreate{Name: "acme"}},
		{typ: CmdTenantCreate, payload: tenantCreate{Name: "globex"}},
	}
	a := dev("acme", sw1, "3750e", "ipservices")
	a.NextBootLevel = "ipservices"
	a.Licenses = []DeviceLicense{
		{ID: "LPERM", Feature: "ipservices", Type: "permanent", State: "inUse"},
		{Feature: "advipservices", Type: "evaluation", State: "inUse", ExpiresAt: ptime(t0.Add(10 * 24 * time.Hour))},
	}
	b := dev("acme", sw2, "3750e", "ipbase")
	b.Groups = nil
	b.Licenses = []DeviceLicense{
		{ID: "LNOTUSED", Feature: "ipservices", Type: "permanent", State: "notInUse"},
		{ID: "LEXT", Feature: "advipservices", Type: "extension", State: "notInUse", ExpiresAt: ptime(t0.Add(30 * 24 * time.Hour))},
		{Feature: "ipservices", Type: "evaluation", State: "inactive"},
	}
	g := dev("globex", rt1, "880", "advsecurity")
	g.Licenses = []DeviceLicense{{Feature: "advipservices", Type: "evaluation", State: "inUse", ExpiresAt: ptime(t0.Add(2 * 24 * time.Hour))}}
	cmds = append(cmds,
		step{typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{a, b, g}}},
		step{typ: CmdPAKAdd, payload: pak("acme", "PAK00000001", line("ipservices", "permanent", 10, "3750e"), line("advipservices", "extension", 5, "3750e"))},
		step{typ: CmdDevicesUpsert, payload: devicesUpsert{Devices: []Device{dev("acme", sw3, "3750e", "ipbase")}}},
		step{typ: CmdRedeem, payload: redeem{Tenant: "acme", PAK: "PAK00000001", License: lic("LISSUED", sw3, "ipservices", "permanent")}},
	)
	for i, c := range cmds {
		if res := applyStep(t.(*testing.T), s, uint64(i+1), c); res.Error != nil {
			t.Fatal(res.Error)
		}
	}
	br, err := New(Config{Signer: nopSigner{}, CredentialsKey: make([]byte, 32), Now: func() time.Time { return t0 }}, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return br
}

func TestReports(t *testing.T) {
	b := reportBroker(t)
	render := func(name string, opt ReportOptions, format string) string {
		t.Helper()
		r, err := b.BuildReport(name, opt)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := r.Render(&buf, format); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	rows := func(name string, opt ReportOptions) [][]string {
		t.Helper()
		recs, err := csv.NewReader(strings.NewReader(render(name, opt, FormatCSV))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}

	// Device Summary: every device of the tenant, each license with its
	// period left, and the levels not activated.
	var sum struct {
		Items []SummaryDevice `json:"items"`
		Total int             `json:"total"`
	}
	json.Unmarshal([]byte(render(ReportSummary, ReportOptions{Tenant: "acme"}, FormatJSON)), &sum)
	if sum.Total != 3 || sum.Items[0].UDI != sw1 {
		t.Fatalf("summary: %+v", sum)
	}
	d0 := sum.Items[0]
	if fmt.Sprint(d0.NotActivated) != "[advipservices]" || d0.Licenses[0].PeriodLeft != "Life time" || d0.Licenses[1].PeriodLeft != "1 week 3 days" {
		t.Fatalf("summary device: %+v", d0)
	}
	if d1 := sum.Items[1]; fmt.Sprint(d1.NotActivated) != "[ipservices advipservices]" || d1.Licenses[2].PeriodLeft != "Not Activated" || d1.Licenses[1].PeriodLeft != "4 weeks 2 days" {
		t.Fatalf("summary device: %+v", d1)
	}
	recs := rows(ReportSummary, ReportOptions{Tenant: "acme"})
	if len(recs) != 1+2+3+1 || recs[0][0] != "tenant" || recs[6][8] != "-" {
		t.Fatalf("summary CSV: %v", recs)
	}
	for _, r := range recs[1:] {
		if r[0] != "acme" {
			t.Fatalf("summary of acme shows %v", r)
		}
	}
	tbl := render(ReportSummary, ReportOptions{}, FormatTable)
	lines := strings.Split(strings.TrimSpace(tbl), "\n")
	if !strings.HasPrefix(lines[0], "TENANT  UDI") || len(lines) != 1+2+3+1+1 {
		t.Fatalf("summary table:\n%s", tbl)
	}
	col := strings.Index(lines[0], "ADDRESS")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Fatalf("table column not aligned at %d:\n%s", col, tbl)
		}
	}

	// Expiring: the evaluation ending in 10 days is within 14d; the
	// extension in 30 days only within 5w. Another tenant's never shows.
	recs = rows(ReportExpiring, ReportOptions{Tenant: "acme"})
	if len(recs) != 2 || recs[1][1] != sw1 || recs[1][5] != "evaluation" || recs[1][8] != "1 week 3 days" {
		t.Fatalf("expiring 14d: %v", recs)
	}
	recs = rows(ReportExpiring, ReportOptions{Tenant: "acme", Within: 35 * 24 * time.Hour})
	if len(recs) != 3 || recs[2][3] != "LEXT" {
		t.Fatalf("expiring 35d: %v", recs)
	}
	recs = rows(ReportExpiring, ReportOptions{})
	if len(recs) != 3 || recs[1][0] != "globex" {
		t.Fatalf("expiring, all tenants, soonest first: %v", recs)
	}

	// Unused: installed but not in use on the device, and issued but never
	// installed.
	recs = rows(ReportUnused, ReportOptions{Tenant: "acme"})
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[3]] = r[7]
	}
	if len(got) != 3 || !strings.Contains(got["LNOTUSED"], "not in use (device runs ipbase") || !strings.Contains(got["LISSUED"], "not yet installed") || got["LEXT"] == "" {
		t.Fatalf("unused: %v", recs)
	}

	// PAK inventory: used and remaining per line.
	recs = rows(ReportPAKs, ReportOptions{Tenant: "acme"})
	if len(recs) != 3 || recs[1][7] != "1" || recs[1][8] != "9" || recs[2][5] != "30" || recs[2][8] != "5" {
		t.Fatalf("paks: %v", recs)
	}
	if recs := rows(ReportPAKs, ReportOptions{Tenant: "globex"}); len(recs) != 1 {
		t.Fatalf("globex sees PAKs: %v", recs)
	}
	if _, err := b.BuildReport("../../etc/passwd", ReportOptions{}); err == nil || asAPIError(err).Code != "not_found" {
		t.Fatalf("unknown report: %v", err)
	}
}

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "14", "-1d", "0d", "1.5d", "soon", "9999d"} {
		if _, err := ParseWindow(in); err == nil {
			t.Errorf("ParseWindow(%q) accepted", in)
		}
	}
}
