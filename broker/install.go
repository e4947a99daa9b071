package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/licbroker/licbroker/netconf"
)

// InstallRequest asks to license devices from one or more PAKs. The devices
// are the listed UDIs, or every device of the tenant that matches the
// filter (All with no filter: every device) and is eligible for one of the
// PAKs.
type InstallRequest struct {
	PAK  string   `json:"pak,omitempty"`
	PAKs []string `json:"paks,omitempty"`

	Devices []string `json:"devices,omitempty"`
	All     bool     `json:"all,omitempty"`
	Group   string   `json:"group,omitempty"`
	Family  string   `json:"family,omitempty"`
	// PID selects product IDs that start with it.
	PID string `json:"pid,omitempty"`

	// StoreOnly keeps the licenses in inventory (state issued) for a
	// later deploy instead of installing them.
	StoreOnly   bool `json:"store_only,omitempty"`
	Concurrency int  `json:"concurrency,omitempty"`
}

// DeployRequest asks to install the licenses kept in inventory (issued
// with StoreOnly) on their devices: the listed ones, or every device of
// the tenant that matches the filter and has such licenses. PAKs limits
// the licenses to those of these PAKs.
type DeployRequest struct {
	Devices []string `json:"devices,omitempty"`
	All     bool     `json:"all,omitempty"`
	Group   string   `json:"group,omitempty"`
	Family  string   `json:"family,omitempty"`
	PID     string   `json:"pid,omitempty"`

	PAKs        []string `json:"paks,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
}

// selection checks how a request names its devices and returns the job
// parameters for it.
func (b *Broker) selection(tenant string, devices []string, all bool, group, family, pid string) (JobParams, error) {
	f := DeviceFilter{Group: group, Family: family, PID: pid}
	if f.Group != "" {
		if err := checkName("group name", f.Group); err != nil {
			return JobParams{}, err
		}
	}
	if f.Family != "" && !slices.Contains(Families, f.Family) {
		return JobParams{}, apiErr("bad_request", "unknown family %q (want 3750e, 3560e, 880 or 860)", f.Family)
	}
	if len(f.PID) > 64 {
		return JobParams{}, apiErr("bad_request", "pid filter is longer than 64 characters")
	}
	switch {
	case len(devices) > 0 && (all || !f.IsZero()):
		return JobParams{}, apiErr("bad_request", "give either devices or a selection (all, group, family, pid), not both")
	case len(devices) > 0:
		if len(devices) > maxJobTargets {
			return JobParams{}, apiErr("bad_request", "at most %d devices per job", maxJobTargets)
		}
		for _, u := range devices {
			if _, err := b.Device(tenant, u); err != nil {
				return JobParams{}, err
			}
		}
		return JobParams{Targets: devices}, nil
	case all || !f.IsZero():
		p := JobParams{All: true}
		if !f.IsZero() {
			p.Filter = &f
		}
		return p, nil
	}
	return JobParams{}, apiErr("bad_request", "no device given (name devices, or select them with all, group, family or pid)")
}

// pakIDs checks a request's PAKs and returns them without duplicates.
func (b *Broker) pakIDs(tenant string, one string, more []string) ([]string, error) {
	var ids []string
	for _, id := range append([]string{one}, more...) {
		if id == "" || slices.Contains(ids, id) {
			continue
		}
		if _, err := b.PAK(tenant, id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// StartInstall starts a job that licenses each selected device from the
// PAKs: for every SKU (feature and type) the device is eligible for, a key
// bound to the device is signed and redeemed from the first PAK with units
// left (quantity checked in the state machine), then installed over
// NETCONF unless StoreOnly. A device that already holds a live license for
// the feature gets that one: nothing is spent again.
func (b *Broker) StartInstall(ctx context.Context, actor, tenant string, req InstallRequest) (*Job, error) {
	ids, err := b.pakIDs(tenant, req.PAK, req.PAKs)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, apiErr("bad_request", "no PAK given")
	}
	if err := checkConcurrency(req.Concurrency); err != nil {
		return nil, err
	}
	p, err := b.selection(tenant, req.Devices, req.All, req.Group, req.Family, req.PID)
	if err != nil {
		return nil, err
	}
	p.PAK, p.PAKs, p.StoreOnly, p.Concurrency = ids[0], ids, req.StoreOnly, req.Concurrency
	return b.startJob(ctx, Job{ID: newID("job-"), Tenant: tenant, Kind: JobInstall, Actor: actor, Params: p})
}

// StartDeploy starts a job that installs licenses kept in inventory on
// their devices.
func (b *Broker) StartDeploy(ctx context.Context, actor, tenant string, req DeployRequest) (*Job, error) {
	ids, err := b.pakIDs(tenant, "", req.PAKs)
	if err != nil {
		return nil, err
	}
	if err := checkConcurrency(req.Concurrency); err != nil {
		return nil, err
	}
	p, err := b.selection(tenant, req.Devices, req.All, req.Group, req.Family, req.PID)
	if err != nil {
		return nil, err
	}
	p.PAKs, p.Concurrency = ids, req.Concurrency
	return b.startJob(ctx, Job{ID: newID("job-"), Tenant: tenant, Kind: JobDeploy, Actor: actor, Params: p})
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

// pick is a PAK line a device may be licensed from.
type pick struct {
	pak  *PAK
	line int
}

// skuPicks groups the PAK lines a device is eligible for by SKU (feature
// and type), in the order of the PAKs: the first pick of a group that has
// units left licenses the device for that SKU. feature and typ, when set,
// keep only that SKU.
func skuPicks(paks []*PAK, dev *Device, feature, typ string) [][]pick {
	var out [][]pick
	index := map[string]int{}
	for _, p := range paks {
		for i, l := range p.Lines {
			if !slices.Contains(l.Families, dev.Family) || !licensable(dev.Family, l.Feature) ||
				(feature != "" && l.Feature != feature) || (typ != "" && l.Type != typ) {
				continue
			}
			k := l.Feature + "/" + l.Type
			n, ok := index[k]
			if !ok {
				n = len(out)
				index[k] = n
				out = append(out, nil)
			}
			out[n] = append(out[n], pick{pak: p, line: i})
		}
	}
	return out
}

// obtainSKU licenses a device for one SKU from the first of picks with
// units left. The result says whether the device already had a live
// license for it (nothing spent).
func (b *Broker) obtainSKU(ctx context.Context, actor, tenant string, picks []pick, dev *Device) (*redeemResult, error) {
	var last error
	for _, pk := range picks {
		line := pk.pak.Lines[pk.line]
		rec, err := b.sign(dev.UDI, line.Feature, line.Type, line.Days, pk.pak.ID, tenant)
		if err != nil {
			return nil, err
		}
		rec.Line = pk.line
		var out redeemResult
		err = b.propose(ctx, actor, CmdRedeem, redeem{Tenant: tenant, PAK: pk.pak.ID, Line: pk.line, License: rec}, &out)
		if err == nil {
			return &out, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != "pak_exhausted" {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// redeemStatus names a failed redemption.
func redeemStatus(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case "pak_exhausted":
			return StatusPAKExhausted
		case "not_eligible":
			return StatusNotEligible
		case "not_found":
			return StatusNotFound
		case "no_quorum", "unavailable":
			return StatusUnavailable
		}
	}
	return StatusError
}

func (b *Broker) installWorker(j *Job) (jobWork, error) {
	ids := j.Params.PAKs
	if len(ids) == 0 && j.Params.PAK != "" {
		ids = []string{j.Params.PAK}
	}
	if len(ids) == 0 {
		return nil, apiErr("bad_request", "an install job needs a PAK")
	}
	return func(ctx context.Context, udi string) outcome { return b.installOne(ctx, j, ids, udi) }, nil
}

// installOne licenses one device for an install job.
func (b *Broker) installOne(ctx context.Context, j *Job, pakIDs []string, udi string) outcome {
	r := JobResult{Target: udi, UDI: udi}
	dev, err := b.Device(j.Tenant, udi)
	if err != nil {
		return outcome{res: fail(r, StatusNotFound, err)}
	}
	if dev.ReplacedBy != "" {
		return replaced(r, dev)
	}
	paks := make([]*PAK, 0, len(pakIDs))
	for _, id := range pakIDs {
		p, err := b.PAK(j.Tenant, id)
		if err != nil {
			return outcome{res: fail(r, StatusNotFound, err)}
		}
		paks = append(paks, p)
	}
	groups := skuPicks(paks, dev, "", "")
	if len(groups) == 0 {
		return outcome{res: fail(r, StatusNotEligible, fmt.Errorf("device %s (family %s) is not eligible for PAK %s",
			udi, orNone(dev.Family), strings.Join(pakIDs, ", ")))}
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	var lics []*License
	fresh := false
	for _, g := range groups {
		res, err := b.obtainSKU(ctx, j.Actor, j.Tenant, g, dev)
		if err != nil {
			r.License = licenseIDs(lics)
			return outcome{res: fail(r, redeemStatus(err), err)}
		}
		fresh = fresh || !res.Existing
		lics = append(lics, &res.License)
	}
	r.License = licenseIDs(lics)
	if j.Params.StoreOnly {
		r.OK, r.Status = true, StatusStored
		if !fresh {
			r.Status, r.Detail = StatusAlreadyLicensed, "the device already had these licenses; nothing was spent"
		}
		return outcome{res: r}
	}
	return b.pushTo(ctx, dev, lics, r, "installed on "+dev.UDI)
}

// licenseIDs lists license ids for a result.
func licenseIDs(ls []*License) string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	return strings.Join(ids, " ")
}

// onDevice reports whether a device's last read shows a license.
func onDevice(dev *Device, id string) bool {
	return slices.ContainsFunc(dev.Licenses, func(l DeviceLicense) bool { return l.ID == id })
}

// pushTo installs the licenses a device does not show yet over a new
// session, and reads its license state back.
func (b *Broker) pushTo(ctx context.Context, dev *Device, lics []*License, r JobResult, what string) outcome {
	var need []*License
	for _, l := range lics {
		if l.State != LicenseInstalled || !onDevice(dev, l.ID) {
			need = append(need, l)
		}
	}
	if len(need) == 0 {
		r.OK, r.Status, r.Detail = true, StatusAlreadyLicensed, "the device already has these licenses; nothing was spent or pushed"
		return outcome{res: r}
	}
	s, err := b.session(ctx, dev)
	if err != nil {
		return outcome{res: fail(r, classifyDial(err), err)}
	}
	defer s.Close()
	if len(need) == 1 {
		return b.pushOneAndClose(ctx, s, dev, need[0], r, what)
	}
	return b.push(ctx, s, dev, need, r, what)
}

// licenseFile returns a license's file, from the state if l does not carry
// it.
func (b *Broker) licenseFile(l *License) ([]byte, error) {
	if len(l.File) > 0 {
		return l.File, nil
	}
	full, err := b.License("", l.ID)
	if err != nil {
		return nil, err
	}
	return full.File, nil
}

// push installs license files over an open session, one after the other
// (the first refusal stops it), reads the device's license state back and
// returns the outcome: the device record and the licenses to mark
// installed.
func (b *Broker) push(ctx context.Context, s *netconf.Client, dev *Device, need []*License, r JobResult, what string) outcome {
	var o outcome
	for _, l := range need {
		file, err := b.licenseFile(l)
		if err != nil {
			return outcome{res: fail(r, StatusError, err)}
		}
		res, err := s.InstallLicense(ctx, file)
		if o.res, err = installed(r, l, res, err); err != nil {
			return o
		}
		o.installed = append(o.installed, jobInstalled{ID: l.ID, What: what})
	}
	r.OK, r.Status = true, StatusInstalled
	o.res = r
	lic, err := s.Licensing(ctx)
	b.readBack(&o, dev, lic, err)
	return o
}

// pushOneAndClose installs one license file and reads the device's
// license state back in one pipeline that ends the session: install,
// get and close-session in one write (the get is answered after the
// install, whatever its outcome).
func (b *Broker) pushOneAndClose(ctx context.Context, s *netconf.Client, dev *Device, l *License, r JobResult, what string) outcome {
	file, err := b.licenseFile(l)
	if err != nil {
		return outcome{res: fail(r, StatusError, err)}
	}
	res, err := s.PipelineClose(ctx, netconf.InstallLicenseOp(file), netconf.GetOp(netconf.LicensingFilter))
	if err != nil {
		return outcome{res: fail(r, classify(err), err)}
	}
	var results []netconf.InstallResult
	if err = res[0].Err; err == nil {
		if results, err = netconf.ParseInstallResults(res[0].Reply); err != nil {
			err = fmt.Errorf("netconf: %s: %w", s.Addr(), err)
		}
	}
	var o outcome
	if o.res, err = installed(r, l, results, err); err != nil {
		return o
	}
	o.installed = []jobInstalled{{ID: l.ID, What: what}}
	r.OK, r.Status = true, StatusInstalled
	o.res = r
	var lic *netconf.Licensing
	if err = res[1].Err; err == nil {
		if lic, err = netconf.ParseData(res[1].Reply.Data()).Licensing(); err != nil {
			err = fmt.Errorf("%w (from %s)", err, s.Addr())
		}
	}
	b.readBack(&o, dev, lic, err)
	return o
}

// installed turns the outcome of installing license l into a failed result
// and an error, or r and nil.
func installed(r JobResult, l *License, res []netconf.InstallResult, err error) (JobResult, error) {
	switch {
	case err != nil:
		return fail(r, classify(err), err), err
	case len(res) == 0:
		err = errors.New("the device returned no install result")
	case res[0].Status == netconf.StatusFailed:
		err = fmt.Errorf("device refused license %s: %s", l.ID, res[0].Reason)
	default:
		return r, nil
	}
	return fail(r, StatusRefused, err), err
}

// readBack records in o the device's license state read after an install.
func (b *Broker) readBack(o *outcome, dev *Device, lic *netconf.Licensing, err error) {
	if err != nil {
		b.cfg.Logger.Warn("reading licenses after install", "udi", dev.UDI, "err", err)
		return
	}
	nd := *dev
	setLicensing(&nd, lic, b.now())
	o.dev = &nd
}

func (b *Broker) deployWorker(j *Job) (jobWork, error) {
	return func(ctx context.Context, udi string) outcome { return b.deployOne(ctx, j, udi) }, nil
}

// deployOne installs a device's licenses kept in inventory.
func (b *Broker) deployOne(ctx context.Context, j *Job, udi string) outcome {
	r := JobResult{Target: udi, UDI: udi}
	dev, err := b.Device(j.Tenant, udi)
	if err != nil {
		return outcome{res: fail(r, StatusNotFound, err)}
	}
	if dev.ReplacedBy != "" {
		return replaced(r, dev)
	}
	var lics []*License
	installed := 0
	b.state.read(func(d *stateData) {
		for _, id := range d.byUDI[udi] {
			l := d.Licenses[id]
			if l.Tenant != j.Tenant || (len(j.Params.PAKs) > 0 && !slices.Contains(j.Params.PAKs, l.PAK)) {
				continue
			}
			switch l.State {
			case LicenseIssued:
				cp := *l
				cp.History = nil
				lics = append(lics, &cp)
			case LicenseInstalled:
				installed++
			}
		}
	})
	if len(lics) == 0 {
		if installed > 0 {
			r.OK, r.Status, r.Detail = true, StatusAlreadyLicensed, "no license waits in inventory; the device's licenses are installed"
			return outcome{res: r}
		}
		return outcome{res: fail(r, StatusNothingStored, errors.New("no license of this device waits in inventory"))}
	}
	r.License = licenseIDs(lics)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	return b.pushTo(ctx, dev, lics, r, "deployed from inventory to "+dev.UDI)
}
