package broker

import (
	"context"
	"slices"
	"strings"
)

// PAKLineRequest is one line (SKU) of a PAK to register.
type PAKLineRequest struct {
	Feature  string   `json:"feature"`
	Type     string   `json:"type"`
	Days     int      `json:"days,omitempty"`
	Quantity int      `json:"quantity"`
	Families []string `json:"families,omitempty"`
}

// PAKRequest registers a purchase: an 11-character id and its lines. A
// one-line PAK may instead give the line's fields at the top level.
type PAKRequest struct {
	ID    string           `json:"id"`
	Lines []PAKLineRequest `json:"lines,omitempty"`

	Feature  string   `json:"feature,omitempty"`
	Type     string   `json:"type,omitempty"`
	Days     int      `json:"days,omitempty"`
	Quantity int      `json:"quantity,omitempty"`
	Families []string `json:"families,omitempty"`
}

// maxPAKLines bounds the lines of one PAK.
const maxPAKLines = 100

// ValidPAKID checks the PAK id format: 11 letters or digits.
func ValidPAKID(id string) error {
	if len(id) != 11 {
		return apiErr("bad_request", "invalid PAK id %q: want 11 letters or digits, not %d characters", id, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return apiErr("bad_request", "invalid PAK id %q: character %q at position %d is not a letter or digit", id, c, i+1)
		}
	}
	return nil
}

// checkLine validates one PAK line and fills its default families.
func checkLine(n int, req PAKLineRequest) (PAKLine, error) {
	where := ""
	if n > 0 {
		where = "line " + itoa(n) + ": "
	}
	if req.Type == "" {
		req.Type = "permanent"
	}
	switch req.Type {
	case "permanent":
		if req.Days != 0 {
			return PAKLine{}, apiErr("bad_request", "%sa permanent license has no --days", where)
		}
	case "extension":
		if req.Days <= 0 || req.Days > 3650 {
			return PAKLine{}, apiErr("bad_request", "%san extension license needs --days between 1 and 3650", where)
		}
	default:
		return PAKLine{}, apiErr("bad_request", "%slicense type %q cannot be sold (want permanent or extension)", where, req.Type)
	}
	if req.Quantity <= 0 || req.Quantity > 1_000_000 {
		return PAKLine{}, apiErr("bad_request", "%squantity %d must be between 1 and 1000000", where, req.Quantity)
	}
	fams := slices.Clone(req.Families)
	if len(fams) == 0 {
		fams = familiesFor(req.Feature)
		if len(fams) == 0 {
			return PAKLine{}, apiErr("bad_request", "%sfeature %q is not a licensable level of any family", where, req.Feature)
		}
	}
	for _, f := range fams {
		if _, ok := familyLevels[f]; !ok {
			return PAKLine{}, apiErr("bad_request", "%sunknown family %q (want 3750e, 3560e, 880 or 860)", where, f)
		}
		if !licensable(f, req.Feature) {
			return PAKLine{}, apiErr("bad_request", "%sfeature %q is not a licensable level of family %s (levels: %s)",
				where, req.Feature, f, strings.Join(familyLevels[f], ", "))
		}
	}
	slices.Sort(fams)
	fams = slices.Compact(fams)
	return PAKLine{Feature: req.Feature, Type: req.Type, Days: req.Days, Quantity: req.Quantity, Families: fams}, nil
}

// AddPAK registers a PAK for a tenant.
func (b *Broker) AddPAK(ctx context.Context, actor, tenant string, req PAKRequest) (*PAK, error) {
	if err := ValidPAKID(req.ID); err != nil {
		return nil, err
	}
	single := req.Feature != "" || req.Type != "" || req.Days != 0 || req.Quantity != 0 || len(req.Families) > 0
	reqs := req.Lines
	switch {
	case single && len(reqs) > 0:
		return nil, apiErr("bad_request", "give either lines or the single-line fields (feature, type, days, quantity, families), not both")
	case single:
		reqs = []PAKLineRequest{{Feature: req.Feature, Type: req.Type, Days: req.Days, Quantity: req.Quantity, Families: req.Families}}
	case len(reqs) == 0:
		return nil, apiErr("bad_request", "PAK %s has no lines", req.ID)
	case len(reqs) > maxPAKLines:
		return nil, apiErr("bad_request", "PAK %s has %d lines, more than %d", req.ID, len(reqs), maxPAKLines)
	}
	p := PAK{ID: req.ID, Tenant: tenant}
	for i, lr := range reqs {
		n := 0
		if len(reqs) > 1 {
			n = i + 1
		}
		line, err := checkLine(n, lr)
		if err != nil {
			return nil, err
		}
		for k, prev := range p.Lines {
			if prev.Feature == line.Feature && prev.Type == line.Type && prev.Days == line.Days {
				return nil, apiErr("bad_request", "lines %d and %d both sell %s %s; merge them", k+1, i+1, line.Feature, line.Type)
			}
		}
		p.Lines = append(p.Lines, line)
	}
	var out PAK
	if err := b.propose(ctx, actor, CmdPAKAdd, pakAdd{PAK: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PAKs lists a tenant's PAKs ("" lists all), by id.
func (b *Broker) PAKs(tenant string) []PAK {
	var out []PAK
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.PAKs) {
			p := d.PAKs[k]
			if tenant == "" || p.Tenant == tenant {
				cp := *p
				cp.Lines = slices.Clone(p.Lines)
				out = append(out, cp)
			}
		}
	})
	return out
}

// PAK returns one PAK. A PAK of another tenant is not found.
func (b *Broker) PAK(tenant, id string) (*PAK, error) {
	if err := ValidPAKID(id); err != nil {
		return nil, err
	}
	var out *PAK
	b.state.read(func(d *stateData) {
		if p, ok := d.PAKs[id]; ok && (tenant == "" || p.Tenant == tenant) {
			cp := *p
			cp.Lines = slices.Clone(p.Lines)
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "PAK %s not found", id)
	}
	return out, nil
}
