package broker

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Commands have two encodings. Every command can be JSON (the envelope
// Command, first byte '{'); license.redeem, one per activation record and
// so the bulk of the log, is proposed in a compact binary form that Apply
// reads without a JSON decoder:
//
//	0x01 (version 1) | code | time | actor | payload
//
// time is a zigzag varint of Unix seconds and a uvarint of nanoseconds
// (the instant; it decodes as UTC), a string or byte slice is a uvarint
// length and the bytes, an int is a zigzag varint. The redeem payload
// (code 1) is tenant, pak, line, then the license: id, tenant, udi, pak,
// line, feature, type, state, issued_at, expires_at (byte 0 for none, 1
// and a time), rehosted_to, rehosted_from, file, history (uvarint count of
// time, actor, what), updated. A new version takes a new first byte;
// logs written with older ones keep decoding, JSON included.
const cmdBinaryV1 = 0x01

// Command codes of the binary encoding.
const codeRedeem = 1

// encodeRedeem is a license.redeem command in the binary encoding.
func encodeRedeem(actor string, now time.Time, p *redeem) []byte {
	l := &p.License
	n := 64 + len(actor) + len(p.Tenant) + len(p.PAK) + len(l.ID) + len(l.Tenant) + len(l.UDI) + len(l.PAK) +
		len(l.Feature) + len(l.Type) + len(l.State) + len(l.RehostedTo) + len(l.RehostedFrom) + len(l.File) + 16*4
	for _, e := range l.History {
		n += 24 + len(e.Actor) + len(e.What)
	}
	b := make([]byte, 0, n)
	b = append(b, cmdBinaryV1, codeRedeem)
	b = appendTime(b, now)
	b = appendString(b, actor)
	b = appendString(b, p.Tenant)
	b = appendString(b, p.PAK)
	b = binary.AppendVarint(b, int64(p.Line))
	b = appendString(b, l.ID)
	b = appendString(b, l.Tenant)
	b = appendString(b, l.UDI)
	b = appendString(b, l.PAK)
	b = binary.AppendVarint(b, int64(l.Line))
	b = appendString(b, l.Feature)
	b = appendString(b, l.Type)
	b = appendString(b, l.State)
	b = appendTime(b, l.IssuedAt)
	if l.Expires == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendTime(b, *l.Expires)
	}
	b = appendString(b, l.RehostedTo)
	b = appendString(b, l.RehostedFrom)
	b = binary.AppendUvarint(b, uint64(len(l.File)))
	b = append(b, l.File...)
	b = binary.AppendUvarint(b, uint64(len(l.History)))
	for _, e := range l.History {
		b = appendTime(b, e.Time)
		b = appendString(b, e.Actor)
		b = appendString(b, e.What)
	}
	return appendTime(b, l.Updated)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// binReader reads the binary encoding. A malformed command is a bug (only
// this package writes commands): it panics naming what it could not read.
type binReader struct {
	b   []byte
	off int
	// str makes a string of bytes read (interning common ones); nil:
	// string(b).
	str func(b []byte, kind strKind) string
}

// strKind says what a string of a binary command is, for interning.
type strKind uint8

const (
	strCommon strKind = iota // tenant, PAK id, feature, type, state, actor
	strOther                 // anything else: never interned
)

func (r *binReader) fail(what string) {
	panic(fmt.Sprintf("broker: undecodable binary command: %s at byte %d of %d", what, r.off, len(r.b)))
}

func (r *binReader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(what)
	}
	r.off += n
	return v
}

func (r *binReader) int(what string) int {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 || v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(what)
	}
	r.off += n
	return int(v)
}

func (r *binReader) byte(what string) byte {
	if r.off >= len(r.b) {
		r.fail(what)
	}
	r.off++
	return r.b[r.off-1]
}

func (r *binReader) raw(what string) []byte {
	n := r.uvarint(what)
	if n > uint64(len(r.b)-r.off) {
		r.fail(what)
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *binReader) string(what string, kind strKind) string {
	v := r.raw(what)
	if len(v) == 0 {
		return ""
	}
	if r.str != nil && kind != strOther {
		return r.str(v, kind)
	}
	return string(v)
}

func (r *binReader) time(what string) time.Time {
	sec, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail(what)
	}
	r.off += n
	nsec := r.uvarint(what)
	if nsec >= 1e9 {
		r.fail(what)
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// decodeBinary decodes a command in the binary encoding into c. str, when
// not nil, makes the strings (the state interns common ones).
func decodeBinary(raw []byte, c *Command, str func([]byte, strKind) string) {
	r := &binReader{b: raw, off: 1, str: str}
	if len(raw) == 0 || raw[0] != cmdBinaryV1 {
		r.fail("version")
	}
	switch code := r.byte("command code"); code {
	case codeRedeem:
		c.Type = CmdRedeem
	default:
		r.fail(fmt.Sprintf("command code %d", code))
	}
	c.Time = r.time("time")
	c.Actor = r.string("actor", strCommon)
	// One allocation for the payload and room for the history event a
	// redemption adds (the license becomes the record).
	box := &struct {
		p    redeem
		hist [1]Event
	}{}
	p := &box.p
	p.Tenant = r.string("tenant", strCommon)
	p.PAK = r.string("pak", strCommon)
	p.Line = r.int("line")
	l := &p.License
	l.ID = string(r.raw("license id")) // unique: never interned
	l.Tenant = r.string("license tenant", strCommon)
	l.UDI = r.string("license udi", strOther) // the device record's is used
	l.PAK = r.string("license pak", strCommon)
	l.Line = r.int("license line")
	l.Feature = r.string("license feature", strCommon)
	l.Type = r.string("license type", strCommon)
	l.State = r.string("license state", strCommon)
	l.IssuedAt = r.time("issued_at")
	switch r.byte("expires_at") {
	case 0:
	case 1:
		t := r.time("expires_at")
		l.Expires = &t
	default:
		r.fail("expires_at")
	}
	l.RehostedTo = r.string("rehosted_to", strOther)
	l.RehostedFrom = r.string("rehosted_from", strOther)
	if f := r.raw("file"); len(f) > 0 {
		l.File = append([]byte(nil), f...)
	}
	l.History = box.hist[:0]
	if n := r.uvarint("history"); n > 0 {
		if n > uint64(len(raw)) {
			r.fail("history")
		}
		l.History = make([]Event, n)
		for i := range l.History {
			l.History[i] = Event{Time: r.time("history time"), Actor: r.string("history actor", strCommon), What: r.string("history what", strOther)}
		}
	}
	l.Updated = r.time("updated")
	if r.off != len(raw) {
		r.fail("trailing bytes")
	}
	c.redeem = p
}
