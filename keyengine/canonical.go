package keyengine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// The canonical grant encoding (FormatVersion 1), the bytes a signature
// covers and both license encodings carry:
//
//	version     1 byte
//	kind        1 byte: license type code in bits 0-1, bit 2 set if counted
//	count       uvarint, only if counted
//	issued-at   uvarint, Unix seconds
//	not-before  varint, seconds after issued-at
//	not-after   uvarint, seconds after not-before; not for permanent licenses
//	license id  0xFF and the 15 bytes of a NewLicenseID id, or a string
//	PID, SN, feature, PAK, tenant: strings
//	key id      4 bytes
//	comment     1 length byte and the text
//
// A string is a header byte and its text: header bit 7 set means the text is
// packed 6 bits a character (see packAlphabet), bits 0-6 are the length in
// characters. Text is packed exactly when it is not empty and every character
// is in packAlphabet. There is one encoding of each valid grant:
// ParseCanonical re-encodes what it decoded and rejects any difference.

const (
	flagCounted   = 1 << 2
	idPackedTag   = 0xFF
	strPackedFlag = 0x80
	keyIDLen      = 4
)

// packAlphabet holds the 64 characters a packed string may use.
const packAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-."

var packIndex = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(packAlphabet); i++ {
		t[packAlphabet[i]] = int8(i)
	}
	return t
}()

// crockIndex maps a Crockford base32 character (upper case, no aliases) to
// its value, and anything else to -1.
var crockIndex = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(crockford); i++ {
		t[crockford[i]] = int8(i)
	}
	return t
}()

// Canonical returns the grant's canonical bytes: the same grant always gives
// the same bytes. These are what the signature covers. The result is only
// meaningful for a grant that passes Validate.
func (g Grant) Canonical() []byte {
	return g.appendCanonical(make([]byte, 0, 128))
}

func (g Grant) appendCanonical(b []byte) []byte {
	b = append(b, byte(g.Version))
	tc, _ := typeCode(g.Type)
	if g.Counted {
		tc |= flagCounted
	}
	b = append(b, tc)
	if g.Counted {
		b = binary.AppendUvarint(b, uint64(g.Count))
	}
	issued := g.IssuedAt.Unix()
	b = binary.AppendUvarint(b, uint64(issued))
	b = binary.AppendVarint(b, g.NotBefore.Unix()-issued)
	if g.Type != Permanent {
		b = binary.AppendUvarint(b, uint64(g.NotAfter.Unix()-g.NotBefore.Unix()))
	}
	if isLicenseIDForm(g.ID) {
		b = append(b, idPackedTag)
		var raw [15]byte
		idEncoding.Decode(raw[:], []byte(g.ID[1:]))
		b = append(b, raw[:]...)
	} else {
		b = appendString(b, g.ID)
	}
	for _, s := range [...]string{g.UDI.PID, g.UDI.SN, g.Feature, g.PAK, g.Tenant} {
		b = appendString(b, s)
	}
	var kid [keyIDLen]byte
	if validKeyID(g.KeyID) {
		hex.Decode(kid[:], []byte(g.KeyID))
	}
	b = append(b, kid[:]...)
	b = append(b, byte(len(g.Comment)))
	return append(b, g.Comment...)
}

// isLicenseIDForm reports whether id has the form NewLicenseID makes.
func isLicenseIDForm(id string) bool {
	if len(id) != licenseIDLen || id[0] != 'L' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if crockIndex[id[i]] < 0 {
			return false
		}
	}
	return true
}

func packable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if packIndex[s[i]] < 0 {
			return false
		}
	}
	return true
}

func appendString(b []byte, s string) []byte {
	if !packable(s) {
		b = append(b, byte(len(s)))
		return append(b, s...)
	}
	b = append(b, strPackedFlag|byte(len(s)))
	var acc uint32
	nbits := 0
	for i := 0; i < len(s); i++ {
		acc = acc<<6 | uint32(packIndex[s[i]])
		nbits += 6
		for nbits >= 8 {
			nbits -= 8
			b = append(b, byte(acc>>nbits))
		}
	}
	if nbits > 0 {
		b = append(b, byte(acc<<(8-nbits)))
	}
	return b
}

// decoder reads canonical bytes and remembers the first error.
type decoder struct {
	b   []byte
	pos int
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = &MalformedError{Pos: d.pos, Msg: msg}
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.b) {
		d.fail("grant is truncated (reading " + what + ")")
		return 0
	}
	c := d.b[d.pos]
	d.pos++
	return c
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.pos < n {
		d.fail("grant is truncated (reading " + what + ")")
		return nil
	}
	s := d.b[d.pos : d.pos+n]
	d.pos += n
	return s
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.fail("bad number (reading " + what + ")")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.fail("bad number (reading " + what + ")")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) string(what string) string {
	h := d.byte(what)
	n := int(h &^ strPackedFlag)
	if d.err != nil {
		return ""
	}
	if n > MaxTokenLen {
		d.pos--
		d.fail(fmt.Sprintf("%s is %d characters long (at most %d)", what, n, MaxTokenLen))
		return ""
	}
	if h&strPackedFlag == 0 {
		return string(d.bytes(n, what))
	}
	raw := d.bytes((6*n+7)/8, what)
	if raw == nil {
		return ""
	}
	out := make([]byte, n)
	var acc uint32
	nbits, j := 0, 0
	for i := range out {
		for nbits < 6 {
			acc = acc<<8 | uint32(raw[j])
			j++
			nbits += 8
		}
		nbits -= 6
		out[i] = packAlphabet[(acc>>nbits)&63]
	}
	return string(out)
}

// ParseCanonical decodes canonical grant bytes. It rejects anything that is
// not exactly what Canonical writes for a valid grant.
func ParseCanonical(b []byte) (Grant, error) {
	if len(b) == 0 {
		return Grant{}, &MalformedError{Pos: 0, Msg: "empty grant"}
	}
	if b[0] != FormatVersion {
		return Grant{}, fmt.Errorf("%w: grant version %d (this build reads %d)", ErrUnsupportedVersion, b[0], FormatVersion)
	}
	d := &decoder{b: b, pos: 1}
	g := Grant{Version: FormatVersion}
	kind := d.byte("license type")
	if d.err == nil && (kind&^(flagCounted|3) != 0 || kind&3 == 0) {
		d.pos--
		d.fail(fmt.Sprintf("unknown license type code 0x%02x", kind))
	}
	g.Type = typeCodes[kind&3]
	if kind&flagCounted != 0 {
		g.Counted = true
		c := d.uvarint("count")
		if c > 1<<32-1 {
			d.fail("count is out of range")
		}
		g.Count = uint32(c)
	}
	issued := int64(d.uvarint("issued-at") & (1<<63 - 1))
	g.IssuedAt = time.Unix(issued, 0).UTC()
	nb := issued + d.varint("not-before")
	g.NotBefore = time.Unix(nb, 0).UTC()
	if g.Type != Permanent {
		g.NotAfter = time.Unix(nb+int64(d.uvarint("not-after")&(1<<62-1)), 0).UTC()
	}
	if len(b) > d.pos && b[d.pos] == idPackedTag {
		d.pos++
		if raw := d.bytes(15, "license id"); raw != nil {
			g.ID = "L" + idEncoding.EncodeToString(raw)
		}
	} else {
		g.ID = d.string("license id")
	}
	g.UDI.PID = d.string("product ID")
	g.UDI.SN = d.string("serial number")
	g.Feature = d.string("feature")
	g.PAK = d.string("PAK")
	g.Tenant = d.string("tenant")
	if kid := d.bytes(keyIDLen, "key id"); kid != nil {
		g.KeyID = hex.EncodeToString(kid)
	}
	if n := int(d.byte("comment")); d.err == nil {
		g.Comment = string(d.bytes(n, "comment"))
	}
	if d.err != nil {
		return Grant{}, d.err
	}
	if d.pos != len(b) {
		return Grant{}, &MalformedError{Pos: d.pos, Msg: fmt.Sprintf("%d bytes after the end of the grant", len(b)-d.pos)}
	}
	if err := g.Validate(); err != nil {
		return Grant{}, &MalformedError{Pos: 0, Msg: "invalid grant: " + err.Error()}
	}
	var buf [192]byte
	if re := g.appendCanonical(buf[:0]); string(re) != string(b) {
		return Grant{}, &MalformedError{Pos: firstDiff(re, b), Msg: "grant is not in canonical form"}
	}
	return g, nil
}
