package keyengine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.pem")
	kr := fixedKeyring(t)
	if _, err := kr.Rotate(t0, newSeeded("keyengine test key 2")); err != nil {
		t.Fatal(err)
	}
	if err := SaveKeyringFile(path, kr); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %04o, want 0600", fi.Mode().Perm())
	}
	kr2, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if kr2.ActiveID() != kr.ActiveID() || len(kr2.Keys()) != 2 {
		t.Fatalf("reloaded keyring: active %s, keys %+v", kr2.ActiveID(), kr2.Keys())
	}
	// A license signed by the reloaded keyring verifies with the original.
	l, err := kr2.Sign(fixedGrants(t)[0].Grant)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.TrustStore().Verify(l, udiA, t0); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestKeyringFileMode: a key file that group or others can read is refused
// with the fix in the message, and is left as it was.
func TestKeyringFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.pem")
	if err := SaveKeyringFile(path, fixedKeyring(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o660, 0o700, 0o601} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyringFile(path)
		want := "chmod 600 " + path
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "keyengine: ") {
			if mode == 0o700 && err == nil {
				continue // owner-only execute bit: still private
			}
			t.Fatalf("mode %04o: %v, want a refusal saying %q", mode, err, want)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Fatal("the refused file was changed")
		}
	}
	os.Chmod(path, 0o600)
	if _, err := LoadKeyringFile(path); err != nil {
		t.Fatalf("mode 0600: %v", err)
	}
	if _, err := LoadKeyringFile(filepath.Join(t.TempDir(), "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want os.ErrNotExist", err)
	}
	if _, err := LoadKeyringFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}

func TestParseKeyringErrors(t *testing.T) {
	kr := fixedKeyring(t)
	kr.Rotate(t0, newSeeded("keyengine test key 2"))
	good, err := kr.MarshalKeyring()
	if err != nil {
		t.Fatal(err)
	}
	first := kr.Keys()[0].ID
	pub := kr.TrustStore().MarshalTrustedKeys()
	cases := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"empty", nil, "no keys found"},
		{"garbage", []byte("hello"), "not a PEM block"},
		{"trailing garbage", append(bytes.Clone(good), "junk\n"...), "not a PEM block"},
		{"public keys", pub, `unexpected PEM block "PUBLIC KEY"`},
		{"two active", bytes.Replace(good, []byte("Created"), []byte("Active: yes\nCreated"), 1), "both marked active"},
		{"no active", bytes.ReplaceAll(good, []byte("Active: yes\n"), nil), "no active key"},
		{"active revoked", bytes.Replace(good, []byte("Active: yes\n"), []byte("Active: yes\nRevoked: yes\n"), 1), "marked revoked"},
		{"wrong key id", bytes.Replace(good, []byte("Key-Id: "+first), []byte("Key-Id: 00000000"), 1), "does not match key"},
		{"bad created", bytes.Replace(good, []byte("Created: 2025"), []byte("Created: x2025"), 1), "bad Created header"},
		{"bad flag", bytes.Replace(good, []byte("Active: yes"), []byte("Active: true"), 1), `header Active: "true"`},
		{"duplicate", append(bytes.Clone(good), good...), "appears twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKeyring(c.in)
			if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "keyengine: ") {
				t.Fatalf("err %v, want %q", err, c.msg)
			}
		})
	}
	// Keyrings written with the older 16-digit key ids still load.
	legacy := bytes.Replace(good, []byte("Key-Id: "+first), []byte("Key-Id: "+legacyKeyID(kr.TrustStore().keys[first])), 1)
	if _, err := ParseKeyring(legacy); err != nil {
		t.Fatalf("legacy key id header: %v", err)
	}
}

func TestTrustedKeys(t *testing.T) {
	kr := fixedKeyring(t)
	oldID := kr.ActiveID()
	kr.Rotate(t0, newSeeded("keyengine test key 2"))
	kr.Revoke(oldID)
	data := kr.TrustStore().MarshalTrustedKeys()
	if bytes.Contains(data, []byte("PRIVATE")) || bytes.Contains(data, []byte("SIGNING")) {
		t.Fatal("trusted keys contain private key material")
	}
	path := filepath.Join(t.TempDir(), "trusted-keys.pem")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTrustedKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ts.KeyIDs(), ","); got != strings.Join(kr.TrustStore().KeyIDs(), ",") {
		t.Fatalf("key ids %s", got)
	}
	if !ts.IsRevoked(oldID) {
		t.Fatal("revocation lost")
	}
	keyring, _ := kr.MarshalKeyring()
	for name, in := range map[string][]byte{
		"empty":       nil,
		"keyring":     keyring,
		"bad revoked": bytes.Replace(data, []byte("Revoked: yes"), []byte("Revoked: maybe"), 1),
		"garbage":     append(bytes.Clone(data), "x"...),
	} {
		if _, err := ParseTrustedKeys(in); err == nil || !strings.HasPrefix(err.Error(), "keyengine: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := LoadTrustedKeysFile(filepath.Join(t.TempDir(), "none.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestKeysListing(t *testing.T) {
	kr := fixedKeyring(t)
	a := kr.ActiveID()
	b, _ := kr.Rotate(t0, newSeeded("k2"))
	c, _ := kr.Rotate(t0.Add(1), newSeeded("k3")) // same second as b
	kr.Revoke(a)
	keys := kr.Keys()
	if len(keys) != 3 || keys[0].ID != a || !keys[0].Revoked || keys[0].Active {
		t.Fatalf("keys %+v", keys)
	}
	last := keys[1]
	if keys[2].ID == c {
		last = keys[2]
	}
	if last.ID != c || !last.Active || (keys[1].ID != b && keys[2].ID != b) {
		t.Fatalf("keys %+v", keys)
	}
}
