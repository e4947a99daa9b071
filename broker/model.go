package broker

import (
	"time"
)

// Tenant is one customer of the maintenance provider.
type Tenant struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// DefaultTenant exists from the first start; the admin's objects go there
// unless another tenant is named.
const DefaultTenant = "default"

// Device is the broker's record of a network device.
type Device struct {
	UDI             string          `json:"udi"`
	PID             string          `json:"pid"`
	Serial          string          `json:"serial"`
	Tenant          string          `json:"tenant"`
	Address         string          `json:"address"`
	Family          string          `json:"family"`
	SoftwareVersion string          `json:"software_version"`
	Levels          []string        `json:"levels"`
	ActiveLevel     string          `json:"active_level"`
	NextBootLevel   string          `json:"next_boot_level"`
	Licenses        []DeviceLicense `json:"licenses"`
	Groups          []string        `json:"groups"`
	Credentials     string          `json:"credentials"`
	LastSeen        time.Time       `json:"last_seen"`
	// ReplacedBy is the UDI of the unit this device was rehosted to after
	// it failed (see Rehost); empty while it is in service.
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// DeviceLicense is a license as last seen on the device.
type DeviceLicense struct {
	ID        string     `json:"id"`
	Feature   string     `json:"feature"`
	Type      string     `json:"type"`
	State     string     `json:"state"`
	ExpiresAt *time.Time `json:"expires_at"`
	Store     string     `json:"store,omitempty"`
}

// PAK is a purchase authorisation key: what a customer bought.
type PAK struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant"`
	Lines   []PAKLine `json:"lines"`
	Created time.Time `json:"created"`
}

// PAKLine is one SKU of a PAK.
type PAKLine struct {
	Feature  string   `json:"feature"`
	Type     string   `json:"type"` // permanent | extension
	Days     int      `json:"days,omitempty"`
	Quantity int      `json:"quantity"`
	Used     int      `json:"used"`
	Families []string `json:"families"`
}

// Remaining returns the unspent quantity of the line.
func (l PAKLine) Remaining() int { return l.Quantity - l.Used }

// License states of a license record.
const (
	LicenseIssued    = "issued"
	LicenseInstalled = "installed"
	LicenseRevoked   = "revoked"
	LicenseRehosted  = "rehosted"
)

// License is the broker's record of a license it issued. Tenant is empty
// for a depot spare's preloaded license until the spare is assigned. Once
// recorded, a license's ID, PAK, Line, UDI, Feature and Type never change
// (a rehost makes a new record); audit records of redemptions rely on it.
type License struct {
	ID       string     `json:"id"`
	Tenant   string     `json:"tenant"`
	UDI      string     `json:"udi"`
	PAK      string     `json:"pak"`
	Line     int        `json:"line"`
	Feature  string     `json:"feature"`
	Type     string     `json:"type"`
	State    string     `json:"state"`
	IssuedAt time.Time  `json:"issued_at"`
	Expires  *time.Time `json:"expires_at"`
	// RehostedTo is the license that replaced this one on another device
	// (state rehosted); RehostedFrom is the license this one replaced.
	RehostedTo   string `json:"rehosted_to,omitempty"`
	RehostedFrom string `json:"rehosted_from,omitempty"`
	// File is the signed license file (XML) delivered to the device.
	File    []byte    `json:"file,omitempty"`
	History []Event   `json:"history,omitempty"`
	Updated time.Time `json:"updated"`
}

// live reports whether the license still grants its feature at t: not
// revoked or rehosted, and not past its end.
func (l *License) live(t time.Time) bool {
	if l.State != LicenseIssued && l.State != LicenseInstalled {
		return false
	}
	return l.Expires == nil || l.Expires.After(t)
}

// Event is one entry in an object's history.
type Event struct {
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	What  string    `json:"what"`
}

// Job kinds.
const (
	JobDiscover = "discover"
	JobInstall  = "install"
	// JobRefresh re-reads known devices; JobDeploy pushes licenses kept in
	// inventory (installed with store-only) to their devices.
	JobRefresh = "refresh"
	JobDeploy  = "deploy"
)

// Job states.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Job is an asynchronous operation on many devices.
type Job struct {
	ID       string      `json:"id"`
	Tenant   string      `json:"tenant"`
	Kind     string      `json:"kind"`
	State    string      `json:"state"`
	Actor    string      `json:"actor"`
	Params   JobParams   `json:"params"`
	Total    int         `json:"total"`
	Done     int         `json:"done"`
	Failed   int         `json:"failed"`
	Results  []JobResult `json:"results,omitempty"`
	Created  time.Time   `json:"created"`
	Finished *time.Time  `json:"finished,omitempty"`
	Error    string      `json:"error,omitempty"`
	// CancelRequested is set by a cancel; workers stop taking targets.
	CancelRequested bool `json:"cancel_requested,omitempty"`

	// Runner is the node working the job and Epoch its claim: a leader
	// that resumes the job claims it again, and results of an older claim
	// are refused.
	Runner string `json:"runner,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
	// RetryOf is the job whose failed targets this job retries.
	RetryOf string `json:"retry_of,omitempty"`
	// Updated is when the last result was recorded.
	Updated *time.Time `json:"updated,omitempty"`
	// Statuses counts the results by status.
	Statuses map[string]int `json:"statuses,omitempty"`
	// Remaining and Rate (targets finished per second) are worked out
	// when the job is read.
	Remaining int     `json:"remaining"`
	Rate      float64 `json:"rate"`
}

// JobParams are the inputs of a job.
type JobParams struct {
	Targets     []string `json:"targets,omitempty"` // addresses or UDIs
	Port        int      `json:"port,omitempty"`
	Credentials string   `json:"credentials,omitempty"`
	PAK         string   `json:"pak,omitempty"`
	StoreOnly   bool     `json:"store_only,omitempty"`

	// Specs are a discovery's CIDRs and addresses, expanded into Targets
	// when the job is created.
	Specs []string `json:"specs,omitempty"`
	// PAKs are an install's PAKs (PAK is the first of them).
	PAKs []string `json:"paks,omitempty"`
	// All, with Filter, selects the targets when the job is created: every
	// device of the tenant that matches (and, for an install, is eligible).
	All    bool          `json:"all,omitempty"`
	Filter *DeviceFilter `json:"filter,omitempty"`
	// Concurrency bounds the device sessions of the job (0: the broker's
	// default).
	Concurrency int `json:"concurrency,omitempty"`
	// Scheduled marks a refresh started by the schedule.
	Scheduled bool `json:"scheduled,omitempty"`
}

// JobResult is the outcome for one target of a job.
type JobResult struct {
	Target  string `json:"target"`
	UDI     string `json:"udi,omitempty"`
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	License string `json:"license,omitempty"`
	// Detail says what else happened (a policy licensed the device, a
	// field changed); Attempts counts the tries.
	Detail   string `json:"detail,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
}

// Policy licenses devices automatically: when discovery finds a device
// that matches Devices and holds no live license for Feature, a license is
// obtained from one of PAKs (any PAK of the tenant if empty) and deployed,
// or only kept in inventory when StoreOnly.
type Policy struct {
	Name      string       `json:"name"`
	Tenant    string       `json:"tenant"`
	Feature   string       `json:"feature"`
	Type      string       `json:"type"` // permanent | extension
	PAKs      []string     `json:"paks"`
	Devices   DeviceFilter `json:"devices"`
	StoreOnly bool         `json:"store_only"`
	Created   time.Time    `json:"created"`
	Updated   time.Time    `json:"updated"`
}

// Credential is a named device login. The secret is stored encrypted; the
// API never returns it.
type Credential struct {
	Name     string `json:"name"`
	Tenant   string `json:"tenant"`
	Username string `json:"username"`
	// Sealed is the password or private key, encrypted with the
	// cluster's credentials key.
	Sealed []byte `json:"sealed"`
	IsKey  bool   `json:"is_key"`
}

// Roles of API tokens.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Token is an API token; only the SHA-256 of its secret is kept.
type Token struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash"`
	Role    string    `json:"role"`
	Tenant  string    `json:"tenant"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
}

// TokenInfo is a token as the API shows it: never the secret or its hash.
type TokenInfo struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Tenant  string    `json:"tenant"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
}

func (t *Token) info() TokenInfo {
	return TokenInfo{ID: t.ID, Role: t.Role, Tenant: t.Tenant, Name: t.Name, Created: t.Created}
}

// Spare states.
const (
	SpareStocked  = "stocked"
	SpareAssigned = "assigned"
)

// Spare is a maintenance provider's spare device kept in the depot with
// preloaded licenses for a common configuration. It belongs to no tenant
// until it is assigned to a customer as a replacement.
type Spare struct {
	UDI    string `json:"udi"`
	PID    string `json:"pid"`
	Serial string `json:"serial"`
	Family string `json:"family"`
	// Licenses are the ids of the preloaded license records.
	Licenses []string `json:"licenses"`
	State    string   `json:"state"`
	// Tenant, Replaces and RMA are set when the spare is assigned.
	Tenant   string     `json:"tenant,omitempty"`
	Replaces string     `json:"replaces,omitempty"`
	RMA      string     `json:"rma,omitempty"`
	Created  time.Time  `json:"created"`
	Assigned *time.Time `json:"assigned,omitempty"`
}

// AuditEntry is one change to the replicated state: who (actor), in which
// tenant, when, which object and what changed.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Tenant string    `json:"tenant"`
	Action string    `json:"action"`
	Object string    `json:"object"`
	Change string    `json:"change"`
}
