package keyengine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCompactKeyRoundTrip(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	lics := signedFixed(t, kr)
	for i, c := range fixedGrants(t) {
		t.Run(c.Name, func(t *testing.T) {
			key := EncodeCompactKey(lics[i])
			golden(t, c.Name+".key", []byte(key+"\n"))
			got, err := ParseCompactKey(key)
			if err != nil {
				t.Fatalf("ParseCompactKey: %v", err)
			}
			if !reflect.DeepEqual(got, lics[i]) {
				t.Fatalf("round trip changed the license:\n got %+v\nwant %+v", got, lics[i])
			}
			if err := ts.Verify(got, c.Grant.UDI, t0); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The golden key still verifies (catches encoding changes that
			// -update would hide).
			ls, err := ParseLicenses(readTestdata(t, c.Name+".key"))
			if err != nil || len(ls) != 1 || ts.Verify(ls[0], c.Grant.UDI, t0) != nil {
				t.Fatalf("golden key: %v", err)
			}
			for _, r := range key {
				if r != '-' && !strings.ContainsRune(crockford, r) {
					t.Fatalf("key has character %q", r)
				}
			}
			t.Logf("%s: %d characters", c.Name, len(key))
		})
	}
}

// TestCompactKeyForgiving: case, separators and the look-alikes O, I, L do
// not matter.
func TestCompactKeyForgiving(t *testing.T) {
	kr := fixedKeyring(t)
	l := signedFixed(t, kr)[0]
	key := EncodeCompactKey(l)
	plain := strings.ReplaceAll(key, "-", "")
	variants := map[string]string{
		"lower case":        strings.ToLower(key),
		"no separators":     plain,
		"spaces":            strings.ReplaceAll(key, "-", " "),
		"lines of 4 groups": wrap(plain, 20, "\n") + "\n",
		"padded":            "  \t" + key + " \r\n",
		"look-alikes":       strings.NewReplacer("0", "O", "1", "l").Replace(key),
		"look-alikes lower": strings.NewReplacer("0", "o", "1", "i").Replace(strings.ToLower(key)),
		"odd grouping":      wrap(plain, 3, "--"),
	}
	for name, v := range variants {
		got, err := ParseCompactKey(v)
		if err != nil || !reflect.DeepEqual(got, l) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func wrap(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// TestCompactKeyTypos: any one wrong character and any two neighbours
// swapped fail the check of their row, and the error points at that row.
func TestCompactKeyTypos(t *testing.T) {
	kr := fixedKeyring(t)
	for _, l := range signedFixed(t, kr) {
		plain := []byte(strings.ReplaceAll(EncodeCompactKey(l), "-", ""))
		rowStart := func(i int) int { return i / keyRow * keyRow }
		for i := range plain {
			orig := plain[i]
			for _, c := range []byte(crockford) {
				if c == orig {
					continue
				}
				plain[i] = c
				assertTypoAt(t, string(plain), rowStart(i), "typo")
			}
			plain[i] = orig
		}
		for i := 0; i+1 < len(plain); i++ {
			if plain[i] == plain[i+1] {
				continue
			}
			plain[i], plain[i+1] = plain[i+1], plain[i]
			assertTypoAt(t, string(plain), rowStart(i), "typo")
			plain[i], plain[i+1] = plain[i+1], plain[i]
		}
		// Two rows swapped.
		if len(plain) >= 2*keyRow {
			swapped := string(plain[keyRow:2*keyRow]) + string(plain[:keyRow]) + string(plain[2*keyRow:])
			assertTypoAt(t, swapped, 0, "typo")
		}
	}
}

func assertTypoAt(t *testing.T, key string, pos int, msg string) {
	t.Helper()
	_, err := ParseCompactKey(key)
	var me *MalformedError
	if !errors.As(err, &me) || me.Pos != pos || !strings.Contains(err.Error(), msg) {
		t.Fatalf("key %s: err %v, want a malformed error at %d containing %q", key, err, pos, msg)
	}
}

// TestCompactKeyTamper: every single-byte change of a key fails parsing or
// verification, unless it only changes case or separators (same key).
// Changes to the payload with correct check characters (what a forger
// would make) fail verification.
func TestCompactKeyTamper(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	// Every value of every byte of one key; TestCompactKeyTypos tries
	// every other symbol at every position of all keys.
	for _, l := range signedFixed(t, kr)[2:3] {
		key := []byte(EncodeCompactKey(l))
		want := normalizeKey(string(key))
		for i := range key {
			orig := key[i]
			for v := 0; v < 256; v++ {
				if byte(v) == orig {
					continue
				}
				key[i] = byte(v)
				got, err := ParseCompactKey(string(key))
				if err != nil {
					continue
				}
				if reflect.DeepEqual(got, l) {
					// The same license: only case, separators or look-alikes
					// may have changed.
					if normalizeKey(string(key)) != want {
						t.Fatalf("byte %d changed from %q to %q: a different text reads as the same key", i, orig, byte(v))
					}
				} else if ts.Verify(got, l.Grant.UDI, t0) == nil {
					t.Fatalf("byte %d changed from %q to %q: a different license verifies", i, orig, byte(v))
				}
			}
			key[i] = orig
		}
	}
	for _, l := range signedFixed(t, kr) {
		// A forger's change: payload edited, check characters recomputed.
		payload := append(l.Grant.Canonical(), l.Signature...)
		for i := range payload {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				p := append([]byte{}, payload...)
				p[i] ^= x
				got, err := ParseCompactKey(encodePayload(p))
				if err == nil && ts.Verify(got, l.Grant.UDI, t0) == nil {
					t.Fatalf("payload byte %d ^ %#x: still verifies", i, x)
				}
			}
		}
	}
}

// normalizeKey applies the reading rules: what ParseCompactKey sees.
func normalizeKey(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if v := symbolValue[s[i]]; v >= 0 {
			sb.WriteByte(crockford[v])
		}
	}
	return sb.String()
}

// encodePayload builds a key with valid checks around arbitrary bytes.
func encodePayload(p []byte) string { return formatKey(keyDataSymbols(p)) }

func TestParseCompactKeyErrors(t *testing.T) {
	kr := fixedKeyring(t)
	l := signedFixed(t, kr)[0]
	key := EncodeCompactKey(l)
	payload := append(l.Grant.Canonical(), l.Signature...)
	fullRows := formatKey(keyDataSymbols(payload[:95])) // 152 symbols: 8 full rows
	cases := []struct {
		name string
		in   string
		want error
		pos  int
		msg  string
	}{
		{"empty", "", ErrMalformed, 0, "empty key"},
		{"only dashes", " - - ", ErrMalformed, 0, "empty key"},
		{"bad character", key[:7] + "U" + key[8:], ErrMalformed, 7, `"U" is not a key character`},
		{"punctuation", key[:3] + "*" + key[4:], ErrMalformed, 3, `"*" is not a key character`},
		{"non-ASCII", key[:12] + "\u00e9" + key[13:], ErrMalformed, 12, "\"\u00e9\" is not a key character"},
		{"typo in row 3", key[:50] + flip(key[50]) + key[51:], ErrMalformed, 48, "typo in characters 41-60 (groups 9-12)"},
		{"too short", encodePayload(payload[:60]), ErrMalformed, -1, "too short"},
		{"truncated grant", encodePayload(append(payload[:20:20], l.Signature...)), ErrMalformed, -1, "truncated"},
		{"extra byte", encodePayload(append(append(l.Grant.Canonical(), 0), l.Signature...)), ErrMalformed, -1, "after the end of the grant"},
		{"version 2", encodePayload(append([]byte{2}, payload[1:]...)), ErrUnsupportedVersion, -1, "grant version 2"},
		{"too long", strings.Repeat("0", maxKeyText+1), ErrMalformed, maxKeyText, "longer than"},
		{"stray bits", formatKey(strayBits(payload[:len(payload)-1])), ErrMalformed, -1, "stray bits"},
		{"extra symbol", formatKey(append(keyDataSymbols(payload), 0)), ErrMalformed, -1, "wrong length"},
		{"lone check character", fullRows + "-0", ErrMalformed, len(fullRows) + 1, "one character too many"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCompactKey(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "keyengine: ") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message %q, want it to contain %q", err, c.msg)
			}
			var me *MalformedError
			if c.pos >= 0 && (!errors.As(err, &me) || me.Pos != c.pos) {
				t.Fatalf("err %v: want position %d", err, c.pos)
			}
		})
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

// strayBits encodes p with a pad bit set in its last symbol.
func strayBits(p []byte) []byte {
	if len(p)*8%5 == 0 {
		panic("no pad bits")
	}
	d := keyDataSymbols(p)
	d[len(d)-1] |= 1
	return d
}
