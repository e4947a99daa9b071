package broker

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// The job runner. Jobs live in the replicated state; the leader works
// every running job: it claims the job (a numbered claim, see jobClaim),
// works the targets that have no result yet with a bounded pool, retries
// targets that failed for a passing reason with back-off, and records
// results in batches. When the leader changes, the new leader claims the
// job again and works what is left; the old leader's results are refused
// from then on. Money stays safe across the hand-over because redemption
// is idempotent in the state machine: a device that already holds a live
// license for the feature gets that license back and nothing is spent.

// Tuning of the runner.
const (
	// jobPoll is how often the runner looks for jobs to claim, and for
	// jobs of its own that were cancelled or taken over.
	jobPoll = 250 * time.Millisecond
	// jobBatch bounds the results of one job.results command; jobFlush is
	// how long a result waits for its batch to fill.
	jobBatch = 200
	jobFlush = 250 * time.Millisecond
	// maxBackoff caps the wait before a retry.
	maxBackoff = 30 * time.Second
	// maxJobConcurrency bounds the device sessions of one job.
	maxJobConcurrency = 2048
)

// activeJob is a job this node works.
type activeJob struct {
	epoch  uint64
	cancel context.CancelFunc
}

// outcome is what working one target produced: its result, and the
// device record and license installations to commit with it.
type outcome struct {
	res       JobResult
	dev       *Device
	installed []jobInstalled
}

// jobWork works one target of a job.
type jobWork func(ctx context.Context, target string) outcome

// runJobs is the runner's loop; it stops with the broker.
func (b *Broker) runJobs() {
	defer b.wg.Done()
	t := time.NewTicker(jobPoll)
	defer t.Stop()
	sched := &refreshSchedule{}
	current := false // this node leads and has applied every committed write
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		leader := b.store.IsLeader()
		if leader && !current {
			// A new leader may not have applied the log yet: wait, so that
			// it sees every job and every result before it claims.
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			leader = b.store.Barrier(ctx) == nil
			cancel()
		}
		current = leader
		b.superviseJobs(leader)
		b.scheduleRefresh(sched, leader)
	}
}

// kickRunner wakes the runner at once (a job was created here).
func (b *Broker) kickRunner() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// superviseJobs stops the jobs this node works that were cancelled, taken
// over or that it may no longer work (not the leader), and, on the
// leader, claims and starts the running jobs nobody here works.
func (b *Broker) superviseJobs(leader bool) {
	running := map[string]uint64{}
	b.state.read(func(d *stateData) {
		for id, j := range d.Jobs {
			if j.State == JobRunning {
				running[id] = j.Epoch
			}
		}
	})
	var claim []string
	b.jobMu.Lock()
	for id, aj := range b.active {
		if ep, ok := running[id]; !leader || !ok || ep != aj.epoch {
			aj.cancel()
		}
	}
	if leader {
		for id := range running {
			if _, ok := b.active[id]; !ok {
				claim = append(claim, id)
			}
		}
	}
	b.jobMu.Unlock()
	sort.Strings(claim)
	for _, id := range claim {
		b.claimJob(id, running[id])
	}
}

// claimJob claims a job for this node and starts working it.
func (b *Broker) claimJob(id string, epoch uint64) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	var j Job
	err := b.propose(ctx, "system:"+b.cfg.NodeID, CmdJobClaim, jobClaim{ID: id, Runner: b.cfg.NodeID, Epoch: epoch + 1}, &j)
	cancel()
	if err != nil {
		b.cfg.Logger.Debug("claiming job", "job", id, "err", err)
		return
	}
	jctx, jcancel := context.WithCancel(b.ctx)
	aj := &activeJob{epoch: j.Epoch, cancel: jcancel}
	b.jobMu.Lock()
	b.active[id] = aj
	b.jobMu.Unlock()
	if j.Epoch > 1 {
		b.cfg.Logger.Info("resuming job", "job", id, "kind", j.Kind, "claim", j.Epoch)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer jcancel()
		b.workJob(jctx, id, aj.epoch)
		b.jobMu.Lock()
		if b.active[id] == aj {
			delete(b.active, id)
		}
		b.jobMu.Unlock()
	}()
}

// workJob works the targets of a job that have no result yet, records the
// results and, unless it was stopped, finishes the job.
func (b *Broker) workJob(ctx context.Context, id string, epoch uint64) {
	var j Job
	var todo []string
	b.state.read(func(d *stateData) {
		jj, ok := d.Jobs[id]
		if !ok {
			return
		}
		j = jj.summary()
		j.Params.Targets = jj.Params.Targets
		done := d.jobDone[id]
		for _, t := range jj.Params.Targets {
			if _, ok := done[t]; !ok {
				todo = append(todo, t)
			}
		}
	})
	if j.ID == "" {
		return
	}
	finish := func(state, msg string) {
		fctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		if err := b.propose(fctx, j.Actor, CmdJobFinish, jobFinish{ID: id, Epoch: epoch, State: state, Error: msg}, nil); err != nil {
			b.cfg.Logger.Warn("finishing job", "job", id, "err", err)
		}
	}
	work, err := b.jobWorker(&j)
	if err != nil {
		finish(JobFailed, asAPIError(err).Message)
		return
	}
	rec := &resultRecorder{b: b, job: id, actor: j.Actor, epoch: epoch, in: make(chan outcome, 2*jobBatch)}
	recDone := make(chan bool, 1)
	go func() { recDone <- rec.run(ctx) }()
	n := b.cfg.DeviceConcurrency
	if j.Params.Concurrency > 0 {
		n = j.Params.Concurrency
	}
	b.runPool(ctx, j.Kind, todo, min(n, maxJobConcurrency), work, rec.in)
	close(rec.in)
	if ok := <-recDone; ok && ctx.Err() == nil {
		finish(JobDone, "")
	}
}

// jobWorker returns the function that works one target of a job.
func (b *Broker) jobWorker(j *Job) (jobWork, error) {
	switch j.Kind {
	case JobDiscover:
		return b.discoverWorker(j)
	case JobInstall:
		return b.installWorker(j)
	case JobRefresh:
		return b.refreshWorker(j)
	case JobDeploy:
		return b.deployWorker(j)
	}
	return nil, apiErr("internal", "this node cannot work jobs of kind %q (is it an older version?)", j.Kind)
}

// retryable reports whether a failure may pass, so that the target is
// tried again. A discovery takes a refused connection as "no device
// here"; the other jobs address known devices and try again.
func retryable(kind, status string) bool {
	switch status {
	case StatusTimeout, StatusDropped, StatusUnavailable:
		return true
	case StatusUnreachable:
		return kind != JobDiscover
	}
	return false
}

// backoff is the wait before try number attempt+1: JobBackoff doubled per
// earlier retry, capped, with ±20% jitter so that retries spread out.
func (b *Broker) backoff(attempt int) time.Duration {
	d := b.cfg.JobBackoff << (attempt - 1)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// task is one try of one target.
type task struct {
	target  string
	attempt int
	due     time.Time
	retry   bool
}

// retryHeap orders waiting retries by due time.
type retryHeap []task

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(task)) }
func (h *retryHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// runPool works targets with n workers. A target that fails for a passing
// reason goes back to a queue and is tried again after its back-off,
// without holding a worker while it waits; final outcomes go to out. It
// returns when every target has a final outcome or ctx is done. Outcomes
// of tries that a cancellation cut short are dropped: those targets stay
// without result and a resumed job works them again.
func (b *Broker) runPool(ctx context.Context, kind string, targets []string, n int, work jobWork, out chan<- outcome) {
	if len(targets) == 0 {
		return
	}
	n = max(1, min(n, len(targets)))
	tasks := make(chan task)
	back := make(chan task, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for t := range tasks {
				o := work(ctx, t.target)
				o.res.Attempts = t.attempt
				t.retry = !o.res.OK && ctx.Err() == nil && t.attempt < b.cfg.JobAttempts && retryable(kind, o.res.Status)
				if t.retry {
					t.due = time.Now().Add(b.backoff(t.attempt))
					t.attempt++
				} else if o.res.OK || ctx.Err() == nil {
					out <- o
				}
				back <- t
			}
		})
	}
	b.dispatch(ctx, targets, tasks, back)
	close(tasks)
	wg.Wait()
}

// dispatch feeds tasks: due retries first, then new targets.
func (b *Broker) dispatch(ctx context.Context, targets []string, tasks chan<- task, back <-chan task) {
	var waiting retryHeap
	next, inflight := 0, 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var send chan<- task
		var t task
		fromHeap := false
		switch {
		case len(waiting) > 0 && !waiting[0].due.After(time.Now()):
			send, t, fromHeap = tasks, waiting[0], true
		case next < len(targets):
			send, t = tasks, task{target: targets[next], attempt: 1}
		case len(waiting) == 0 && inflight == 0:
			return
		}
		var wake <-chan time.Time
		if len(waiting) > 0 && !fromHeap {
			timer.Reset(time.Until(waiting[0].due))
			wake = timer.C
		}
		select {
		case send <- t:
			inflight++
			if fromHeap {
				heap.Pop(&waiting)
			} else {
				next++
			}
		case r := <-back:
			inflight--
			if r.retry {
				heap.Push(&waiting, r)
			}
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// resultRecorder commits a job's outcomes in batches: the device records, the
// license installations and the results of up to jobBatch targets in one
// job.results command.
type resultRecorder struct {
	b     *Broker
	job   string
	actor string
	epoch uint64
	in    chan outcome
}

// run records outcomes until in is closed. It returns false if some could
// not be recorded (the store failed, or the job was taken over or
// cancelled): the job is then not finished here.
func (r *resultRecorder) run(ctx context.Context) bool {
	var pending []outcome
	ok := true
	tick := time.NewTicker(jobFlush)
	defer tick.Stop()
	for {
		select {
		case o, open := <-r.in:
			if !open {
				return r.drain(ctx, pending) && ok
			}
			pending = append(pending, o)
			if len(pending) < jobBatch {
				continue
			}
		case <-tick.C:
		}
		var err error
		if pending, err = r.flush(ctx, pending); err != nil && errors.Is(err, errSuperseded) {
			ok = false
		}
	}
}

// drain records what is left, retrying while the job is still ours.
func (r *resultRecorder) drain(ctx context.Context, pending []outcome) bool {
	for delay := 100 * time.Millisecond; len(pending) > 0; delay = min(2*delay, 2*time.Second) {
		var err error
		if pending, err = r.flush(context.WithoutCancel(ctx), pending); err == nil {
			return true
		}
		if errors.Is(err, errSuperseded) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
	return true
}

// flush commits pending outcomes, jobBatch at a time, and returns those
// not yet committed. Results refused because the job was taken over are
// dropped (the new runner works those targets).
func (r *resultRecorder) flush(ctx context.Context, pending []outcome) ([]outcome, error) {
	for len(pending) > 0 {
		n := min(len(pending), jobBatch)
		p := jobResults{ID: r.job, Epoch: r.epoch, Results: make([]JobResult, 0, n)}
		for _, o := range pending[:n] {
			p.Results = append(p.Results, o.res)
			if o.dev != nil {
				p.Devices = append(p.Devices, *o.dev)
			}
			p.Installed = append(p.Installed, o.installed...)
		}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := r.b.propose(pctx, r.actor, CmdJobResults, p, nil)
		cancel()
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Code == "conflict" {
				r.b.cfg.Logger.Info("job results refused", "job", r.job, "reason", ae.Message)
				return nil, errSuperseded
			}
			r.b.cfg.Logger.Warn("recording job results", "job", r.job, "err", err)
			return pending, err
		}
		pending = pending[n:]
	}
	return pending[:0], nil
}
