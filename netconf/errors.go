package netconf

import "errors"

// Sentinel errors of the package. Check them with errors.Is.
var (
	// ErrTooBig is returned (wrapped in a *TooBigError) by ReadMessage when
	// a message exceeds the reader's limit. The rest of the message has
	// been consumed without being stored, so the session can go on.
	ErrTooBig = errors.New("netconf: message too big")

	// ErrUnknownOperation is returned by a Handler that does not implement
	// an operation; the server answers operation-not-supported (or
	// unknown-namespace when the operation's namespace is not one the
	// server advertises, unknown-element for a non-operation in the base
	// namespace).
	ErrUnknownOperation = errors.New("netconf: unknown operation")

	// ErrDropSession is returned by a Handler to make the server drop the
	// connection without replying (fault injection: a session dropped
	// mid-RPC).
	ErrDropSession = errors.New("netconf: drop session")

	// errSessionClosed is why a client closed with Close or CloseSession
	// refuses further calls.
	errSessionClosed = errors.New("closed by the client")

	// errReloaded is why a client whose device reloaded refuses further
	// calls.
	errReloaded = errors.New("the device reloaded")

	// ErrNoLicensing: a device's data has no licensing state (no
	// licensing container of the licensing module).
	ErrNoLicensing = errors.New("netconf: the data has no licensing state")

	// errNoChassis: the data has no chassis component that names the
	// device.
	errNoChassis = errors.New("netconf: ietf-hardware has no chassis component with model-name and serial-num")
)
