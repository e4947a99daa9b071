package devicesim

import "errors"

// Sentinel errors. They are returned wrapped with details; check them with
// errors.Is.
var (
	// ErrNoSuchDevice: no device of the fleet matches the given index,
	// address or UDI.
	ErrNoSuchDevice = errors.New("devicesim: no such device")
	// ErrNoSuchLicense: the device holds no installed license with that id.
	ErrNoSuchLicense = errors.New("devicesim: no such license")
	// ErrUnknownLevel: the feature level is not one of the device's family.
	ErrUnknownLevel = errors.New("devicesim: unknown feature level")
	// ErrBaseLevel: the base level needs no license and has no evaluation.
	ErrBaseLevel = errors.New("devicesim: base level needs no license")
	// ErrEULANotAccepted: an evaluation license needs its EULA accepted.
	ErrEULANotAccepted = errors.New("devicesim: EULA not accepted")
	// ErrEvaluationExpired: the evaluation period of a level is used up.
	ErrEvaluationExpired = errors.New("devicesim: evaluation license expired")
	// ErrPoweredOff: the device is powered off.
	ErrPoweredOff = errors.New("devicesim: device is powered off")
	// ErrUnknownVersion: the software version is not a release of the
	// device's image.
	ErrUnknownVersion = errors.New("devicesim: unknown software version")
	// ErrBadConfig: the fleet configuration is invalid.
	ErrBadConfig = errors.New("devicesim: bad fleet configuration")
	// ErrStateDir: the state directory cannot be used (unreadable, or made
	// by a fleet with another seed or mix).
	ErrStateDir = errors.New("devicesim: state directory")
	// ErrBadFault: a fault description is invalid.
	ErrBadFault = errors.New("devicesim: bad fault")
	// ErrClosed: the fleet has been closed.
	ErrClosed = errors.New("devicesim: fleet closed")

	// errMalformedFile: a license file as a whole cannot be read (an
	// install-result reason, hence no package prefix).
	errMalformedFile = errors.New("malformed license file")
	// errBadRequest: a control request is malformed.
	errBadRequest = errors.New("devicesim: bad request")
)
