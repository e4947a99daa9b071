package keyengine

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// seeded is a deterministic byte stream (SHA-256 in counter mode) so that
// keys and license ids in golden files never change.
type seeded struct {
	seed string
	ctr  uint64
	buf  []byte
}

func newSeeded(seed string) *seeded { return &seeded{seed: seed} }

func (s *seeded) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(s.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], s.ctr)
			s.ctr++
			sum := sha256.Sum256(append([]byte(s.seed), c[:]...))
			s.buf = sum[:]
		}
		k := copy(p[n:], s.buf)
		s.buf = s.buf[k:]
		n += k
	}
	return len(p), nil
}

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// fixedKeyring returns a keyring with one key from a fixed seed.
func fixedKeyring(t testing.TB) *Keyring {
	t.Helper()
	kr, err := NewKeyring(t0.Add(-24*time.Hour), newSeeded("keyengine test key 1"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func fixedID(t testing.TB, n int) string {
	t.Helper()
	id, err := NewLicenseID(t0.Add(time.Duration(n)*time.Millisecond), newSeeded("license id "+string(rune('a'+n))))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var udiA = UDI{PID: "WS-C3750E-24TD-S", SN: "FDO1307R0W9"}
var udiB = UDI{PID: "WS-C3750E-24TD-S", SN: "FDO1307R0X1"}

// fixedGrants returns one grant of every kind, by name.
func fixedGrants(t testing.TB) []struct {
	Name  string
	Grant Grant
} {
	return []struct {
		Name  string
		Grant Grant
	}{
		{"permanent", Grant{ID: fixedID(t, 0), UDI: udiA, Feature: "ipservices", Type: Permanent,
			IssuedAt: t0, NotBefore: t0.Add(-5 * time.Minute), PAK: "PAK00000001", Tenant: "acme"}},
		{"evaluation", Grant{ID: fixedID(t, 1), UDI: UDI{PID: "CISCO881-K9", SN: "FTX1234A0BC"}, Feature: "advipservices",
			Type: Evaluation, IssuedAt: t0, NotBefore: t0, NotAfter: t0.Add(60 * 24 * time.Hour)}},
		{"extension", Grant{ID: fixedID(t, 2), UDI: udiA, Feature: "advipservices", Type: Extension, Counted: true, Count: 5,
			IssuedAt: t0, NotBefore: t0.Add(-5 * time.Minute), NotAfter: t0.Add(90 * 24 * time.Hour), PAK: "PAK0000000X", Tenant: "tenant_2/east",
			Comment: "renewal <Q2> & 'spares'"}},
		{"comment", Grant{ID: "L1", UDI: UDI{PID: "CISCO867VAE-K9", SN: "JAE99_x/1.2"}, Feature: "advsecurity", Type: Permanent,
			IssuedAt: t0, NotBefore: t0, Comment: `spare for site <B> & "C", rack 'r4'`}},
	}
}

// signed signs the fixed grants with kr.
func signedFixed(t testing.TB, kr *Keyring) []License {
	t.Helper()
	var out []License
	for _, c := range fixedGrants(t) {
		l, err := kr.Sign(c.Grant)
		if err != nil {
			t.Fatalf("sign %s: %v", c.Name, err)
		}
		out = append(out, l)
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./keyengine -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run go test ./keyengine -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (run go test ./keyengine -update to create it)", err)
	}
	return b
}
