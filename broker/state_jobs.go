package broker

// Apply functions for jobs.

func (a *applier) jobCreate(p jobCreate) (any, *APIError) {
	j := p.Job
	if _, ok := a.d.Jobs[j.ID]; ok {
		return nil, apiErr("conflict", "job %s already exists", j.ID)
	}
	if _, ok := a.d.Tenants[j.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", j.Tenant)
	}
	j.State = JobRunning
	j.Created = a.c.Time
	j.Total = len(j.Params.Targets)
	j.Done, j.Failed, j.Finished, j.CancelRequested = 0, 0, nil, false
	j.Results = []JobResult{}
	a.d.Jobs[j.ID] = &j
	a.audit(j.Tenant, "job/"+j.ID, "started %s job over %d targets", j.Kind, j.Total)
	return j, nil
}

func (a *applier) jobResults(p jobResults) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	for _, r := range p.Results {
		j.Results = append(j.Results, r)
		if r.OK {
			j.Done++
		} else {
			j.Failed++
		}
	}
	return nil, nil
}

func (a *applier) jobFinish(p jobFinish) (any, *APIError) {
	j, ok := a.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s not found", p.ID)
	}
	if j.State != JobRunning {
		return *j, nil
	}
	j.State = p.State
	j.Error = p.Error
	t := a.c.Time
	j.Finished = &t
	a.audit(j.Tenant, "job/"+j.ID, "%s job %s: %d ok, %d failed of %d", j.Kind, j.State, j.Done, j.Failed, j.Total)
	return *j, nil
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
	cp := *j
	cp.Results = nil
	return cp, nil
}
