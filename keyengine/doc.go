// Package keyengine issues and verifies device-bound license keys.
//
// A Grant says what was bought and for which device (UDI = product ID +
// serial number). A Keyring holds the broker's Ed25519 signing keys; it signs
// the grant's canonical bytes and produces a License. Devices verify a
// License offline with a TrustStore that holds only public keys.
//
// Licenses travel in two encodings: the XML license file (what NETCONF carries
// to a device and what a user downloads) and the compact key (text a person
// can read over the phone).
//
// keyengine uses the standard library only.
package keyengine
