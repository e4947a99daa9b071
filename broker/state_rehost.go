package broker

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Apply functions for rehosts (RMA). Everything a rehost decides — who owns
// the failed device, whether the replacement may take its licenses, which
// licenses move and which preloaded spare keys are used, and whether the
// rehost was already done — is decided here, in log order. The proposer
// signs the regenerated keys beforehand from the same plan; if the records
// changed in between, Apply refuses with code "changed" and the proposer
// plans again.

// Payloads of the rehost commands.

type rehostCreate struct {
	// Tenant is the caller's scope ("" for an admin acting on any tenant).
	Tenant      string `json:"tenant,omitempty"`
	Failed      string `json:"failed"`
	Replacement string `json:"replacement"`
	RMA         string `json:"rma,omitempty"`
	// Licenses are the regenerated licenses, signed for the replacement,
	// each with RehostedFrom naming the failed device's license.
	Licenses []License `json:"licenses"`
}

// rehostCreated is what rehost.create returns: the rehost, and whether it
// existed already (then nothing changed, except perhaps an RMA number
// attached).
type rehostCreated struct {
	Rehost   Rehost `json:"rehost"`
	Existing bool   `json:"existing"`
}

type rehostRMA struct {
	Tenant string `json:"tenant,omitempty"`
	Failed string `json:"failed"`
	RMA    string `json:"rma"`
}

type rehostInstalled struct {
	Tenant string `json:"tenant,omitempty"`
	Failed string `json:"failed"`
	// Installed lists the rehost's licenses the replacement accepted.
	Installed []string `json:"installed,omitempty"`
	// HostKey is the new host key the replacement presented at the failed
	// device's address, once its identity was checked.
	HostKey *HostKeyApproval `json:"host_key,omitempty"`
}

// rehostPlan is what a rehost does, worked out from the state.
type rehostPlan struct {
	owner    string
	existing *Rehost
	sources  []*License // the failed device's live licenses, by id
	spare    *Spare
	// fromSpare maps a source license id to the spare's preloaded license
	// that replaces it.
	fromSpare map[string]string
	// need are the source licenses that need a regenerated key.
	need []*License
}

// planRehost checks a rehost request against the state and works out what
// it does. scope is the caller's tenant ("" for an admin).
func planRehost(d *stateData, scope, failed, replacement string, now time.Time) (*rehostPlan, *APIError) {
	p := &rehostPlan{fromSpare: map[string]string{}}
	if rh, ok := d.Rehosts[failed]; ok && (scope == "" || rh.Tenant == scope) {
		if rh.Replacement != replacement {
			return nil, apiErr("conflict", "device %s was already rehosted to %s on %s; a failed device is rehosted once",
				failed, rh.Replacement, rh.Created.Format(time.DateOnly))
		}
		p.owner, p.existing = rh.Tenant, rh
		return p, nil
	}
	owner, aerr := failedOwner(d, scope, failed)
	if aerr != nil {
		return nil, aerr
	}
	p.owner = owner
	if failed == replacement {
		return nil, apiErr("bad_request", "the replacement must be another unit than the failed device %s", failed)
	}
	if aerr := checkReplacement(d, owner, failed, replacement, now); aerr != nil {
		return nil, aerr
	}
	for _, id := range d.byUDI[failed] {
		if l := d.Licenses[id]; l.Tenant == owner && l.live(now) {
			p.sources = append(p.sources, l)
		}
	}
	slices.SortFunc(p.sources, func(a, b *License) int { return strings.Compare(a.ID, b.ID) })
	if len(p.sources) == 0 {
		return nil, apiErr("not_eligible", "device %s holds no live licenses in the broker's records; nothing to rehost "+
			"(evaluation licenses are built into every unit: activate the replacement's own with license temp)", failed)
	}
	if sp, ok := d.Spares[replacement]; ok {
		p.spare = sp
		avail := map[string]string{} // feature -> unused preloaded license
		for _, id := range slices.Sorted(slices.Values(sp.Licenses)) {
			l := d.Licenses[id]
			if l != nil && l.live(now) && l.RehostedFrom == "" && l.Type == "permanent" {
				if _, dup := avail[l.Feature]; !dup {
					avail[l.Feature] = id
				}
			}
		}
		for _, src := range p.sources {
			if id, ok := avail[src.Feature]; ok && src.Type == "permanent" {
				p.fromSpare[src.ID] = id
				delete(avail, src.Feature)
			}
		}
	}
	for _, src := range p.sources {
		if _, ok := p.fromSpare[src.ID]; !ok {
			p.need = append(p.need, src)
		}
	}
	return p, nil
}

// failedOwner finds the tenant of a failed device: its inventory record,
// or else its license records (a spare that was never discovered). A
// device of another tenant than scope is not found.
func failedOwner(d *stateData, scope, udi string) (string, *APIError) {
	if dev, ok := d.Devices[udi]; ok {
		if scope != "" && dev.Tenant != scope {
			return "", apiErr("not_found", "device %s not found", udi)
		}
		return dev.Tenant, nil
	}
	for _, id := range d.byUDI[udi] {
		if l := d.Licenses[id]; l.Tenant != "" && (scope == "" || l.Tenant == scope) {
			return l.Tenant, nil
		}
	}
	return "", apiErr("not_found", "device %s not found", udi)
}

// checkReplacement refuses a replacement of another family, or one that is
// licensed, in service elsewhere, failed itself, or already replacing
// another device.
func checkReplacement(d *stateData, owner, failed, repl string, now time.Time) *APIError {
	fpid, _, _ := strings.Cut(failed, ":")
	rpid, _, _ := strings.Cut(repl, ":")
	ffam, rfam := FamilyOf(fpid), FamilyOf(rpid)
	if dev, ok := d.Devices[failed]; ok && dev.Family != "" {
		ffam = dev.Family
	}
	switch {
	case rfam == "":
		return apiErr("not_eligible", "replacement %s: product %s is not a licensable product (want a 3750-E, 3560-E, 880 or 860)", repl, rpid)
	case rfam != ffam:
		return apiErr("not_eligible", "replacement %s is of family %s but the failed device %s is of family %s: licenses cannot move between families",
			repl, rfam, failed, orNone(ffam))
	}
	if rh, ok := d.Rehosts[repl]; ok {
		return apiErr("conflict", "replacement %s failed itself (rehosted to %s); it cannot take over licenses", repl, rh.Replacement)
	}
	for _, k := range sortedKeys(d.Rehosts) {
		if rh := d.Rehosts[k]; rh.Replacement == repl {
			if rh.Tenant != owner {
				return apiErr("conflict", "replacement %s is already licensed under another customer", repl)
			}
			return apiErr("conflict", "replacement %s already replaces %s", repl, rh.Failed)
		}
	}
	sp := d.Spares[repl]
	if sp != nil && sp.State == SpareAssigned {
		switch {
		case sp.Tenant != owner:
			return apiErr("conflict", "depot spare %s is already assigned to another customer", repl)
		case sp.Replaces != "" && sp.Replaces != failed:
			return apiErr("conflict", "depot spare %s is already assigned as the replacement of %s", repl, sp.Replaces)
		}
	}
	preloaded := func(id string) bool { return sp != nil && slices.Contains(sp.Licenses, id) }
	if dev, ok := d.Devices[repl]; ok {
		if dev.Tenant != owner {
			return apiErr("conflict", "replacement %s is in service under another customer; it cannot take these licenses", repl)
		}
		for _, l := range dev.Licenses {
			if (l.Type == "permanent" || l.Type == "extension") && (l.State == "inUse" || l.State == "notInUse") && !preloaded(l.ID) {
				return apiErr("conflict", "replacement %s is already licensed: license %s (%s %s) is installed on it",
					repl, orNone(l.ID), l.Feature, l.Type)
			}
		}
	}
	for _, id := range d.byUDI[repl] {
		l := d.Licenses[id]
		if !l.live(now) || preloaded(id) {
			continue
		}
		if l.Tenant != owner {
			return apiErr("conflict", "replacement %s is already licensed under another customer", repl)
		}
		return apiErr("conflict", "replacement %s is already licensed: it holds license %s (%s %s, %s)", repl, l.ID, l.Feature, l.Type, l.State)
	}
	return nil
}

func (a *applier) rehostCreate(p rehostCreate) (any, *APIError) {
	plan, aerr := planRehost(a.d, p.Tenant, p.Failed, p.Replacement, a.c.Time)
	if aerr != nil {
		return nil, aerr
	}
	if rh := plan.existing; rh != nil {
		if p.RMA != "" {
			if aerr := a.attachRMA(rh, p.RMA); aerr != nil {
				return nil, aerr
			}
		}
		return rehostCreated{Rehost: rh.clone(), Existing: true}, nil
	}
	// The proposer signed keys for exactly the licenses that need one.
	byFrom := map[string]*License{}
	for i := range p.Licenses {
		byFrom[p.Licenses[i].RehostedFrom] = &p.Licenses[i]
	}
	if len(p.Licenses) != len(plan.need) {
		return nil, changedErr(p.Failed)
	}
	for _, src := range plan.need {
		n := byFrom[src.ID]
		if n == nil || n.UDI != p.Replacement || n.Feature != src.Feature || n.Type != src.Type || !sameTime(n.Expires, src.Expires) {
			return nil, changedErr(p.Failed)
		}
		if _, dup := a.d.Licenses[n.ID]; dup {
			return nil, apiErr("conflict", "license id %s already exists", n.ID)
		}
	}
	t := a.c.Time
	rh := &Rehost{Failed: p.Failed, Replacement: p.Replacement, Tenant: plan.owner, RMA: p.RMA, Created: t, Actor: a.c.Actor}
	what := fmt.Sprintf("rehosted from failed %s to %s", p.Failed, p.Replacement)
	if p.RMA != "" {
		what += " (RMA " + p.RMA + ")"
	}
	for _, src := range plan.sources {
		rl := RehostedLicense{From: src.ID, Feature: src.Feature, Type: src.Type, Expires: src.Expires}
		if id, ok := plan.fromSpare[src.ID]; ok {
			sl := a.d.Licenses[id]
			sl.Tenant, sl.RehostedFrom, sl.Updated = plan.owner, src.ID, t
			sl.History = append(sl.History, Event{Time: t, Actor: a.c.Actor, What: "preloaded key used: " + what + ", replacing " + src.ID})
			rl.To, rl.Preloaded = id, true
		} else {
			n := *byFrom[src.ID]
			n.Tenant, n.PAK, n.Line, n.State, n.Updated = plan.owner, src.PAK, src.Line, LicenseIssued, t
			n.History = []Event{{Time: t, Actor: a.c.Actor, What: "regenerated: " + what + ", replacing " + src.ID}}
			a.d.addLicense(&n)
			rl.To = n.ID
		}
		from := src.State
		src.State, src.RehostedTo, src.Updated = LicenseRehosted, rl.To, t
		src.History = append(src.History, Event{Time: t, Actor: a.c.Actor, What: what + ", now " + rl.To})
		a.audit(plan.owner, "license/"+src.ID, "%s -> %s: %s, now %s", from, LicenseRehosted, what, rl.To)
		rh.Licenses = append(rh.Licenses, rl)
	}
	if sp := plan.spare; sp != nil {
		rh.Spare = true
		if sp.State != SpareAssigned {
			sp.State, sp.Assigned = SpareAssigned, &t
		}
		sp.Tenant, sp.Replaces, sp.RMA = plan.owner, p.Failed, p.RMA
		for _, id := range sp.Licenses {
			if l := a.d.Licenses[id]; l != nil && l.Tenant == "" {
				l.Tenant, l.Updated = plan.owner, t
				l.History = append(l.History, Event{Time: t, Actor: a.c.Actor, What: "assigned with depot spare " + sp.UDI + " to tenant " + plan.owner})
			}
		}
		a.audit(plan.owner, "spare/"+sp.UDI, "assigned to tenant %s as the replacement of %s", plan.owner, p.Failed)
	}
	if dev, ok := a.d.Devices[p.Failed]; ok {
		dev.ReplacedBy = p.Replacement
	}
	for _, k := range sortedKeys(a.d.Evaluations) {
		if ev := a.d.Evaluations[k]; ev.UDI == p.Failed && ev.State != EvaluationReplaced {
			ev.History = append(ev.History, Event{Time: t, Actor: a.c.Actor, What: ev.State + " -> " + EvaluationReplaced + ": device rehosted to " + p.Replacement})
			ev.State = EvaluationReplaced
		}
	}
	rh.History = []Event{{Time: t, Actor: a.c.Actor, What: fmt.Sprintf("%s: %d licenses (%d preloaded on the spare, %d regenerated)",
		what, len(rh.Licenses), len(plan.fromSpare), len(plan.need))}}
	a.d.Rehosts[p.Failed] = rh
	a.audit(plan.owner, "rehost/"+p.Failed, "%s: %d licenses (%d preloaded, %d regenerated)", what, len(rh.Licenses), len(plan.fromSpare), len(plan.need))
	return rehostCreated{Rehost: rh.clone()}, nil
}

func changedErr(failed string) *APIError {
	return apiErr("changed", "the license records of %s changed while the rehost was being prepared; run it again", failed)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// attachRMA records an RMA number on a rehost; the same number again
// changes nothing, another number is refused.
func (a *applier) attachRMA(rh *Rehost, rma string) *APIError {
	switch rh.RMA {
	case rma:
		return nil
	case "":
	default:
		return apiErr("conflict", "the rehost of %s already has RMA %s; an RMA number is attached once", rh.Failed, rh.RMA)
	}
	rh.RMA = rma
	rh.History = append(rh.History, Event{Time: a.c.Time, Actor: a.c.Actor, What: "RMA " + rma + " attached"})
	if sp, ok := a.d.Spares[rh.Replacement]; ok && rh.Spare {
		sp.RMA = rma
	}
	a.audit(rh.Tenant, "rehost/"+rh.Failed, "RMA %s attached", rma)
	return nil
}

func (a *applier) findRehost(scope, failed string) (*Rehost, *APIError) {
	rh, ok := a.d.Rehosts[failed]
	if !ok || (scope != "" && rh.Tenant != scope) {
		return nil, apiErr("not_found", "device %s has not been rehosted", failed)
	}
	return rh, nil
}

func (a *applier) rehostRMA(p rehostRMA) (any, *APIError) {
	rh, aerr := a.findRehost(p.Tenant, p.Failed)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := a.attachRMA(rh, p.RMA); aerr != nil {
		return nil, aerr
	}
	return rh.clone(), nil
}

func (a *applier) rehostInstalled(p rehostInstalled) (any, *APIError) {
	rh, aerr := a.findRehost(p.Tenant, p.Failed)
	if aerr != nil {
		return nil, aerr
	}
	to := map[string]bool{}
	for _, rl := range rh.Licenses {
		to[rl.To] = true
	}
	for _, id := range p.Installed {
		if !to[id] {
			return nil, apiErr("bad_request", "license %s is not one of the rehost's licenses", id)
		}
	}
	t := a.c.Time
	if k := p.HostKey; k != nil {
		if old := a.d.HostKeys[k.Address]; old == nil || old.Key != k.Key {
			hk := *k
			hk.Approved, hk.Rehost, hk.UDI = t, rh.Failed, rh.Replacement
			a.d.HostKeys[k.Address] = &hk
			rh.HostKey = &hk
			rh.History = append(rh.History, Event{Time: t, Actor: a.c.Actor,
				What: fmt.Sprintf("accepted host key %s of %s at %s (was %s)", hk.Fingerprint, rh.Replacement, hk.Address, orNone(hk.Previous))})
			a.audit(rh.Tenant, "rehost/"+rh.Failed, "accepted new SSH host key %s at %s for replacement %s (was %s)",
				hk.Fingerprint, hk.Address, rh.Replacement, orNone(hk.Previous))
		}
	}
	for _, id := range p.Installed {
		l := a.d.Licenses[id]
		if l.State == LicenseIssued {
			l.State, l.Updated = LicenseInstalled, t
			l.History = append(l.History, Event{Time: t, Actor: a.c.Actor, What: "installed on " + l.UDI + " (rehost)"})
			a.audit(l.Tenant, "license/"+l.ID, "%s -> %s: installed on %s (rehost)", LicenseIssued, LicenseInstalled, l.UDI)
		}
	}
	all := true
	for id := range to {
		if l := a.d.Licenses[id]; l.State != LicenseInstalled {
			all = false
		}
	}
	if all && rh.Installed == nil {
		rh.Installed = &t
		rh.History = append(rh.History, Event{Time: t, Actor: a.c.Actor, What: "every license installed on " + rh.Replacement})
		a.audit(rh.Tenant, "rehost/"+rh.Failed, "every license installed on %s", rh.Replacement)
	}
	return rh.clone(), nil
}
