// Package netconf speaks NETCONF (RFC 6241) over SSH (RFC 6242).
//
// The client builds on github.com/Juniper/go-netconf's RPC types with a
// transport of its own (see Transport): it sends its hello without waiting
// for the server's, negotiates base:1.1 chunked framing when both peers offer
// it, checks every reply's message-id and puts a deadline on every step.
//
// The server runs the "netconf" SSH subsystem on x/crypto/ssh. It implements
// the base protocol (hello, framing, rpc dispatch, rpc-errors, locks,
// close-session, kill-session, subtree filters) and hands everything else to
// a Handler, so that devicesim (or anyone) plugs in its own data and RPCs.
//
// The licensing data model (YANG module licbroker-licensing) and the identity
// read from ietf-hardware are in licensing.go.
package netconf
