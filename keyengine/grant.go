package keyengine

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// FormatVersion is the grant encoding this package writes.
const FormatVersion = 1

// LicenseType is the kind of right a grant confers.
type LicenseType string

// The license types a grant may carry.
const (
	Permanent  LicenseType = "permanent"
	Evaluation LicenseType = "evaluation"
	Extension  LicenseType = "extension"
)

var typeCodes = []LicenseType{"", Permanent, Evaluation, Extension}

func typeCode(t LicenseType) (byte, bool) {
	for i, v := range typeCodes {
		if i > 0 && v == t {
			return byte(i), true
		}
	}
	return 0, false
}

// ParseLicenseType returns the LicenseType named s.
func ParseLicenseType(s string) (LicenseType, error) {
	if _, ok := typeCode(LicenseType(s)); !ok {
		return "", fmt.Errorf("keyengine: unknown license type %q (want permanent, evaluation or extension)", s)
	}
	return LicenseType(s), nil
}

// Grant is what a license says: which right, on which device, for how long.
// Times are kept with second precision in UTC.
type Grant struct {
	Version   int
	ID        string
	UDI       UDI
	Feature   string
	Type      LicenseType
	Counted   bool
	Count     uint32
	IssuedAt  time.Time
	NotBefore time.Time
	NotAfter  time.Time // zero for permanent licenses
	PAK       string
	Tenant    string
	KeyID     string
}

// Validate checks that the grant is complete and consistent.
func (g Grant) Validate() error {
	if g.Version != FormatVersion {
		return fmt.Errorf("keyengine: unsupported grant version %d", g.Version)
	}
	if err := checkToken("license id", g.ID, 64); err != nil {
		return err
	}
	if err := g.UDI.Validate(); err != nil {
		return err
	}
	if err := checkToken("feature", g.Feature, 64); err != nil {
		return err
	}
	if _, ok := typeCode(g.Type); !ok {
		return fmt.Errorf("keyengine: unknown license type %q", g.Type)
	}
	if g.Type == Permanent && !g.NotAfter.IsZero() {
		return fmt.Errorf("keyengine: a permanent license has no end date")
	}
	if g.Type != Permanent && g.NotAfter.IsZero() {
		return fmt.Errorf("keyengine: a %s license needs an end date", g.Type)
	}
	if !g.NotAfter.IsZero() && !g.NotAfter.After(g.NotBefore) {
		return fmt.Errorf("keyengine: license ends (%s) before it starts (%s)", g.NotAfter.UTC().Format(time.RFC3339), g.NotBefore.UTC().Format(time.RFC3339))
	}
	if !g.Counted && g.Count != 0 {
		return fmt.Errorf("keyengine: an uncounted license has no count")
	}
	for _, f := range []struct{ name, v string }{{"PAK", g.PAK}, {"tenant", g.Tenant}, {"key id", g.KeyID}} {
		if f.v == "" {
			continue
		}
		if err := checkToken(f.name, f.v, 64); err != nil {
			return err
		}
	}
	return nil
}

// Canonical returns the grant's canonical bytes: the same grant always gives
// the same bytes. These are what the signature covers.
func (g Grant) Canonical() []byte {
	b := make([]byte, 0, 128)
	b = append(b, byte(g.Version))
	tc, _ := typeCode(g.Type)
	b = append(b, tc)
	var flags byte
	if g.Counted {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, g.Count)
	for _, t := range []time.Time{g.IssuedAt, g.NotBefore, g.NotAfter} {
		b = binary.BigEndian.AppendUint64(b, uint64(unixOrZero(t)))
	}
	for _, s := range []string{g.ID, g.UDI.PID, g.UDI.SN, g.Feature, g.PAK, g.Tenant, g.KeyID} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// ParseCanonical decodes canonical grant bytes. It rejects anything that is
// not exactly what Canonical would write.
func ParseCanonical(b []byte) (Grant, error) {
	const fixed = 3 + 4 + 3*8
	if len(b) < 1 {
		return Grant{}, &MalformedError{Pos: 0, Msg: "empty grant"}
	}
	if b[0] != FormatVersion {
		return Grant{}, fmt.Errorf("%w: grant version %d", ErrUnsupportedVersion, b[0])
	}
	if len(b) < fixed {
		return Grant{}, &MalformedError{Pos: len(b), Msg: "grant is truncated"}
	}
	var g Grant
	g.Version = int(b[0])
	if int(b[1]) == 0 || int(b[1]) >= len(typeCodes) {
		return Grant{}, &MalformedError{Pos: 1, Msg: fmt.Sprintf("unknown license type code %d", b[1])}
	}
	g.Type = typeCodes[b[1]]
	if b[2]&^1 != 0 {
		return Grant{}, &MalformedError{Pos: 2, Msg: "unknown flags"}
	}
	g.Counted = b[2]&1 == 1
	g.Count = binary.BigEndian.Uint32(b[3:])
	g.IssuedAt = timeOrZero(int64(binary.BigEndian.Uint64(b[7:])))
	g.NotBefore = timeOrZero(int64(binary.BigEndian.Uint64(b[15:])))
	g.NotAfter = timeOrZero(int64(binary.BigEndian.Uint64(b[23:])))
	pos := fixed
	fields := []*string{&g.ID, &g.UDI.PID, &g.UDI.SN, &g.Feature, &g.PAK, &g.Tenant, &g.KeyID}
	for _, f := range fields {
		if pos >= len(b) {
			return Grant{}, &MalformedError{Pos: pos, Msg: "grant is truncated"}
		}
		n := int(b[pos])
		pos++
		if pos+n > len(b) {
			return Grant{}, &MalformedError{Pos: pos, Msg: "grant field runs past the end"}
		}
		*f = string(b[pos : pos+n])
		pos += n
	}
	if pos != len(b) {
		return Grant{}, &MalformedError{Pos: pos, Msg: "trailing bytes after grant"}
	}
	if err := g.Validate(); err != nil {
		return Grant{}, &MalformedError{Pos: 0, Msg: err.Error()}
	}
	return g, nil
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewLicenseID returns a unique, time-sortable license id: 48 bits of
// milliseconds since the epoch and 72 random bits, in Crockford base32.
func NewLicenseID(now time.Time, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	var b [15]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := io.ReadFull(random, b[6:]); err != nil {
		return "", fmt.Errorf("keyengine: license id: %w", err)
	}
	return "L" + idEncoding.EncodeToString(b[:]), nil
}
