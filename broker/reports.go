package broker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report names. Reports are chosen from this fixed set; no part of a
// request ever names a file.
const (
	ReportSummary  = "summary"
	ReportExpiring = "expiring"
	ReportUnused   = "unused"
	ReportPAKs     = "paks"
)

// ReportNames lists the reports, in the order the CLI shows them.
var ReportNames = []string{ReportSummary, ReportExpiring, ReportUnused, ReportPAKs}

// DefaultExpiringWindow is the window of the Expiring report when none is
// given.
const DefaultExpiringWindow = 14 * 24 * time.Hour

// ReportOptions parameterise a report.
type ReportOptions struct {
	// Tenant limits the report to one tenant ("" is every tenant).
	Tenant string
	// Within is the Expiring report's window (default 14 days).
	Within time.Duration
	// Group limits device reports to one device group.
	Group string
}

// Report is a generated report. Items holds one of SummaryDevice,
// ExpiringLicense, UnusedLicense or PAKLineReport per entry.
type Report struct {
	Name      string    `json:"report"`
	Generated time.Time `json:"generated"`
	Tenant    string    `json:"tenant,omitempty"`
	Within    string    `json:"within,omitempty"`
	Total     int       `json:"total"`
	Items     any       `json:"items"`

	header []string
	rows   func(emit func(row []string))
}

// SummaryDevice is one device of the Device Summary.
type SummaryDevice struct {
	Tenant          string           `json:"tenant"`
	UDI             string           `json:"udi"`
	Address         string           `json:"address"`
	PID             string           `json:"pid"`
	Serial          string           `json:"serial"`
	Family          string           `json:"family"`
	SoftwareVersion string           `json:"software_version"`
	ActiveLevel     string           `json:"active_level"`
	NextBootLevel   string           `json:"next_boot_level"`
	Licenses        []SummaryLicense `json:"licenses"`
	// NotActivated lists licensable levels above the active one.
	NotActivated []string  `json:"not_activated"`
	LastSeen     time.Time `json:"last_seen"`
}

// SummaryLicense is a license as the Device Summary shows it.
type SummaryLicense struct {
	ID         string     `json:"id"`
	Feature    string     `json:"feature"`
	Type       string     `json:"type"`
	State      string     `json:"state"`
	ExpiresAt  *time.Time `json:"expires_at"`
	PeriodLeft string     `json:"period_left"`
}

// ExpiringLicense is one line of the Expiring report.
type ExpiringLicense struct {
	Tenant     string    `json:"tenant"`
	UDI        string    `json:"udi"`
	Address    string    `json:"address"`
	ID         string    `json:"id"`
	Feature    string    `json:"feature"`
	Type       string    `json:"type"`
	State      string    `json:"state"`
	ExpiresAt  time.Time `json:"expires_at"`
	PeriodLeft string    `json:"period_left"`
	// Source is "device" (as last read from the device) or "broker" (a
	// record not yet seen on the device).
	Source string `json:"source"`
}

// UnusedLicense is one line of the Unused report.
type UnusedLicense struct {
	Tenant  string `json:"tenant"`
	UDI     string `json:"udi"`
	Address string `json:"address"`
	ID      string `json:"id"`
	Feature string `json:"feature"`
	Type    string `json:"type"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
}

// PAKLineReport is one PAK line of the PAK inventory.
type PAKLineReport struct {
	Tenant    string   `json:"tenant"`
	PAK       string   `json:"pak"`
	Line      int      `json:"line"`
	Feature   string   `json:"feature"`
	Type      string   `json:"type"`
	Days      int      `json:"days,omitempty"`
	Quantity  int      `json:"quantity"`
	Used      int      `json:"used"`
	Remaining int      `json:"remaining"`
	Families  []string `json:"families"`
}

// BuildReport generates a report from this node's state.
func (b *Broker) BuildReport(name string, opt ReportOptions) (*Report, error) {
	if opt.Group != "" {
		if err := checkName("group", opt.Group); err != nil {
			return nil, err
		}
	}
	now := b.now()
	r := &Report{Name: name, Generated: now, Tenant: opt.Tenant}
	var n int
	switch name {
	case ReportSummary:
		items := b.summary(opt, now)
		r.Items, n = items, len(items)
		r.header = []string{"tenant", "udi", "address", "family", "software_version", "active_level", "next_boot_level",
			"not_activated", "license", "feature", "type", "state", "period_left"}
		r.rows = func(emit func([]string)) { summaryRows(items, emit) }
	case ReportExpiring:
		if opt.Within == 0 {
			opt.Within = DefaultExpiringWindow
		}
		r.Within = FormatWindow(opt.Within)
		items := b.expiring(opt, now)
		r.Items, n = items, len(items)
		r.header = []string{"tenant", "udi", "address", "license", "feature", "type", "state", "expires_at", "period_left", "source"}
		r.rows = func(emit func([]string)) {
			for _, e := range items {
				emit([]string{e.Tenant, e.UDI, e.Address, orDash(e.ID), e.Feature, e.Type, e.State,
					e.ExpiresAt.Format(time.RFC3339), e.PeriodLeft, e.Source})
			}
		}
	case ReportUnused:
		items := b.unused(opt)
		r.Items, n = items, len(items)
		r.header = []string{"tenant", "udi", "address", "license", "feature", "type", "state", "reason"}
		r.rows = func(emit func([]string)) {
			for _, u := range items {
				emit([]string{u.Tenant, u.UDI, orDash(u.Address), orDash(u.ID), u.Feature, u.Type, u.State, u.Reason})
			}
		}
	case ReportPAKs:
		items := b.pakReport(opt)
		r.Items, n = items, len(items)
		r.header = []string{"tenant", "pak", "line", "feature", "type", "days", "quantity", "used", "remaining", "families"}
		r.rows = func(emit func([]string)) {
			for _, p := range items {
				days := "-"
				if p.Days > 0 {
					days = strconv.Itoa(p.Days)
				}
				emit([]string{p.Tenant, p.PAK, strconv.Itoa(p.Line), p.Feature, p.Type, days, strconv.Itoa(p.Quantity),
					strconv.Itoa(p.Used), strconv.Itoa(p.Remaining), strings.Join(p.Families, " ")})
			}
		}
	default:
		return nil, apiErr("not_found", "no report %q (want %s)", name, strings.Join(ReportNames, ", "))
	}
	r.Total = n
	return r, nil
}

func (b *Broker) summary(opt ReportOptions, now time.Time) []SummaryDevice {
	var out []SummaryDevice
	b.state.read(func(d *stateData) {
		out = make([]SummaryDevice, 0, len(d.Devices))
		for _, k := range sortedKeys(d.Devices) {
			dev := d.Devices[k]
			if !opt.matches(dev) {
				continue
			}
			sd := SummaryDevice{Tenant: dev.Tenant, UDI: dev.UDI, Address: dev.Address, PID: dev.PID, Serial: dev.Serial,
				Family: dev.Family, SoftwareVersion: dev.SoftwareVersion, ActiveLevel: dev.ActiveLevel,
				NextBootLevel: dev.NextBootLevel, NotActivated: notActivated(dev), LastSeen: dev.LastSeen,
				Licenses: make([]SummaryLicense, len(dev.Licenses))}
			for i, l := range dev.Licenses {
				sd.Licenses[i] = SummaryLicense{ID: l.ID, Feature: l.Feature, Type: l.Type, State: l.State,
					ExpiresAt: l.ExpiresAt, PeriodLeft: periodLeft(l.Type, l.State, l.ExpiresAt, now)}
			}
			out = append(out, sd)
		}
	})
	return out
}

func (o ReportOptions) matches(dev *Device) bool {
	return (o.Tenant == "" || dev.Tenant == o.Tenant) && (o.Group == "" || slices.Contains(dev.Groups, o.Group))
}

func summaryRows(items []SummaryDevice, emit func([]string)) {
	for i := range items {
		sd := &items[i]
		na := strings.Join(sd.NotActivated, " ")
		if na == "" {
			na = "-"
		}
		head := []string{sd.Tenant, sd.UDI, sd.Address, sd.Family, sd.SoftwareVersion, orDash(sd.ActiveLevel), orDash(sd.NextBootLevel), na}
		if len(sd.Licenses) == 0 {
			emit(append(head, "-", "-", "-", "-", "-"))
			continue
		}
		for _, l := range sd.Licenses {
			row := make([]string, 0, 13)
			row = append(row, head...)
			emit(append(row, orDash(l.ID), l.Feature, l.Type, l.State, l.PeriodLeft))
		}
	}
}

// notActivated lists the device's licensable levels above its active one.
func notActivated(dev *Device) []string {
	levels := dev.Levels
	if len(levels) == 0 {
		levels = familyLevels[dev.Family]
	}
	active := slices.Index(levels, dev.ActiveLevel)
	out := []string{}
	for i, l := range levels {
		if i > 0 && i > active {
			out = append(out, l)
		}
	}
	return out
}

// periodLeft renders a license's remaining term the way `show license`
// does: "Life time", "8 weeks 4 days", "Not Activated", "expired".
func periodLeft(typ, state string, expires *time.Time, now time.Time) string {
	switch {
	case typ == "permanent":
		return "Life time"
	case expires == nil && state == "inactive":
		return "Not Activated"
	case expires == nil:
		return "-"
	}
	left := expires.Sub(now)
	if left <= 0 {
		return "expired"
	}
	days := int(left / (24 * time.Hour))
	if days == 0 {
		h := int(left / time.Hour)
		if h == 0 {
			return "less than an hour"
		}
		return plural(h, "hour")
	}
	w, dd := days/7, days%7
	switch {
	case w == 0:
		return plural(dd, "day")
	case dd == 0:
		return plural(w, "week")
	}
	return plural(w, "week") + " " + plural(dd, "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func (b *Broker) expiring(opt ReportOptions, now time.Time) []ExpiringLicense {
	var out []ExpiringLicense
	b.state.read(func(d *stateData) { out = collectExpiring(d, opt, now) })
	sortBy(out, func(e ExpiringLicense) string { return e.ExpiresAt.UTC().Format(time.RFC3339) + e.UDI + e.Feature })
	return out
}

func (b *Broker) unused(opt ReportOptions) []UnusedLicense {
	out := []UnusedLicense{}
	now := b.now()
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Devices) {
			dev := d.Devices[k]
			if !opt.matches(dev) {
				continue
			}
			for _, l := range dev.Licenses {
				if (l.Type == "permanent" || l.Type == "extension") && l.State == "notInUse" {
					out = append(out, UnusedLicense{Tenant: dev.Tenant, UDI: dev.UDI, Address: dev.Address, ID: l.ID,
						Feature: l.Feature, Type: l.Type, State: l.State,
						Reason: fmt.Sprintf("installed, not in use (device runs %s, next boot %s)", orDash(dev.ActiveLevel), orDash(dev.NextBootLevel))})
				}
			}
		}
		for _, id := range sortedKeys(d.Licenses) {
			l := d.Licenses[id]
			if l.State != LicenseIssued || !l.live(now) || l.Tenant == "" || (opt.Tenant != "" && l.Tenant != opt.Tenant) {
				continue
			}
			dev := d.Devices[l.UDI]
			if opt.Group != "" && (dev == nil || !slices.Contains(dev.Groups, opt.Group)) {
				continue
			}
			addr := ""
			if dev != nil {
				addr = dev.Address
			}
			out = append(out, UnusedLicense{Tenant: l.Tenant, UDI: l.UDI, Address: addr, ID: l.ID, Feature: l.Feature,
				Type: l.Type, State: l.State, Reason: "issued, not yet installed on the device"})
		}
	})
	return out
}

func (b *Broker) pakReport(opt ReportOptions) []PAKLineReport {
	out := []PAKLineReport{}
	for _, p := range b.PAKs(opt.Tenant) {
		for i, l := range p.Lines {
			out = append(out, PAKLineReport{Tenant: p.Tenant, PAK: p.ID, Line: i + 1, Feature: l.Feature, Type: l.Type,
				Days: l.Days, Quantity: l.Quantity, Used: l.Used, Remaining: l.Remaining(), Families: l.Families})
		}
	}
	return out
}

// ParseWindow parses a report window: "14d", "2w", "36h", "90m".
func ParseWindow(s string) (time.Duration, error) {
	bad := apiErr("bad_request", "invalid window %q: want a number and a unit, e.g. 14d, 2w, 36h", s)
	if len(s) < 2 {
		return 0, bad
	}
	var d time.Duration
	switch unit := s[len(s)-1]; unit {
	case 'd', 'w':
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n < 0 {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
		if unit == 'w' {
			d *= 7
		}
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > 3650*24*time.Hour {
		return 0, apiErr("bad_request", "window %q must be more than zero and at most 3650d", s)
	}
	return d, nil
}

// FormatWindow renders a window as ParseWindow reads it.
func FormatWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
