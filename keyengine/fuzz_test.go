package keyengine

import (
	"bytes"
	"strings"
	"testing"
)

// The fuzz targets run their seed corpus in every go test; run them longer
// with make bench (or go test ./keyengine -run '^$' -fuzz FuzzParseFile).

func FuzzParseFile(f *testing.F) {
	kr := fixedKeyring(f)
	lics := signedFixed(f, kr)
	f.Add(EncodeFile(lics))
	for i := range lics {
		f.Add(EncodeFile(lics[i : i+1]))
	}
	f.Add([]byte(fileHeader + fileFooter))
	f.Add([]byte("<licenseFile/>"))
	ts := kr.TrustStore()
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseFile(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keyengine: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		// What parses is exactly what EncodeFile writes.
		if !bytes.Equal(EncodeFile(got), data) {
			t.Fatal("ParseFile accepted a non-canonical file")
		}
		for _, l := range got {
			_ = ts.Verify(l, udiA, t0)
		}
	})
}

func FuzzParseCompactKey(f *testing.F) {
	kr := fixedKeyring(f)
	for _, l := range signedFixed(f, kr) {
		key := EncodeCompactKey(l)
		f.Add(key)
		f.Add(strings.ToLower(strings.ReplaceAll(key, "-", " ")))
	}
	f.Add("")
	f.Add("00000-00000")
	ts := kr.TrustStore()
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseCompactKey(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keyengine: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		// Reading is forgiving only about case, separators and look-alikes.
		if strings.ReplaceAll(EncodeCompactKey(l), "-", "") != normalizeKey(s) {
			t.Fatal("two different texts read as the same key")
		}
		_ = ts.Verify(l, udiA, t0)
	})
}

func FuzzParseCanonical(f *testing.F) {
	for _, l := range signedFixed(f, fixedKeyring(f)) {
		f.Add(l.Grant.Canonical())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseCanonical(b)
		if err != nil {
			return
		}
		if !bytes.Equal(g.Canonical(), b) {
			t.Fatal("ParseCanonical accepted non-canonical bytes")
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("ParseCanonical returned an invalid grant: %v", err)
		}
	})
}
