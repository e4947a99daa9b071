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

// License is the broker's record of a license it issued.
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
	// File is the signed license file (XML) delivered to the device.
	File    []byte    `json:"file"`
	History []Event   `json:"history"`
	Updated time.Time `json:"updated"`
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
	Results  []JobResult `json:"results"`
	Created  time.Time   `json:"created"`
	Finished *time.Time  `json:"finished,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// JobParams are the inputs of a job.
type JobParams struct {
	Targets     []string `json:"targets,omitempty"` // addresses or UDIs
	Port        int      `json:"port,omitempty"`
	Credentials string   `json:"credentials,omitempty"`
	PAK         string   `json:"pak,omitempty"`
	StoreOnly   bool     `json:"store_only,omitempty"`
}

// JobResult is the outcome for one target of a job.
type JobResult struct {
	Target  string `json:"target"`
	UDI     string `json:"udi,omitempty"`
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	License string `json:"license,omitempty"`
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
	Created time.Time `json:"created"`
}
