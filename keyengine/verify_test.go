package keyengine

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifyWrongDevice: a license for UDI A never verifies for another
// UDI, in either encoding, and the error names both devices.
func TestVerifyWrongDevice(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	others := []UDI{
		udiB,
		{PID: "WS-C3750E-24TD-E", SN: udiA.SN}, // same serial, other product
		{PID: udiA.PID, SN: strings.ToLower(udiA.SN)}, // case matters
		{PID: udiA.PID, SN: udiA.SN + "0"},
		{PID: udiA.SN, SN: udiA.PID},
	}
	for _, l := range signedFixed(t, kr) {
		a := l.Grant.UDI
		fromFile, err := ParseFile(EncodeFile([]License{l}))
		if err != nil {
			t.Fatal(err)
		}
		fromKey, err := ParseCompactKey(EncodeCompactKey(l))
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []License{l, fromFile[0], fromKey} {
			if err := ts.Verify(got, a, t0); err != nil {
				t.Fatalf("license for %s on %s: %v", a, a, err)
			}
			for _, b := range append(others, UDI{PID: a.PID, SN: a.SN + "X"}) {
				if b == a {
					continue
				}
				err := ts.Verify(got, b, t0)
				var wd *WrongDeviceError
				if !errors.As(err, &wd) || !errors.Is(err, ErrWrongDevice) || wd.Licensed != a || wd.Actual != b {
					t.Fatalf("license for %s verified on %s: %v", a, b, err)
				}
				want := "keyengine: license is for device " + a.String() + ", not " + b.String()
				if err.Error() != want {
					t.Fatalf("message %q, want %q", err, want)
				}
			}
		}
		// Rebinding the grant to B in memory (an edited state file) breaks
		// the signature.
		moved := l
		moved.Grant.UDI = udiB
		if err := ts.Verify(moved, udiB, t0); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("license moved to %s: %v, want bad signature", udiB, err)
		}
	}
}

func TestVerifyTimes(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	lics := signedFixed(t, kr)
	ext := lics[2].Grant
	cases := []struct {
		name string
		l    License
		now  time.Time
		want error
		msg  string
	}{
		{"before start", lics[2], ext.NotBefore.Add(-time.Second), ErrNotYetValid, "starts 2025-03-01T09:55:00Z"},
		{"at start", lics[2], ext.NotBefore, nil, ""},
		{"last second", lics[2], ext.NotAfter.Add(-time.Nanosecond), nil, ""},
		{"at end", lics[2], ext.NotAfter, ErrExpired, "ended 2025-05-30T10:00:00Z"},
		{"long after", lics[1], t0.AddDate(1, 0, 0), ErrExpired, "ended"},
		{"permanent in 9999", lics[0], time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), nil, ""},
		{"permanent before start", lics[0], lics[0].Grant.NotBefore.Add(-time.Second), ErrNotYetValid, "starts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ts.Verify(c.l, c.l.Grant.UDI, c.now)
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err != nil && (!strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), c.l.Grant.ID)) {
				t.Fatalf("message %q, want the license id and %q", err, c.msg)
			}
		})
	}
}

func TestVerifyRotateAndRevoke(t *testing.T) {
	kr := fixedKeyring(t)
	old := signedFixed(t, kr)[0]
	oldID := kr.ActiveID()
	newID, err := kr.Rotate(t0, newSeeded("keyengine test key 2"))
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || kr.ActiveID() != newID {
		t.Fatalf("after rotate the active key is %s (old %s, new %s)", kr.ActiveID(), oldID, newID)
	}
	fresh := signedFixed(t, kr)[0]
	if fresh.Grant.KeyID != newID {
		t.Fatalf("new license signed by %s, want %s", fresh.Grant.KeyID, newID)
	}
	// Rotation keeps old licenses valid, here and on devices.
	ts := kr.TrustStore()
	for _, l := range []License{old, fresh} {
		if err := ts.Verify(l, l.Grant.UDI, t0); err != nil {
			t.Fatalf("after rotate, license signed by %s: %v", l.Grant.KeyID, err)
		}
	}
	// A device that only trusts the old key refuses the new license.
	oldOnly := NewTrustStore(kr.keys[oldID].Private.Public().(ed25519.PublicKey))
	if err := oldOnly.Verify(fresh, fresh.Grant.UDI, t0); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), newID) {
		t.Fatalf("unknown key: %v", err)
	}

	if err := kr.Revoke(newID); err == nil || !strings.Contains(err.Error(), "rotate first") {
		t.Fatalf("revoking the active key: %v", err)
	}
	if err := kr.Revoke("deadbeef"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoking an unknown key: %v", err)
	}
	if err := kr.Revoke(oldID); err != nil {
		t.Fatal(err)
	}
	if err := kr.Revoke(oldID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	// Devices honour the revocation through the exported trusted keys.
	device, err := ParseTrustedKeys(kr.TrustStore().MarshalTrustedKeys())
	if err != nil {
		t.Fatal(err)
	}
	for name, ts := range map[string]*TrustStore{"broker": kr.TrustStore(), "device": device} {
		err := ts.Verify(old, old.Grant.UDI, t0)
		if !errors.Is(err, ErrRevokedKey) || !strings.Contains(err.Error(), oldID) || !strings.Contains(err.Error(), old.Grant.ID) {
			t.Fatalf("%s: license of a revoked key: %v", name, err)
		}
		if err := ts.Verify(fresh, fresh.Grant.UDI, t0); err != nil {
			t.Fatalf("%s: license of the active key after revoking the old one: %v", name, err)
		}
		if !ts.IsRevoked(oldID) || ts.IsRevoked(newID) {
			t.Fatalf("%s: revocation flags wrong", name)
		}
	}
	// The keyring file keeps the revocation and the active key.
	data, err := kr.MarshalKeyring()
	if err != nil {
		t.Fatal(err)
	}
	kr2, err := ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	keys := kr2.Keys()
	if len(keys) != 2 || kr2.ActiveID() != newID || !keys[0].Revoked || keys[0].ID != oldID || keys[1].Active == false || keys[1].Revoked {
		t.Fatalf("keyring after reload: %+v (active %s)", keys, kr2.ActiveID())
	}
	if err := kr2.TrustStore().Verify(old, old.Grant.UDI, t0); !errors.Is(err, ErrRevokedKey) {
		t.Fatalf("reloaded keyring: %v", err)
	}
}

func TestVerifyBadSignatureAndVersion(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	l := signedFixed(t, kr)[2]
	for i := range l.Signature {
		bad := l
		bad.Signature = append([]byte{}, l.Signature...)
		bad.Signature[i] ^= 0x04
		if err := ts.Verify(bad, l.Grant.UDI, t0); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), l.Grant.ID) {
			t.Fatalf("signature byte %d flipped: %v", i, err)
		}
	}
	for _, sig := range [][]byte{nil, l.Signature[:63], append(append([]byte{}, l.Signature...), 0)} {
		bad := l
		bad.Signature = sig
		if err := ts.Verify(bad, UDI{}, t0); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of %d bytes: %v", len(sig), err)
		}
	}
	// Another keyring's signature under our key id.
	other, err := NewKeyring(t0, newSeeded("another key"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(l.Grant)
	if err != nil {
		t.Fatal(err)
	}
	forged.Grant.KeyID = l.Grant.KeyID
	if err := ts.Verify(forged, UDI{}, t0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged signature: %v", err)
	}
	v2 := l
	v2.Grant.Version = 2
	if err := ts.Verify(v2, UDI{}, t0); !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), "grant version 2") {
		t.Fatalf("version 2: %v", err)
	}
	// Every field of the grant is covered by the signature.
	edits := map[string]func(*Grant){
		"feature": func(g *Grant) { g.Feature = "ipbase" },
		"type":    func(g *Grant) { g.Type = Evaluation },
		"count":   func(g *Grant) { g.Count = 500 },
		"end":     func(g *Grant) { g.NotAfter = g.NotAfter.AddDate(10, 0, 0) },
		"tenant":  func(g *Grant) { g.Tenant = "other" },
		"comment": func(g *Grant) { g.Comment = "free" },
		"id":      func(g *Grant) { g.ID = "L2" },
	}
	for name, edit := range edits {
		e := l
		edit(&e.Grant)
		if err := ts.Verify(e, UDI{}, t0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("edited %s: %v", name, err)
		}
	}
	// An invalid grant is malformed, whatever its signature.
	odd := l
	odd.Grant.NotAfter = odd.Grant.NotAfter.Add(500 * time.Millisecond)
	if err := ts.Verify(odd, UDI{}, t0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("grant with a fraction of a second: %v", err)
	}
	if err := ts.Verify(License{}, UDI{}, t0); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("zero license: %v", err)
	}
}

// TestLicenseJSON: devicesim persists licenses with encoding/json.
func TestLicenseJSON(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	for _, l := range signedFixed(t, kr) {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back License
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := ts.Verify(back, l.Grant.UDI, t0); err != nil {
			t.Fatalf("license after a JSON round trip: %v", err)
		}
	}
}

func TestSignNormalizes(t *testing.T) {
	kr := fixedKeyring(t)
	ny := time.FixedZone("EST", -5*3600)
	l, err := kr.Sign(Grant{ID: "L9", UDI: udiA, Feature: "ipbase", Type: Extension,
		IssuedAt: t0.In(ny).Add(300 * time.Millisecond), NotAfter: t0.Add(48*time.Hour + time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	g := l.Grant
	if g.Version != FormatVersion || g.KeyID != kr.ActiveID() || !g.IssuedAt.Equal(t0) || !g.NotBefore.Equal(t0) ||
		!g.NotAfter.Equal(t0.Add(48*time.Hour)) || g.IssuedAt.Location() != time.UTC {
		t.Fatalf("signed grant %+v", g)
	}
	if err := kr.TrustStore().Verify(l, udiA, t0); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringConcurrentSign(t *testing.T) {
	kr := fixedKeyring(t)
	g := fixedGrants(t)[0].Grant
	done := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			for j := 0; j < 20; j++ {
				if _, err := kr.Sign(g); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	if _, err := kr.Rotate(t0, nil); err != nil {
		t.Fatal(err)
	}
	_ = kr.TrustStore()
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
