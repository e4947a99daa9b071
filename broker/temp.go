package broker

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Temporary licenses: the evaluation license built into every device (60
// days of usage time, activated over NETCONF with its EULA accepted, or at
// the console) and extension licenses the broker issues from an extension
// PAK line. The broker tracks every evaluation it sees (Evaluation, kept
// current whenever the device is read) and every extension it issued
// (License records with an end date from the grant); report expiring and
// the licbroker_licenses_expiring metric show what ends soon.

// Evaluation origins.
const (
	// EvaluationActivated: activated by the broker (license temp).
	EvaluationActivated = "broker"
	// EvaluationFound: found activated when the device was read.
	EvaluationFound = "device"
)

// EvaluationReplaced is the state of an evaluation of a device that was
// rehosted away; the other states are the device's own (notInUse, inUse,
// expiredInUse, expiredNotInUse).
const EvaluationReplaced = "replaced"

// Evaluation is an activated evaluation license of one feature on one
// device, as the broker tracks it.
type Evaluation struct {
	Tenant  string `json:"tenant"`
	UDI     string `json:"udi"`
	Feature string `json:"feature"`
	State   string `json:"state"`
	Origin  string `json:"origin"`
	// ActivatedBy and Activated are set when the broker activated it.
	ActivatedBy string     `json:"activated_by,omitempty"`
	Activated   *time.Time `json:"activated,omitempty"`
	FirstSeen   time.Time  `json:"first_seen"`
	// EndsAt is when its usage time runs out if the device keeps using it:
	// the time of the last read plus the period left then. Null when no
	// read told it.
	EndsAt   *time.Time `json:"ends_at"`
	LastSeen time.Time  `json:"last_seen"`
	History  []Event    `json:"history,omitempty"`
}

func (ev *Evaluation) clone() Evaluation {
	cp := *ev
	cp.History = slices.Clone(ev.History)
	return cp
}

// TempRequest asks for a temporary license on a device: its built-in
// evaluation license of Feature, or, with PAK, an extension license issued
// from that PAK's extension line for Feature and installed.
type TempRequest struct {
	Device  string `json:"device"`
	Feature string `json:"feature"`
	PAK     string `json:"pak,omitempty"`
	// Reload reloads the device afterwards, so that the level runs now.
	Reload bool `json:"reload,omitempty"`
}

// TempResult is the temporary license a device got.
type TempResult struct {
	Device string `json:"device"`
	// Kind is "evaluation" or "extension".
	Kind       string      `json:"kind"`
	Evaluation *Evaluation `json:"evaluation,omitempty"`
	License    *License    `json:"license,omitempty"`
	// Status is activated (evaluation), or the device's install answer
	// for an extension (installed, already-present).
	Status        string `json:"status"`
	ActiveLevel   string `json:"active_level"`
	NextBootLevel string `json:"next_boot_level"`
}

// TempLicense activates a device's evaluation license of a feature over
// NETCONF (accepting its EULA) and records it; or with req.PAK issues an
// extension license and installs it. scope is the caller's tenant ("" for
// an admin).
func (b *Broker) TempLicense(ctx context.Context, actor, scope string, req TempRequest) (*TempResult, error) {
	dev, err := b.Device(scope, req.Device)
	if err != nil {
		return nil, err
	}
	if !licensable(dev.Family, req.Feature) {
		return nil, apiErr("bad_request", "feature %q is not a licensable level of %s (family %s, levels: %s)",
			req.Feature, dev.UDI, orNone(dev.Family), strings.Join(familyLevels[dev.Family], ", "))
	}
	if dev.ReplacedBy != "" {
		return nil, apiErr("conflict", "device %s was replaced by %s (rehost); license the replacement", dev.UDI, dev.ReplacedBy)
	}
	var res *TempResult
	if req.PAK != "" {
		res, err = b.tempExtension(ctx, actor, dev, req)
	} else {
		res, err = b.tempEvaluation(ctx, actor, dev, req)
	}
	if err != nil {
		return nil, err
	}
	if req.Reload {
		nd, err := b.ReloadDevice(ctx, actor, dev.Tenant, dev.UDI)
		if err != nil {
			return nil, err
		}
		res.ActiveLevel, res.NextBootLevel = nd.ActiveLevel, nd.NextBootLevel
		if res.Evaluation != nil {
			if ev, err := b.Evaluation(dev.Tenant, dev.UDI, req.Feature); err == nil {
				res.Evaluation = ev
			}
		}
	}
	return res, nil
}

func (b *Broker) tempEvaluation(ctx context.Context, actor string, dev *Device, req TempRequest) (*TempResult, error) {
	dctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := b.session(dctx, dev)
	if err != nil {
		return nil, deviceErr(dev.UDI, err)
	}
	defer s.Close()
	if err := s.AcceptEULA(dctx, req.Feature); err != nil {
		return nil, deviceErr(dev.UDI, err)
	}
	if err := s.ActivateEvaluation(dctx, req.Feature); err != nil {
		return nil, deviceErr(dev.UDI, err)
	}
	nd, err := readDevice(dctx, s, b.now())
	if err != nil {
		return nil, deviceErr(dev.UDI, err)
	}
	if nd.UDI != dev.UDI {
		return nil, apiErr("conflict", "device at %s is now %s, not %s (replaced? run discovery or rehost)", dev.Address, nd.UDI, dev.UDI)
	}
	nd.Tenant, nd.Address, nd.Credentials = dev.Tenant, dev.Address, dev.Credentials
	var ev Evaluation
	if err := b.propose(ctx, actor, CmdEvaluationActivate, evaluationActivate{Tenant: dev.Tenant, Feature: req.Feature, Device: nd}, &ev); err != nil {
		return nil, err
	}
	return &TempResult{Device: dev.UDI, Kind: "evaluation", Evaluation: &ev, Status: "activated",
		ActiveLevel: nd.ActiveLevel, NextBootLevel: nd.NextBootLevel}, nil
}

// tempExtension issues an extension license from the PAK's extension line
// for the feature (nothing is spent when the device holds a live one) and
// installs it.
func (b *Broker) tempExtension(ctx context.Context, actor string, dev *Device, req TempRequest) (*TempResult, error) {
	pak, err := b.PAK(dev.Tenant, req.PAK)
	if err != nil {
		return nil, err
	}
	li := slices.IndexFunc(pak.Lines, func(l PAKLine) bool {
		return l.Type == "extension" && l.Feature == req.Feature && slices.Contains(l.Families, dev.Family)
	})
	if li < 0 {
		return nil, apiErr("not_eligible", "PAK %s has no extension line for %s on family %s", pak.ID, req.Feature, dev.Family)
	}
	lic, err := b.obtain(ctx, actor, dev.Tenant, pak, li, dev)
	if err != nil {
		return nil, err
	}
	if lic.Type != "extension" {
		// A live permanent license covers the feature: nothing was spent.
		return nil, apiErr("conflict", "device %s already holds %s license %s for %s; it needs no extension", dev.UDI, lic.Type, lic.ID, req.Feature)
	}
	r := b.deploy(ctx, actor, dev, lic, JobResult{Target: dev.UDI, UDI: dev.UDI, License: lic.ID})
	if !r.OK {
		return nil, apiErr("device_error", "extension license %s was issued but not installed on %s: %s (retry with license temp or license deploy)",
			lic.ID, dev.UDI, r.Reason)
	}
	out, err := b.License(dev.Tenant, lic.ID)
	if err != nil {
		return nil, err
	}
	out.File, out.History = nil, nil
	res := &TempResult{Device: dev.UDI, Kind: "extension", License: out, Status: r.Status}
	if nd, err := b.Device(dev.Tenant, dev.UDI); err == nil {
		res.ActiveLevel, res.NextBootLevel = nd.ActiveLevel, nd.NextBootLevel
	}
	return res, nil
}

// EvaluationFilter selects evaluations. Zero fields match everything.
type EvaluationFilter struct {
	UDI   string
	State string
}

// Evaluations lists a tenant's tracked evaluations ("" lists all), by
// device and feature.
func (b *Broker) Evaluations(scope string, f EvaluationFilter) []Evaluation {
	out := []Evaluation{}
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Evaluations) {
			ev := d.Evaluations[k]
			if (scope == "" || ev.Tenant == scope) && (f.UDI == "" || ev.UDI == f.UDI) && (f.State == "" || ev.State == f.State) {
				cp := ev.clone()
				cp.History = nil
				out = append(out, cp)
			}
		}
	})
	return out
}

// Evaluation returns one tracked evaluation with its history.
func (b *Broker) Evaluation(scope, udi, feature string) (*Evaluation, error) {
	var out *Evaluation
	b.state.read(func(d *stateData) {
		if ev, ok := d.Evaluations[evalKey(udi, feature)]; ok && (scope == "" || ev.Tenant == scope) {
			cp := ev.clone()
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "no evaluation license of %s tracked on %s", feature, udi)
	}
	return out, nil
}

// DeviceLicenseFile returns one license file with every live license of a
// device (the seed's electronic delivery) and the licenses in it. A device
// of another tenant is not found.
func (b *Broker) DeviceLicenseFile(scope, udi string) ([]byte, []License, error) {
	if err := validUDI(udi); err != nil {
		return nil, nil, err
	}
	known := false
	b.state.read(func(d *stateData) {
		if dev, ok := d.Devices[udi]; ok && (scope == "" || dev.Tenant == scope) {
			known = true
		}
		for _, id := range d.byUDI[udi] {
			if scope == "" || d.Licenses[id].Tenant == scope {
				known = true
			}
		}
	})
	if !known {
		return nil, nil, apiErr("not_found", "device %s not found", udi)
	}
	return b.combinedFile(scope, udi, nil)
}
