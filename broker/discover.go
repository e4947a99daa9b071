package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/licbroker/licbroker/netconf"
)

// DiscoverRequest asks to discover devices.
type DiscoverRequest struct {
	// Targets are CIDRs (IPv4), addresses, and IPv4 address:port pairs.
	Targets []string `json:"targets"`
	// Port is the NETCONF port (default: the broker's netconf_port).
	Port int `json:"port,omitempty"`
	// Credentials names the login profile (default "default").
	Credentials string `json:"credentials,omitempty"`
	// Concurrency bounds the sessions open at once (default: the
	// broker's device_concurrency).
	Concurrency int `json:"concurrency,omitempty"`
}

// StartDiscover starts a discovery job over the targets (CIDRs or
// addresses): each address is dialed over NETCONF, its identity
// (ietf-hardware) and license state read, and the device recorded under
// tenant. Addresses where nothing answers, or something that is not a
// licensing NETCONF server, get a result that says so; the job goes on.
// Licensing policies of the tenant act on each device found.
func (b *Broker) StartDiscover(ctx context.Context, actor, tenant string, req DiscoverRequest) (*Job, error) {
	if req.Port == 0 {
		req.Port = b.cfg.NetconfPort
	}
	if req.Credentials == "" {
		req.Credentials = "default"
	}
	if err := checkConcurrency(req.Concurrency); err != nil {
		return nil, err
	}
	if _, err := expandTargets(req.Targets, req.Port, maxJobTargets); err != nil {
		return nil, err
	}
	if _, err := b.dialer(tenant, req.Credentials); err != nil {
		return nil, err
	}
	specs := make([]string, len(req.Targets))
	for i, s := range req.Targets {
		specs[i] = strings.TrimSpace(s)
	}
	return b.startJob(ctx, Job{ID: newID("job-"), Tenant: tenant, Kind: JobDiscover, Actor: actor,
		Params: JobParams{Specs: specs, Port: req.Port, Credentials: req.Credentials, Concurrency: req.Concurrency}})
}

func checkConcurrency(n int) error {
	if n < 0 || n > maxJobConcurrency {
		return apiErr("bad_request", "concurrency %d must be between 1 and %d (0: the broker's default)", n, maxJobConcurrency)
	}
	return nil
}

// discoverer works the addresses of one discovery job.
type discoverer struct {
	b        *Broker
	job      *Job
	dl       *netconf.Dialer
	byAddr   map[string]string // address → UDI last seen there, when the job started
	policies []Policy
}

func (b *Broker) discoverWorker(j *Job) (jobWork, error) {
	dl, err := b.dialer(j.Tenant, j.Params.Credentials)
	if err != nil {
		return nil, err
	}
	d := &discoverer{b: b, job: j, dl: dl, byAddr: map[string]string{}}
	seen := map[string]*Device{}
	b.state.read(func(s *stateData) {
		for _, dev := range s.Devices {
			if dev.Tenant != j.Tenant {
				continue
			}
			if o, ok := seen[dev.Address]; !ok || dev.LastSeen.After(o.LastSeen) || (dev.LastSeen.Equal(o.LastSeen) && dev.UDI > o.UDI) {
				seen[dev.Address] = dev
			}
		}
		for _, k := range sortedKeys(s.Policies) {
			if p := s.Policies[k]; p.Tenant == j.Tenant {
				d.policies = append(d.policies, *p)
			}
		}
	})
	for a, dev := range seen {
		d.byAddr[a] = dev.UDI
	}
	return d.one, nil
}

// one discovers the device at addr.
func (d *discoverer) one(ctx context.Context, addr string) outcome {
	b, j := d.b, d.job
	r := JobResult{Target: addr}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := d.dl.Dial(ctx, addr)
	if err != nil {
		return outcome{res: fail(r, classifyDial(err), err)}
	}
	defer s.Close()
	if !advertises(s, netconf.LicensingNS) {
		return outcome{res: fail(r, StatusNotLicensing, fmt.Errorf("the NETCONF server does not advertise the licensing model (%s); %d capabilities",
			netconf.LicensingNS, len(s.ServerCapabilities())))}
	}
	read := readDevice
	if len(d.policies) == 0 {
		read = readDeviceAndClose // no policy may need the session afterwards
	}
	dev, err := read(ctx, s, b.now())
	if err != nil {
		st := classify(err)
		if st == StatusError {
			st = StatusNotLicensing
		}
		return outcome{res: fail(r, st, err)}
	}
	dev.Tenant, dev.Address, dev.Credentials = j.Tenant, addr, j.Params.Credentials
	r.UDI = dev.UDI
	old, _ := b.Device("", dev.UDI)
	if old != nil && old.Tenant != j.Tenant {
		// Say no more: the device belongs to another tenant.
		return outcome{res: fail(r, StatusConflict, errors.New("the device at this address is registered to another tenant"))}
	}
	r.OK = true
	switch prev := d.byAddr[addr]; {
	case prev != "" && prev != dev.UDI:
		r.Status = StatusUDIChanged
		r.Detail = fmt.Sprintf("%s was %s, now answers as %s: recorded %s, kept the record of %s (rehost it if it was replaced)",
			addr, prev, dev.UDI, dev.UDI, prev)
	case old == nil:
		r.Status = StatusDiscovered
	default:
		dev.Groups = old.Groups
		if ch := deviceChanges(old, &dev); len(ch) > 0 {
			r.Status, r.Detail = StatusChanged, strings.Join(ch, "; ")
		} else {
			r.Status = StatusUnchanged
		}
	}
	o := outcome{res: r, dev: &dev}
	d.applyPolicies(ctx, s, &o)
	return o
}

// advertises reports whether a session's server advertises the module
// with namespace ns.
func advertises(s *netconf.Client, ns string) bool {
	for _, c := range s.ServerCapabilities() {
		if c == ns || strings.HasPrefix(c, ns+"?") {
			return true
		}
	}
	return false
}
