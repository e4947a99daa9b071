package broker

import (
	"slices"
	"time"
)

// Apply functions for evaluation (temporary) licenses.

// maxEvalHistory bounds the history of one evaluation.
const maxEvalHistory = 32

type evaluationActivate struct {
	// Tenant is the caller's scope ("" for an admin).
	Tenant  string `json:"tenant,omitempty"`
	Feature string `json:"feature"`
	// Device is the device as read right after the activation.
	Device Device `json:"device"`
}

func evalKey(udi, feature string) string { return udi + "/" + feature }

// trackEvaluations records every evaluation license a device reports as
// activated, with its state and end date, whenever the device is read. The
// end date comes from the device's period left at the time of the read; a
// device that no longer tells one (expired) keeps the last known.
func (a *applier) trackEvaluations(d *Device) {
	for _, l := range d.Licenses {
		if l.Type != "evaluation" {
			continue
		}
		key := evalKey(d.UDI, l.Feature)
		ev := a.d.Evaluations[key]
		if ev == nil {
			if l.State == "" || l.State == "inactive" {
				continue
			}
			ev = &Evaluation{UDI: d.UDI, Feature: l.Feature, Origin: EvaluationFound, FirstSeen: a.c.Time}
			a.d.Evaluations[key] = ev
			ev.addHistory(a, "found activated on the device: "+l.State)
		} else if ev.State != l.State {
			what := ev.State + " -> " + l.State
			if l.State == "expiredNotInUse" || l.State == "inactive" {
				what += "; the device runs " + orNone(d.ActiveLevel)
			}
			ev.addHistory(a, what)
		}
		ev.Tenant, ev.State, ev.LastSeen = d.Tenant, l.State, d.LastSeen
		if l.ExpiresAt != nil {
			t := *l.ExpiresAt
			ev.EndsAt = &t
		}
	}
}

func (ev *Evaluation) addHistory(a *applier, what string) {
	ev.History = append(ev.History, Event{Time: a.c.Time, Actor: a.c.Actor, What: what})
	if n := len(ev.History); n > maxEvalHistory {
		ev.History = slices.Delete(ev.History, 1, n-maxEvalHistory+1)
	}
}

func (a *applier) evaluationActivate(p evaluationActivate) (any, *APIError) {
	d := p.Device
	old, ok := a.d.Devices[d.UDI]
	if !ok || (p.Tenant != "" && old.Tenant != p.Tenant) {
		return nil, apiErr("not_found", "device %s not found", d.UDI)
	}
	if d.Tenant != old.Tenant {
		return nil, apiErr("bad_request", "device %s belongs to tenant %s", d.UDI, old.Tenant)
	}
	i := slices.IndexFunc(d.Licenses, func(l DeviceLicense) bool { return l.Type == "evaluation" && l.Feature == p.Feature })
	if i < 0 || d.Licenses[i].State == "inactive" || d.Licenses[i].State == "" {
		return nil, apiErr("device_error", "device %s does not report an activated evaluation license of %s", d.UDI, p.Feature)
	}
	key := evalKey(d.UDI, p.Feature)
	_, tracked := a.d.Evaluations[key]
	if _, aerr := a.devicesUpsert(devicesUpsert{Devices: []Device{d}}); aerr != nil {
		return nil, aerr
	}
	ev := a.d.Evaluations[key]
	what := "activated by the broker (EULA accepted): " + ev.State
	switch {
	case !tracked:
		// Replace the tracker's "found" entry of this very command.
		ev.History[len(ev.History)-1].What = what
	case ev.ActivatedBy != "":
		what = "activation requested again: " + ev.State
		fallthrough
	default:
		ev.addHistory(a, what)
	}
	if ev.ActivatedBy == "" {
		t := a.c.Time
		ev.Origin, ev.ActivatedBy, ev.Activated = EvaluationActivated, a.c.Actor, &t
	}
	a.audit(d.Tenant, "evaluation/"+key, "evaluation license of %s activated on %s (EULA accepted): %s, ends %s",
		p.Feature, d.UDI, ev.State, endsText(ev))
	return ev.clone(), nil
}

func endsText(ev *Evaluation) string {
	if ev.EndsAt == nil {
		return "unknown"
	}
	return ev.EndsAt.UTC().Format(time.RFC3339)
}
