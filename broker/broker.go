package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"github.com/licbroker/licbroker/raftstore"
)

// Store is what the broker needs of the replicated store (raftstore.Store
// satisfies it).
type Store interface {
	// Apply proposes a command and returns the state machine's result.
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Barrier returns once this node's state reflects every write
	// committed before the call: a linearizable read point. It fails
	// when there is no quorum.
	Barrier(ctx context.Context) error
	// DataAge says how stale this node's state may be: zero on the
	// leader, the time since the leader was last heard from on a follower.
	DataAge() time.Duration
	// IsLeader reports whether this node leads.
	IsLeader() bool
}

// Signer signs license grants (a keyengine.Keyring).
type Signer interface {
	Sign(g keyengine.Grant) (keyengine.License, error)
}

// Config configures a Broker.
type Config struct {
	// Signer signs licenses.
	Signer Signer
	// KnownHosts verifies device host keys (trust on first use).
	KnownHosts *netconf.KnownHosts
	// CredentialsKey encrypts device credentials at rest (32 bytes).
	CredentialsKey []byte
	// NetconfPort is used when a discovery names no port (default 830).
	NetconfPort int
	// DeviceConcurrency bounds concurrent device sessions of a job
	// (default 64).
	DeviceConcurrency int
	// DeviceTimeout bounds one device's dial plus RPCs (default 30s).
	DeviceTimeout time.Duration
	// SSHAlgorithms restricts the SSH algorithms offered to devices
	// (default: x/crypto/ssh's).
	SSHAlgorithms netconf.SSHAlgorithms
	// NodeID names this node as the runner of the jobs it works
	// (default "local").
	NodeID string
	// JobAttempts is how often a job tries a device that failed for a
	// reason that may pass (unreachable, timed out, session dropped),
	// including the first try (default 3); JobBackoff is the wait before
	// the first retry, doubled for each further one (default 1s).
	JobAttempts int
	JobBackoff  time.Duration
	// RefreshInterval, when positive, re-reads every device of every
	// tenant that often (a refresh job per tenant, on the leader).
	RefreshInterval time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// JSONCommands proposes every command as JSON. license.redeem is
	// otherwise binary (see commands_binary.go), which nodes of a version
	// before that cannot apply: set it while such nodes remain (a rolling
	// upgrade). Every version applies both.
	JSONCommands bool
}

// Broker runs the licensing services on top of the replicated State.
type Broker struct {
	cfg   Config
	store Store
	state *State

	dialMu  sync.Mutex
	dialers map[string]*netconf.Dialer // by tenant/credential name + secret hash

	jobMu  sync.Mutex
	active map[string]*activeJob // jobs this node works, by id
	kick   chan struct{}         // wakes the job runner

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a broker over store and state. state must be the
// StateMachine the store applies to.
func New(cfg Config, store Store, state *State) (*Broker, error) {
	full := cfg
	if full.Signer == nil {
		return nil, errors.New("broker: Config.Signer is required")
	}
	if len(full.CredentialsKey) != 32 {
		return nil, fmt.Errorf("broker: credentials key must be 32 bytes, got %d", len(full.CredentialsKey))
	}
	if err := full.SSHAlgorithms.Validate(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if full.KnownHosts == nil {
		kh, _ := netconf.OpenKnownHosts("")
		full.KnownHosts = kh
	}
	if full.NetconfPort <= 0 {
		full.NetconfPort = 830
	}
	if full.DeviceConcurrency <= 0 {
		full.DeviceConcurrency = 64
	}
	if full.DeviceTimeout <= 0 {
		full.DeviceTimeout = 30 * time.Second
	}
	if full.Now == nil {
		full.Now = time.Now
	}
	if full.NodeID == "" {
		full.NodeID = "local"
	}
	if full.JobAttempts <= 0 {
		full.JobAttempts = 3
	}
	if full.JobBackoff <= 0 {
		full.JobBackoff = time.Second
	}
	if full.Logger == nil {
		full.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cfg: full, store: store, state: state, dialers: map[string]*netconf.Dialer{},
		active: map[string]*activeJob{}, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	if store != nil {
		b.wg.Add(1)
		go b.runJobs()
	}
	return b, nil
}

// Close stops the job runner and the jobs this node works, and waits for
// them. The jobs stay running in the replicated state: the next leader
// resumes them.
func (b *Broker) Close() {
	b.cancel()
	b.wg.Wait()
}

func (b *Broker) now() time.Time { return b.cfg.Now().UTC().Truncate(time.Millisecond) }

// propose sends a command through the store and unwraps its result into
// out (if not nil).
func (b *Broker) propose(ctx context.Context, actor, typ string, payload, out any) error {
	encode := newCommand
	if b.cfg.JSONCommands {
		encode = newJSONCommand
	}
	cmd, err := encode(typ, actor, b.now(), payload)
	if err != nil {
		return err
	}
	raw, err := b.store.Apply(ctx, cmd)
	if err != nil {
		return storeErr(err)
	}
	var res Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("broker: decode result of %s: %w", typ, err)
	}
	if res.Error != nil {
		return asAPIError(res.Error)
	}
	if out != nil && res.Data != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			return fmt.Errorf("broker: decode result of %s: %w", typ, err)
		}
	}
	return nil
}

// storeErr maps a store error to an API error: no quorum and an unknown
// outcome are 503 with the reason; a command over the entry limit is 413.
func storeErr(err error) error {
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, raftstore.ErrTooLarge):
		return apiErr("too_large", "%s", oneLine(err))
	case errors.Is(err, raftstore.ErrUnknownOutcome):
		return apiErr("unavailable", "write outcome unknown (check before retrying): %s", oneLine(err))
	case errors.Is(err, raftstore.ErrClosed):
		return apiErr("unavailable", "%s", oneLine(err))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apiErr("unavailable", "timed out: %s", oneLine(err))
	}
	return &APIError{Code: "no_quorum", Message: "cannot commit: " + oneLine(err), Status: codeStatus["no_quorum"]}
}

// newID returns a random id with a prefix.
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Init makes sure the default tenant exists. It is safe to call on every
// start.
func (b *Broker) Init(ctx context.Context) error {
	exists := false
	b.state.read(func(d *stateData) { _, exists = d.Tenants[DefaultTenant] })
	if exists {
		return nil
	}
	err := b.propose(ctx, "system", CmdTenantCreate, tenantCreate{Name: DefaultTenant}, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "conflict" {
		return nil
	}
	return err
}

func (b *Broker) tenantExists(name string) bool {
	ok := false
	b.state.read(func(d *stateData) { _, ok = d.Tenants[name] })
	return ok
}

// CreateTenant adds a tenant.
func (b *Broker) CreateTenant(ctx context.Context, actor, name string) (*Tenant, error) {
	if err := checkName("tenant name", name); err != nil {
		return nil, err
	}
	var t Tenant
	if err := b.propose(ctx, actor, CmdTenantCreate, tenantCreate{Name: name}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tenant returns one tenant.
func (b *Broker) Tenant(name string) (*Tenant, error) {
	var t *Tenant
	b.state.read(func(d *stateData) {
		if v, ok := d.Tenants[name]; ok {
			cp := *v
			t = &cp
		}
	})
	if t == nil {
		return nil, apiErr("not_found", "tenant %q not found", name)
	}
	return t, nil
}

// Barrier waits until this node's state reflects every committed write (a
// linearizable read point); it fails when there is no quorum.
func (b *Broker) Barrier(ctx context.Context) error {
	if err := b.store.Barrier(ctx); err != nil {
		return &APIError{Code: "no_quorum", Status: codeStatus["no_quorum"],
			Message: "cannot confirm this node's data is current (" + oneLine(err) + "); add ?consistency=stale to read it anyway"}
	}
	return nil
}

// DataAge says how stale this node's data may be (zero on the leader).
func (b *Broker) DataAge() time.Duration { return b.store.DataAge() }

// Tenants lists tenants.
func (b *Broker) Tenants() []Tenant {
	var out []Tenant
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Tenants) {
			out = append(out, *d.Tenants[k])
		}
	})
	return out
}

func checkName(what, s string) error {
	if s == "" || len(s) > 64 {
		return apiErr("bad_request", "%s must be 1 to 64 characters", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return apiErr("bad_request", "%s %q has invalid character %q (use letters, digits, - _ .)", what, s, c)
		}
	}
	return nil
}
