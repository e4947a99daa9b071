package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/licbroker/licbroker/netconf"
)

// Result statuses of job targets. A failed target's result says why in its
// status and reason; the job goes on with the other targets.
const (
	// Discovery and refresh.
	StatusDiscovered = "discovered" // a new device, recorded
	StatusChanged    = "changed"    // a known device whose record changed
	StatusUnchanged  = "unchanged"  // a known device, as recorded
	// StatusUDIChanged: the address answers with another device than the
	// one recorded there (replaced?). Discovery records the new device and
	// keeps the old record; a refresh records nothing.
	StatusUDIChanged = "udi-changed"
	// StatusLicenseMissing: a refresh found an installed license missing
	// from the device.
	StatusLicenseMissing = "license-missing"

	// Install and deploy.
	StatusInstalled       = "installed"        // pushed to the device
	StatusAlreadyLicensed = "already-licensed" // the device had the license: nothing spent, nothing pushed
	StatusStored          = "stored"           // kept in inventory (store-only)
	StatusNotEligible     = "not-eligible"
	StatusPAKExhausted    = "pak-exhausted"
	StatusRefused         = "refused" // the device refused the license file
	StatusNothingStored   = "nothing-stored"

	// Reaching the device.
	StatusUnreachable  = "unreachable"       // connection refused or no route
	StatusTimeout      = "timeout"           // no answer in time (silent or slow device)
	StatusAuthFailed   = "auth-failed"       // SSH authentication failed
	StatusHostKey      = "host-key-mismatch" // the device's host key changed
	StatusNoNetconf    = "no-netconf"        // SSH works, no netconf subsystem
	StatusNotNetconf   = "not-netconf"       // the subsystem does not speak NETCONF
	StatusNotLicensing = "not-licensing"     // a NETCONF server without the licensing model
	StatusDropped      = "dropped"           // the session ended mid-request
	StatusConflict     = "conflict"          // the device belongs to another tenant
	StatusNotFound     = "not-found"         // the device is no longer in inventory
	StatusReplaced     = "replaced"          // the device was rehosted to another: not contacted
	StatusUnavailable  = "unavailable"       // the broker could not commit (no quorum)
	StatusError        = "error"
)

// JobResultsFilter says which per-target results Job returns.
const (
	ResultsAll    = "all"
	ResultsFailed = "failed"
	ResultsNone   = "none"
)

// Jobs lists a tenant's jobs ("" lists all), newest first, without
// per-target results.
func (b *Broker) Jobs(tenant string) []Job {
	var out []Job
	now := b.now()
	b.state.read(func(d *stateData) {
		for _, j := range d.Jobs {
			if tenant == "" || j.Tenant == tenant {
				out = append(out, j.view(now))
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

// view is a job as the API shows it: without targets and results, with
// its progress worked out.
func (j *Job) view(now time.Time) Job {
	cp := j.summary()
	cp.Remaining = max(0, j.Total-j.Done-j.Failed)
	end := now
	if j.Finished != nil {
		end = *j.Finished
	}
	if el := end.Sub(j.Created).Seconds(); el > 0 {
		cp.Rate = math.Round(float64(j.Done+j.Failed)/el*10) / 10
	}
	return cp
}

// Job returns one job with all its results.
func (b *Broker) Job(tenant, id string) (*Job, error) { return b.JobView(tenant, id, ResultsAll) }

// JobView returns one job with its results: all of them, only the failed
// ones or none (see the Results* constants; "" is all).
func (b *Broker) JobView(tenant, id, results string) (*Job, error) {
	switch results {
	case "", ResultsAll, ResultsFailed, ResultsNone:
	default:
		return nil, apiErr("bad_request", "invalid results %q (want all, failed or none)", results)
	}
	var j *Job
	now := b.now()
	b.state.read(func(d *stateData) {
		v, ok := d.Jobs[id]
		if !ok || (tenant != "" && v.Tenant != tenant) {
			return
		}
		cp := v.view(now)
		switch results {
		case ResultsNone:
		case ResultsFailed:
			cp.Results = []JobResult{}
			for _, r := range v.Results {
				if !r.OK {
					cp.Results = append(cp.Results, r)
				}
			}
		default:
			cp.Results = append([]JobResult{}, v.Results...)
		}
		j = &cp
	})
	if j == nil {
		return nil, apiErr("not_found", "job %s not found", id)
	}
	return j, nil
}

// CancelJob cancels a running job: it is recorded as cancelled at once,
// and the node working it stops taking targets (results in flight are
// still recorded).
func (b *Broker) CancelJob(ctx context.Context, actor, tenant, id string) (*Job, error) {
	var out Job
	if err := b.propose(ctx, actor, CmdJobCancel, jobCancel{Tenant: tenant, ID: id}, &out); err != nil {
		return nil, err
	}
	b.jobMu.Lock()
	if aj, ok := b.active[id]; ok {
		aj.cancel()
	}
	b.jobMu.Unlock()
	v := out.view(b.now())
	return &v, nil
}

// RetryJob starts a job over the failed targets of an ended job, with the
// same parameters. Each target is again tried with back-off.
func (b *Broker) RetryJob(ctx context.Context, actor, tenant, id string) (*Job, error) {
	if tenant == "" {
		j, err := b.JobView("", id, ResultsNone)
		if err != nil {
			return nil, err
		}
		tenant = j.Tenant
	}
	return b.startJob(ctx, Job{ID: newID("job-"), Tenant: tenant, Actor: actor, RetryOf: id})
}

// startJob records a new job; the leader's runner works it.
func (b *Broker) startJob(ctx context.Context, j Job) (*Job, error) {
	var out Job
	if err := b.propose(ctx, j.Actor, CmdJobCreate, jobCreate{Job: j}, &out); err != nil {
		return nil, err
	}
	b.kickRunner()
	v := out.view(b.now())
	return &v, nil
}

// replaced fails a target whose device was rehosted away (assumed dead).
func replaced(r JobResult, dev *Device) outcome {
	return outcome{res: fail(r, StatusReplaced, fmt.Errorf("device %s was replaced by %s (rehost); it is not contacted", dev.UDI, dev.ReplacedBy))}
}

// fail fills a result for a failure.
func fail(r JobResult, status string, err error) JobResult {
	r.OK, r.Status, r.Reason = false, status, reasonOf(err)
	return r
}

// reasonOf is an error as one line for a result.
func reasonOf(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return oneLine(err)
}

// classifyDial names why opening a session failed. A connection that is
// refused, reset or unroutable means no device answers at the address.
func classifyDial(err error) string {
	var hk *netconf.HostKeyChangedError
	s := err.Error()
	switch {
	case errors.As(err, &hk):
		return StatusHostKey
	case strings.Contains(s, "unable to authenticate"), strings.Contains(s, "authentication failed"):
		return StatusAuthFailed
	case strings.Contains(s, "subsystem refused"):
		return StatusNoNetconf
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(s, "timed out"), strings.Contains(s, "no hello from server"):
		return StatusTimeout
	case strings.Contains(s, "hello"):
		return StatusNotNetconf
	}
	return StatusUnreachable
}

// classify names why a request to a device (or the commit after it)
// failed.
func classify(err error) string {
	var ae *APIError
	var re *netconf.RPCError
	s := err.Error()
	switch {
	case errors.As(err, &ae):
		if ae.Code == "no_quorum" || ae.Code == "unavailable" {
			return StatusUnavailable
		}
		return StatusError
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(s, "timed out"):
		return StatusTimeout
	case errors.As(err, &re):
		return StatusNotLicensing
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		strings.Contains(s, "connection reset"), strings.Contains(s, "session closed"), strings.Contains(s, "broken pipe"),
		strings.Contains(s, "receive"):
		return StatusDropped
	}
	return StatusError
}
