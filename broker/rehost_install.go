package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// rehostTarget is where and how the replacement of a rehost is reached.
type rehostTarget struct {
	tenant, addr, cred string
	replacement        string
	// failed is the failed device's record (nil when it is known only by
	// its licenses).
	failed *Device
}

// rehostTarget works out the replacement's address (the request's, its
// inventory record's, or else the failed device's) and credentials.
func (b *Broker) rehostTarget(scope string, req RehostRequest) (*rehostTarget, error) {
	tg := &rehostTarget{replacement: req.Replacement, cred: "default"}
	var repl *Device
	var aerr *APIError
	now := b.now()
	b.state.read(func(d *stateData) {
		// Refuse what the rehost would refuse before any device is
		// contacted.
		plan, perr := planRehost(d, scope, req.Failed, req.Replacement, now)
		if perr != nil {
			aerr = perr
			return
		}
		tg.tenant = plan.owner
		if v, ok := d.Devices[req.Failed]; ok {
			cp := *v
			tg.failed = &cp
		}
		if v, ok := d.Devices[req.Replacement]; ok && v.Tenant == tg.tenant {
			cp := *v
			repl = &cp
		}
	})
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case req.Address != "":
		tg.addr = req.Address
	case repl != nil && repl.Address != "":
		tg.addr = repl.Address
	case tg.failed != nil && tg.failed.Address != "":
		tg.addr = tg.failed.Address
	default:
		return nil, apiErr("bad_request", "no address is known for replacement %s: give the address where it answers", req.Replacement)
	}
	for _, d := range []*Device{repl, tg.failed} {
		if d != nil && d.Credentials != "" {
			tg.cred = d.Credentials
			break
		}
	}
	return tg, nil
}

// replacementConn is a session with a rehost's replacement whose identity
// was checked.
type replacementConn struct {
	tg   *rehostTarget
	s    *netconf.Client
	keys *rehostHostKeys
}

// dialReplacement opens a session with the replacement at its address,
// tolerating a changed host key at the failed device's address (see
// hostkeys.go), and checks that the device there is the replacement. A
// different device is refused with a conflict; nothing is trusted then.
func (b *Broker) dialReplacement(ctx context.Context, tg *rehostTarget, req RehostRequest) (*replacementConn, error) {
	cred, _, err := b.credential(tg.tenant, tg.cred)
	if err != nil {
		return nil, err
	}
	cfg, err := b.clientConfig(cred)
	if err != nil {
		return nil, err
	}
	// A changed key is tolerated at the failed device's address, or with
	// a pinned fingerprint anywhere (the pin admits that key only).
	hk := &rehostHostKeys{b: b, addr: tg.addr, tolerate: req.HostKey != "" || (tg.failed != nil && tg.failed.Address == tg.addr), pin: req.HostKey}
	cfg.HostKeyCallback = hk.callback()
	s, err := netconf.NewDialer(cfg).Dial(ctx, tg.addr)
	var changed *netconf.HostKeyChangedError
	switch {
	case errors.As(err, &changed):
		return nil, apiErr("conflict", "the host key at %s changed (known %s, offered %s) and %s is not the failed device's address: refused, nothing changed (give the new unit's fingerprint with --host-key to accept it)",
			tg.addr, changed.Known, changed.Offered, tg.addr)
	case errors.Is(err, errHostKeyPin):
		return nil, apiErr("conflict", "replacement %s: %s; nothing changed", tg.replacement, strings.TrimPrefix(errText(err, errHostKeyPin), "broker: "))
	case err != nil:
		return nil, deviceErr(tg.replacement, err)
	}
	id, err := s.Identity(ctx)
	if err != nil {
		s.Close()
		return nil, deviceErr(tg.replacement, err)
	}
	if id.UDI() != tg.replacement {
		s.Close()
		return nil, apiErr("conflict", "the device at %s is %s, not the replacement %s: nothing changed and its host key is not trusted",
			tg.addr, id.UDI(), tg.replacement)
	}
	return &replacementConn{tg: tg, s: s, keys: hk}, nil
}

// installRehost pushes a rehost's licenses to the replacement over the
// checked session in one license file, records what the device accepted
// (and the new host key it presented at the failed device's address), and
// records the replacement in inventory with the failed device's address,
// credentials and groups. A failure is reported in the result: the rehost
// itself stands.
func (b *Broker) installRehost(ctx context.Context, actor string, rh *Rehost, conn *replacementConn, dialErr error) *RehostInstall {
	res := &RehostInstall{}
	fail := func(err error) *RehostInstall {
		res.OK, res.Reason = false, oneLine(err)
		var ae *APIError
		if errors.As(err, &ae) {
			res.Reason = ae.Message
		}
		return res
	}
	if conn == nil {
		return fail(dialErr)
	}
	res.Address = conn.tg.addr
	ids := make([]string, 0, len(rh.Licenses))
	for _, rl := range rh.Licenses {
		ids = append(ids, rl.To)
	}
	file, lics, err := b.combinedFile(rh.Tenant, rh.Replacement, ids)
	if err != nil {
		return fail(err)
	}
	results, err := conn.s.InstallLicense(ctx, file)
	if err != nil {
		return fail(deviceErr(rh.Replacement, err))
	}
	byID := map[string]netconf.InstallResult{}
	for _, r := range results {
		byID[r.LicenseID] = r
	}
	var installed []string
	res.OK = true
	for _, l := range lics {
		r, ok := byID[l.ID]
		line := RehostLine{License: l.ID, Feature: l.Feature, Status: r.Status, Reason: r.Reason}
		switch {
		case !ok:
			line.Status, line.Reason = netconf.StatusFailed, "the device returned no result for this license"
		case r.Status == netconf.StatusInstalled || r.Status == netconf.StatusAlreadyPresent:
			installed = append(installed, l.ID)
		}
		if line.Status == netconf.StatusFailed && res.OK {
			res.OK, res.Reason = false, "device "+rh.Replacement+" refused license "+l.ID+": "+line.Reason
		}
		res.Results = append(res.Results, line)
	}
	res.HostKey = conn.keys.approval()
	if err := b.propose(ctx, actor, CmdRehostInstalled, rehostInstalled{Tenant: rh.Tenant, Failed: rh.Failed,
		Installed: installed, HostKey: res.HostKey}, nil); err != nil {
		return fail(err)
	}
	if res.HostKey != nil {
		if err := b.adoptOffered(res.HostKey); err != nil {
			b.cfg.Logger.Error("recording the replacement's host key", "address", res.Address, "err", err)
		}
	}
	nd, err := readDevice(ctx, conn.s, b.now())
	if err != nil {
		b.cfg.Logger.Warn("reading the replacement after install", "udi", rh.Replacement, "err", err)
		return res
	}
	nd.Tenant, nd.Address, nd.Credentials = rh.Tenant, conn.tg.addr, conn.tg.cred
	if err := b.propose(ctx, actor, CmdDevicesUpsert, devicesUpsert{Devices: []Device{nd}}, nil); err != nil {
		b.cfg.Logger.Warn("recording the replacement", "udi", rh.Replacement, "err", err)
		return res
	}
	res.ActiveLevel, res.NextBootLevel = nd.ActiveLevel, nd.NextBootLevel
	if f := conn.tg.failed; f != nil && len(f.Groups) > 0 {
		if err := b.propose(ctx, actor, CmdDeviceGroups, deviceGroups{Tenant: rh.Tenant, UDIs: []string{rh.Replacement},
			Add: f.Groups}, nil); err != nil {
			b.cfg.Logger.Warn("copying groups to the replacement", "udi", rh.Replacement, "err", err)
		}
	}
	return res
}

// adoptOffered records an approved host key in this node's known hosts.
func (b *Broker) adoptOffered(hk *HostKeyApproval) error {
	raw, err := base64.StdEncoding.DecodeString(hk.Key)
	if err != nil {
		return err
	}
	key, err := ssh.ParsePublicKey(raw)
	if err != nil {
		return err
	}
	return b.adoptHostKey(hk.Address, key)
}

// combinedFile returns one license file with the live licenses among ids
// (all live licenses of udi when ids is nil) that tenant may see ("" any),
// and those licenses in the order of the file.
func (b *Broker) combinedFile(tenant, udi string, ids []string) ([]byte, []License, error) {
	now := b.now()
	var recs []License
	b.state.read(func(d *stateData) {
		if ids == nil {
			ids = d.byUDI[udi]
		}
		for _, id := range ids {
			l, ok := d.Licenses[id]
			if ok && l.UDI == udi && (tenant == "" || l.Tenant == tenant) && l.live(now) && len(l.File) > 0 {
				cp := *l
				cp.History = nil
				recs = append(recs, cp)
			}
		}
	})
	if len(recs) == 0 {
		return nil, nil, apiErr("not_found", "device %s has no live licenses with a license file", udi)
	}
	sortBy(recs, func(l License) string { return l.ID })
	var signed []keyengine.License
	for _, l := range recs {
		ls, err := keyengine.ParseFile(l.File)
		if err != nil {
			return nil, nil, apiErr("internal", "the stored file of license %s does not read: %s", l.ID, oneLine(err))
		}
		signed = append(signed, ls...)
	}
	for i := range recs {
		recs[i].File = nil
	}
	return keyengine.EncodeFile(signed), recs, nil
}

// errText returns the part of err's message from the sentinel on.
func errText(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()); i >= 0 {
		return msg[i:]
	}
	return msg
}
