package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/licbroker/licbroker/keyengine"
)

// SpareRequest stocks a spare device in the depot with preloaded permanent
// licenses for the given features.
type SpareRequest struct {
	UDI      string   `json:"udi"`
	Features []string `json:"features"`
}

// AddSpare stocks a spare (admin only): it signs a permanent license for
// each feature, bound to the spare's UDI, and keeps them with the spare.
func (b *Broker) AddSpare(ctx context.Context, actor string, req SpareRequest) (*Spare, error) {
	if err := validUDI(req.UDI); err != nil {
		return nil, err
	}
	u, _ := keyengine.ParseUDI(req.UDI)
	fam := FamilyOf(u.PID)
	if fam == "" {
		return nil, apiErr("bad_request", "product %s is not a licensable product (want a 3750-E, 3560-E, 880 or 860)", u.PID)
	}
	if len(req.Features) == 0 {
		return nil, apiErr("bad_request", "give at least one feature to preload (levels of %s: %s)", fam, strings.Join(familyLevels[fam][1:], ", "))
	}
	sp := Spare{UDI: req.UDI, PID: u.PID, Serial: u.SN, Family: fam}
	var lics []License
	seen := map[string]bool{}
	for _, f := range req.Features {
		if !licensable(fam, f) {
			return nil, apiErr("bad_request", "feature %q is not a licensable level of family %s (levels: %s)", f, fam, strings.Join(familyLevels[fam], ", "))
		}
		if seen[f] {
			continue
		}
		seen[f] = true
		l, err := b.sign(req.UDI, f, "permanent", 0, "", "")
		if err != nil {
			return nil, err
		}
		lics = append(lics, l)
	}
	var out Spare
	if err := b.propose(ctx, actor, CmdSpareAdd, spareAdd{Spare: sp, Licenses: lics}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AssignRequest gives a spare to a customer, usually as the replacement of
// a failed device.
type AssignRequest struct {
	Tenant   string `json:"tenant"`
	Replaces string `json:"replaces,omitempty"`
	RMA      string `json:"rma,omitempty"`
}

// AssignSpare assigns a depot spare and its preloaded licenses to a tenant.
// Assigning again with the same tenant and device changes nothing.
func (b *Broker) AssignSpare(ctx context.Context, actor, udi string, req AssignRequest) (*Spare, error) {
	if err := validUDI(udi); err != nil {
		return nil, err
	}
	if req.Replaces != "" {
		if err := validUDI(req.Replaces); err != nil {
			return nil, err
		}
	}
	if req.RMA != "" {
		if err := checkName("RMA number", req.RMA); err != nil {
			return nil, err
		}
	}
	if req.Tenant == "" {
		return nil, apiErr("bad_request", "give the tenant the spare goes to")
	}
	var out Spare
	if err := b.propose(ctx, actor, CmdSpareAssign, spareAssign{UDI: udi, Tenant: req.Tenant, Replaces: req.Replaces, RMA: req.RMA}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Spares lists the depot's spares, by UDI.
func (b *Broker) Spares() []Spare {
	var out []Spare
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Spares) {
			sp := *d.Spares[k]
			sp.Licenses = slices.Clone(sp.Licenses)
			out = append(out, sp)
		}
	})
	return out
}

// Spare returns one spare.
func (b *Broker) Spare(udi string) (*Spare, error) {
	if err := validUDI(udi); err != nil {
		return nil, err
	}
	var out *Spare
	b.state.read(func(d *stateData) {
		if v, ok := d.Spares[udi]; ok {
			cp := *v
			cp.Licenses = slices.Clone(v.Licenses)
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "spare %s not found", udi)
	}
	return out, nil
}
