// Package keyengine issues and verifies device-bound license keys.
//
// A Grant says what was bought and for which device (UDI = product ID +
// serial number): license id, feature, type (permanent, evaluation,
// extension), count, issued-at, not-before, not-after, PAK, tenant, the
// signing key's id and a comment. Its canonical encoding (Grant.Canonical,
// described in canonical.go) is compact and has exactly one form per grant;
// ParseCanonical accepts nothing else.
//
// A Keyring holds the broker's Ed25519 signing keys: one active key signs,
// retired keys stay so that their licenses keep verifying (Rotate), and a
// retired key can be revoked (Revoke). Key ids are the first 4 bytes of the
// SHA-256 of the public key, in hex. Devices verify a License offline with
// a TrustStore that holds only public keys and revocations, loaded from the
// trusted-keys PEM file (MarshalTrustedKeys, ParseTrustedKeys). Keyring files
// are written with mode 0600 and refused if group or others may read them.
//
// Licenses travel in two encodings, both carrying the canonical grant and
// its signature:
//
//   - the XML license file (EncodeFile, ParseFile): a human-readable part
//     and the signed line of each license; what NETCONF carries to a device
//     and what a user downloads. ParseFile accepts only the exact bytes
//     EncodeFile writes, so any edit is detected.
//   - the compact key (EncodeCompactKey, ParseCompactKey): Crockford base32
//     in dash-separated groups of 5, with a check character every 20
//     characters that catches any single typo or swap of neighbours and
//     names where it is. Reading ignores case, spaces and dashes.
//
// ParseLicenses reads either. TrustStore.Verify returns typed errors: see
// errors.go. Nothing in this package panics on any input.
//
// keyengine uses the standard library only.
package keyengine
