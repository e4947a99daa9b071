package keyengine

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"time"
)

// TrustStore holds the public keys a verifier trusts and the ids of revoked
// keys. It is what a device needs to verify licenses offline. A TrustStore
// is not changed after it is built, except by Revoke; do not call Revoke
// while another goroutine verifies.
type TrustStore struct {
	keys    map[string]ed25519.PublicKey
	revoked map[string]bool
}

func newEmptyTrustStore() *TrustStore {
	return &TrustStore{keys: map[string]ed25519.PublicKey{}, revoked: map[string]bool{}}
}

// NewTrustStore returns a trust store with the given public keys.
func NewTrustStore(pubs ...ed25519.PublicKey) *TrustStore {
	ts := newEmptyTrustStore()
	for _, p := range pubs {
		ts.keys[KeyID(p)] = p
	}
	return ts
}

// KeyIDs returns the trusted key ids (revoked ones included), sorted.
func (ts *TrustStore) KeyIDs() []string {
	ids := make([]string, 0, len(ts.keys))
	for id := range ts.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Revoke marks a key id as revoked: licenses it signed no longer verify.
func (ts *TrustStore) Revoke(id string) { ts.revoked[id] = true }

// IsRevoked reports whether key id is revoked.
func (ts *TrustStore) IsRevoked(id string) bool { return ts.revoked[id] }

// Verify checks the license's signature and that it is valid for device udi
// at time now: NotBefore <= now < NotAfter. A zero udi skips the device
// check. Errors wrap ErrUnsupportedVersion, ErrMalformed, ErrRevokedKey,
// ErrUnknownKey, ErrBadSignature, ErrWrongDevice (a *WrongDeviceError),
// ErrNotYetValid or ErrExpired, checked in that order.
func (ts *TrustStore) Verify(l License, udi UDI, now time.Time) error {
	g := l.Grant
	if g.Version != FormatVersion {
		return fmt.Errorf("%w: grant version %d (this build reads %d)", ErrUnsupportedVersion, g.Version, FormatVersion)
	}
	// Only a valid grant has one encoding; anything else could share the
	// signed bytes of another grant.
	if err := g.Validate(); err != nil {
		return &MalformedError{Pos: 0, Msg: "license " + g.ID + ": " + err.Error()}
	}
	if ts.revoked[g.KeyID] {
		return fmt.Errorf("%w: license %s is signed by revoked key %s", ErrRevokedKey, g.ID, g.KeyID)
	}
	pub, ok := ts.keys[g.KeyID]
	if !ok {
		return fmt.Errorf("%w: license %s is signed by key %s, which is not trusted here", ErrUnknownKey, g.ID, g.KeyID)
	}
	var buf [192]byte
	if len(l.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, g.appendCanonical(buf[:0]), l.Signature) {
		return fmt.Errorf("%w: license %s", ErrBadSignature, g.ID)
	}
	if !udi.IsZero() && udi != g.UDI {
		return &WrongDeviceError{Licensed: g.UDI, Actual: udi}
	}
	return g.CheckPeriod(now)
}

// CheckPeriod checks that the grant is valid at now: NotBefore <= now <
// NotAfter (no NotAfter: no end). Errors wrap ErrNotYetValid or
// ErrExpired. It is the last check of TrustStore.Verify, for callers that
// have verified the license's signature once and check its period again
// later.
func (g Grant) CheckPeriod(now time.Time) error {
	if now.Before(g.NotBefore) {
		return fmt.Errorf("%w: license %s starts %s", ErrNotYetValid, g.ID, g.NotBefore.UTC().Format(time.RFC3339))
	}
	if !g.NotAfter.IsZero() && !now.Before(g.NotAfter) {
		return fmt.Errorf("%w: license %s ended %s", ErrExpired, g.ID, g.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
