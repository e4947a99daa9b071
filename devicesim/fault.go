package devicesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MaxLatency bounds an injected reply latency.
const MaxLatency = 10 * time.Minute

// DropMode says when a device with a dropped-session fault drops the
// session: before applying the request (nothing happens on the device) or
// after (the change is made but the reply is lost).
type DropMode string

// Drop modes.
const (
	DropNone   DropMode = ""
	DropBefore DropMode = "before"
	DropAfter  DropMode = "after"
)

// Fault describes the faults injected into one device. The zero Fault is
// a healthy device. Faults live in memory only; a process restart clears
// them.
type Fault struct {
	// Unreachable: connections are accepted and then left silent (no SSH
	// banner), so that a client times out.
	Unreachable bool `json:"unreachable,omitempty"`
	// Latency delays every NETCONF reply (get, get-config and the
	// licensing RPCs) by this much.
	Latency time.Duration `json:"-"`
	// AuthFailure: every SSH authentication attempt fails.
	AuthFailure bool `json:"auth_failure,omitempty"`
	// Drop: the device drops the session without replying to get,
	// get-config or a licensing RPC.
	Drop DropMode `json:"drop,omitempty"`
	// StorageFull: license installs fail with "license storage full".
	StorageFull bool `json:"storage_full,omitempty"`
}

// Validate checks a fault description.
func (f Fault) Validate() error {
	if f.Latency < 0 || f.Latency > MaxLatency {
		return fmt.Errorf("%w: latency %s must be between 0 and %s", ErrBadFault, f.Latency, MaxLatency)
	}
	switch f.Drop {
	case DropNone, DropBefore, DropAfter:
	default:
		return fmt.Errorf("%w: drop %q must be \"before\" or \"after\"", ErrBadFault, f.Drop)
	}
	return nil
}

// String lists the faults, e.g. "unreachable,latency=2s"; "none" if healthy.
func (f Fault) String() string {
	var p []string
	if f.Unreachable {
		p = append(p, "unreachable")
	}
	if f.Latency > 0 {
		p = append(p, "latency="+f.Latency.String())
	}
	if f.AuthFailure {
		p = append(p, "auth-failure")
	}
	if f.Drop != DropNone {
		p = append(p, "drop="+string(f.Drop))
	}
	if f.StorageFull {
		p = append(p, "storage-full")
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ",")
}

type faultJSON struct {
	Unreachable bool     `json:"unreachable,omitempty"`
	Latency     string   `json:"latency,omitempty"`
	AuthFailure bool     `json:"auth_failure,omitempty"`
	Drop        DropMode `json:"drop,omitempty"`
	StorageFull bool     `json:"storage_full,omitempty"`
}

// MarshalJSON writes the latency as a duration string ("1.5s").
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Unreachable: f.Unreachable, AuthFailure: f.AuthFailure, Drop: f.Drop, StorageFull: f.StorageFull}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes; the latency may also be a
// number of milliseconds. Unknown fields are refused.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j struct {
		Unreachable bool            `json:"unreachable"`
		Latency     json.RawMessage `json:"latency"`
		AuthFailure bool            `json:"auth_failure"`
		Drop        DropMode        `json:"drop"`
		StorageFull bool            `json:"storage_full"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFault, err)
	}
	out := Fault{Unreachable: j.Unreachable, AuthFailure: j.AuthFailure, Drop: j.Drop, StorageFull: j.StorageFull}
	if len(j.Latency) > 0 && string(j.Latency) != "null" {
		var s string
		var ms float64
		switch {
		case json.Unmarshal(j.Latency, &s) == nil:
			d, err := ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%w: latency: %v", ErrBadFault, err)
			}
			out.Latency = d
		case json.Unmarshal(j.Latency, &ms) == nil:
			out.Latency = time.Duration(ms * float64(time.Millisecond))
		default:
			return fmt.Errorf("%w: latency must be a duration string or milliseconds", ErrBadFault)
		}
	}
	*f = out
	return nil
}
