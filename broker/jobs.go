package broker

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/licbroker/licbroker/netconf"
)

// Jobs lists a tenant's jobs ("" lists all), newest first, without
// per-target results.
func (b *Broker) Jobs(tenant string) []Job {
	var out []Job
	b.state.read(func(d *stateData) {
		for _, j := range d.Jobs {
			if tenant == "" || j.Tenant == tenant {
				cp := *j
				cp.Results = nil
				out = append(out, cp)
			}
		}
	})
	sortBy(out, jobKey)
	return out
}

// jobKey orders jobs newest first, then by id.
func jobKey(j Job) string {
	return fmt.Sprintf("%019d/%s", math.MaxInt64-j.Created.UnixNano(), j.ID)
}

// CancelJob cancels a running job: it is recorded as cancelled at once and
// this node's workers stop taking targets.
func (b *Broker) CancelJob(ctx context.Context, actor, tenant, id string) (*Job, error) {
	var out Job
	if err := b.propose(ctx, actor, CmdJobCancel, jobCancel{Tenant: tenant, ID: id}, &out); err != nil {
		return nil, err
	}
	b.jobMu.Lock()
	if cancel, ok := b.jobCancels[id]; ok {
		cancel()
	}
	b.jobMu.Unlock()
	return &out, nil
}

// Job returns one job with its results.
func (b *Broker) Job(tenant, id string) (*Job, error) {
	var j *Job
	b.state.read(func(d *stateData) {
		if v, ok := d.Jobs[id]; ok && (tenant == "" || v.Tenant == tenant) {
			cp := *v
			cp.Results = append([]JobResult(nil), v.Results...)
			j = &cp
		}
	})
	if j == nil {
		return nil, apiErr("not_found", "job %s not found", id)
	}
	return j, nil
}

// jobWork does one target of a job and returns its result.
type jobWork func(ctx context.Context, target string) JobResult

// runJob records the job, then works its targets with a bounded pool in
// the background, recording results in batches.
func (b *Broker) runJob(ctx context.Context, j Job, work jobWork) (*Job, error) {
	if err := b.propose(ctx, j.Actor, CmdJobCreate, jobCreate{Job: j}, &j); err != nil {
		return nil, err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.workJob(j, work)
	}()
	return &j, nil
}

func (b *Broker) workJob(j Job, work jobWork) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	b.jobMu.Lock()
	b.jobCancels[j.ID] = cancel
	b.jobMu.Unlock()
	defer func() {
		b.jobMu.Lock()
		delete(b.jobCancels, j.ID)
		b.jobMu.Unlock()
	}()
	targets := make(chan string)
	results := make(chan JobResult, 256)
	var wg sync.WaitGroup
	n := min(b.cfg.DeviceConcurrency, len(j.Params.Targets))
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range targets {
				results <- work(ctx, t)
			}
		}()
	}
	go func() {
		defer close(targets)
		for _, t := range j.Params.Targets {
			select {
			case targets <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	// Record results in batches: every 250 ms or 256 results.
	var pending []JobResult
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := b.propose(context.Background(), j.Actor, CmdJobResults, jobResults{ID: j.ID, Results: pending}, nil); err != nil {
			b.cfg.Logger.Error("recording job results", "job", j.ID, "err", err)
		}
		pending = nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break loop
			}
			pending = append(pending, r)
			if len(pending) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
	flush()
	state := JobDone
	if ctx.Err() != nil {
		state = JobCancelled
	}
	if err := b.propose(context.Background(), j.Actor, CmdJobFinish, jobFinish{ID: j.ID, State: state}, nil); err != nil {
		b.cfg.Logger.Error("finishing job", "job", j.ID, "err", err)
	}
}

// DiscoverRequest asks to discover devices.
type DiscoverRequest struct {
	Targets     []string `json:"targets"`
	Port        int      `json:"port"`
	Credentials string   `json:"credentials"`
}

// maxDiscoverTargets bounds one discovery job.
const maxDiscoverTargets = 1 << 17

// StartDiscover starts a discovery job over the targets (CIDRs or
// addresses): each address is dialed over NETCONF, its identity and license
// state read, and the device recorded under tenant.
func (b *Broker) StartDiscover(ctx context.Context, actor, tenant string, req DiscoverRequest) (*Job, error) {
	if req.Port == 0 {
		req.Port = b.cfg.NetconfPort
	}
	if req.Credentials == "" {
		req.Credentials = "default"
	}
	addrs, err := expandTargets(req.Targets, req.Port, maxDiscoverTargets)
	if err != nil {
		return nil, err
	}
	dl, err := b.dialer(tenant, req.Credentials)
	if err != nil {
		return nil, err
	}
	j := Job{ID: newID("job-"), Tenant: tenant, Kind: JobDiscover, Actor: actor,
		Params: JobParams{Targets: addrs, Port: req.Port, Credentials: req.Credentials}}
	ups := newUpserter(b, actor)
	return b.runJob(ctx, j, func(ctx context.Context, addr string) JobResult {
		return b.discoverOne(ctx, dl, ups, tenant, req.Credentials, addr)
	})
}

func (b *Broker) discoverOne(ctx context.Context, dl *netconf.Dialer, ups *upserter, tenant, cred, addr string) JobResult {
	r := JobResult{Target: addr}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DeviceTimeout)
	defer cancel()
	s, err := dl.Dial(ctx, addr)
	if err != nil {
		r.Status, r.Reason = classifyDialErr(err), oneLine(err)
		return r
	}
	defer s.Close()
	dev, err := readDevice(ctx, s, b.now())
	if err != nil {
		r.Status, r.Reason = "not-licensing", oneLine(err)
		return r
	}
	dev.Tenant, dev.Address, dev.Credentials = tenant, addr, cred
	if old, err := b.Device("", dev.UDI); err == nil && old.Tenant != tenant {
		// Say no more: the device's identity belongs to another tenant.
		r.Status, r.Reason = "conflict", "the device at this address is registered to another tenant"
		return r
	}
	r.UDI = dev.UDI
	if err := ups.add(ctx, dev); err != nil {
		r.Status, r.Reason = "error", oneLine(err)
		return r
	}
	r.OK, r.Status = true, "discovered"
	return r
}

func classifyDialErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "unable to authenticate"), strings.Contains(s, "authentication failed"):
		return "auth-failed"
	case strings.Contains(s, "host key"):
		return "host-key-mismatch"
	case strings.Contains(s, "subsystem refused"):
		return "no-netconf"
	case strings.Contains(s, "hello"):
		return "not-netconf"
	}
	return "unreachable"
}

// upserter records discovered devices in batches.
type upserter struct {
	b     *Broker
	actor string
	mu    sync.Mutex
	buf   []Device
	// waiters get the outcome of the batch their device went into.
	waiters []chan error
	timer   *time.Timer
}

func newUpserter(b *Broker, actor string) *upserter { return &upserter{b: b, actor: actor} }

// add queues a device and waits until its batch is committed.
func (u *upserter) add(ctx context.Context, d Device) error {
	ch := make(chan error, 1)
	u.mu.Lock()
	u.buf = append(u.buf, d)
	u.waiters = append(u.waiters, ch)
	if len(u.buf) >= 256 {
		u.flushLocked()
	} else if u.timer == nil {
		u.timer = time.AfterFunc(100*time.Millisecond, func() {
			u.mu.Lock()
			u.flushLocked()
			u.mu.Unlock()
		})
	}
	u.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *upserter) flushLocked() {
	if u.timer != nil {
		u.timer.Stop()
		u.timer = nil
	}
	if len(u.buf) == 0 {
		return
	}
	devs, waiters := u.buf, u.waiters
	u.buf, u.waiters = nil, nil
	go func() {
		err := u.b.propose(context.Background(), u.actor, CmdDevicesUpsert, devicesUpsert{Devices: devs}, nil)
		for _, w := range waiters {
			w <- err
		}
	}()
}
