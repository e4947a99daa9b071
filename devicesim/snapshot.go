package devicesim

import (
	"fmt"
	"sort"
	"time"
)

// LicenseView is one license as the device reports it.
type LicenseView struct {
	Index   uint32 `json:"index"`
	ID      string `json:"id,omitempty"`
	Feature string `json:"feature"`
	Type    string `json:"type"`
	// State is inactive, notInUse, inUse, expiredInUse or expiredNotInUse.
	State   string `json:"state"`
	Counted bool   `json:"counted"`
	Count   uint32 `json:"count,omitempty"`
	// PeriodLeft is "Life time", "Not Activated" or e.g. "8 weeks 4 days".
	PeriodLeft  string `json:"period_left"`
	LeftSeconds uint64 `json:"period_left_seconds"`
	UsedSeconds uint64 `json:"period_used_seconds"`
	// ExpiresAt is the end of a time-limited installed license.
	ExpiresAt  *time.Time `json:"expires_at"`
	EULA       bool       `json:"eula_accepted"`
	Store      string     `json:"store"` // primary or built-in
	NodeLocked bool       `json:"node_locked"`
	Comment    string     `json:"comment,omitempty"`
}

// State is a snapshot of what the device reports over NETCONF.
type State struct {
	PID       string        `json:"pid"`
	Serial    string        `json:"serial"`
	Version   string        `json:"software_version"`
	Image     string        `json:"image"`
	Levels    []string      `json:"available_levels"`
	Active    string        `json:"active_level"`
	BootLevel string        `json:"boot_level,omitempty"`
	NextBoot  string        `json:"next_boot_level"`
	Licenses  []LicenseView `json:"licenses"`
}

// Snapshot returns the device's current state at the fleet clock's time.
func (d *Device) Snapshot() State {
	now := d.fleet.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.snapshot(d.env(now), true)
}

// snapshot renders the state; licenses only if withLicenses.
func (st *deviceState) snapshot(e env, withLicenses bool) State {
	fam := st.family()
	m, _ := ModelByPID(st.PID)
	s := State{PID: st.PID, Serial: st.Serial, Version: st.Version, Image: m.Image,
		Levels: fam.Levels, Active: st.Active, BootLevel: st.BootLevel}
	if !withLicenses {
		return s
	}
	cands := st.candidates(e)
	s.NextBoot = fam.Levels[st.bootLevel(cands)]
	s.Licenses = make([]LicenseView, 0, len(st.Licenses)+len(fam.Levels)-1)
	udi := st.udi()
	for i := range st.Licenses {
		sl := &st.Licenses[i]
		g := sl.Lic.Grant
		v := LicenseView{Index: sl.Index, ID: g.ID, Feature: g.Feature, Type: string(g.Type), Counted: g.Counted,
			Count: g.Count, EULA: true, Store: "primary", NodeLocked: true, Comment: g.Comment}
		v.State = licenseErrState(sl.verify(e, udi), st.InUse == g.ID)
		if g.NotAfter.IsZero() {
			v.PeriodLeft = "Life time"
		} else {
			total := g.NotAfter.Sub(g.NotBefore)
			left := min(max(g.NotAfter.Sub(e.now), 0), total)
			used := min(max(e.now.Sub(g.NotBefore), 0), total)
			v.LeftSeconds, v.UsedSeconds = uint64(left/time.Second), uint64(used/time.Second)
			v.PeriodLeft = formatPeriod(left)
			end := g.NotAfter
			v.ExpiresAt = &end
		}
		s.Licenses = append(s.Licenses, v)
	}
	// Built-in evaluation licenses: one for every licensable level, at the
	// fixed indexes 1..n-1.
	for li, level := range fam.Levels[1:] {
		v := LicenseView{Index: uint32(li + 1), Feature: level, Type: "evaluation", Store: "built-in",
			State: "inactive", PeriodLeft: "Not Activated", LeftSeconds: uint64(EvaluationPeriod / time.Second)}
		if ev := st.eval(level); ev != nil {
			inUse := st.InUse == evalKey(level)
			used := min(ev.used(e.now), EvaluationPeriod)
			left := EvaluationPeriod - used
			v.EULA = ev.EULA
			v.UsedSeconds, v.LeftSeconds = uint64(used/time.Second), uint64(left/time.Second)
			switch {
			case !ev.Activated:
			case ev.expired(e.now) && inUse:
				v.State, v.PeriodLeft = "expiredInUse", formatPeriod(0)
			case ev.expired(e.now):
				v.State, v.PeriodLeft = "expiredNotInUse", formatPeriod(0)
			case inUse:
				v.State, v.PeriodLeft = "inUse", formatPeriod(left)
			default:
				v.State, v.PeriodLeft = "notInUse", formatPeriod(left)
			}
		}
		s.Licenses = append(s.Licenses, v)
	}
	sort.SliceStable(s.Licenses, func(i, j int) bool { return s.Licenses[i].Index < s.Licenses[j].Index })
	return s
}

// formatPeriod renders a duration like the vendor's "8 weeks 4 days".
func formatPeriod(d time.Duration) string {
	if d <= 0 {
		return "0 minute 0 second"
	}
	days := int(d / (24 * time.Hour))
	if days >= 1 {
		w, dd := days/7, days%7
		switch {
		case w > 0 && dd > 0:
			return plural(w, "week") + " " + plural(dd, "day")
		case w > 0:
			return plural(w, "week")
		default:
			return plural(dd, "day")
		}
	}
	h := int(d / time.Hour)
	m := int((d % time.Hour) / time.Minute)
	return plural(h, "hour") + " " + plural(m, "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
