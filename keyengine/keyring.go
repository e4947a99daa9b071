package keyengine

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// License is a grant with its signature.
type License struct {
	Grant     Grant
	Signature []byte
}

// KeyID derives a key's id from its public key: the first 4 bytes of its
// SHA-256, as 8 lowercase hex digits. The id only selects a trusted key; the
// signature is checked against the full key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:keyIDLen])
}

// legacyKeyID is the 16-digit id that keyring files written before the
// short ids carry in their Key-Id header.
func legacyKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func validKeyID(id string) bool {
	if len(id) != 2*keyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// SigningKey is one Ed25519 key of a keyring.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
	Created time.Time
}

// KeyInfo describes a key of a keyring, without its secret.
type KeyInfo struct {
	ID      string
	Created time.Time
	Active  bool // signs new licenses
	Revoked bool // its licenses no longer verify
}

// Keyring holds the broker's signing keys: one active key for signing and
// older (retired) keys kept so that their licenses still verify. A retired
// key can be revoked. A Keyring is safe for concurrent use.
type Keyring struct {
	mu      sync.RWMutex
	keys    map[string]*SigningKey
	active  string
	revoked map[string]bool
}

func newEmptyKeyring() *Keyring {
	return &Keyring{keys: map[string]*SigningKey{}, revoked: map[string]bool{}}
}

// NewKeyring returns a keyring with one fresh active key. A nil random uses
// crypto/rand; tests pass a fixed stream to get fixed keys.
func NewKeyring(now time.Time, random io.Reader) (*Keyring, error) {
	kr := newEmptyKeyring()
	if _, err := kr.Rotate(now, random); err != nil {
		return nil, err
	}
	return kr, nil
}

// Rotate creates a new active signing key and returns its id. Older keys
// stay for verification, so licenses they signed remain valid.
func (kr *Keyring) Rotate(now time.Time, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return "", fmt.Errorf("keyengine: generate key: %w", err)
	}
	id := KeyID(pub)
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, dup := kr.keys[id]; dup {
		return "", fmt.Errorf("keyengine: new key %s collides with a key of the keyring; rotate again", id)
	}
	kr.keys[id] = &SigningKey{ID: id, Private: priv, Created: now.UTC().Truncate(time.Second)}
	kr.active = id
	return id, nil
}

// Revoke marks a retired key as revoked: licenses it signed no longer
// verify, here and on every device that loads the trusted keys exported
// afterwards. The active key cannot be revoked (rotate first). Revoking a
// revoked key again does nothing.
func (kr *Keyring) Revoke(id string) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, ok := kr.keys[id]; !ok {
		return fmt.Errorf("%w: %q is not in the keyring", ErrUnknownKey, id)
	}
	if id == kr.active {
		return fmt.Errorf("keyengine: key %s is the active signing key; rotate first, then revoke it", id)
	}
	kr.revoked[id] = true
	return nil
}

// ActiveID returns the id of the key that signs new licenses.
func (kr *Keyring) ActiveID() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.active
}

// Keys describes the keyring's keys, oldest first.
func (kr *Keyring) Keys() []KeyInfo {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	out := make([]KeyInfo, 0, len(kr.keys))
	for id, k := range kr.keys {
		out = append(out, KeyInfo{ID: id, Created: k.Created, Active: id == kr.active, Revoked: kr.revoked[id]})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Sign fills the grant's key id with the active key's and signs it. It sets
// Version to FormatVersion if it is 0, rounds times down to whole seconds in
// UTC and sets a zero NotBefore to IssuedAt. The grant must then be valid.
func (kr *Keyring) Sign(g Grant) (License, error) {
	kr.mu.RLock()
	k := kr.keys[kr.active]
	kr.mu.RUnlock()
	if k == nil {
		return License{}, fmt.Errorf("keyengine: keyring has no active key")
	}
	g.KeyID = k.ID
	if g.Version == 0 {
		g.Version = FormatVersion
	}
	g.IssuedAt = g.IssuedAt.UTC().Truncate(time.Second)
	if g.NotBefore.IsZero() {
		g.NotBefore = g.IssuedAt
	}
	g.NotBefore = g.NotBefore.UTC().Truncate(time.Second)
	if !g.NotAfter.IsZero() {
		g.NotAfter = g.NotAfter.UTC().Truncate(time.Second)
	}
	if err := g.Validate(); err != nil {
		return License{}, err
	}
	var buf [192]byte
	sig := ed25519.Sign(k.Private, g.appendCanonical(buf[:0]))
	return License{Grant: g, Signature: sig}, nil
}

// TrustStore returns the public half of the keyring, revocations included:
// what devices trust.
func (kr *Keyring) TrustStore() *TrustStore {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	ts := newEmptyTrustStore()
	for id, k := range kr.keys {
		ts.keys[id] = k.Private.Public().(ed25519.PublicKey)
	}
	for id := range kr.revoked {
		ts.revoked[id] = true
	}
	return ts
}
