package keyengine

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"time"
)

// FormatVersion is the grant encoding this package writes and reads.
const FormatVersion = 1

// Limits on grant fields. They keep the encodings small and bounded.
const (
	// MaxTokenLen is the longest license id, product ID, serial number,
	// feature, PAK or tenant.
	MaxTokenLen = 64
	// MaxCommentLen is the longest comment.
	MaxCommentLen = 200
)

// maxUnix is 10000-01-01T00:00:00Z: later times do not format as RFC 3339.
const maxUnix = 253402300800

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
// Times have second precision; NotAfter is zero for permanent licenses and
// set for evaluation and extension licenses. Comment is free text (printable
// ASCII) shown in the license file; it is signed like every other field.
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
	Comment   string
}

// Validate checks that the grant is complete and consistent. Only a valid
// grant can be signed, encoded or verified.
func (g Grant) Validate() error {
	if g.Version != FormatVersion {
		return fmt.Errorf("%w: grant version %d (this build reads %d)", ErrUnsupportedVersion, g.Version, FormatVersion)
	}
	if err := checkToken("license id", g.ID, MaxTokenLen); err != nil {
		return err
	}
	if err := g.UDI.Validate(); err != nil {
		return err
	}
	if err := checkToken("feature", g.Feature, MaxTokenLen); err != nil {
		return err
	}
	if _, ok := typeCode(g.Type); !ok {
		return fmt.Errorf("keyengine: unknown license type %q", g.Type)
	}
	if g.Counted && g.Count == 0 {
		return fmt.Errorf("keyengine: a counted license needs a count of at least 1")
	}
	if !g.Counted && g.Count != 0 {
		return fmt.Errorf("keyengine: an uncounted license has no count")
	}
	if g.IssuedAt.IsZero() {
		return fmt.Errorf("keyengine: issued-at is not set")
	}
	if g.NotBefore.IsZero() {
		return fmt.Errorf("keyengine: not-before is not set")
	}
	times := []struct {
		name string
		t    time.Time
	}{{"issued-at", g.IssuedAt}, {"not-before", g.NotBefore}, {"not-after", g.NotAfter}}
	for _, f := range times {
		if f.t.IsZero() {
			continue
		}
		if u := f.t.Unix(); u <= 0 || u >= maxUnix || f.t.Nanosecond() != 0 {
			return fmt.Errorf("keyengine: %s %s: want whole seconds between 1970 and 9999", f.name, f.t.Format(time.RFC3339Nano))
		}
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
	for _, f := range []struct{ name, v string }{{"PAK", g.PAK}, {"tenant", g.Tenant}} {
		if f.v == "" {
			continue
		}
		if err := checkToken(f.name, f.v, MaxTokenLen); err != nil {
			return err
		}
	}
	if !validKeyID(g.KeyID) {
		return fmt.Errorf("keyengine: key id %q: want %d lowercase hex digits", g.KeyID, 2*keyIDLen)
	}
	if len(g.Comment) > MaxCommentLen {
		return fmt.Errorf("keyengine: comment is longer than %d characters", MaxCommentLen)
	}
	for i := 0; i < len(g.Comment); i++ {
		if c := g.Comment[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("keyengine: comment has invalid character %q at position %d (printable ASCII only)", c, i+1)
		}
	}
	return nil
}

// Expires returns the end of the license, or false for a permanent license.
func (g Grant) Expires() (time.Time, bool) {
	return g.NotAfter, !g.NotAfter.IsZero()
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idEncoding = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

// licenseIDLen is the length of an id made by NewLicenseID: "L" and 24
// base32 characters (15 bytes).
const licenseIDLen = 25

// NewLicenseID returns a unique, time-sortable license id: "L" followed by
// 48 bits of milliseconds since the epoch and 72 random bits, in Crockford
// base32 (25 characters in all).
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
