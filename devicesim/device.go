package devicesim

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/licbroker/licbroker/keyengine"
)

// EvaluationPeriod is the usage time of a built-in evaluation license.
const EvaluationPeriod = 60 * 24 * time.Hour

// Device is one simulated device.
type Device struct {
	Index int
	Addr  netip.Addr

	fleet *Fleet

	mu sync.Mutex
	st deviceState

	saveMu sync.Mutex // serialises writes of the state file
}

// deviceState is what a device keeps across reloads and process restarts
// (its NVRAM and license storage).
type deviceState struct {
	PID       string `json:"pid"`
	Serial    string `json:"serial"`
	Version   string `json:"version"`
	HostKey   []byte `json:"host_key_seed"`
	BootLevel string `json:"boot_level,omitempty"` // "" = highest licensed
	Active    string `json:"active_level"`
	// Licenses is the primary license storage: installed keys.
	Licenses []storedLicense `json:"licenses,omitempty"`
	// Evals is the built-in license storage, by feature level.
	Evals     map[string]*evalState `json:"evals,omitempty"`
	NextIndex uint32                `json:"next_index"`
}

type storedLicense struct {
	Index uint32            `json:"index"`
	Lic   keyengine.License `json:"license"`
}

type evalState struct {
	Index     uint32    `json:"index"`
	EULA      bool      `json:"eula"`
	Activated bool      `json:"activated"`
	Since     time.Time `json:"since"` // simulated time of activation
}

// UDI returns the device's UDI.
func (d *Device) UDI() keyengine.UDI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return keyengine.UDI{PID: d.st.PID, SN: d.st.Serial}
}

// Family returns the device's family.
func (d *Device) Family() Family {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Families[FamilyOfPID(d.st.PID)]
}

// ActiveLevel returns the level running now.
func (d *Device) ActiveLevel() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Active
}

func (d *Device) familyLocked() Family { return Families[FamilyOfPID(d.st.PID)] }

// licenseValid reports whether an installed license is usable at now.
func (d *Device) licenseValidLocked(l keyengine.License, now time.Time) bool {
	return d.fleet.trust().Verify(l, keyengine.UDI{PID: d.st.PID, SN: d.st.Serial}, now) == nil
}

func (e *evalState) used(now time.Time) time.Duration {
	if !e.Activated {
		return 0
	}
	u := now.Sub(e.Since)
	if u < 0 {
		return 0
	}
	return u
}

func (e *evalState) expired(now time.Time) bool {
	return e.Activated && e.used(now) >= EvaluationPeriod
}

// covers reports whether a valid license covers level index li at now.
func (d *Device) coversLocked(fam Family, li int, now time.Time) bool {
	if li == 0 {
		return true
	}
	for _, s := range d.st.Licenses {
		if fam.levelIndex(s.Lic.Grant.Feature) >= li && d.licenseValidLocked(s.Lic, now) {
			return true
		}
	}
	for feat, e := range d.st.Evals {
		if fam.levelIndex(feat) >= li && e.Activated && !e.expired(now) {
			return true
		}
	}
	return false
}

// bootLevelLocked returns the level the device would activate if it booted
// at now: the highest level at or below the boot level that a valid
// permanent, extension or active evaluation license covers.
func (d *Device) bootLevelLocked(now time.Time) string {
	fam := d.familyLocked()
	top := len(fam.Levels) - 1
	if d.st.BootLevel != "" {
		top = fam.levelIndex(d.st.BootLevel)
	}
	for li := top; li > 0; li-- {
		if d.coversLocked(fam, li, now) {
			return fam.Levels[li]
		}
	}
	return fam.Levels[0]
}

// Reload reboots the device: it examines its licenses and activates the
// licensed level.
func (d *Device) Reload() error {
	d.mu.Lock()
	d.st.Active = d.bootLevelLocked(d.fleet.clock.Now())
	d.mu.Unlock()
	return d.save()
}

// Install verifies and stores each license of a license file and returns
// one result per license line.
func (d *Device) Install(file []byte) []InstallResult {
	lics, err := keyengine.ParseFile(file)
	if err != nil {
		return []InstallResult{{Line: 1, Status: "failed", Reason: err.Error()}}
	}
	now := d.fleet.clock.Now()
	d.mu.Lock()
	udi := keyengine.UDI{PID: d.st.PID, SN: d.st.Serial}
	var out []InstallResult
	changed := false
	for i, l := range lics {
		r := InstallResult{Line: uint32(i + 1), LicenseID: l.Grant.ID, Feature: l.Grant.Feature}
		switch err := d.fleet.trust().Verify(l, udi, now); {
		case err != nil:
			r.Status, r.Reason = "failed", err.Error()
		case d.fam().levelIndex(l.Grant.Feature) <= 0:
			r.Status, r.Reason = "failed", fmt.Sprintf("feature %s is not a licensable level of %s", l.Grant.Feature, d.st.PID)
		case d.hasLicenseLocked(l.Grant.ID):
			r.Status = "already-present"
		case d.fleet.fault(d.Index).StorageFull:
			r.Status, r.Reason = "failed", "license storage full"
		default:
			d.st.NextIndex++
			d.st.Licenses = append(d.st.Licenses, storedLicense{Index: d.st.NextIndex, Lic: l})
			r.Status = "installed"
			changed = true
		}
		out = append(out, r)
	}
	d.mu.Unlock()
	if changed {
		if err := d.save(); err != nil {
			for i := range out {
				if out[i].Status == "installed" {
					out[i].Status, out[i].Reason = "failed", "writing license storage: "+err.Error()
				}
			}
		}
	}
	return out
}

func (d *Device) fam() Family { return d.familyLocked() }

func (d *Device) hasLicenseLocked(id string) bool {
	for _, s := range d.st.Licenses {
		if s.Lic.Grant.ID == id {
			return true
		}
	}
	return false
}

// InstallResult is the outcome for one license line.
type InstallResult struct {
	Line      uint32
	LicenseID string
	Feature   string
	Status    string // installed, already-present, failed
	Reason    string
}

// ErrNoSuchLicense is returned by ClearLicense for an unknown license id.
var ErrNoSuchLicense = errors.New("devicesim: no such license")

// ClearLicense removes an installed license.
func (d *Device) ClearLicense(id string) error {
	d.mu.Lock()
	found := false
	for i, s := range d.st.Licenses {
		if s.Lic.Grant.ID == id {
			d.st.Licenses = append(d.st.Licenses[:i], d.st.Licenses[i+1:]...)
			found = true
			break
		}
	}
	d.mu.Unlock()
	if !found {
		return fmt.Errorf("%w: %s", ErrNoSuchLicense, id)
	}
	return d.save()
}

func (d *Device) checkLevelLocked(level string, licensable bool) error {
	fam := d.familyLocked()
	i := fam.levelIndex(level)
	if i < 0 {
		return fmt.Errorf("devicesim: %s has no feature level %q (levels: %v)", d.st.PID, level, fam.Levels)
	}
	if licensable && i == 0 {
		return fmt.Errorf("devicesim: %s is the base level of %s and needs no license", level, d.st.PID)
	}
	return nil
}

// AcceptEULA accepts the EULA of a feature level.
func (d *Device) AcceptEULA(level string) error {
	d.mu.Lock()
	if err := d.checkLevelLocked(level, true); err != nil {
		d.mu.Unlock()
		return err
	}
	d.evalLocked(level).EULA = true
	d.mu.Unlock()
	return d.save()
}

func (d *Device) evalLocked(level string) *evalState {
	if d.st.Evals == nil {
		d.st.Evals = map[string]*evalState{}
	}
	e := d.st.Evals[level]
	if e == nil {
		d.st.NextIndex++
		e = &evalState{Index: d.st.NextIndex}
		d.st.Evals[level] = e
	}
	return e
}

// ActivateEvaluation activates the built-in evaluation license of a level
// and makes it the boot level. The EULA must be accepted first (or with
// acceptEULA).
func (d *Device) ActivateEvaluation(level string, acceptEULA bool) error {
	d.mu.Lock()
	if err := d.checkLevelLocked(level, true); err != nil {
		d.mu.Unlock()
		return err
	}
	e := d.evalLocked(level)
	if acceptEULA {
		e.EULA = true
	}
	now := d.fleet.clock.Now()
	switch {
	case !e.EULA:
		d.mu.Unlock()
		return fmt.Errorf("devicesim: EULA for %s not accepted", level)
	case e.expired(now):
		d.mu.Unlock()
		return fmt.Errorf("devicesim: evaluation license for %s has expired", level)
	case !e.Activated:
		e.Activated = true
		e.Since = now
	}
	d.st.BootLevel = level
	d.mu.Unlock()
	return d.save()
}

// SetBootLevel sets the level to activate at the next reload.
func (d *Device) SetBootLevel(level string) error {
	d.mu.Lock()
	if err := d.checkLevelLocked(level, false); err != nil {
		d.mu.Unlock()
		return err
	}
	d.st.BootLevel = level
	d.mu.Unlock()
	return d.save()
}

// LicenseView is one license as the device reports it.
type LicenseView struct {
	Index       uint32
	ID          string
	Feature     string
	Type        string
	State       string
	Counted     bool
	Count       uint32
	PeriodLeft  string
	LeftSeconds uint64
	UsedSeconds uint64
	EULA        bool
	Store       string
	NodeLocked  bool
}

// State is a snapshot of what the device reports over NETCONF.
type State struct {
	PID, Serial, Version string
	Image                string
	Levels               []string
	Active, BootLevel    string
	NextBoot             string
	Licenses             []LicenseView
}

// Snapshot returns the device's current state.
func (d *Device) Snapshot() State {
	now := d.fleet.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	fam := d.familyLocked()
	m, _ := ModelByPID(d.st.PID)
	s := State{PID: d.st.PID, Serial: d.st.Serial, Version: d.st.Version, Image: m.Image,
		Levels: fam.Levels, Active: d.st.Active, BootLevel: d.st.BootLevel, NextBoot: d.bootLevelLocked(now)}
	udi := keyengine.UDI{PID: d.st.PID, SN: d.st.Serial}
	// The license in use is the one that enables the active level:
	// permanent first, then extension, then evaluation.
	inUse := ""
	for _, typ := range []keyengine.LicenseType{keyengine.Permanent, keyengine.Extension} {
		for _, sl := range d.st.Licenses {
			if inUse == "" && sl.Lic.Grant.Type == typ && sl.Lic.Grant.Feature == d.st.Active {
				inUse = sl.Lic.Grant.ID
			}
		}
	}
	for _, sl := range d.st.Licenses {
		g := sl.Lic.Grant
		v := LicenseView{Index: sl.Index, ID: g.ID, Feature: g.Feature, Type: string(g.Type), Counted: g.Counted,
			Count: g.Count, EULA: true, Store: "primary", NodeLocked: true}
		err := d.fleet.trust().Verify(sl.Lic, udi, now)
		expired := errors.Is(err, keyengine.ErrExpired)
		switch {
		case g.ID == inUse && expired:
			v.State = "expiredInUse"
		case expired:
			v.State = "expiredNotInUse"
		case err != nil:
			v.State = "inactive"
		case g.ID == inUse:
			v.State = "inUse"
		default:
			v.State = "notInUse"
		}
		if g.NotAfter.IsZero() {
			v.PeriodLeft = "Life time"
		} else {
			left := max(g.NotAfter.Sub(now), 0)
			v.LeftSeconds = uint64(left / time.Second)
			v.UsedSeconds = uint64(max(now.Sub(g.NotBefore), 0) / time.Second)
			v.PeriodLeft = formatPeriod(left)
		}
		s.Licenses = append(s.Licenses, v)
	}
	// Built-in evaluation licenses for every licensable level.
	for _, level := range fam.Levels[1:] {
		e := d.st.Evals[level]
		v := LicenseView{Feature: level, Type: "evaluation", Store: "built-in"}
		if e == nil {
			v.Index = 0
			v.State = "inactive"
			v.PeriodLeft = "Not Activated"
			v.LeftSeconds = uint64(EvaluationPeriod / time.Second)
		} else {
			v.Index, v.EULA = e.Index, e.EULA
			used := e.used(now)
			left := max(EvaluationPeriod-used, 0)
			v.UsedSeconds, v.LeftSeconds = uint64(used/time.Second), uint64(left/time.Second)
			switch {
			case !e.Activated:
				v.State, v.PeriodLeft = "inactive", "Not Activated"
			case e.expired(now) && inUse == "" && d.st.Active == level:
				v.State, v.PeriodLeft = "expiredInUse", formatPeriod(0)
			case e.expired(now):
				v.State, v.PeriodLeft = "expiredNotInUse", formatPeriod(0)
			case inUse == "" && d.st.Active == level:
				v.State, v.PeriodLeft = "inUse", formatPeriod(left)
			default:
				v.State, v.PeriodLeft = "notInUse", formatPeriod(left)
			}
		}
		s.Licenses = append(s.Licenses, v)
	}
	// Evaluation entries that were never touched have no index; number them
	// after the stored ones so that indexes are unique.
	next := d.st.NextIndex
	for i := range s.Licenses {
		if s.Licenses[i].Index == 0 {
			next++
			s.Licenses[i].Index = next
		}
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
			return fmt.Sprintf("%d weeks %d days", w, dd)
		case w > 0:
			return fmt.Sprintf("%d weeks", w)
		default:
			return fmt.Sprintf("%d days", dd)
		}
	}
	h := int(d / time.Hour)
	m := int((d % time.Hour) / time.Minute)
	return fmt.Sprintf("%d hours %d minutes", h, m)
}
