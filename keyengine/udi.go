package keyengine

import (
	"fmt"
	"strings"
)

// UDI is a device's unique device identifier: product ID and serial number.
type UDI struct {
	PID string
	SN  string
}

// String returns the UDI as "PID:SN".
func (u UDI) String() string { return u.PID + ":" + u.SN }

// IsZero reports whether the UDI is empty.
func (u UDI) IsZero() bool { return u.PID == "" && u.SN == "" }

// ParseUDI parses "PID:SN". Both parts must be non-empty, at most 64
// characters, and made of letters, digits, '-', '_', '/' and '.'.
func ParseUDI(s string) (UDI, error) {
	pid, sn, ok := strings.Cut(s, ":")
	if !ok {
		return UDI{}, fmt.Errorf("keyengine: UDI %q: want PID:SN", s)
	}
	u := UDI{PID: pid, SN: sn}
	if err := u.Validate(); err != nil {
		return UDI{}, err
	}
	return u, nil
}

// Validate checks the UDI's parts.
func (u UDI) Validate() error {
	if err := checkToken("product ID", u.PID, 64); err != nil {
		return err
	}
	return checkToken("serial number", u.SN, 64)
}

func checkToken(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("keyengine: %s is empty", what)
	}
	if len(s) > max {
		return fmt.Errorf("keyengine: %s %q is longer than %d characters", what, s, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '/' || c == '.':
		default:
			return fmt.Errorf("keyengine: %s %q has invalid character %q at position %d", what, s, c, i+1)
		}
	}
	return nil
}
