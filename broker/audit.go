package broker

import (
	"fmt"
	"strings"
	"time"
)

// maxAudit is how many audit entries the replicated state keeps; older ones
// are dropped (oldest first) once it is exceeded by a tenth, so that the
// amortised cost stays constant. At ~250 bytes an entry that is ~50 MB.
const maxAudit = 200_000

// audit records one change made by the command being applied.
func (a *applier) audit(tenant, object, format string, args ...any) {
	a.d.AuditSeq++
	e := AuditEntry{Seq: a.d.AuditSeq, Index: a.index, Time: a.c.Time, Actor: a.c.Actor, Tenant: tenant,
		Action: a.c.Type, Object: object, Change: fmt.Sprintf(format, args...)}
	a.d.Audit = append(a.d.Audit, e)
	if len(a.d.Audit) > maxAudit+maxAudit/10 {
		keep := make([]AuditEntry, maxAudit, maxAudit+maxAudit/10+1)
		copy(keep, a.d.Audit[len(a.d.Audit)-maxAudit:])
		a.d.Audit = keep
	}
}

// AuditFilter selects audit entries. Zero fields match everything.
type AuditFilter struct {
	// Tenant limits entries to one tenant ("" means every tenant, and
	// also the entries that belong to none, such as admin tokens).
	Tenant string
	Actor  string
	// Action matches the command type or its prefix ("license" matches
	// license.redeem and license.state).
	Action string
	// Object matches entries whose object contains it.
	Object string
	Since  time.Time
	Until  time.Time
	// Before returns only entries with a sequence number below it (the
	// cursor of the previous page).
	Before uint64
	Limit  int
}

func (f AuditFilter) match(e *AuditEntry) bool {
	switch {
	case f.Tenant != "" && e.Tenant != f.Tenant,
		f.Actor != "" && e.Actor != f.Actor && !strings.HasPrefix(e.Actor, f.Actor+":") && !strings.HasSuffix(e.Actor, ":"+f.Actor),
		f.Action != "" && e.Action != f.Action && !strings.HasPrefix(e.Action, f.Action+"."),
		f.Object != "" && !strings.Contains(e.Object, f.Object),
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until),
		f.Before != 0 && e.Seq >= f.Before:
		return false
	}
	return true
}

// Audit returns matching audit entries, newest first, at most f.Limit
// (default 100), and whether older matching entries remain.
func (b *Broker) Audit(f AuditFilter) ([]AuditEntry, bool) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []AuditEntry{}
	more := false
	b.state.read(func(d *stateData) {
		for i := len(d.Audit) - 1; i >= 0; i-- {
			e := &d.Audit[i]
			if !f.match(e) {
				continue
			}
			if len(out) == f.Limit {
				more = true
				return
			}
			out = append(out, *e)
		}
	})
	return out, more
}
