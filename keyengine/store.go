package keyengine

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
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

// MarshalKeyring encodes the keyring (private keys included) as PEM blocks.
func (kr *Keyring) MarshalKeyring() ([]byte, error) {
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

// ParseKeyring decodes what MarshalKeyring wrote.
func ParseKeyring(data []byte) (*Keyring, error) {
	kr := &Keyring{keys: map[string]*SigningKey{}, revoked: map[string]bool{}}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != pemPrivate {
			return nil, fmt.Errorf("keyengine: keyring: unexpected PEM block %q", b.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyengine: keyring: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keyengine: keyring: key is not Ed25519")
		}
		id := KeyID(priv.Public().(ed25519.PublicKey))
		if h := b.Headers["Key-Id"]; h != id {
			return nil, fmt.Errorf("keyengine: keyring: key id header %q does not match key %s", h, id)
		}
		created, _ := time.Parse(time.RFC3339, b.Headers["Created"])
		kr.keys[id] = &SigningKey{ID: id, Private: priv, Created: created}
		if b.Headers["Active"] == "yes" {
			kr.active = id
		}
		if b.Headers["Revoked"] == "yes" {
			kr.revoked[id] = true
		}
	}
	if len(kr.keys) == 0 {
		return nil, fmt.Errorf("keyengine: keyring: no keys found")
	}
	if kr.active == "" {
		return nil, fmt.Errorf("keyengine: keyring: no active key")
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
// others may read.
func LoadKeyringFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyengine: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyengine: key file %s has mode %04o, readable by others; run: chmod 600 %s", path, fi.Mode().Perm(), path)
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
func ParseTrustedKeys(data []byte) (*TrustStore, error) {
	ts := &TrustStore{keys: map[string]ed25519.PublicKey{}, revoked: map[string]bool{}}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != pemPublic {
			return nil, fmt.Errorf("keyengine: trusted keys: unexpected PEM block %q", b.Type)
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyengine: trusted keys: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("keyengine: trusted keys: key is not Ed25519")
		}
		id := KeyID(pub)
		ts.keys[id] = pub
		if b.Headers["Revoked"] == "yes" {
			ts.revoked[id] = true
		}
	}
	if len(ts.keys) == 0 {
		return nil, errors.New("keyengine: trusted keys: no public keys found")
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
