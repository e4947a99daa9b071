package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/licbroker/licbroker/netconf"
)

// PolicyRequest adds or replaces a licensing policy: a SKU (feature and
// type, from the named PAKs or any of the tenant's) and a device filter.
// When discovery finds a matching device without a live license for the
// feature, the policy obtains one and deploys it (or keeps it in inventory
// when StoreOnly).
type PolicyRequest struct {
	Name    string   `json:"name"`
	Feature string   `json:"feature"`
	Type    string   `json:"type,omitempty"` // permanent (default) or extension
	PAKs    []string `json:"paks,omitempty"`

	Group  string `json:"group,omitempty"`
	Family string `json:"family,omitempty"`
	PID    string `json:"pid,omitempty"`

	StoreOnly bool `json:"store_only,omitempty"`
}

// PutPolicy adds or replaces a tenant's policy.
func (b *Broker) PutPolicy(ctx context.Context, actor, tenant string, req PolicyRequest) (*Policy, error) {
	if err := checkName("policy name", req.Name); err != nil {
		return nil, err
	}
	if req.Type == "" {
		req.Type = "permanent"
	}
	if req.Type != "permanent" && req.Type != "extension" {
		return nil, apiErr("bad_request", "policy %s: license type %q (want permanent or extension)", req.Name, req.Type)
	}
	if len(familiesFor(req.Feature)) == 0 {
		return nil, apiErr("bad_request", "policy %s: feature %q is not a licensable level of any family", req.Name, req.Feature)
	}
	p, err := b.selection(tenant, nil, true, req.Group, req.Family, req.PID)
	if err != nil {
		return nil, err
	}
	if req.Family != "" && !licensable(req.Family, req.Feature) {
		return nil, apiErr("bad_request", "policy %s: feature %q is not a licensable level of family %s", req.Name, req.Feature, req.Family)
	}
	ids, err := b.pakIDs(tenant, "", req.PAKs)
	if err != nil {
		return nil, err
	}
	pol := Policy{Name: req.Name, Tenant: tenant, Feature: req.Feature, Type: req.Type, PAKs: ids, StoreOnly: req.StoreOnly}
	if pol.PAKs == nil {
		pol.PAKs = []string{}
	}
	if p.Filter != nil {
		pol.Devices = *p.Filter
	}
	var out Policy
	if err := b.propose(ctx, actor, CmdPolicyPut, policyPut{Policy: pol}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Policies lists a tenant's policies ("" lists all), by tenant and name.
func (b *Broker) Policies(tenant string) []Policy {
	var out []Policy
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Policies) {
			if p := d.Policies[k]; tenant == "" || p.Tenant == tenant {
				cp := *p
				cp.PAKs = slices.Clone(p.PAKs)
				out = append(out, cp)
			}
		}
	})
	return out
}

// Policy returns one of a tenant's policies. For an admin acting on every
// tenant (tenant ""), the name is looked up in the default tenant.
func (b *Broker) Policy(tenant, name string) (*Policy, error) {
	if err := checkName("policy name", name); err != nil {
		return nil, err
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	var out *Policy
	b.state.read(func(d *stateData) {
		if p, ok := d.Policies[tenant+"/"+name]; ok {
			cp := *p
			cp.PAKs = slices.Clone(p.PAKs)
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "policy %s not found", name)
	}
	return out, nil
}

// DeletePolicy removes a tenant's policy.
func (b *Broker) DeletePolicy(ctx context.Context, actor, tenant, name string) (*Policy, error) {
	if err := checkName("policy name", name); err != nil {
		return nil, err
	}
	var out Policy
	if err := b.propose(ctx, actor, CmdPolicyDelete, policyDelete{Tenant: tenant, Name: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// applyPolicies lets each matching policy license a discovered device that
// has no live license for the policy's feature. The device is recorded
// first (a redemption needs it), and the license is installed over the
// discovery's session. What happened goes into the result's detail; a
// policy that cannot license the device (PAK used up, device refused)
// says why there too, without failing the discovery.
func (d *discoverer) applyPolicies(ctx context.Context, s *netconf.Client, o *outcome) {
	b, j, dev := d.b, d.job, o.dev
	var notes []string
	recorded := false
	for i := range d.policies {
		pol := &d.policies[i]
		if !pol.Devices.Match(dev) || !licensable(dev.Family, pol.Feature) || b.holdsLive(dev.UDI, pol.Feature, pol.Type) {
			continue
		}
		paks := b.policyPAKs(j.Tenant, pol)
		groups := skuPicks(paks, dev, pol.Feature, pol.Type)
		if len(groups) == 0 {
			notes = append(notes, fmt.Sprintf("policy %s: no PAK with %s %s for family %s", pol.Name, pol.Feature, pol.Type, dev.Family))
			continue
		}
		if !recorded {
			if err := b.propose(ctx, j.Actor, CmdDevicesUpsert, devicesUpsert{Devices: []Device{*dev}}, nil); err != nil {
				notes = append(notes, fmt.Sprintf("policy %s: %s", pol.Name, reasonOf(err)))
				break
			}
			recorded = true
		}
		res, err := b.obtainSKU(ctx, "policy:"+pol.Name, j.Tenant, groups[0], dev)
		if err != nil {
			notes = append(notes, fmt.Sprintf("policy %s: %s", pol.Name, reasonOf(err)))
			continue
		}
		lic := &res.License
		o.res.License = strings.TrimSpace(o.res.License + " " + lic.ID)
		if pol.StoreOnly {
			notes = append(notes, fmt.Sprintf("policy %s: stored %s %s license %s", pol.Name, lic.Feature, lic.Type, lic.ID))
			continue
		}
		po := b.push(ctx, s, dev, []*License{lic}, JobResult{}, "installed on "+dev.UDI+" by policy "+pol.Name)
		if !po.res.OK {
			notes = append(notes, fmt.Sprintf("policy %s: obtained %s but could not install it: %s", pol.Name, lic.ID, po.res.Reason))
			continue
		}
		notes = append(notes, fmt.Sprintf("policy %s: installed %s %s license %s", pol.Name, lic.Feature, lic.Type, lic.ID))
		o.installed = append(o.installed, po.installed...)
		if po.dev != nil {
			*dev = *po.dev
		}
	}
	if len(notes) > 0 {
		o.res.Detail = strings.TrimPrefix(o.res.Detail+"; "+strings.Join(notes, "; "), "; ")
	}
	if len(o.installed) > 0 && o.res.Status == StatusUnchanged {
		o.res.Status = StatusChanged
	}
}

// holdsLive reports whether the broker's records give the device a live
// license for feature: any permanent one, or for an extension policy also
// a live extension.
func (b *Broker) holdsLive(udi, feature, typ string) bool {
	now := b.now()
	found := false
	b.state.read(func(d *stateData) {
		for _, id := range d.byUDI[udi] {
			l := d.Licenses[id]
			if l.Feature == feature && l.live(now) && (l.Type == "permanent" || l.Type == typ) {
				found = true
				return
			}
		}
	})
	return found
}

// policyPAKs returns the PAKs a policy draws from: its own, or all of the
// tenant's, by id.
func (b *Broker) policyPAKs(tenant string, pol *Policy) []*PAK {
	var out []*PAK
	if len(pol.PAKs) == 0 {
		for _, p := range b.PAKs(tenant) {
			out = append(out, &p)
		}
		return out
	}
	for _, id := range pol.PAKs {
		if p, err := b.PAK(tenant, id); err == nil {
			out = append(out, p)
		}
	}
	return out
}
