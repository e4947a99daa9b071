package broker

import (
	"encoding/json"
	"fmt"
	"time"
)

// Command types. Each command is an envelope {type, time, actor, payload};
// everything Apply needs (ids, times, signed keys) travels inside it.
const (
	CmdTenantCreate  = "tenant.create"
	CmdTokenCreate   = "token.create"
	CmdCredentialPut = "credential.put"
	CmdDevicesUpsert = "devices.upsert"
	CmdPAKAdd        = "pak.add"
	CmdRedeem        = "license.redeem"
	CmdLicenseState  = "license.state"
	CmdJobCreate     = "job.create"
	CmdJobResults    = "job.results"
	CmdJobFinish     = "job.finish"
)

// Command is the envelope replicated through Raft.
type Command struct {
	Type    string          `json:"type"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Payload json.RawMessage `json:"payload"`
}

func newCommand(typ, actor string, now time.Time, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("broker: encode %s: %w", typ, err)
	}
	return json.Marshal(Command{Type: typ, Time: now.UTC(), Actor: actor, Payload: p})
}

// Result is what Apply returns for a command: data or a business error.
type Result struct {
	Error *APIError       `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Payloads.

type tenantCreate struct {
	Name string `json:"name"`
}

type tokenCreate struct {
	Token Token `json:"token"`
}

type credentialPut struct {
	Credential Credential `json:"credential"`
}

type devicesUpsert struct {
	Devices []Device `json:"devices"`
}

type pakAdd struct {
	PAK PAK `json:"pak"`
}

type redeem struct {
	Tenant  string  `json:"tenant"`
	PAK     string  `json:"pak"`
	Line    int     `json:"line"`
	License License `json:"license"`
}

type licenseState struct {
	ID    string `json:"id"`
	State string `json:"state"`
	What  string `json:"what"`
}

type jobCreate struct {
	Job Job `json:"job"`
}

type jobResults struct {
	ID      string      `json:"id"`
	Results []JobResult `json:"results"`
}

type jobFinish struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}
