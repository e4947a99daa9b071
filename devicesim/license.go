package devicesim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/licbroker/licbroker/keyengine"
)

// EvaluationPeriod is the usage time of a built-in evaluation license
// (8 weeks 4 days).
const EvaluationPeriod = 60 * 24 * time.Hour

// maxStoredLicenses is the capacity of the primary license storage; an
// install beyond it fails with "license storage full".
const maxStoredLicenses = 256

// Install-line statuses, as the licensing YANG module names them.
const (
	StatusInstalled      = "installed"
	StatusAlreadyPresent = "already-present"
	StatusFailed         = "failed"
)

// InstallResult is the outcome for one license line.
type InstallResult struct {
	Line      uint32
	LicenseID string
	Feature   string
	Status    string // StatusInstalled, StatusAlreadyPresent or StatusFailed
	Reason    string
}

const evalPrefix = "eval:"

func evalKey(level string) string { return evalPrefix + level }

// candidate is a license that is valid now and covers every level up to
// and including li.
type candidate struct {
	key  string // license id or evalKey(level)
	li   int    // level index of its feature
	prio int    // 0 permanent, 1 extension, 2 installed evaluation, 3 built-in evaluation
}

// env is what the license logic needs besides the state: the trusted keys
// and the simulated time.
type env struct {
	ts  *keyengine.TrustStore
	now time.Time
}

func typePrio(t keyengine.LicenseType) int {
	switch t {
	case keyengine.Permanent:
		return 0
	case keyengine.Extension:
		return 1
	}
	return 2
}

// verify checks a stored license at e.now with keyengine's
// TrustStore.Verify. The signature of a stored license does not change,
// and a trust store's keys do not either (a reload of the trusted keys
// makes a new store): once the signature passed under a trust store, it
// is not checked again under it, as a device checks its keys at install
// and boot rather than at every read. The device binding, the signing
// key's revocation (a store may gain revocations) and the validity period
// are checked every time.
func (sl *storedLicense) verify(e env, udi keyengine.UDI) error {
	if sl.verified == e.ts && sl.Lic.Grant.UDI == udi && !e.ts.IsRevoked(sl.Lic.Grant.KeyID) {
		return sl.Lic.Grant.CheckPeriod(e.now)
	}
	err := e.ts.Verify(sl.Lic, udi, e.now)
	if err == nil || errors.Is(err, keyengine.ErrNotYetValid) || errors.Is(err, keyengine.ErrExpired) {
		sl.verified = e.ts
	}
	return err
}

// candidates lists the valid licenses: installed keys that verify at now,
// and activated evaluation licenses with usage time left.
func (st *deviceState) candidates(e env) []candidate {
	fam := st.family()
	var out []candidate
	udi := st.udi()
	for i := range st.Licenses {
		s := &st.Licenses[i]
		li := fam.levelIndex(s.Lic.Grant.Feature)
		if li < 0 || s.verify(e, udi) != nil {
			continue
		}
		out = append(out, candidate{key: s.Lic.Grant.ID, li: li, prio: typePrio(s.Lic.Grant.Type)})
	}
	for i := range st.Evals {
		ev := &st.Evals[i]
		if ev.Activated && !ev.expired(e.now) {
			out = append(out, candidate{key: evalKey(ev.Level), li: fam.levelIndex(ev.Level), prio: 3})
		}
	}
	return out
}

// bootLevel returns the index of the level the device activates when it
// boots: the highest level at or below the boot level that a valid
// permanent, extension or active evaluation license covers; else the base
// level. A license for a level covers the levels below it.
func (st *deviceState) bootLevel(cands []candidate) int {
	fam := st.family()
	top := len(fam.Levels) - 1
	if st.BootLevel != "" {
		if i := fam.levelIndex(st.BootLevel); i >= 0 {
			top = i
		}
	}
	for li := top; li > 0; li-- {
		for _, c := range cands {
			if c.li >= li {
				return li
			}
		}
	}
	return 0
}

// bestFor picks the license that enables level li: permanent before
// extension before evaluation, then the one closest to li. The base level
// uses only a license for the base level itself.
func bestFor(li int, cands []candidate) string {
	best := -1
	for i, c := range cands {
		if c.li < li || (li == 0 && c.li != 0) {
			continue
		}
		if best < 0 || c.prio < cands[best].prio || (c.prio == cands[best].prio && c.li < cands[best].li) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return cands[best].key
}

func (st *deviceState) eval(level string) *evalState {
	for i := range st.Evals {
		if st.Evals[i].Level == level {
			return &st.Evals[i]
		}
	}
	return nil
}

// touchEval returns the evaluation license of level, creating its entry.
func (st *deviceState) touchEval(level string) *evalState {
	if e := st.eval(level); e != nil {
		return e
	}
	st.Evals = append(st.Evals, evalState{Level: level})
	return &st.Evals[len(st.Evals)-1]
}

func (st *deviceState) license(id string) *storedLicense {
	for i := range st.Licenses {
		if st.Licenses[i].Lic.Grant.ID == id {
			return &st.Licenses[i]
		}
	}
	return nil
}

func (st *deviceState) hasKey(key string) bool {
	if lvl, ok := strings.CutPrefix(key, evalPrefix); ok {
		return st.eval(lvl) != nil
	}
	return st.license(key) != nil
}

// settle stops counting usage time, adding what was counted so far.
func (st *deviceState) settle(now time.Time) {
	for i := range st.Evals {
		e := &st.Evals[i]
		if !e.Since.IsZero() {
			e.Used = e.used(now)
			e.Since = time.Time{}
		}
	}
}

// count starts counting usage time of the license in use, if it is an
// evaluation license.
func (st *deviceState) count(now time.Time) {
	if lvl, ok := strings.CutPrefix(st.InUse, evalPrefix); ok {
		if e := st.eval(lvl); e != nil {
			e.Since = now
		}
	}
}

// boot activates the licensed level, as the device does at every (re)load.
func (st *deviceState) boot(e env) {
	st.settle(e.now)
	cands := st.candidates(e)
	li := st.bootLevel(cands)
	st.Active = st.family().Levels[li]
	st.InUse = bestFor(li, cands)
	st.count(e.now)
}

// reassess picks the license in use for the running level after licenses
// changed without a reload. The running level never changes here; when no
// valid license covers it any more, the device keeps running it (with the
// expired or no license) until the next reload.
func (st *deviceState) reassess(e env) {
	st.settle(e.now)
	li := st.family().levelIndex(st.Active)
	if best := bestFor(li, st.candidates(e)); best != "" {
		st.InUse = best
	} else if !st.hasKey(st.InUse) {
		st.InUse = ""
	}
	st.count(e.now)
}

func (d *Device) env(now time.Time) env { return env{ts: d.fleet.trust(), now: now} }

// Install verifies each license line of a license file and stores the
// valid ones. It returns one result per line: installed, already present,
// or failed with the reason (bad signature, unknown key, another device,
// expired, storage full...). Licenses take effect at the next reload.
func (d *Device) Install(file []byte) []InstallResult {
	lines, err := parseLicenseLines(file)
	if err != nil {
		return []InstallResult{{Line: 1, Status: StatusFailed, Reason: reason(err)}}
	}
	out := make([]InstallResult, len(lines))
	d.mu.Lock()
	defer d.mu.Unlock()
	storageFull := d.fault != nil && d.fault.StorageFull
	err = d.updateLocked(func(st *deviceState, now time.Time) error {
		fam := st.family()
		e := env{ts: d.fleet.trust(), now: now}
		for i, pl := range lines {
			r := InstallResult{Line: uint32(i + 1), LicenseID: pl.lic.Grant.ID, Feature: pl.lic.Grant.Feature}
			sl := storedLicense{Lic: pl.lic}
			var verr error
			if pl.err == nil {
				verr = sl.verify(e, st.udi())
			}
			switch {
			case pl.err != nil:
				r.Status, r.Reason = StatusFailed, reason(pl.err)
			case verr != nil:
				r.Status, r.Reason = StatusFailed, reason(verr)
			case fam.levelIndex(pl.lic.Grant.Feature) < 0:
				r.Status, r.Reason = StatusFailed, fmt.Sprintf("feature %s is not a feature level of %s (levels: %s)",
					pl.lic.Grant.Feature, st.PID, strings.Join(fam.Levels, ", "))
			case st.license(pl.lic.Grant.ID) != nil:
				r.Status = StatusAlreadyPresent
			case storageFull || len(st.Licenses) >= maxStoredLicenses:
				r.Status, r.Reason = StatusFailed, "license storage full"
			default:
				sl.Index = st.nextIndex()
				st.Licenses = append(st.Licenses, sl)
				r.Status = StatusInstalled
			}
			out[i] = r
		}
		st.reassess(e)
		return nil
	})
	if err != nil {
		for i := range out {
			if out[i].Status == StatusInstalled {
				out[i].Status, out[i].Reason = StatusFailed, "writing license storage: "+reason(err)
			}
		}
	}
	return out
}

// nextIndex returns the index for a newly installed license. Built-in
// evaluation licenses hold the fixed indexes 1..n-1 (one per licensable
// level); installed licenses follow, never reusing an index.
func (st *deviceState) nextIndex() uint32 {
	first := uint32(len(st.family().Levels))
	if st.NextIndex < first {
		st.NextIndex = first
	}
	i := st.NextIndex
	st.NextIndex++
	return i
}

// reason renders an error as an install-result reason or NETCONF message:
// without the package prefix.
func reason(err error) string {
	s := err.Error()
	for _, p := range []string{"devicesim: ", "keyengine: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// ClearLicense removes an installed license. The running level stays until
// the next reload.
func (d *Device) ClearLicense(id string) error {
	return d.update(func(st *deviceState, now time.Time) error {
		for i := range st.Licenses {
			if st.Licenses[i].Lic.Grant.ID == id {
				st.Licenses = append(st.Licenses[:i], st.Licenses[i+1:]...)
				st.reassess(d.env(now))
				return nil
			}
		}
		return fmt.Errorf("%w %q on %s", ErrNoSuchLicense, id, st.udi())
	})
}

// AcceptEULA accepts the EULA of a feature level's evaluation license.
func (d *Device) AcceptEULA(level string) error {
	return d.update(func(st *deviceState, now time.Time) error {
		if _, err := checkLevel(st, level, true); err != nil {
			return err
		}
		st.touchEval(level).EULA = true
		return nil
	})
}

// ActivateEvaluation activates the built-in evaluation license of a level
// and makes it the boot level; the level runs after the next reload. The
// EULA must be accepted first, or with acceptEULA.
func (d *Device) ActivateEvaluation(level string, acceptEULA bool) error {
	return d.update(func(st *deviceState, now time.Time) error {
		if _, err := checkLevel(st, level, true); err != nil {
			return err
		}
		e := st.touchEval(level)
		if acceptEULA {
			e.EULA = true
		}
		switch {
		case !e.EULA:
			return fmt.Errorf("%w for %s on %s: accept it first", ErrEULANotAccepted, level, st.udi())
		case e.expired(now):
			return fmt.Errorf("%w: %s on %s used its %s", ErrEvaluationExpired, level, st.udi(), formatPeriod(EvaluationPeriod))
		}
		e.Activated = true
		st.BootLevel = level
		st.reassess(d.env(now))
		return nil
	})
}

// SetBootLevel sets the level to activate at the next reload.
func (d *Device) SetBootLevel(level string) error {
	return d.update(func(st *deviceState, now time.Time) error {
		if _, err := checkLevel(st, level, false); err != nil {
			return err
		}
		st.BootLevel = level
		return nil
	})
}

// boot runs the boot sequence on the stored state.
func (d *Device) bootLocked() error {
	return d.updateLocked(func(st *deviceState, now time.Time) error {
		st.boot(d.env(now))
		return nil
	})
}

func checkLevel(st *deviceState, level string, licensable bool) (int, error) {
	fam := st.family()
	i := fam.levelIndex(level)
	if i < 0 {
		return -1, fmt.Errorf("%w %q for %s (levels: %s)", ErrUnknownLevel, level, st.PID, strings.Join(fam.Levels, ", "))
	}
	if licensable && i == 0 {
		return -1, fmt.Errorf("%w: %s is the base level of %s", ErrBaseLevel, level, st.PID)
	}
	return i, nil
}

// licenseErrState maps a verification error to a license state.
func licenseErrState(err error, inUse bool) string {
	expired := errors.Is(err, keyengine.ErrExpired)
	switch {
	case expired && inUse:
		return "expiredInUse"
	case expired:
		return "expiredNotInUse"
	case err != nil:
		return "inactive"
	case inUse:
		return "inUse"
	}
	return "notInUse"
}
