package broker

import (
	"slices"
	"strconv"
)

// Apply functions for PAKs, redemption, license records and depot spares.

func (a *applier) pakAdd(p pakAdd) (any, *APIError) {
	k := p.PAK
	if _, ok := a.d.PAKs[k.ID]; ok {
		return nil, apiErr("conflict", "PAK %s is already registered", k.ID)
	}
	if _, ok := a.d.Tenants[k.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", k.Tenant)
	}
	if len(k.Lines) == 0 {
		return nil, apiErr("bad_request", "PAK %s has no lines", k.ID)
	}
	for i := range k.Lines {
		l := &k.Lines[i]
		if l.Quantity <= 0 || (l.Type != "permanent" && l.Type != "extension") || len(l.Families) == 0 {
			return nil, apiErr("bad_request", "PAK %s line %d is invalid", k.ID, i+1)
		}
		l.Used = 0
	}
	k.Created = a.c.Time
	a.d.PAKs[k.ID] = &k
	for i, l := range k.Lines {
		a.audit(k.Tenant, "pak/"+k.ID, "added line %d: %d x %s %s for %v", i+1, l.Quantity, l.Feature, l.Type, l.Families)
	}
	return &k, nil
}

// redeem spends one unit of a PAK line for a device. The checks that guard
// money run here, in log order: a PAK is never over-spent, and a device that
// already holds a live license for the feature gets that license back
// without spending again.
func (a *applier) redeem(p *redeem) (any, *APIError) {
	l, existing, aerr := a.redeemLicense(p)
	if aerr != nil {
		return nil, aerr
	}
	return redeemResult{License: *l, Existing: existing}, nil
}

// redeemLicense is redeem without boxing the result: the license recorded
// (or the live one the device had, existing), which the caller must not
// change. p is the applier's own (decoded for this command): its license
// becomes the record.
func (a *applier) redeemLicense(p *redeem) (*License, bool, *APIError) {
	pak, ok := a.d.PAKs[p.PAK]
	if !ok || pak.Tenant != p.Tenant {
		return nil, false, apiErr("not_found", "PAK %s not found", p.PAK)
	}
	if p.Line < 0 || p.Line >= len(pak.Lines) {
		return nil, false, apiErr("bad_request", "PAK %s has no line %d", p.PAK, p.Line+1)
	}
	line := &pak.Lines[p.Line]
	l := &p.License
	if l.Feature != line.Feature || l.Type != line.Type {
		return nil, false, apiErr("bad_request", "license %s %s does not match PAK %s line %d (%s %s)",
			l.Feature, l.Type, p.PAK, p.Line+1, line.Feature, line.Type)
	}
	dev, ok := a.d.Devices[l.UDI]
	if !ok || dev.Tenant != p.Tenant {
		return nil, false, apiErr("not_found", "device %s not found", l.UDI)
	}
	if !slices.Contains(line.Families, dev.Family) {
		return nil, false, apiErr("not_eligible", "device %s (family %s) is not eligible for PAK %s line %d (families %v)",
			l.UDI, orNone(dev.Family), p.PAK, p.Line+1, line.Families)
	}
	if ex := a.coveringLicense(l.UDI, l.Feature, l.Type); ex != nil {
		return ex, true, nil
	}
	if line.Remaining() <= 0 {
		return nil, false, apiErr("pak_exhausted", "PAK %s line %d (%s %s) is used up: %d of %d redeemed",
			p.PAK, p.Line+1, line.Type, line.Feature, line.Used, line.Quantity)
	}
	if _, dup := a.d.Licenses[l.ID]; dup {
		return nil, false, apiErr("conflict", "license id %s already exists", l.ID)
	}
	line.Used++
	// The same values, in the strings the PAK and device records hold
	// (one copy in memory).
	l.Tenant, l.PAK, l.Line, l.UDI, l.Feature, l.Type = pak.Tenant, pak.ID, p.Line, dev.UDI, line.Feature, line.Type
	l.State = LicenseIssued
	l.Updated = a.c.Time
	// The decoder may have left room for this event (see decodeBinary).
	l.History = append(l.History[:0], Event{Time: a.c.Time, Actor: a.c.Actor, What: a.d.issuedWhat(pak.ID, p.Line)})
	a.d.addLicense(l)
	a.auditRedeem(l, line.Used, line.Quantity)
	return l, false, nil
}

// issuedWhat is the history entry of a license redeemed from a PAK line.
// The last one is kept: redemptions come in runs from one line, and the
// records then share the string.
func (d *stateData) issuedWhat(pak string, line int) string {
	if c := &d.lastIssued; c.what == "" || c.pak != pak || c.line != line {
		*c = issuedFrom{pak: pak, line: line, what: "issued from PAK " + pak + " line " + strconv.Itoa(line+1)}
	}
	return d.lastIssued.what
}

// coveringLicense returns a live license of the device that already grants
// feature: any live permanent one, or for an extension request a live
// extension.
func (a *applier) coveringLicense(udi, feature, typ string) *License {
	for _, id := range a.d.byUDI[udi] {
		l := a.d.Licenses[id]
		if l.Feature != feature || !l.live(a.c.Time) {
			continue
		}
		if l.Type == "permanent" || l.Type == typ {
			return l
		}
	}
	return nil
}

// licenseTransitions lists the states a license may move to from each
// state. Rehosting has its own command.
var licenseTransitions = map[string][]string{
	LicenseIssued:    {LicenseInstalled, LicenseRevoked},
	LicenseInstalled: {LicenseInstalled, LicenseRevoked},
	LicenseRevoked:   {LicenseRevoked},
	LicenseRehosted:  {},
}

func (a *applier) licenseState(p licenseState) (any, *APIError) {
	l, ok := a.d.Licenses[p.ID]
	if !ok || (p.Tenant != "" && l.Tenant != p.Tenant) {
		return nil, apiErr("not_found", "license %s not found", p.ID)
	}
	if !slices.Contains(licenseTransitions[l.State], p.State) {
		return nil, apiErr("conflict", "license %s is %s; it cannot become %s", p.ID, l.State, p.State)
	}
	if l.State == p.State {
		return *l, nil
	}
	from := l.State
	l.State = p.State
	l.Updated = a.c.Time
	l.History = append(l.History, Event{Time: a.c.Time, Actor: a.c.Actor, What: p.What})
	a.audit(l.Tenant, "license/"+l.ID, "%s -> %s: %s", from, p.State, p.What)
	return *l, nil
}

func (a *applier) spareAdd(p spareAdd) (any, *APIError) {
	sp := p.Spare
	if _, ok := a.d.Spares[sp.UDI]; ok {
		return nil, apiErr("conflict", "spare %s is already in the depot", sp.UDI)
	}
	if _, ok := a.d.Devices[sp.UDI]; ok {
		return nil, apiErr("conflict", "device %s is already in service; it cannot be stocked as a spare", sp.UDI)
	}
	sp.State, sp.Tenant, sp.Replaces, sp.RMA, sp.Assigned = SpareStocked, "", "", "", nil
	sp.Created = a.c.Time
	sp.Licenses = nil
	for i := range p.Licenses {
		l := p.Licenses[i]
		if l.UDI != sp.UDI {
			return nil, apiErr("bad_request", "preloaded license %s is for %s, not the spare %s", l.ID, l.UDI, sp.UDI)
		}
		if _, dup := a.d.Licenses[l.ID]; dup {
			return nil, apiErr("conflict", "license id %s already exists", l.ID)
		}
		sp.Licenses = append(sp.Licenses, l.ID)
	}
	for i := range p.Licenses {
		l := p.Licenses[i]
		l.Tenant, l.PAK, l.State, l.Updated = "", "", LicenseIssued, a.c.Time
		l.History = []Event{{Time: a.c.Time, Actor: a.c.Actor, What: "preloaded on depot spare " + sp.UDI}}
		a.d.addLicense(&l)
	}
	a.d.Spares[sp.UDI] = &sp
	a.audit("", "spare/"+sp.UDI, "stocked spare %s with %d preloaded licenses", sp.PID, len(sp.Licenses))
	return sp, nil
}

func (a *applier) spareAssign(p spareAssign) (any, *APIError) {
	sp, ok := a.d.Spares[p.UDI]
	if !ok {
		return nil, apiErr("not_found", "spare %s not found", p.UDI)
	}
	if _, ok := a.d.Tenants[p.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", p.Tenant)
	}
	if sp.State == SpareAssigned {
		if sp.Tenant == p.Tenant && sp.Replaces == p.Replaces && (p.RMA == "" || p.RMA == sp.RMA) {
			return *sp, nil
		}
		return nil, apiErr("conflict", "spare %s is already assigned to tenant %s (replacing %s)", p.UDI, sp.Tenant, orNone(sp.Replaces))
	}
	if p.Replaces != "" {
		if d, ok := a.d.Devices[p.Replaces]; !ok || d.Tenant != p.Tenant {
			return nil, apiErr("not_found", "device %s (to be replaced) not found in tenant %s", p.Replaces, p.Tenant)
		}
	}
	t := a.c.Time
	sp.State, sp.Tenant, sp.Replaces, sp.RMA, sp.Assigned = SpareAssigned, p.Tenant, p.Replaces, p.RMA, &t
	what := "assigned with depot spare to tenant " + p.Tenant
	if p.Replaces != "" {
		what += " as replacement for " + p.Replaces
	}
	if p.RMA != "" {
		what += " (RMA " + p.RMA + ")"
	}
	for _, id := range sp.Licenses {
		l := a.d.Licenses[id]
		l.Tenant = p.Tenant
		l.Updated = t
		l.History = append(l.History, Event{Time: t, Actor: a.c.Actor, What: what})
	}
	a.audit(p.Tenant, "spare/"+sp.UDI, "%s", what)
	return *sp, nil
}
