package keyengine

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"time"
)

// License is a grant with its signature.
type License struct {
	Grant     Grant
	Signature []byte
}

// KeyID derives a key's id from its public key: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SigningKey is one Ed25519 key of a keyring.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
	Created time.Time
}

// Keyring holds the broker's signing keys: one active key for signing and
// older keys kept so that their licenses still verify.
type Keyring struct {
	keys    map[string]*SigningKey
	active  string
	revoked map[string]bool
}

// NewKeyring returns a keyring with one fresh active key.
func NewKeyring(now time.Time, random io.Reader) (*Keyring, error) {
	kr := &Keyring{keys: map[string]*SigningKey{}, revoked: map[string]bool{}}
	if _, err := kr.Rotate(now, random); err != nil {
		return nil, err
	}
	return kr, nil
}

// Rotate creates a new active signing key. Older keys stay for verification.
func (kr *Keyring) Rotate(now time.Time, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return "", fmt.Errorf("keyengine: generate key: %w", err)
	}
	id := KeyID(pub)
	kr.keys[id] = &SigningKey{ID: id, Private: priv, Created: now.UTC().Truncate(time.Second)}
	kr.active = id
	return id, nil
}

// ActiveID returns the id of the key that signs new licenses.
func (kr *Keyring) ActiveID() string { return kr.active }

// Sign fills the grant's key id with the active key's and signs it.
func (kr *Keyring) Sign(g Grant) (License, error) {
	k := kr.keys[kr.active]
	if k == nil {
		return License{}, fmt.Errorf("keyengine: keyring has no active key")
	}
	g.KeyID = k.ID
	if g.Version == 0 {
		g.Version = FormatVersion
	}
	g.IssuedAt = g.IssuedAt.UTC().Truncate(time.Second)
	g.NotBefore = g.NotBefore.UTC().Truncate(time.Second)
	if !g.NotAfter.IsZero() {
		g.NotAfter = g.NotAfter.UTC().Truncate(time.Second)
	}
	if err := g.Validate(); err != nil {
		return License{}, err
	}
	sig := ed25519.Sign(k.Private, g.Canonical())
	return License{Grant: g, Signature: sig}, nil
}

// TrustStore returns the public half of the keyring: what devices trust.
func (kr *Keyring) TrustStore() *TrustStore {
	ts := &TrustStore{keys: map[string]ed25519.PublicKey{}, revoked: map[string]bool{}}
	for id, k := range kr.keys {
		ts.keys[id] = k.Private.Public().(ed25519.PublicKey)
	}
	for id := range kr.revoked {
		ts.revoked[id] = true
	}
	return ts
}

// TrustStore holds the public keys a verifier trusts and the ids of revoked
// keys.
type TrustStore struct {
	keys    map[string]ed25519.PublicKey
	revoked map[string]bool
}

// NewTrustStore returns a trust store with the given public keys.
func NewTrustStore(pubs ...ed25519.PublicKey) *TrustStore {
	ts := &TrustStore{keys: map[string]ed25519.PublicKey{}, revoked: map[string]bool{}}
	for _, p := range pubs {
		ts.keys[KeyID(p)] = p
	}
	return ts
}

// KeyIDs returns the trusted key ids, sorted.
func (ts *TrustStore) KeyIDs() []string {
	ids := make([]string, 0, len(ts.keys))
	for id := range ts.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Verify checks the license's signature and that it is valid for device udi
// at time now. A zero udi skips the device check.
func (ts *TrustStore) Verify(l License, udi UDI, now time.Time) error {
	g := l.Grant
	if g.Version != FormatVersion {
		return fmt.Errorf("%w: grant version %d", ErrUnsupportedVersion, g.Version)
	}
	if ts.revoked[g.KeyID] {
		return fmt.Errorf("%w: %s", ErrRevokedKey, g.KeyID)
	}
	pub, ok := ts.keys[g.KeyID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownKey, g.KeyID)
	}
	if len(l.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, g.Canonical(), l.Signature) {
		return fmt.Errorf("%w: license %s", ErrBadSignature, g.ID)
	}
	if !udi.IsZero() && udi != g.UDI {
		return &WrongDeviceError{Licensed: g.UDI, Actual: udi}
	}
	if now.Before(g.NotBefore) {
		return fmt.Errorf("%w: license %s starts %s", ErrNotYetValid, g.ID, g.NotBefore.Format(time.RFC3339))
	}
	if !g.NotAfter.IsZero() && !now.Before(g.NotAfter) {
		return fmt.Errorf("%w: license %s ended %s", ErrExpired, g.ID, g.NotAfter.Format(time.RFC3339))
	}
	return nil
}
