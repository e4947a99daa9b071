// Package netconf speaks NETCONF (RFC 6241) over SSH (RFC 6242).
//
// The client builds on github.com/Juniper/go-netconf's Session and
// RPCMessage types with a transport of its own (Transport): it sends its
// hello without waiting for the server's, checks the server's hello
// (session-id, a common base version), negotiates base:1.1 chunked framing
// when both peers offer it, checks every reply's message-id, returns
// rpc-errors as *RPCError (warnings are not errors), reports every read and
// write error and puts a deadline on the dial, the handshake and every RPC.
// Host keys are checked by a trust-on-first-use store (KnownHosts).
//
// The server runs the "netconf" SSH subsystem on x/crypto/ssh, with
// per-connection limits (handshake and idle timeouts, message size answered
// by too-big without buffering the message, sessions). It implements the
// base protocol (hello, both framings, rpc parsing with the RFC 6241
// Appendix A errors, attribute echo, in-order processing, close-session,
// kill-session, lock/unlock, get/get-config with RFC 6241 section 6 subtree
// filters, get-schema) and hands the rest to a Handler, so that devicesim
// (or anyone) plugs in its own data and RPCs.
//
// Files, by concern:
//
//	framing.go, transport.go, hello.go     RFC 6242 framing, the transport, hellos
//	client.go, reply.go                    dialing, Call/Exec, replies
//	server.go, session.go, rpc.go          listener and limits, sessions, rpc parsing and dispatch
//	dom.go, xmlparse.go, xmlscan.go        subtree filters and the XML fast paths
//	rpcerror.go, errors.go                 rpc-error and sentinel errors
//	knownhosts.go                          trust-on-first-use host keys
//	get.go, get_config.go, edit_config.go, lock.go, close_session.go,
//	kill_session.go, get_schema.go         one file per base operation (client and server side)
//	licensing.go, identity.go, schemas.go  the licensing model, ietf-hardware identity, YANG modules
//	install_license.go, clear_license.go, accept_eula.go,
//	activate_evaluation.go, set_boot_level.go, reload.go   one file per licensing RPC
//
// The YANG modules are under yang/ (see yang/README.md); package yangtest
// validates data and messages against them with yanglint. Golden files of
// the protocol bytes are under testdata/ (go test ./netconf -run Golden
// -update rewrites them).
package netconf
