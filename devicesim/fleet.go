package devicesim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// MaxDevices bounds the size of a fleet.
const MaxDevices = 100000

// FleetConfig configures a fleet. Zero values select the defaults.
type FleetConfig struct {
	// Count is the number of devices (default 20, at most MaxDevices).
	Count int
	// FirstAddress is the first device's address (default 127.1.0.1);
	// device i has address FirstAddress+i. Only IPv4 loopback addresses
	// (127.0.0.0/8) are allowed.
	FirstAddress netip.Addr
	// Port is the NETCONF port of every device (default 8300). Start
	// listens on it once, on the wildcard address, and serves a connection
	// only if its local address is one of the fleet's.
	Port int
	// Seed makes serial numbers, models and host keys reproducible
	// (default 1).
	Seed uint64
	// Mix weighs the families to play (default 3750e:2, 3560e:1, 880:1,
	// 860:1, so that 20 devices hold all four families and 8 3750-E
	// switches). Devices are assigned by smooth weighted round robin, so
	// any prefix of the fleet follows the weights.
	Mix map[string]int
	// Username and Password are every device's credentials (default
	// admin / admin).
	Username, Password string
	// AuthorizedKeys, when set, also lets Username log in with one of
	// these public keys.
	AuthorizedKeys []ssh.PublicKey
	// DeviceCredentials override the credentials of ranges of devices;
	// the last matching range wins.
	DeviceCredentials []DeviceCredentials
	// Trust holds the public keys the devices trust. If TrustFile is set
	// instead, it is read at start and again by ReloadTrust.
	Trust     *keyengine.TrustStore
	TrustFile string
	// StateDir keeps each device's state across process restarts; empty
	// keeps state in memory only.
	StateDir string
	// Clock is the simulated clock (default: real time, speed 1).
	Clock *Clock
	// Logger receives fleet events (default: discard).
	Logger *slog.Logger
	// MaxConns bounds the connections served at once (default 16384: a
	// process may hold at most 20,000 open files here). Connections beyond
	// it are reset.
	MaxConns int
	// SilentHold is how long an unreachable device keeps a connection open
	// without a word before closing it (default 2 minutes).
	SilentHold time.Duration
	// HandshakeTimeout bounds the SSH handshake and the hello (default 10s).
	HandshakeTimeout time.Duration
	// SSHAlgorithms restricts the key exchanges, ciphers and MACs the
	// devices offer (default: x/crypto/ssh's). The host key algorithm is
	// always ssh-ed25519.
	SSHAlgorithms netconf.SSHAlgorithms
}

// DeviceCredentials are the credentials of the devices from First to Last
// (inclusive).
type DeviceCredentials struct {
	First, Last        netip.Addr
	Username, Password string
	AuthorizedKeys     []ssh.PublicKey
}

// Fleet is a set of simulated devices served over NETCONF.
type Fleet struct {
	cfg     FleetConfig
	clock   *Clock
	log     *slog.Logger
	devices []*Device
	first   uint32 // FirstAddress as a number
	server  *netconf.Server
	store   *stateStore // nil: state in memory only
	ts      atomic.Pointer[keyengine.TrustStore]
	port    atomic.Int32
	sem     chan struct{} // bounds connections being served
	done    chan struct{} // closed by Close

	replaceMu sync.Mutex // serialises Device.Replace

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	silent map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// DefaultMix is the default family weights.
func DefaultMix() map[string]int {
	return map[string]int{Family3750E: 2, Family3560E: 1, Family880: 1, Family860: 1}
}

// withDefaults copies cfg and fills in defaults (cfg is not modified).
func (cfg FleetConfig) withDefaults() FleetConfig {
	full := cfg
	if full.Count == 0 {
		full.Count = 20
	}
	if !full.FirstAddress.IsValid() {
		full.FirstAddress = netip.MustParseAddr("127.1.0.1")
	}
	if full.Port == 0 {
		full.Port = 8300
	}
	if full.Seed == 0 {
		full.Seed = 1
	}
	if len(full.Mix) == 0 {
		full.Mix = DefaultMix()
	}
	if full.Username == "" {
		full.Username, full.Password = "admin", "admin"
	}
	if full.Clock == nil {
		full.Clock = NewClock(time.Now(), 1)
	}
	if full.Logger == nil {
		full.Logger = slog.New(slog.DiscardHandler)
	}
	if full.MaxConns <= 0 {
		full.MaxConns = 16384
	}
	if full.SilentHold <= 0 {
		full.SilentHold = 2 * time.Minute
	}
	if full.HandshakeTimeout <= 0 {
		full.HandshakeTimeout = 10 * time.Second
	}
	return full
}

// validate checks a configuration with defaults filled in.
func (cfg FleetConfig) validate() error {
	if cfg.Count < 1 || cfg.Count > MaxDevices {
		return fmt.Errorf("%w: count %d must be between 1 and %d", ErrBadConfig, cfg.Count, MaxDevices)
	}
	if !cfg.FirstAddress.Is4() || !cfg.FirstAddress.IsLoopback() {
		return fmt.Errorf("%w: first address %s is not an IPv4 loopback address (127.0.0.0/8)", ErrBadConfig, cfg.FirstAddress)
	}
	if last := addrToU32(cfg.FirstAddress) + uint32(cfg.Count-1); last>>24 != 127 || last < addrToU32(cfg.FirstAddress) {
		return fmt.Errorf("%w: %d devices from %s run past 127.255.255.255", ErrBadConfig, cfg.Count, cfg.FirstAddress)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return fmt.Errorf("%w: port %d is out of range 1-65535", ErrBadConfig, cfg.Port)
	}
	if len(cfg.SSHAlgorithms.HostKeys) > 0 {
		return fmt.Errorf("%w: the devices' host keys are ssh-ed25519; host key algorithms cannot be set", ErrBadConfig)
	}
	if err := cfg.SSHAlgorithms.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	for _, dc := range cfg.DeviceCredentials {
		if !dc.First.Is4() || !dc.Last.Is4() || dc.Last.Less(dc.First) {
			return fmt.Errorf("%w: credentials range %s-%s is not a range of IPv4 addresses", ErrBadConfig, dc.First, dc.Last)
		}
		if dc.Username == "" {
			return fmt.Errorf("%w: credentials range %s-%s has no username", ErrBadConfig, dc.First, dc.Last)
		}
	}
	return nil
}

// NewFleet builds the fleet's devices and loads their saved state from
// StateDir. Call Start to serve them.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	full := cfg.withDefaults()
	if err := full.validate(); err != nil {
		return nil, err
	}
	order, err := mixOrder(full.Mix)
	if err != nil {
		return nil, err
	}
	ts := full.Trust
	if ts == nil && full.TrustFile != "" {
		if ts, err = keyengine.LoadTrustedKeysFile(full.TrustFile); err != nil {
			return nil, fmt.Errorf("devicesim: trusted keys: %w", err)
		}
	}
	if ts == nil {
		ts = keyengine.NewTrustStore()
	}
	f := &Fleet{cfg: full, clock: full.Clock, log: full.Logger, first: addrToU32(full.FirstAddress),
		sem: make(chan struct{}, full.MaxConns), done: make(chan struct{}),
		lns: map[net.Listener]struct{}{}, silent: map[net.Conn]struct{}{}}
	f.ts.Store(ts)
	f.port.Store(int32(full.Port))
	if full.StateDir != "" {
		if f.store, err = openStateStore(full.StateDir, full.Seed, full.Mix); err != nil {
			return nil, err
		}
	}

	gen := newSerialGen(full.Seed)
	rng := rand.New(rand.NewPCG(full.Seed, 0xfa111e))
	all := make([]Device, full.Count)
	f.devices = make([]*Device, full.Count)
	for i := range all {
		fam := order.next()
		models := modelsOf(fam)
		m := models[rng.IntN(len(models))]
		d := &all[i]
		d.Index, d.Addr, d.fleet = i, u32ToAddr(f.first+uint32(i)), f
		d.st = deviceState{PID: m.PID, Serial: gen.next(m), Version: m.Versions[rng.IntN(len(m.Versions))],
			Active: Families[fam].Levels[0]}
		f.devices[i] = d
	}
	if err := f.store.loadDevices(f.devices); err != nil {
		return nil, err
	}
	if err := f.store.restoreClock(f.clock); err != nil {
		return nil, err
	}
	srv, err := netconf.NewServer(netconf.ServerConfig{
		Resolve:          f.resolve,
		HandshakeTimeout: full.HandshakeTimeout,
		MaxSessions:      full.MaxConns,
		Capabilities:     []string{netconf.CapLicensing, netconf.CapHardware, netconf.CapIANAHardware},
		Schemas:          netconf.Schemas(),
		Logger:           full.Logger,
	})
	if err != nil {
		return nil, err
	}
	f.server = srv
	return f, nil
}

// familyOrder assigns families by smooth weighted round robin.
type familyOrder struct {
	fams    []string
	weights []int
	current []int
	total   int
}

func mixOrder(mix map[string]int) (*familyOrder, error) {
	for f, w := range mix {
		if _, ok := Families[f]; !ok {
			return nil, fmt.Errorf("%w: unknown family %q in mix (want 3750e, 3560e, 880 or 860)", ErrBadConfig, f)
		}
		if w < 0 {
			return nil, fmt.Errorf("%w: family %s has negative weight %d", ErrBadConfig, f, w)
		}
	}
	o := &familyOrder{}
	for _, f := range []string{Family3750E, Family3560E, Family880, Family860} {
		if w := mix[f]; w > 0 {
			o.fams = append(o.fams, f)
			o.weights = append(o.weights, w)
			o.total += w
		}
	}
	if o.total == 0 {
		return nil, fmt.Errorf("%w: the model mix gives no family a weight", ErrBadConfig)
	}
	o.current = make([]int, len(o.fams))
	return o, nil
}

func (o *familyOrder) next() string {
	best := 0
	for i := range o.fams {
		o.current[i] += o.weights[i]
		if o.current[i] > o.current[best] {
			best = i
		}
	}
	o.current[best] -= o.total
	return o.fams[best]
}

// hostKeySeed derives the Ed25519 seed of a device's host key from the
// fleet seed, the device index and its host key generation (bumped when
// the device is replaced). The derivation is the walking skeleton's, so
// that existing state and known_hosts files stay valid.
func hostKeySeed(seed uint64, index int, generation uint32) []byte {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(index))
	binary.BigEndian.PutUint64(b[16:], uint64(generation))
	sum := sha256.Sum256(append([]byte("devicesim host key "), b[:]...))
	return sum[:]
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func u32ToAddr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// Devices returns the fleet's devices in address order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Len returns the number of devices.
func (f *Fleet) Len() int { return len(f.devices) }

// Device returns the device at addr.
func (f *Fleet) Device(addr netip.Addr) (*Device, bool) {
	d := f.deviceAt(addr)
	return d, d != nil
}

// deviceAt returns the device with address addr, or nil.
func (f *Fleet) deviceAt(addr netip.Addr) *Device {
	addr = addr.Unmap()
	if !addr.Is4() {
		return nil
	}
	i := addrToU32(addr) - f.first
	if i >= uint32(len(f.devices)) {
		return nil
	}
	return f.devices[i]
}

// Clock returns the fleet's simulated clock.
func (f *Fleet) Clock() *Clock { return f.clock }

// Port returns the NETCONF port (the one actually bound, once started).
func (f *Fleet) Port() int { return int(f.port.Load()) }

// Seed returns the fleet seed.
func (f *Fleet) Seed() uint64 { return f.cfg.Seed }

// Credentials returns the fleet-wide username and password.
func (f *Fleet) Credentials() (string, string) { return f.cfg.Username, f.cfg.Password }

// DeviceCredentials returns the username and password of a device.
func (f *Fleet) DeviceCredentials(d *Device) (string, string) {
	c := f.credentialsFor(d.Addr)
	return c.Username, c.Password
}

func (f *Fleet) credentialsFor(addr netip.Addr) DeviceCredentials {
	c := DeviceCredentials{Username: f.cfg.Username, Password: f.cfg.Password, AuthorizedKeys: f.cfg.AuthorizedKeys}
	for _, dc := range f.cfg.DeviceCredentials {
		if !addr.Less(dc.First) && !dc.Last.Less(addr) {
			c = dc
		}
	}
	return c
}

// SetTrust replaces the public keys the devices trust. Licenses are judged
// against the new keys from now on (at install and at boot).
func (f *Fleet) SetTrust(ts *keyengine.TrustStore) {
	f.ts.Store(ts)
	f.log.Info("trusted keys replaced", "keys", ts.KeyIDs())
}

// ReloadTrust re-reads the trusted keys from FleetConfig.TrustFile (the
// broker may have rotated its key). On error the old keys stay.
func (f *Fleet) ReloadTrust() ([]string, error) {
	if f.cfg.TrustFile == "" {
		return nil, fmt.Errorf("%w: no trusted keys file configured", ErrBadConfig)
	}
	ts, err := keyengine.LoadTrustedKeysFile(f.cfg.TrustFile)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted keys not reloaded (the old ones stay): %w", ErrBadConfig, err)
	}
	f.SetTrust(ts)
	return ts.KeyIDs(), nil
}

// TrustedKeyIDs returns the ids of the keys the devices trust.
func (f *Fleet) TrustedKeyIDs() []string { return f.trust().KeyIDs() }

func (f *Fleet) trust() *keyengine.TrustStore { return f.ts.Load() }

// SetFault sets the faults of device index i.
func (f *Fleet) SetFault(i int, fault Fault) error {
	if i < 0 || i >= len(f.devices) {
		return fmt.Errorf("%w: index %d", ErrNoSuchDevice, i)
	}
	return f.devices[i].SetFault(fault)
}
