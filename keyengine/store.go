package keyengine

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

const (
	pemPrivate = "LICBROKER SIGNING KEY"
	pemPublic  = "PUBLIC KEY"
)

// MarshalKeyring encodes the keyring (private keys included) as PEM blocks,
// one per key, with Key-Id, Created and, where they apply, Active and
// Revoked headers.
func (kr *Keyring) MarshalKeyring() ([]byte, error) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	ids := make([]string, 0, len(kr.keys))
	for id := range kr.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []byte
	for _, id := range ids {
		k := kr.keys[id]
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("keyengine: encode key %s: %w", id, err)
		}
		h := map[string]string{"Key-Id": id, "Created": k.Created.UTC().Format(time.RFC3339)}
		if id == kr.active {
			h["Active"] = "yes"
		}
		if kr.revoked[id] {
			h["Revoked"] = "yes"
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Headers: h, Bytes: der})...)
	}
	return out, nil
}

// pemBlocks splits data into PEM blocks of type typ. Text between or after
// blocks is an error, so that a damaged file is not half-read.
func pemBlocks(data []byte, typ, what string) ([]*pem.Block, error) {
	var out []*pem.Block
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		b, r := pem.Decode(rest)
		if b == nil || !bytes.HasPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte("-----BEGIN ")) {
			return nil, &MalformedError{Pos: len(data) - len(rest), Msg: what + ": not a PEM block"}
		}
		if b.Type != typ {
			return nil, &MalformedError{Pos: len(data) - len(rest), Msg: fmt.Sprintf("%s: unexpected PEM block %q (want %q)", what, b.Type, typ)}
		}
		out = append(out, b)
		rest = r
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("keyengine: %s: no keys found", what)
	}
	return out, nil
}

func yesHeader(b *pem.Block, name string) (bool, error) {
	switch v, ok := b.Headers[name]; {
	case !ok:
		return false, nil
	case v == "yes":
		return true, nil
	default:
		return false, fmt.Errorf("header %s: %q (want yes or no header)", name, v)
	}
}

// ParseKeyring decodes what MarshalKeyring wrote.
func ParseKeyring(data []byte) (*Keyring, error) {
	blocks, err := pemBlocks(data, pemPrivate, "keyring")
	if err != nil {
		return nil, err
	}
	kr := newEmptyKeyring()
	for _, b := range blocks {
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyengine: keyring: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keyengine: keyring: key is not Ed25519")
		}
		pub := priv.Public().(ed25519.PublicKey)
		id := KeyID(pub)
		if h := b.Headers["Key-Id"]; h != id && h != legacyKeyID(pub) {
			return nil, fmt.Errorf("keyengine: keyring: key id header %q does not match key %s", h, id)
		}
		if _, dup := kr.keys[id]; dup {
			return nil, fmt.Errorf("keyengine: keyring: key %s appears twice", id)
		}
		created, err := time.Parse(time.RFC3339, b.Headers["Created"])
		if err != nil {
			return nil, fmt.Errorf("keyengine: keyring: key %s: bad Created header %q", id, b.Headers["Created"])
		}
		active, err := yesHeader(b, "Active")
		if err != nil {
			return nil, fmt.Errorf("keyengine: keyring: key %s: %w", id, err)
		}
		revoked, err := yesHeader(b, "Revoked")
		if err != nil {
			return nil, fmt.Errorf("keyengine: keyring: key %s: %w", id, err)
		}
		kr.keys[id] = &SigningKey{ID: id, Private: priv, Created: created.UTC()}
		if active {
			if kr.active != "" {
				return nil, fmt.Errorf("keyengine: keyring: keys %s and %s are both marked active", kr.active, id)
			}
			kr.active = id
		}
		if revoked {
			kr.revoked[id] = true
		}
	}
	if kr.active == "" {
		return nil, fmt.Errorf("keyengine: keyring: no active key")
	}
	if kr.revoked[kr.active] {
		return nil, fmt.Errorf("keyengine: keyring: active key %s is marked revoked", kr.active)
	}
	return kr, nil
}

// SaveKeyringFile writes the keyring to path with mode 0600, atomically.
func SaveKeyringFile(path string, kr *Keyring) error {
	data, err := kr.MarshalKeyring()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// LoadKeyringFile reads a keyring file. It refuses a file that group or
// others may read or write, with a message that says how to fix it.
func LoadKeyringFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyengine: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keyengine: key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyengine: key file %s has mode %04o, open to group or others; refusing to use it: fix with chmod 600 %s (and rotate the keys if others may have read it)", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyengine: %w", err)
	}
	kr, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return kr, nil
}

// MarshalTrustedKeys encodes the public keys (and revocations) as PEM.
func (ts *TrustStore) MarshalTrustedKeys() []byte {
	var out []byte
	for _, id := range ts.KeyIDs() {
		der, _ := x509.MarshalPKIXPublicKey(ts.keys[id])
		h := map[string]string{"Key-Id": id}
		if ts.revoked[id] {
			h["Revoked"] = "yes"
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemPublic, Headers: h, Bytes: der})...)
	}
	return out
}

// ParseTrustedKeys decodes PEM public keys, as MarshalTrustedKeys writes.
// A block with the header "Revoked: yes" names a revoked key.
func ParseTrustedKeys(data []byte) (*TrustStore, error) {
	blocks, err := pemBlocks(data, pemPublic, "trusted keys")
	if err != nil {
		return nil, err
	}
	ts := newEmptyTrustStore()
	for _, b := range blocks {
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyengine: trusted keys: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("keyengine: trusted keys: key is not Ed25519")
		}
		id := KeyID(pub)
		revoked, err := yesHeader(b, "Revoked")
		if err != nil {
			return nil, fmt.Errorf("keyengine: trusted keys: key %s: %w", id, err)
		}
		ts.keys[id] = pub
		if revoked {
			ts.revoked[id] = true
		}
	}
	return ts, nil
}

// LoadTrustedKeysFile reads a trusted-keys PEM file.
func LoadTrustedKeysFile(path string) (*TrustStore, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyengine: %w", err)
	}
	ts, err := ParseTrustedKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return ts, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("keyengine: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("keyengine: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keyengine: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyengine: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyengine: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keyengine: %w", err)
	}
	return nil
}
