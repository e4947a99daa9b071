package keyengine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestCanonicalRoundTrip(t *testing.T) {
	kr := fixedKeyring(t)
	for i, l := range signedFixed(t, kr) {
		name := fixedGrants(t)[i].Name
		t.Run(name, func(t *testing.T) {
			b := l.Grant.Canonical()
			g, err := ParseCanonical(b)
			if err != nil {
				t.Fatalf("ParseCanonical: %v", err)
			}
			if !reflect.DeepEqual(g, l.Grant) {
				t.Fatalf("round trip changed the grant:\n got %+v\nwant %+v", g, l.Grant)
			}
			if !bytes.Equal(g.Canonical(), b) {
				t.Fatal("canonical bytes differ after a round trip")
			}
		})
	}
}

func TestCanonicalIsDeterministic(t *testing.T) {
	kr := fixedKeyring(t)
	l := signedFixed(t, kr)[2]
	g := l.Grant
	paris := time.FixedZone("CET", 3600)
	g2 := g
	g2.IssuedAt, g2.NotBefore, g2.NotAfter = g.IssuedAt.In(paris), g.NotBefore.In(paris), g.NotAfter.In(paris)
	if !bytes.Equal(g.Canonical(), g2.Canonical()) {
		t.Fatal("the same instants in another time zone encode differently")
	}
	if !bytes.Equal(g.Canonical(), g.Canonical()) {
		t.Fatal("two encodings of one grant differ")
	}
	// Every field changes the bytes.
	changes := map[string]func(*Grant){
		"id":         func(g *Grant) { g.ID = fixedID(t, 9) },
		"pid":        func(g *Grant) { g.UDI.PID = "WS-C3750E-24TD-E" },
		"sn":         func(g *Grant) { g.UDI.SN = "FDO1307R0W8" },
		"feature":    func(g *Grant) { g.Feature = "ipbase" },
		"type":       func(g *Grant) { g.Type = Evaluation },
		"counted":    func(g *Grant) { g.Counted, g.Count = false, 0 },
		"count":      func(g *Grant) { g.Count = 6 },
		"issued":     func(g *Grant) { g.IssuedAt = g.IssuedAt.Add(time.Second) },
		"not-before": func(g *Grant) { g.NotBefore = g.NotBefore.Add(time.Second) },
		"not-after":  func(g *Grant) { g.NotAfter = g.NotAfter.Add(time.Second) },
		"pak":        func(g *Grant) { g.PAK = "PAK0000000Y" },
		"tenant":     func(g *Grant) { g.Tenant = "" },
		"key id":     func(g *Grant) { g.KeyID = "00000000" },
		"comment":    func(g *Grant) { g.Comment = "x" },
	}
	for name, change := range changes {
		g3 := g
		change(&g3)
		if err := g3.Validate(); err != nil {
			t.Fatalf("%s: changed grant is invalid: %v", name, err)
		}
		if bytes.Equal(g3.Canonical(), g.Canonical()) {
			t.Errorf("changing the %s does not change the canonical bytes", name)
		}
	}
}

func TestPackedStringsRoundTrip(t *testing.T) {
	const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/."
	r := rand.New(rand.NewPCG(1, 2))
	kr := fixedKeyring(t)
	base := signedFixed(t, kr)[0].Grant
	for n := 1; n <= MaxTokenLen; n++ {
		for trial := 0; trial < 20; trial++ {
			alphabet := tokenChars
			if trial%2 == 0 {
				alphabet = packAlphabet // exercise the packed form on every length
			}
			var sb strings.Builder
			for i := 0; i < n; i++ {
				sb.WriteByte(alphabet[r.IntN(len(alphabet))])
			}
			g := base
			g.Feature = sb.String()
			got, err := ParseCanonical(g.Canonical())
			if err != nil || got.Feature != g.Feature {
				t.Fatalf("feature %q: got %q, %v", g.Feature, got.Feature, err)
			}
		}
	}
}

func TestParseCanonicalRejects(t *testing.T) {
	kr := fixedKeyring(t)
	good := signedFixed(t, kr)[2].Grant.Canonical() // extension: every optional part present
	if _, err := ParseCanonical(good); err != nil {
		t.Fatal(err)
	}
	// Every proper prefix is malformed.
	for n := 0; n < len(good); n++ {
		if _, err := ParseCanonical(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: err %v, want malformed", n, err)
		}
	}
	set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	permanent := signedFixed(t, kr)[0].Grant
	rawID := permanent
	rawID.ID = "L1" // placeholder, replaced below by a raw encoding of a packable id
	cases := []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"version 2", set(0, 2), ErrUnsupportedVersion, "grant version 2"},
		{"version 0", set(0, 0), ErrUnsupportedVersion, "grant version 0"},
		{"type 0", set(1, 0), ErrMalformed, "unknown license type"},
		{"unknown flag", set(1, good[1]|0x80), ErrMalformed, "unknown license type"},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed, "after the end"},
		{"overlong varint", append([]byte{1, 0x07, 0x85, 0x00}, good[3:]...), ErrMalformed, ""},
		{"raw form of a packable string", rawString(t, permanent), ErrMalformed, "not in canonical form"},
		{"raw form of a license id", rawLicenseID(t, permanent), ErrMalformed, "not in canonical form"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCanonical(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "keyengine: ") {
				t.Fatalf("message %q, want it to contain %q", err, c.msg)
			}
		})
	}
}

// rawString re-encodes g with its feature as a raw (unpacked) string.
func rawString(t *testing.T, g Grant) []byte {
	b := g.Canonical()
	packed := appendString(nil, g.Feature)
	i := bytes.Index(b, packed)
	if i < 0 || packed[0]&strPackedFlag == 0 {
		t.Fatal("feature is not packed")
	}
	raw := append([]byte{byte(len(g.Feature))}, g.Feature...)
	return append(append(append([]byte{}, b[:i]...), raw...), b[i+len(packed):]...)
}

// rawLicenseID re-encodes g with its id as a string rather than 15 bytes.
func rawLicenseID(t *testing.T, g Grant) []byte {
	b := g.Canonical()
	i := bytes.IndexByte(b, idPackedTag)
	if i < 0 {
		t.Fatal("id is not packed")
	}
	s := appendString(nil, g.ID)
	return append(append(append([]byte{}, b[:i]...), s...), b[i+16:]...)
}

func TestValidate(t *testing.T) {
	kr := fixedKeyring(t)
	base := signedFixed(t, kr)[2].Grant
	cases := []struct {
		name   string
		change func(*Grant)
		msg    string
	}{
		{"version", func(g *Grant) { g.Version = 2 }, "unsupported version"},
		{"no id", func(g *Grant) { g.ID = "" }, "license id is empty"},
		{"id with space", func(g *Grant) { g.ID = "L 1" }, "invalid character"},
		{"long feature", func(g *Grant) { g.Feature = strings.Repeat("f", 65) }, "longer than 64"},
		{"no pid", func(g *Grant) { g.UDI.PID = "" }, "product ID is empty"},
		{"bad type", func(g *Grant) { g.Type = "demo" }, "unknown license type"},
		{"counted without count", func(g *Grant) { g.Count = 0 }, "count of at least 1"},
		{"count without counted", func(g *Grant) { g.Counted = false }, "uncounted license has no count"},
		{"no issued-at", func(g *Grant) { g.IssuedAt = time.Time{} }, "issued-at is not set"},
		{"no not-before", func(g *Grant) { g.NotBefore = time.Time{} }, "not-before is not set"},
		{"before 1970", func(g *Grant) { g.IssuedAt = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, "between 1970 and 9999"},
		{"after 9999", func(g *Grant) { g.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "between 1970 and 9999"},
		{"fraction of a second", func(g *Grant) { g.NotAfter = g.NotAfter.Add(time.Millisecond) }, "whole seconds"},
		{"permanent with end", func(g *Grant) { g.Type = Permanent }, "permanent license has no end date"},
		{"extension without end", func(g *Grant) { g.NotAfter = time.Time{} }, "needs an end date"},
		{"ends before start", func(g *Grant) { g.NotAfter = g.NotBefore }, "ends"},
		{"bad pak", func(g *Grant) { g.PAK = "PAK#1" }, "invalid character"},
		{"bad key id", func(g *Grant) { g.KeyID = "7334B2BC" }, "lowercase hex"},
		{"long key id", func(g *Grant) { g.KeyID = "7334b2bc7334b2bc" }, "lowercase hex"},
		{"long comment", func(g *Grant) { g.Comment = strings.Repeat("c", MaxCommentLen+1) }, "comment is longer"},
		{"comment newline", func(g *Grant) { g.Comment = "a\nb" }, "printable ASCII"},
		{"comment non-ASCII", func(g *Grant) { g.Comment = "caf\u00e9" }, "printable ASCII"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := base
			c.change(&g)
			err := g.Validate()
			if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "keyengine: ") {
				t.Fatalf("Validate: %v, want an error containing %q", err, c.msg)
			}
			// Sign sets the key id, a zero not-before and whole seconds
			// itself; everything else it must refuse.
			signFixes := map[string]bool{"bad key id": true, "long key id": true, "no not-before": true, "fraction of a second": true}
			if _, err := kr.Sign(g); (err == nil) != signFixes[c.name] {
				t.Fatalf("Sign: %v", err)
			}
			// Nothing panics on an invalid grant.
			_ = EncodeFile([]License{{Grant: g}})
			_ = EncodeCompactKey(License{Grant: g})
			if err := kr.TrustStore().Verify(License{Grant: g, Signature: make([]byte, 64)}, UDI{}, t0); err == nil {
				t.Fatal("Verify accepted an invalid grant")
			}
		})
	}
}

func TestNewLicenseID(t *testing.T) {
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 200; i++ {
		id, err := NewLicenseID(t0.Add(time.Duration(i)*time.Millisecond), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !isLicenseIDForm(id) || checkToken("id", id, MaxTokenLen) != nil {
			t.Fatalf("id %q has the wrong form", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids made at increasing times do not sort in time order")
	}
	if _, err := NewLicenseID(t0, bytes.NewReader(nil)); err == nil || !strings.HasPrefix(err.Error(), "keyengine: ") {
		t.Fatalf("short random source: %v", err)
	}
}
