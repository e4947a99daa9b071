package keyengine

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped) by verification and parsing. Check them
// with errors.Is; WrongDeviceError and MalformedError carry details.
var (
	// ErrBadSignature: the signature does not match the grant.
	ErrBadSignature = errors.New("keyengine: bad signature")
	// ErrUnknownKey: the grant names a key id the verifier does not trust.
	ErrUnknownKey = errors.New("keyengine: unknown key id")
	// ErrRevokedKey: the grant was signed by a key that has been revoked.
	ErrRevokedKey = errors.New("keyengine: revoked key id")
	// ErrExpired: the license's end date has passed.
	ErrExpired = errors.New("keyengine: license expired")
	// ErrNotYetValid: the license's start date is in the future.
	ErrNotYetValid = errors.New("keyengine: license not yet valid")
	// ErrUnsupportedVersion: the encoding version is not one this package reads.
	ErrUnsupportedVersion = errors.New("keyengine: unsupported version")
	// ErrWrongDevice: the license is bound to another device.
	ErrWrongDevice = errors.New("keyengine: license is for another device")
	// ErrMalformed: the input could not be decoded.
	ErrMalformed = errors.New("keyengine: malformed")
)

// WrongDeviceError says which device a license is for and which device tried
// to use it.
type WrongDeviceError struct {
	Licensed UDI // the device the license names
	Actual   UDI // the device that checked it
}

func (e *WrongDeviceError) Error() string {
	return fmt.Sprintf("keyengine: license is for device %s, not %s", e.Licensed, e.Actual)
}

// Is makes errors.Is(err, ErrWrongDevice) true.
func (e *WrongDeviceError) Is(target error) bool { return target == ErrWrongDevice }

// MalformedError reports where decoding failed. Pos is a byte offset (or a
// character offset for the compact key), counted from 0.
type MalformedError struct {
	Pos int
	Msg string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("keyengine: malformed at position %d: %s", e.Pos, e.Msg)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
