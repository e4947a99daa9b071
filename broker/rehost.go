package broker

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Rehost is the transfer of a failed device's licenses to its replacement
// (the seed's RMA rehosting). The failed device is assumed dead: its
// licenses are revoked (state rehosted) and regenerated for the
// replacement from the broker's activation records, with the same
// features, types and end dates. A failed device is rehosted once;
// repeating the request changes nothing.
type Rehost struct {
	Failed      string `json:"failed"`
	Replacement string `json:"replacement"`
	Tenant      string `json:"tenant"`
	// RMA is the return number, attached when it exists (before, with or
	// after the rehost).
	RMA string `json:"rma,omitempty"`
	// Spare says the replacement was a depot spare whose preloaded
	// licenses were used where they match.
	Spare    bool              `json:"spare,omitempty"`
	Licenses []RehostedLicense `json:"licenses"`
	Created  time.Time         `json:"created"`
	Actor    string            `json:"actor"`
	// Installed is when every license was installed on the replacement.
	Installed *time.Time `json:"installed,omitempty"`
	// HostKey is the new host key the replacement presented at the failed
	// device's address, accepted by the rehost.
	HostKey *HostKeyApproval `json:"host_key,omitempty"`
	History []Event          `json:"history,omitempty"`
}

// RehostedLicense is one license that moved: From (on the failed device,
// now rehosted) and To (on the replacement).
type RehostedLicense struct {
	From    string     `json:"from"`
	To      string     `json:"to"`
	Feature string     `json:"feature"`
	Type    string     `json:"type"`
	Expires *time.Time `json:"expires_at"`
	// Preloaded says To is a depot spare's preloaded license.
	Preloaded bool `json:"preloaded,omitempty"`
}

func (r *Rehost) clone() Rehost {
	cp := *r
	cp.Licenses = slices.Clone(r.Licenses)
	cp.History = slices.Clone(r.History)
	if r.HostKey != nil {
		hk := *r.HostKey
		cp.HostKey = &hk
	}
	return cp
}

// RehostRequest asks to rehost a failed device's licenses to its
// replacement.
type RehostRequest struct {
	Failed      string `json:"failed"`
	Replacement string `json:"replacement"`
	RMA         string `json:"rma,omitempty"`
	// Install pushes the licenses to the replacement over NETCONF.
	Install bool `json:"install,omitempty"`
	// Address is where the replacement answers (host:port) when it is
	// neither in inventory nor at the failed device's address.
	Address string `json:"address,omitempty"`
	// HostKey, if set, is the SHA256 fingerprint of the replacement's SSH
	// host key ("SHA256:..."); no other key is accepted.
	HostKey string `json:"host_key,omitempty"`
}

// RehostResult is a rehost, the replacement's licenses from it, and the
// outcome of installing them.
type RehostResult struct {
	Rehost Rehost `json:"rehost"`
	// Existing says the rehost had been done before: nothing changed
	// (except an RMA number attached).
	Existing bool           `json:"existing"`
	Licenses []License      `json:"licenses"`
	Install  *RehostInstall `json:"install,omitempty"`
}

// RehostInstall is the outcome of installing a rehost's licenses.
type RehostInstall struct {
	Address string `json:"address"`
	OK      bool   `json:"ok"`
	// Reason says why the install failed.
	Reason string `json:"reason,omitempty"`
	// Results are the device's answers per license.
	Results []RehostLine `json:"results,omitempty"`
	// HostKey is set when the replacement's new host key was accepted.
	HostKey       *HostKeyApproval `json:"host_key,omitempty"`
	ActiveLevel   string           `json:"active_level,omitempty"`
	NextBootLevel string           `json:"next_boot_level,omitempty"`
}

// RehostLine is the device's answer for one license.
type RehostLine struct {
	License string `json:"license"`
	Feature string `json:"feature"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// RMARequest attaches an RMA number to a rehost.
type RMARequest struct {
	RMA string `json:"rma"`
}

// maxRehostAttempts bounds how often a rehost is planned again when the
// records changed between planning and commit.
const maxRehostAttempts = 3

func (req *RehostRequest) validate() error {
	for _, u := range []string{req.Failed, req.Replacement} {
		if u == "" {
			return apiErr("bad_request", "give the failed device and its replacement (UDIs)")
		}
		if err := validUDI(u); err != nil {
			return err
		}
	}
	if req.RMA != "" {
		if err := checkName("RMA number", req.RMA); err != nil {
			return err
		}
	}
	if req.Address != "" {
		ap, err := netip.ParseAddrPort(req.Address)
		if err != nil {
			return apiErr("bad_request", "invalid address %q: want IP:port, e.g. 127.1.0.5:830", req.Address)
		}
		req.Address = ap.String() // the form host keys are recorded under
		if !req.Install {
			return apiErr("bad_request", "an address is only used with install")
		}
	}
	if req.HostKey != "" {
		if !strings.HasPrefix(req.HostKey, "SHA256:") || len(req.HostKey) != len("SHA256:")+43 {
			return apiErr("bad_request", "invalid host key fingerprint %q: want SHA256: and 43 base64 characters, as ssh-keygen -l prints it", req.HostKey)
		}
		if !req.Install {
			return apiErr("bad_request", "a host key is only used with install")
		}
	}
	return nil
}

// Rehost moves a failed device's licenses to its replacement (scope is the
// caller's tenant, "" for an admin) and, with Install, pushes them to the
// replacement. Repeating it changes nothing; with an RMA number it
// attaches the number if the rehost has none.
//
// With Install the replacement is reached first: if another device answers
// at its address the whole rehost is refused and nothing changes; if none
// answers the rehost is still recorded and the install failure reported.
func (b *Broker) Rehost(ctx context.Context, actor, scope string, req RehostRequest) (*RehostResult, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var conn *replacementConn
	var dialErr error
	if req.Install {
		ictx, cancel := context.WithTimeout(ctx, 2*b.cfg.DeviceTimeout)
		defer cancel()
		ctx = ictx
		tg, err := b.rehostTarget(scope, req)
		if err != nil {
			return nil, err
		}
		// A device that does not answer leaves the rehost to go on; any
		// other refusal (another device there, a host key not accepted,
		// no credentials) stops it before anything changes.
		conn, dialErr = b.dialReplacement(ctx, tg, req)
		var ae *APIError
		if errors.As(dialErr, &ae) && ae.Code != "device_error" {
			return nil, dialErr
		}
		if conn != nil {
			defer conn.s.Close()
		}
	}
	var out rehostCreated
	for attempt := 1; ; attempt++ {
		cmd, err := b.prepareRehost(scope, req)
		if err != nil {
			return nil, err
		}
		err = b.propose(ctx, actor, CmdRehostCreate, cmd, &out)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == "changed" && attempt < maxRehostAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	res := &RehostResult{Rehost: out.Rehost, Existing: out.Existing}
	if req.Install {
		res.Install = b.installRehost(ctx, actor, &out.Rehost, conn, dialErr)
		if rh, err := b.RehostOf(scope, req.Failed); err == nil {
			res.Rehost = *rh
		}
	}
	res.Licenses = b.rehostLicenses(&res.Rehost)
	return res, nil
}

// prepareRehost plans the rehost on this node's state and signs a key for
// every license that needs one.
func (b *Broker) prepareRehost(scope string, req RehostRequest) (rehostCreate, error) {
	cmd := rehostCreate{Tenant: scope, Failed: req.Failed, Replacement: req.Replacement, RMA: req.RMA}
	now := b.now().Truncate(time.Second)
	var plan *rehostPlan
	var need []License
	var aerr *APIError
	b.state.read(func(d *stateData) {
		if plan, aerr = planRehost(d, scope, req.Failed, req.Replacement, now); aerr == nil {
			for _, l := range plan.need {
				cp := *l
				need = append(need, cp)
			}
		}
	})
	if aerr != nil {
		return cmd, aerr
	}
	for _, src := range need {
		l, err := b.signUntil(req.Replacement, src.Feature, src.Type, now, src.Expires, src.PAK, plan.owner,
			"rehost of "+req.Failed)
		if err != nil {
			return cmd, err
		}
		l.RehostedFrom = src.ID
		cmd.Licenses = append(cmd.Licenses, l)
	}
	return cmd, nil
}

// rehostLicenses returns the replacement's license records of a rehost,
// without files and history.
func (b *Broker) rehostLicenses(rh *Rehost) []License {
	out := []License{}
	b.state.read(func(d *stateData) {
		for _, rl := range rh.Licenses {
			if l, ok := d.Licenses[rl.To]; ok {
				cp := *l
				cp.File, cp.History = nil, nil
				out = append(out, cp)
			}
		}
	})
	return out
}

// AttachRMA attaches an RMA number to the rehost of a failed device. The
// same number again changes nothing; a rehost keeps its first number.
func (b *Broker) AttachRMA(ctx context.Context, actor, scope, failed, rma string) (*Rehost, error) {
	if err := validUDI(failed); err != nil {
		return nil, err
	}
	if err := checkName("RMA number", rma); err != nil {
		return nil, err
	}
	var out Rehost
	if err := b.propose(ctx, actor, CmdRehostRMA, rehostRMA{Tenant: scope, Failed: failed, RMA: rma}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rehosts lists a tenant's rehosts ("" lists all), by failed UDI.
func (b *Broker) Rehosts(scope string) []Rehost {
	out := []Rehost{}
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Rehosts) {
			if rh := d.Rehosts[k]; scope == "" || rh.Tenant == scope {
				out = append(out, rh.clone())
			}
		}
	})
	return out
}

// RehostOf returns the rehost of a failed device.
func (b *Broker) RehostOf(scope, failed string) (*Rehost, error) {
	if err := validUDI(failed); err != nil {
		return nil, err
	}
	var out *Rehost
	b.state.read(func(d *stateData) {
		if rh, ok := d.Rehosts[failed]; ok && (scope == "" || rh.Tenant == scope) {
			cp := rh.clone()
			out = &cp
		}
	})
	if out == nil {
		return nil, apiErr("not_found", "device %s has not been rehosted", failed)
	}
	return out, nil
}
