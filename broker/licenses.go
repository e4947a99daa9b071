package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

// clockSkew is how far before its issue time a license becomes valid, so
// that a device whose clock is somewhat behind accepts it.
const clockSkew = time.Hour

// PAKRequest registers a purchase: one line.
type PAKRequest struct {
	ID       string   `json:"id"`
	Feature  string   `json:"feature"`
	Type     string   `json:"type"`
	Days     int      `json:"days,omitempty"`
	Quantity int      `json:"quantity"`
	Families []string `json:"families,omitempty"`
}

// ValidPAKID checks the PAK id format: 11 letters or digits.
func ValidPAKID(id string) error {
	if len(id) != 11 {
		return apiErr("bad_request", "PAK id %q must be 11 letters or digits, not %d characters", id, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return apiErr("bad_request", "PAK id %q has invalid character %q at position %d", id, c, i+1)
		}
	}
	return nil
}

// AddPAK registers a PAK for a tenant.
func (b *Broker) AddPAK(ctx context.Context, actor, tenant string, req PAKRequest) (*PAK, error) {
	if err := ValidPAKID(req.ID); err != nil {
		return nil, err
	}
	switch req.Type {
	case "permanent":
		if req.Days != 0 {
			return nil, apiErr("bad_request", "a permanent license has no --days")
		}
	case "extension":
		if req.Days <= 0 || req.Days > 3650 {
			return nil, apiErr("bad_request", "an extension license needs --days between 1 and 3650")
		}
	default:
		return nil, apiErr("bad_request", "license type %q cannot be sold (want permanent or extension)", req.Type)
	}
	if req.Quantity <= 0 || req.Quantity > 1_000_000 {
		return nil, apiErr("bad_request", "quantity %d must be between 1 and 1000000", req.Quantity)
	}
	fams := req.Families
	if len(fams) == 0 {
		fams = familiesFor(req.Feature)
		if len(fams) == 0 {
			return nil, apiErr("bad_request", "feature %q is not a licensable level of any family", req.Feature)
		}
	}
	for _, f := range fams {
		if _, ok := familyLevels[f]; !ok {
			return nil, apiErr("bad_request", "unknown family %q (want 3750e, 3560e, 880 or 860)", f)
		}
		if !licensable(f, req.Feature) {
			return nil, apiErr("bad_request", "feature %q is not a licensable level of family %s (levels: %s)",
				req.Feature, f, strings.Join(familyLevels[f], ", "))
		}
	}
	p := PAK{ID: req.ID, Tenant: tenant, Lines: []PAKLine{{Feature: req.Feature, Type: req.Type, Days: req.Days,
		Quantity: req.Quantity, Families: fams}}}
	var out PAK
	if err := b.propose(ctx, actor, CmdPAKAdd, pakAdd{PAK: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PAKs lists a tenant's PAKs ("" lists all).
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

// PAK returns one PAK.
func (b *Broker) PAK(tenant, id string) (*PAK, error) {
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

// Licenses lists a tenant's license records ("" lists all), without files.
func (b *Broker) Licenses(tenant string) []License {
	var out []License
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Licenses) {
			l := d.Licenses[k]
			if tenant == "" || l.Tenant == tenant {
				cp := *l
				cp.File = nil
				cp.History = nil
				out = append(out, cp)
			}
		}
	})
	return out
}

// License returns one license record.
func (b *Broker) License(tenant, id string) (*License, error) {
	var out *License
	b.state.read(func(d *stateData) {
		if l, ok := d.Licenses[id]; ok && (tenant == "" || l.Tenant == tenant) {
			cp := *l
			cp.History = slices.Clone(l.History)
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "license %s not found", id)
	}
	return out, nil
}

// InstallRequest asks to license devices from a PAK.
type InstallRequest struct {
	PAK       string   `json:"pak"`
	Devices   []string `json:"devices,omitempty"`
	All       bool     `json:"all,omitempty"`
	StoreOnly bool     `json:"store_only,omitempty"`
}

// StartInstall starts a job that licenses each device from the PAK: sign a
// key bound to the device, redeem it (quantity checked in the state
// machine), and install it over NETCONF unless StoreOnly.
func (b *Broker) StartInstall(ctx context.Context, actor, tenant string, req InstallRequest) (*Job, error) {
	pak, err := b.PAK(tenant, req.PAK)
	if err != nil {
		return nil, err
	}
	var targets []string
	switch {
	case req.All && len(req.Devices) > 0:
		return nil, apiErr("bad_request", "give either devices or all, not both")
	case req.All:
		for _, d := range b.Devices(tenant) {
			if _, ok := pickLine(pak, &d); ok {
				targets = append(targets, d.UDI)
			}
		}
		if len(targets) == 0 {
			return nil, apiErr("not_eligible", "no device of tenant %s is eligible for PAK %s", tenant, pak.ID)
		}
	case len(req.Devices) == 0:
		return nil, apiErr("bad_request", "no device given (use --device UDI or --all)")
	default:
		seen := map[string]bool{}
		for _, u := range req.Devices {
			if _, err := b.Device(tenant, u); err != nil {
				return nil, err
			}
			if !seen[u] {
				seen[u] = true
				targets = append(targets, u)
			}
		}
	}
	j := Job{ID: newID("job-"), Tenant: tenant, Kind: JobInstall, Actor: actor,
		Params: JobParams{Targets: targets, PAK: pak.ID, StoreOnly: req.StoreOnly}}
	return b.runJob(ctx, j, func(ctx context.Context, udi string) JobResult {
		return b.installOne(ctx, actor, tenant, pak.ID, udi, req.StoreOnly)
	})
}

// pickLine returns the index of the first PAK line the device is eligible
// for.
func pickLine(p *PAK, d *Device) (int, bool) {
	for i, l := range p.Lines {
		if slices.Contains(l.Families, d.Family) && licensable(d.Family, l.Feature) {
			return i, true
		}
	}
	return 0, false
}

func (b *Broker) installOne(ctx context.Context, actor, tenant, pakID, udi string, storeOnly bool) JobResult {
	r := JobResult{Target: udi, UDI: udi}
	fail := func(status string, err error) JobResult {
		r.Status, r.Reason = status, oneLine(err)
		if ae, ok := err.(*APIError); ok {
			r.Reason = ae.Message
		}
		return r
	}
	dev, err := b.Device(tenant, udi)
	if err != nil {
		return fail("failed", err)
	}
	pak, err := b.PAK(tenant, pakID)
	if err != nil {
		return fail("failed", err)
	}
	li, ok := pickLine(pak, dev)
	if !ok {
		return fail("not-eligible", apiErr("not_eligible", "device %s (family %s) is not eligible for PAK %s", udi, dev.Family, pakID))
	}
	lic, err := b.obtain(ctx, actor, tenant, pak, li, dev)
	if err != nil {
		return fail("failed", err)
	}
	r.License = lic.ID
	if storeOnly {
		r.OK, r.Status = true, "stored"
		return r
	}
	return b.deploy(ctx, actor, dev, lic, r)
}

// obtain signs a license for the device and redeems it from the PAK line.
// If the device already holds a live license for that PAK and feature, that
// license is returned and nothing is spent.
func (b *Broker) obtain(ctx context.Context, actor, tenant string, pak *PAK, li int, dev *Device) (*License, error) {
	line := pak.Lines[li]
	udi, err := keyengine.ParseUDI(dev.UDI)
	if err != nil {
		return nil, err
	}
	now := b.now().Truncate(time.Second)
	id, err := keyengine.NewLicenseID(now, nil)
	if err != nil {
		return nil, err
	}
	g := keyengine.Grant{Version: keyengine.FormatVersion, ID: id, UDI: udi, Feature: line.Feature,
		Type: keyengine.LicenseType(line.Type), IssuedAt: now, NotBefore: now.Add(-clockSkew), PAK: pak.ID, Tenant: tenant}
	var expires *time.Time
	if line.Type == "extension" {
		t := now.Add(time.Duration(line.Days) * 24 * time.Hour)
		g.NotAfter = t
		expires = &t
	}
	signed, err := b.cfg.Signer.Sign(g)
	if err != nil {
		return nil, err
	}
	rec := License{ID: id, Tenant: tenant, UDI: dev.UDI, PAK: pak.ID, Line: li, Feature: line.Feature, Type: line.Type,
		IssuedAt: now, Expires: expires, File: keyengine.EncodeFile([]keyengine.License{signed})}
	var out License
	if err := b.propose(ctx, actor, CmdRedeem, redeem{Tenant: tenant, PAK: pak.ID, Line: li, License: rec}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// deploy installs a license record's file on its device and records the
// outcome.
func (b *Broker) deploy(ctx context.Context, actor string, dev *Device, lic *License, r JobResult) JobResult {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := b.session(ctx, dev)
	if err != nil {
		r.Status, r.Reason = classifyDialErr(err), oneLine(err)
		return r
	}
	defer s.Close()
	res, err := s.InstallLicense(ctx, lic.File)
	if err != nil {
		r.Status, r.Reason = "failed", oneLine(err)
		return r
	}
	if len(res) == 0 {
		r.Status, r.Reason = "failed", "device returned no install result"
		return r
	}
	if res[0].Status == netconf.StatusFailed {
		r.Status, r.Reason = "failed", "device refused the license: "+oneLine(fmt.Errorf("%s", res[0].Reason))
		return r
	}
	if lic.State != LicenseInstalled {
		if err := b.propose(ctx, actor, CmdLicenseState, licenseState{ID: lic.ID, State: LicenseInstalled,
			What: "installed on " + dev.UDI}, nil); err != nil {
			r.Status, r.Reason = "failed", oneLine(err)
			return r
		}
	}
	if _, err := b.refresh(ctx, actor, dev, s); err != nil {
		b.cfg.Logger.Warn("refresh after install", "udi", dev.UDI, "err", err)
	}
	r.OK, r.Status = true, res[0].Status
	return r
}

// DeployFile pushes a license file to a device as it is and returns the
// device's per-line results.
func (b *Broker) DeployFile(ctx context.Context, actor, tenant, udi string, file []byte) ([]netconf.InstallResult, error) {
	dev, err := b.Device(tenant, udi)
	if err != nil {
		return nil, err
	}
	if len(file) == 0 {
		return nil, apiErr("bad_request", "license file is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := b.session(ctx, dev)
	if err != nil {
		return nil, deviceErr(udi, err)
	}
	defer s.Close()
	res, err := s.InstallLicense(ctx, file)
	if err != nil {
		return nil, deviceErr(udi, err)
	}
	if _, err := b.refresh(ctx, actor, dev, s); err != nil {
		b.cfg.Logger.Warn("refresh after deploy", "udi", udi, "err", err)
	}
	return res, nil
}
