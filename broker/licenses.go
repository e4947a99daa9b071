package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

// clockSkew is how far before its issue time a license becomes valid, so
// that a device whose clock is somewhat behind accepts it.
const clockSkew = time.Hour

// LicenseFilter selects license records. Zero fields match everything.
type LicenseFilter struct {
	UDI   string
	PAK   string
	State string
}

// Licenses lists a tenant's license records ("" lists all, including depot
// spares' preloaded licenses), without files or history.
func (b *Broker) Licenses(tenant string) []License { return b.LicensesWhere(tenant, LicenseFilter{}) }

// LicensesWhere lists a tenant's license records that match f, by id.
func (b *Broker) LicensesWhere(tenant string, f LicenseFilter) []License {
	var out []License
	b.state.read(func(d *stateData) {
		ids := d.byUDI[f.UDI]
		if f.UDI == "" {
			ids = sortedKeys(d.Licenses)
		}
		for _, k := range ids {
			l := d.Licenses[k]
			if (tenant == "" || l.Tenant == tenant) && (f.PAK == "" || l.PAK == f.PAK) && (f.State == "" || l.State == f.State) {
				cp := *l
				cp.File = nil
				cp.History = nil
				out = append(out, cp)
			}
		}
	})
	sortBy(out, func(l License) string { return l.ID })
	return out
}

// License returns one license record with its file and history. A license
// of another tenant is not found.
func (b *Broker) License(tenant, id string) (*License, error) {
	if err := validLicenseID(id); err != nil {
		return nil, err
	}
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

// validLicenseID checks the form of a license id (keyengine.NewLicenseID:
// "L" and 24 base32 characters).
func validLicenseID(id string) error {
	if len(id) != 25 || id[0] != 'L' {
		return apiErr("bad_request", "invalid license id %q: want L followed by 24 characters", id)
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return apiErr("bad_request", "invalid license id %q: character %q at position %d", id, c, i+1)
		}
	}
	return nil
}

// RevokeLicense marks a license revoked: the broker no longer counts it as
// granting its feature. The device is not contacted; the PAK unit is not
// returned.
func (b *Broker) RevokeLicense(ctx context.Context, actor, tenant, id, reason string) (*License, error) {
	if err := validLicenseID(id); err != nil {
		return nil, err
	}
	what := "revoked"
	if reason != "" {
		if len(reason) > 200 {
			return nil, apiErr("bad_request", "reason is longer than 200 characters")
		}
		what += ": " + reason
	}
	var out License
	if err := b.propose(ctx, actor, CmdLicenseState, licenseState{Tenant: tenant, ID: id, State: LicenseRevoked, What: what}, &out); err != nil {
		return nil, err
	}
	out.File = nil
	return &out, nil
}

// obtain signs a license for the device and redeems it from the PAK line.
// If the device already holds a live license for the feature, that license
// is returned and nothing is spent.
func (b *Broker) obtain(ctx context.Context, actor, tenant string, pak *PAK, li int, dev *Device) (*License, error) {
	line := pak.Lines[li]
	rec, err := b.sign(dev.UDI, line.Feature, line.Type, line.Days, pak.ID, tenant)
	if err != nil {
		return nil, err
	}
	rec.Line = li
	var out redeemResult
	if err := b.propose(ctx, actor, CmdRedeem, redeem{Tenant: tenant, PAK: pak.ID, Line: li, License: rec}, &out); err != nil {
		return nil, err
	}
	return &out.License, nil
}

// sign makes a license record with a freshly signed license file bound to
// the device. days is the term of an extension license.
func (b *Broker) sign(udiText, feature, typ string, days int, pakID, tenant string) (License, error) {
	now := b.now().Truncate(time.Second)
	var expires *time.Time
	if typ == "extension" {
		t := now.Add(time.Duration(days) * 24 * time.Hour)
		expires = &t
	}
	return b.signUntil(udiText, feature, typ, now, expires, pakID, tenant, "")
}

// signUntil makes a license record with a signed license file bound to the
// device, issued at now and ending at expires (nil: never).
func (b *Broker) signUntil(udiText, feature, typ string, now time.Time, expires *time.Time, pakID, tenant, comment string) (License, error) {
	udi, err := keyengine.ParseUDI(udiText)
	if err != nil {
		return License{}, err
	}
	id, err := keyengine.NewLicenseID(now, nil)
	if err != nil {
		return License{}, err
	}
	g := keyengine.Grant{Version: keyengine.FormatVersion, ID: id, UDI: udi, Feature: feature,
		Type: keyengine.LicenseType(typ), IssuedAt: now, NotBefore: now.Add(-clockSkew), PAK: pakID, Tenant: tenant,
		Comment: comment}
	if expires != nil {
		g.NotAfter = *expires
	}
	signed, err := b.cfg.Signer.Sign(g)
	if err != nil {
		return License{}, err
	}
	return License{ID: id, Tenant: tenant, UDI: udiText, PAK: pakID, Feature: feature, Type: typ,
		IssuedAt: now, Expires: expires, File: keyengine.EncodeFile([]keyengine.License{signed})}, nil
}

// deploy installs a license record's file on its device and records the
// outcome.
func (b *Broker) deploy(ctx context.Context, actor string, dev *Device, lic *License, r JobResult) JobResult {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := b.session(ctx, dev)
	if err != nil {
		r.Status, r.Reason = classifyDial(err), oneLine(err)
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
