package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// RefreshRequest asks to re-read devices: the listed ones, or every device
// of the tenant that matches the filter (All with no filter: every one).
type RefreshRequest struct {
	Devices     []string `json:"devices,omitempty"`
	All         bool     `json:"all,omitempty"`
	Group       string   `json:"group,omitempty"`
	Family      string   `json:"family,omitempty"`
	PID         string   `json:"pid,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
}

// StartRefresh starts a job that re-reads devices over NETCONF and records
// what changed. A device that now answers with another identity, or lacks
// a license the broker installed on it, is reported.
func (b *Broker) StartRefresh(ctx context.Context, actor, tenant string, req RefreshRequest) (*Job, error) {
	if err := checkConcurrency(req.Concurrency); err != nil {
		return nil, err
	}
	p, err := b.selection(tenant, req.Devices, req.All, req.Group, req.Family, req.PID)
	if err != nil {
		return nil, err
	}
	p.Concurrency = req.Concurrency
	return b.startJob(ctx, Job{ID: newID("job-"), Tenant: tenant, Kind: JobRefresh, Actor: actor, Params: p})
}

func (b *Broker) refreshWorker(j *Job) (jobWork, error) {
	return func(ctx context.Context, udi string) outcome { return b.refreshOne(ctx, j, udi) }, nil
}

// refreshOne re-reads one device.
func (b *Broker) refreshOne(ctx context.Context, j *Job, udi string) outcome {
	r := JobResult{Target: udi, UDI: udi}
	dev, err := b.Device(j.Tenant, udi)
	if err != nil {
		return outcome{res: fail(r, StatusNotFound, err)}
	}
	if dev.ReplacedBy != "" {
		return replaced(r, dev)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := b.session(ctx, dev)
	if err != nil {
		return outcome{res: fail(r, classifyDial(err), err)}
	}
	defer s.Close() // a no-op once readDeviceAndClose has run
	nd, err := readDeviceAndClose(ctx, s, b.now())
	if err != nil {
		return outcome{res: fail(r, classify(err), err)}
	}
	if nd.UDI != dev.UDI {
		return outcome{res: fail(r, StatusUDIChanged, fmt.Errorf("%s now answers as %s, not %s: nothing recorded (replaced? discover the address to record it, or rehost)",
			dev.Address, nd.UDI, dev.UDI))}
	}
	nd.Tenant, nd.Address, nd.Credentials, nd.Groups = dev.Tenant, dev.Address, dev.Credentials, dev.Groups
	o := outcome{dev: &nd}
	if ch := deviceChanges(dev, &nd); len(ch) > 0 {
		r.Status, r.Detail = StatusChanged, strings.Join(ch, "; ")
	} else {
		r.Status = StatusUnchanged
	}
	r.OK = true
	if missing := b.missingLicenses(&nd); len(missing) > 0 {
		r.Status, r.OK = StatusLicenseMissing, false
		r.Reason = "installed by the broker but not on the device: " + strings.Join(missing, " ") + " (deploy them again)"
	}
	o.res = r
	return o
}

// missingLicenses lists the live licenses the broker installed on a device
// that the device does not show.
func (b *Broker) missingLicenses(dev *Device) []string {
	now := b.now()
	var out []string
	b.state.read(func(d *stateData) {
		for _, id := range d.byUDI[dev.UDI] {
			if l := d.Licenses[id]; l.State == LicenseInstalled && l.live(now) && !onDevice(dev, id) {
				out = append(out, id)
			}
		}
	})
	sort.Strings(out)
	return out
}

// refreshSchedule is the leader's memory of the refresh schedule.
type refreshSchedule struct {
	leader      bool
	leaderSince time.Time
	checked     time.Time
}

// scheduleRefresh starts, on the leader, a refresh of every device of each
// tenant whose last scheduled refresh began RefreshInterval ago (or, if
// none did, RefreshInterval after this node became leader), unless one is
// still running.
func (b *Broker) scheduleRefresh(s *refreshSchedule, leader bool) {
	iv := b.cfg.RefreshInterval
	now := b.now()
	if leader && !s.leader {
		s.leaderSince = now
	}
	s.leader = leader
	if iv <= 0 || !leader || now.Sub(s.checked) < min(iv/4, 5*time.Second) {
		return
	}
	s.checked = now
	var due []string
	b.state.read(func(d *stateData) {
		last := map[string]time.Time{}
		busy := map[string]bool{}
		for _, j := range d.Jobs {
			if j.Kind != JobRefresh || !j.Params.Scheduled {
				continue
			}
			if j.Created.After(last[j.Tenant]) {
				last[j.Tenant] = j.Created
			}
			if j.State == JobRunning {
				busy[j.Tenant] = true
			}
		}
		has := map[string]bool{}
		for _, dev := range d.Devices {
			has[dev.Tenant] = true
		}
		for t := range has {
			from := last[t]
			if from.Before(s.leaderSince) {
				from = s.leaderSince
			}
			if !busy[t] && now.Sub(from) >= iv {
				due = append(due, t)
			}
		}
	})
	sort.Strings(due)
	for _, t := range due {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_, err := b.startJob(ctx, Job{ID: newID("job-"), Tenant: t, Kind: JobRefresh, Actor: "system:schedule",
			Params: JobParams{All: true, Scheduled: true}})
		cancel()
		if err != nil {
			b.cfg.Logger.Warn("scheduled refresh", "tenant", t, "err", err)
		}
	}
}
