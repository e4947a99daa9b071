package broker

import (
	"net/http"
	"time"
)

// Idempotency keys live in the replicated state so that every node answers
// a retried write the same way, and two copies of one request racing on
// different nodes are resolved in log order. The table is bounded: entries
// older than idemTTL, and the oldest beyond maxIdemKeys, are dropped.
const (
	maxIdemKeys = 10_000
	idemTTL     = 24 * time.Hour
	// idemLease is how long a claimed key stays "in progress"; a node that
	// died mid-request leaves a claim that may be taken over after it.
	idemLease = 5 * time.Minute
	// maxIdemBody bounds a stored response; larger ones are not replayed.
	maxIdemBody = 64 << 10
)

// Outcomes of idempotency.begin.
const (
	idemProceed    = "proceed"
	idemReplay     = "replay"
	idemInProgress = "in_progress"
	idemMismatch   = "mismatch"
)

type idemEntry struct {
	Hash    string    `json:"hash"`
	Started time.Time `json:"started"`
	Done    bool      `json:"done"`
	Status  int       `json:"status,omitempty"`
	Body    []byte    `json:"body,omitempty"`
}

type idemRef struct {
	Key     string    `json:"key"`
	Started time.Time `json:"started"`
}

type idemBegin struct {
	Key  string `json:"key"`
	Hash string `json:"hash"`
}

type idemEnd struct {
	Key    string `json:"key"`
	Hash   string `json:"hash"`
	Status int    `json:"status"`
	Body   []byte `json:"body,omitempty"`
}

type idemOutcome struct {
	Outcome string `json:"outcome"`
	Status  int    `json:"status,omitempty"`
	Body    []byte `json:"body,omitempty"`
}

// idemBegin claims a key for a request, or says how an earlier request with
// the same key ended.
func (a *applier) idemBegin(p idemBegin) (any, *APIError) {
	now := a.c.Time
	a.idemEvict(now)
	if e, ok := a.d.Idem[p.Key]; ok {
		switch {
		case e.Hash != p.Hash:
			return idemOutcome{Outcome: idemMismatch}, nil
		case e.Done:
			return idemOutcome{Outcome: idemReplay, Status: e.Status, Body: e.Body}, nil
		case now.Sub(e.Started) < idemLease:
			return idemOutcome{Outcome: idemInProgress}, nil
		}
		// A stale claim: take it over.
		delete(a.d.Idem, p.Key)
	}
	a.d.Idem[p.Key] = &idemEntry{Hash: p.Hash, Started: now}
	a.d.IdemOrder = append(a.d.IdemOrder, idemRef{Key: p.Key, Started: now})
	return idemOutcome{Outcome: idemProceed}, nil
}

// idemEnd records the response of a claimed request. Server-side failures
// (5xx) release the claim so that a retry runs again.
func (a *applier) idemEnd(p idemEnd) (any, *APIError) {
	e, ok := a.d.Idem[p.Key]
	if !ok || e.Hash != p.Hash || e.Done {
		return nil, nil
	}
	if p.Status >= http.StatusInternalServerError {
		delete(a.d.Idem, p.Key)
		return nil, nil
	}
	e.Done, e.Status = true, p.Status
	if len(p.Body) <= maxIdemBody {
		e.Body = p.Body
	}
	return nil, nil
}

func (a *applier) idemEvict(now time.Time) {
	n := 0
	for n < len(a.d.IdemOrder) {
		ref := a.d.IdemOrder[n]
		if len(a.d.IdemOrder)-n <= maxIdemKeys && now.Sub(ref.Started) < idemTTL {
			break
		}
		if e, ok := a.d.Idem[ref.Key]; ok && e.Started.Equal(ref.Started) {
			delete(a.d.Idem, ref.Key)
		}
		n++
	}
	if n > 0 {
		a.d.IdemOrder = append([]idemRef(nil), a.d.IdemOrder[n:]...)
	}
}
