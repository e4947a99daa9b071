package broker

import (
	"errors"
	"fmt"
	"net/http"
)

// APIError is an error with a stable code, returned by the state machine
// and the services and rendered by the API as {"error":{"code","message"}}.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"-"`
}

func (e *APIError) Error() string { return "broker: " + e.Message }

// Sentinel errors.
var (
	// errHostKeyPin: a replacement presented another host key than the
	// fingerprint the operator gave (RehostRequest.HostKey).
	errHostKeyPin = errors.New("broker: host key is not the one given")
	// errSuperseded: a job's results were refused because another node
	// claimed the job since (see jobClaim).
	errSuperseded = errors.New("broker: job superseded")
)

// Error codes, with their HTTP statuses.
var codeStatus = map[string]int{
	"bad_request":            http.StatusBadRequest,
	"unauthorized":           http.StatusUnauthorized,
	"forbidden":              http.StatusForbidden,
	"not_found":              http.StatusNotFound,
	"conflict":               http.StatusConflict,
	"changed":                http.StatusConflict,
	"pak_exhausted":          http.StatusConflict,
	"not_eligible":           http.StatusUnprocessableEntity,
	"too_large":              http.StatusRequestEntityTooLarge,
	"no_quorum":              http.StatusServiceUnavailable,
	"unavailable":            http.StatusServiceUnavailable,
	"internal":               http.StatusInternalServerError,
	"device_error":           http.StatusBadGateway,
	"method_not_allowed":     http.StatusMethodNotAllowed,
	"unsupported_media_type": http.StatusUnsupportedMediaType,
	"idempotency_mismatch":   http.StatusUnprocessableEntity,
}

func apiErr(code, format string, args ...any) *APIError {
	st, ok := codeStatus[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: st}
}

// asAPIError converts any error to an APIError.
func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == 0 {
			ae.Status = codeStatus[ae.Code]
			if ae.Status == 0 {
				ae.Status = http.StatusInternalServerError
			}
		}
		return ae
	}
	return apiErr("internal", "%v", err)
}
