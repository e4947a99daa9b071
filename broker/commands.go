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
	CmdTokenRevoke   = "token.revoke"
	CmdCredentialPut = "credential.put"
	CmdDevicesUpsert = "devices.upsert"
	CmdDeviceGroups  = "device.groups"
	CmdPAKAdd        = "pak.add"
	CmdRedeem        = "license.redeem"
	CmdLicenseState  = "license.state"
	CmdSpareAdd      = "spare.add"
	CmdSpareAssign   = "spare.assign"
	CmdJobCreate     = "job.create"
	CmdJobResults    = "job.results"
	CmdJobFinish     = "job.finish"
	CmdJobCancel     = "job.cancel"
	CmdRehostCreate  = "rehost.create"
	CmdRehostRMA     = "rehost.rma"
	// CmdRehostInstalled records the outcome of installing a rehost's
	// licenses on the replacement (and the host key it presented).
	CmdRehostInstalled    = "rehost.installed"
	CmdEvaluationActivate = "evaluation.activate"
	CmdIdemBegin          = "idempotency.begin"
	CmdIdemEnd            = "idempotency.end"
)

// Command is the envelope replicated through Raft.
type Command struct {
	Type    string          `json:"type"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Payload json.RawMessage `json:"payload"`

	// redeem is the payload of a license.redeem read from the binary
	// encoding (see commands_binary.go); Payload is then empty.
	redeem *redeem
}

// newCommand encodes a command: license.redeem in the binary encoding,
// everything else as JSON.
func newCommand(typ, actor string, now time.Time, payload any) ([]byte, error) {
	if p, ok := payload.(redeem); ok && typ == CmdRedeem {
		return encodeRedeem(actor, now, &p), nil
	}
	return newJSONCommand(typ, actor, now, payload)
}

// newJSONCommand encodes a command as JSON (every command could be; the
// state machine reads both encodings).
func newJSONCommand(typ, actor string, now time.Time, payload any) ([]byte, error) {
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

type tokenRevoke struct {
	ID string `json:"id"`
}

type credentialPut struct {
	Credential Credential `json:"credential"`
}

type devicesUpsert struct {
	Devices []Device `json:"devices"`
}

// upsertResult says what a devices.upsert did.
type upsertResult struct {
	Added     int      `json:"added"`
	Changed   int      `json:"changed"`
	Unchanged int      `json:"unchanged"`
	Conflicts []string `json:"conflicts,omitempty"`
}

type deviceGroups struct {
	Tenant string   `json:"tenant"`
	UDIs   []string `json:"udis"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
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

// redeemResult is the license a redemption produced, or the live license
// the device already had for that feature (Existing; nothing was spent).
type redeemResult struct {
	License  License `json:"license"`
	Existing bool    `json:"existing"`
}

type licenseState struct {
	// Tenant scopes the change ("" for an admin acting on any tenant).
	Tenant string `json:"tenant,omitempty"`
	ID     string `json:"id"`
	State  string `json:"state"`
	What   string `json:"what"`
}

type spareAdd struct {
	Spare    Spare     `json:"spare"`
	Licenses []License `json:"licenses"`
}

type spareAssign struct {
	UDI      string `json:"udi"`
	Tenant   string `json:"tenant"`
	Replaces string `json:"replaces,omitempty"`
	RMA      string `json:"rma,omitempty"`
}

type jobCreate struct {
	Job Job `json:"job"`
}

type jobResults struct {
	ID      string      `json:"id"`
	Epoch   uint64      `json:"epoch,omitempty"`
	Results []JobResult `json:"results"`
	// Devices and Installed commit with the results (see jobs_apply.go).
	Devices   []Device       `json:"devices,omitempty"`
	Installed []jobInstalled `json:"installed,omitempty"`
}

type jobFinish struct {
	ID    string `json:"id"`
	Epoch uint64 `json:"epoch,omitempty"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

type jobCancel struct {
	Tenant string `json:"tenant,omitempty"`
	ID     string `json:"id"`
}
