package broker

import (
	"slices"
	"strings"
)

// Apply functions for jobs. A job's targets are fixed when it is created
// (a discovery's CIDRs are expanded, "all eligible devices" is resolved
// against the state at that point of the log), so that every replica holds
// the same list and a leader that takes over works exactly the targets
// that have no result yet.

// Bounds of jobs in the replicated state.
const (
	// maxJobTargets bounds the targets of one job.
	maxJobTargets = 1 << 17
	// maxJobs and maxJobResults bound the jobs kept: beyond either, the
	// oldest finished jobs are dropped.
	maxJobs       = 1000
	maxJobResults = 500_000
)

func (a *applier) jobCreate(p jobCreate) (any, *APIError) {
	j := p.Job
	if _, ok := a.d.Jobs[j.ID]; ok {
		return nil, apiErr("conflict", "job %s already exists", j.ID)
	}
	if _, ok := a.d.Tenants[j.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", j.Tenant)
	}
	targets, aerr := a.jobTargets(&j)
	if aerr != nil {
		return nil, aerr
	}
	j.Params.Targets = targets
	j.State = JobRunning
	j.Created = a.c.Time
	j.Total = len(targets)
	j.Done, j.Failed, j.Finished, j.CancelRequested, j.Error = 0, 0, nil, false, ""
	j.Runner, j.Epoch, j.Updated, j.Remaining, j.Rate = "", 0, nil, 0, 0
	j.Statuses = map[string]int{}
	j.Results = []JobResult{}
	a.d.Jobs[j.ID] = &j
	a.d.jobDone[j.ID] = map[string]struct{}{}
	a.trimJobs()
	what := ""
	if j.RetryOf != "" {
		what = " (retrying the failed targets of " + j.RetryOf + ")"
	}
	a.audit(j.Tenant, "job/"+j.ID, "started %s job over %d targets%s", j.Kind, j.Total, what)
	return j.summary(), nil
}

// jobTargets works out a new job's targets: the failed targets of the job
// it retries, a discovery's expanded CIDRs, the tenant's devices that
// match a filter, or the targets given.
func (a *applier) jobTargets(j *Job) ([]string, *APIError) {
	p := &j.Params
	var out []string
	switch {
	case j.RetryOf != "":
		src, ok := a.d.Jobs[j.RetryOf]
		if !ok || src.Tenant != j.Tenant {
			return nil, apiErr("not_found", "job %s not found", j.RetryOf)
		}
		if src.State == JobRunning {
			return nil, apiErr("conflict", "job %s is still running; retry its failed targets when it has ended", src.ID)
		}
		for _, r := range src.Results {
			if !r.OK {
				out = append(out, r.Target)
			}
		}
		if len(out) == 0 {
			return nil, apiErr("conflict", "job %s has no failed targets to retry", src.ID)
		}
		j.Kind = src.Kind
		j.Params = src.Params
		j.Params.Specs, j.Params.All, j.Params.Filter, j.Params.Scheduled = nil, false, nil, false
	case len(p.Specs) > 0:
		addrs, err := expandTargets(p.Specs, p.Port, maxJobTargets)
		if err != nil {
			return nil, asAPIError(err)
		}
		out = addrs
	case p.All || p.Filter != nil:
		var f DeviceFilter
		if p.Filter != nil {
			f = *p.Filter
		}
		paks, aerr := a.jobPAKs(j)
		if aerr != nil {
			return nil, aerr
		}
		if j.Kind == JobInstall && len(paks) == 0 {
			return nil, apiErr("bad_request", "an install job needs a PAK")
		}
		for _, u := range sortedKeys(a.d.Devices) {
			dev := a.d.Devices[u]
			// A device rehosted away is dead: only its replacement counts.
			if dev.Tenant == j.Tenant && dev.ReplacedBy == "" && f.Match(dev) && a.wants(j, paks, dev) {
				out = append(out, u)
			}
		}
		if len(out) == 0 {
			return nil, apiErr("not_eligible", "no device of tenant %s %s", j.Tenant, noTargetsReason(j.Kind, f))
		}
	default:
		seen := make(map[string]struct{}, len(p.Targets))
		for _, t := range p.Targets {
			if _, dup := seen[t]; dup {
				continue
			}
			seen[t] = struct{}{}
			if j.Kind != JobDiscover {
				if d, ok := a.d.Devices[t]; !ok || d.Tenant != j.Tenant {
					return nil, apiErr("not_found", "device %s not found", t)
				}
			}
			out = append(out, t)
		}
		if _, aerr := a.jobPAKs(j); aerr != nil {
			return nil, aerr
		}
	}
	if len(out) > maxJobTargets {
		return nil, apiErr("bad_request", "a job may have at most %d targets, not %d", maxJobTargets, len(out))
	}
	return out, nil
}

// jobPAKs returns the PAKs an install job names (all of the tenant's),
// or nil for other kinds.
func (a *applier) jobPAKs(j *Job) ([]*PAK, *APIError) {
	ids := j.Params.PAKs
	if len(ids) == 0 && j.Params.PAK != "" {
		ids = []string{j.Params.PAK}
	}
	var out []*PAK
	for _, id := range ids {
		pk, ok := a.d.PAKs[id]
		if !ok || pk.Tenant != j.Tenant {
			return nil, apiErr("not_found", "PAK %s not found", id)
		}
		out = append(out, pk)
	}
	return out, nil
}

// wants reports whether a device that passed the filter is a target of
// the job: for an install, eligible for one of the PAKs; for a deploy,
// holding licenses kept in inventory (of the PAKs, if any are named).
func (a *applier) wants(j *Job, paks []*PAK, dev *Device) bool {
	switch j.Kind {
	case JobInstall:
		for _, pk := range paks {
			if _, ok := pickLine(pk, dev); ok {
				return true
			}
		}
		return false
	case JobDeploy:
		for _, id := range a.d.byUDI[dev.UDI] {
			l := a.d.Licenses[id]
			if l.State == LicenseIssued && l.Tenant == j.Tenant && (len(paks) == 0 || slices.ContainsFunc(paks, func(p *PAK) bool { return p.ID == l.PAK })) {
				return true
			}
		}
		return false
	}
	return true
}

func noTargetsReason(kind string, f DeviceFilter) string {
	var why string
	switch kind {
	case JobInstall:
		why = "is eligible for the PAK"
	case JobDeploy:
		why = "has licenses waiting in inventory"
	default:
		why = "is in inventory"
	}
	if !f.IsZero() {
		var parts []string
		for _, kv := range [][2]string{{"group", f.Group}, {"family", f.Family}, {"pid", f.PID}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+" "+kv[1])
			}
		}
		why = "matches " + strings.Join(parts, ", ") + " and " + why
	}
	return why
}

// trimJobs drops the oldest finished jobs while more than maxJobs jobs or
// maxJobResults results are kept.
func (a *applier) trimJobs() {
	results := 0
	for _, j := range a.d.Jobs {
		results += len(j.Results)
	}
	if len(a.d.Jobs) <= maxJobs && results <= maxJobResults {
		return
	}
	var done []*Job
	for _, j := range a.d.Jobs {
		if j.State != JobRunning {
			done = append(done, j)
		}
	}
	sortBy(done, func(j *Job) string { return j.Created.UTC().Format("20060102150405.000000000") + "/" + j.ID })
	for _, j := range done {
		if len(a.d.Jobs) <= maxJobs && results <= maxJobResults {
			break
		}
		results -= len(j.Results)
		delete(a.d.Jobs, j.ID)
		delete(a.d.jobDone, j.ID)
	}
}

// jobClaim makes a node the job's runner. Claims are numbered; a claim
// must be the next number, so that of two nodes claiming at once one
// wins, and results of the older claim are refused from then on.
func (a *applier) jobClaim(p jobClaim) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	if j.State != JobRunning {
		return nil, apiErr("conflict", "job %s is already %s", p.ID, j.State)
	}
	if p.Epoch != j.Epoch+1 {
		return nil, apiErr("conflict", "job %s was claimed by node %s (claim %d)", p.ID, orNone(j.Runner), j.Epoch)
	}
	if j.Epoch > 0 {
		a.audit(j.Tenant, "job/"+j.ID, "node %s resumes the job from node %s with %d of %d targets left",
			p.Runner, j.Runner, j.Total-len(a.d.jobDone[j.ID]), j.Total)
	}
	j.Runner, j.Epoch = p.Runner, p.Epoch
	return j.summary(), nil
}

// jobResults records per-target results, and with them the device records
// and license installations the targets produced: all commit together. A
// target that already has a result keeps it.
func (a *applier) jobResults(p jobResults) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	if p.Epoch != j.Epoch {
		return nil, superseded(j, p.Epoch)
	}
	if len(p.Devices) > 0 {
		if _, aerr := a.devicesUpsert(devicesUpsert{Devices: p.Devices}); aerr != nil {
			return nil, aerr
		}
	}
	for _, in := range p.Installed {
		if l, ok := a.d.Licenses[in.ID]; ok && l.State == LicenseIssued && l.Tenant == j.Tenant {
			l.State = LicenseInstalled
			l.Updated = a.c.Time
			l.History = append(l.History, Event{Time: a.c.Time, Actor: a.c.Actor, What: in.What})
			a.audit(l.Tenant, "license/"+l.ID, "%s -> %s: %s", LicenseIssued, LicenseInstalled, in.What)
		}
	}
	done := a.d.jobDone[j.ID]
	if done == nil {
		done = map[string]struct{}{}
		a.d.jobDone[j.ID] = done
	}
	if j.Statuses == nil {
		j.Statuses = map[string]int{}
	}
	for _, r := range p.Results {
		if _, dup := done[r.Target]; dup {
			continue
		}
		done[r.Target] = struct{}{}
		j.Results = append(j.Results, r)
		j.Statuses[r.Status]++
		if r.OK {
			j.Done++
		} else {
			j.Failed++
		}
	}
	t := a.c.Time
	j.Updated = &t
	return nil, nil
}

func superseded(j *Job, epoch uint64) *APIError {
	return apiErr("conflict", "job %s superseded: node %s works it now (claim %d, not %d)", j.ID, orNone(j.Runner), j.Epoch, epoch)
}

func (a *applier) jobFinish(p jobFinish) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	if j.State != JobRunning {
		return j.summary(), nil
	}
	if p.Epoch != j.Epoch {
		return nil, superseded(j, p.Epoch)
	}
	j.State = p.State
	j.Error = p.Error
	t := a.c.Time
	j.Finished = &t
	a.audit(j.Tenant, "job/"+j.ID, "%s job %s: %d ok, %d failed of %d", j.Kind, j.State, j.Done, j.Failed, j.Total)
	return j.summary(), nil
}

// jobCancel ends a running job as cancelled; results still in flight are
// recorded when they arrive.
func (a *applier) jobCancel(p jobCancel) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok || (p.Tenant != "" && j.Tenant != p.Tenant) {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	if j.State != JobRunning {
		return nil, apiErr("conflict", "job %s is already %s", p.ID, j.State)
	}
	j.CancelRequested = true
	j.State = JobCancelled
	t := a.c.Time
	j.Finished = &t
	a.audit(j.Tenant, "job/"+j.ID, "cancelled %s job after %d ok, %d failed of %d", j.Kind, j.Done, j.Failed, j.Total)
	return j.summary(), nil
}

// summary is a copy of the job without its targets and results.
func (j *Job) summary() Job {
	cp := *j
	cp.Params.Targets = nil
	cp.Results = nil
	cp.Statuses = make(map[string]int, len(j.Statuses))
	for k, v := range j.Statuses {
		cp.Statuses[k] = v
	}
	return cp
}

// reindexJobs rebuilds the per-job index of targets with a result.
func (d *stateData) reindexJobs() {
	d.jobDone = make(map[string]map[string]struct{}, len(d.Jobs))
	for id, j := range d.Jobs {
		m := make(map[string]struct{}, len(j.Results))
		for _, r := range j.Results {
			m[r.Target] = struct{}{}
		}
		d.jobDone[id] = m
	}
}
