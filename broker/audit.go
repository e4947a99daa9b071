package broker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxAudit is how many audit entries the replicated state keeps; older ones
// are dropped (oldest first, a chunk at a time) once it is exceeded by a
// tenth, so that the amortised cost stays constant. At ~250 bytes an entry
// that is ~50 MB.
const maxAudit = 200_000

// audit records one change made by the command being applied.
func (a *applier) audit(tenant, object, format string, args ...any) {
	r := a.d.Audit.add(a)
	r.tenant, r.object, r.change = tenant, object, fmt.Sprintf(format, args...)
}

// auditRedeem records a redemption. It is the bulk of the log, one per
// activation record, so it keeps the license record and the PAK line's
// units and formats its object and change only when read (see
// auditRec.entry).
func (a *applier) auditRedeem(l *License, used, quantity int) {
	r := a.d.Audit.add(a)
	r.tenant, r.lic, r.used, r.quantity = l.Tenant, l, used, quantity
}

// auditRec is an audit entry as the state keeps it. Records are never
// changed once written, which lets a snapshot write them outside the
// state lock.
type auditRec struct {
	seq, index            uint64
	time                  time.Time
	actor, tenant, action string
	object, change        string
	// lic is set for a redemption: object and change are made from the
	// license's id, PAK, line, UDI, feature and type, which never change
	// once a license is recorded, and the line's units then.
	lic            *License
	used, quantity int
}

// entry returns the record as users see it. withChange false leaves
// Change empty (enough to match a filter).
func (r *auditRec) entry(withChange bool) AuditEntry {
	e := AuditEntry{Seq: r.seq, Index: r.index, Time: r.time, Actor: r.actor, Tenant: r.tenant, Action: r.action,
		Object: r.object, Change: r.change}
	if l := r.lic; l != nil {
		e.Object = "license/" + l.ID
		if withChange {
			e.Change = fmt.Sprintf("redeemed PAK %s line %d (%d of %d used) for %s: %s %s",
				l.PAK, l.Line+1, r.used, r.quantity, l.UDI, l.Feature, l.Type)
		}
	}
	return e
}

// auditChunkLen is the records of one chunk of the audit log.
const auditChunkLen = 1024

type auditChunk [auditChunkLen]auditRec

// auditLog holds the newest audit records, oldest first, in chunks that
// are only appended to (the log is never copied as it grows) and dropped
// whole from the front: every chunk but the last is full. In a snapshot
// it is a JSON array of AuditEntry; a restored log holds every entry
// formatted.
type auditLog struct {
	chunks []*auditChunk
	n      int
}

// add appends a record for the command a applies (sequence number, index,
// time, actor, action filled in) and returns it to be completed.
func (l *auditLog) add(a *applier) *auditRec {
	a.d.AuditSeq++
	r := l.next()
	r.seq, r.index, r.time, r.actor, r.action = a.d.AuditSeq, a.index, a.c.Time, a.c.Actor, a.c.Type
	return r
}

// next returns a zero record appended to the log, trimming it to maxAudit
// once it holds a tenth more.
func (l *auditLog) next() *auditRec {
	if l.n == len(l.chunks)*auditChunkLen {
		l.chunks = append(l.chunks, new(auditChunk))
	}
	l.n++
	if l.n > maxAudit+maxAudit/10 {
		k := 0
		for l.n-auditChunkLen >= maxAudit {
			l.n -= auditChunkLen
			k++
		}
		// A new list: a snapshot's frozen view keeps the old one.
		l.chunks = append([]*auditChunk(nil), l.chunks[k:]...)
	}
	return l.at(l.n - 1)
}

func (l *auditLog) len() int { return l.n }

// at returns record i (0 is the oldest).
func (l *auditLog) at(i int) *auditRec {
	return &l.chunks[i/auditChunkLen][i%auditChunkLen]
}

// frozen returns a view of the log as it is now that stays valid while
// the log grows: records are never changed once written, appending writes
// past the view's end, and trimming replaces the chunk list.
func (l *auditLog) frozen() auditLog {
	return auditLog{chunks: l.chunks[:len(l.chunks):len(l.chunks)], n: l.n}
}

// MarshalJSON writes the log as a JSON array of AuditEntry.
func (l auditLog) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := l.writeJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (l auditLog) writeJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('[')
	for i := range l.n {
		if i > 0 {
			bw.WriteByte(',')
		}
		e := l.at(i).entry(true)
		b, err := json.Marshal(&e)
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteByte(']')
	return bw.Flush()
}

// UnmarshalJSON reads a JSON array of AuditEntry.
func (l *auditLog) UnmarshalJSON(b []byte) error {
	var es []AuditEntry
	if err := json.Unmarshal(b, &es); err != nil {
		return err
	}
	*l = auditLog{}
	for i := range es {
		e := &es[i]
		r := l.next()
		*r = auditRec{seq: e.Seq, index: e.Index, time: e.Time, actor: e.Actor, tenant: e.Tenant, action: e.Action,
			object: e.Object, change: e.Change}
	}
	return nil
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
		for i := d.Audit.len() - 1; i >= 0; i-- {
			r := d.Audit.at(i)
			if e := r.entry(false); !f.match(&e) {
				continue
			}
			if len(out) == f.Limit {
				more = true
				return
			}
			out = append(out, r.entry(true))
		}
	})
	return out, more
}
