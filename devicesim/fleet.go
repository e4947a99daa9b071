package devicesim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// FleetConfig configures a fleet. Zero values select the defaults.
type FleetConfig struct {
	// Count is the number of devices (default 20).
	Count int
	// FirstAddress is the first device's address (default 127.1.0.1);
	// device i listens on FirstAddress+i. Only loopback addresses are
	// allowed.
	FirstAddress netip.Addr
	// Port is the NETCONF port of every device (default 8300).
	Port int
	// Seed makes serial numbers and host keys reproducible (default 1).
	Seed uint64
	// Mix weighs the families to play (default 3750e:2, 3560e:1, 880:1,
	// 860:1, so that 20 devices hold all four families and 8 3750-E
	// switches). Devices are assigned by smooth weighted round robin, so
	// any prefix of the fleet follows the weights.
	Mix map[string]int
	// Username and Password are every device's credentials (default
	// admin / admin).
	Username, Password string
	// Trust holds the public keys the devices trust. If TrustFile is set
	// instead, it is read at start.
	Trust     *keyengine.TrustStore
	TrustFile string
	// StateDir keeps each device's state across process restarts; empty
	// keeps state in memory only.
	StateDir string
	// Clock is the simulated clock (default: real time).
	Clock *Clock
	// Logger receives fleet events (default: discard).
	Logger *slog.Logger
}

// Fault describes the faults injected into one device.
type Fault struct {
	StorageFull bool `json:"storage_full,omitempty"`
}

// Fleet is a set of simulated devices served over NETCONF.
type Fleet struct {
	cfg     FleetConfig
	clock   *Clock
	devices []*Device
	byAddr  map[netip.Addr]*Device
	server  *netconf.Server

	mu     sync.Mutex
	ts     *keyengine.TrustStore
	faults map[int]Fault
	lns    []net.Listener
	wg     sync.WaitGroup
}

// NewFleet builds the fleet's devices, loading saved state from StateDir.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	full := cfg
	if full.Count <= 0 {
		full.Count = 20
	}
	if !full.FirstAddress.IsValid() {
		full.FirstAddress = netip.MustParseAddr("127.1.0.1")
	}
	if full.Port <= 0 {
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
	if !full.FirstAddress.Is4() || !full.FirstAddress.IsLoopback() {
		return nil, fmt.Errorf("devicesim: first address %s is not an IPv4 loopback address (127.0.0.0/8)", full.FirstAddress)
	}
	order, err := mixOrder(full.Mix)
	if err != nil {
		return nil, err
	}
	ts := full.Trust
	if ts == nil && full.TrustFile != "" {
		var err error
		if ts, err = keyengine.LoadTrustedKeysFile(full.TrustFile); err != nil {
			return nil, fmt.Errorf("devicesim: %w", err)
		}
	}
	if ts == nil {
		ts = keyengine.NewTrustStore()
	}
	f := &Fleet{cfg: full, clock: full.Clock, ts: ts, byAddr: map[netip.Addr]*Device{}, faults: map[int]Fault{}}
	if full.StateDir != "" {
		if err := os.MkdirAll(full.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("devicesim: state dir: %w", err)
		}
	}
	gen := newSerialGen(full.Seed)
	rng := rand.New(rand.NewPCG(full.Seed, 0xfa111e))
	addr := full.FirstAddress
	for i := 0; i < full.Count; i++ {
		if !addr.IsLoopback() {
			return nil, fmt.Errorf("devicesim: %d devices from %s run past 127.255.255.255", full.Count, full.FirstAddress)
		}
		fam := order.next()
		models := modelsOf(fam)
		m := models[rng.IntN(len(models))]
		d := &Device{Index: i, Addr: addr, fleet: f}
		d.st = deviceState{PID: m.PID, Serial: gen.next(m), Version: m.Versions[rng.IntN(len(m.Versions))],
			HostKey: hostKeySeed(full.Seed, i, 0)}
		d.st.Active = Families[fam].Levels[0]
		if err := d.load(); err != nil {
			return nil, err
		}
		f.devices = append(f.devices, d)
		f.byAddr[addr] = d
		addr = addr.Next()
	}
	srv, err := netconf.NewServer(netconf.ServerConfig{
		Resolve:      f.resolve,
		Capabilities: []string{netconf.CapLicensing},
		Schemas:      map[string]string{netconf.LicensingModule: netconf.LicensingYANG},
		Logger:       full.Logger,
	})
	if err != nil {
		return nil, err
	}
	f.server = srv
	return f, nil
}

// DefaultMix is the default family weights.
func DefaultMix() map[string]int {
	return map[string]int{Family3750E: 2, Family3560E: 1, Family880: 1, Family860: 1}
}

// familyOrder assigns families by smooth weighted round robin.
type familyOrder struct {
	fams    []string
	weights []int
	current []int
	total   int
}

func mixOrder(mix map[string]int) (*familyOrder, error) {
	o := &familyOrder{}
	for _, f := range []string{Family3750E, Family3560E, Family880, Family860} {
		if w := mix[f]; w > 0 {
			o.fams = append(o.fams, f)
			o.weights = append(o.weights, w)
			o.total += w
		}
	}
	for f, w := range mix {
		if _, ok := Families[f]; !ok {
			return nil, fmt.Errorf("devicesim: unknown family %q in mix (want 3750e, 3560e, 880 or 860)", f)
		}
		if w < 0 {
			return nil, fmt.Errorf("devicesim: family %s has negative weight %d", f, w)
		}
	}
	if o.total == 0 {
		return nil, errors.New("devicesim: the model mix gives no family a weight")
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

func hostKeySeed(seed uint64, index, generation int) []byte {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(index))
	binary.BigEndian.PutUint64(b[16:], uint64(generation))
	sum := sha256.Sum256(append([]byte("devicesim host key "), b[:]...))
	return sum[:]
}

// Devices returns the fleet's devices in address order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Device returns the device at addr.
func (f *Fleet) Device(addr netip.Addr) (*Device, bool) {
	d, ok := f.byAddr[addr]
	return d, ok
}

// Clock returns the fleet's simulated clock.
func (f *Fleet) Clock() *Clock { return f.clock }

// Port returns the NETCONF port.
func (f *Fleet) Port() int { return f.cfg.Port }

// Credentials returns the devices' username and password.
func (f *Fleet) Credentials() (string, string) { return f.cfg.Username, f.cfg.Password }

// SetTrust replaces the public keys the devices trust.
func (f *Fleet) SetTrust(ts *keyengine.TrustStore) {
	f.mu.Lock()
	f.ts = ts
	f.mu.Unlock()
}

func (f *Fleet) trust() *keyengine.TrustStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ts
}

// SetFault sets the faults of device index i.
func (f *Fleet) SetFault(i int, fault Fault) {
	f.mu.Lock()
	f.faults[i] = fault
	f.mu.Unlock()
}

func (f *Fleet) fault(i int) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults[i]
}

// Start listens on every device's address.
func (f *Fleet) Start() error {
	for _, d := range f.devices {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(d.Addr, uint16(f.cfg.Port)).String())
		if err != nil {
			f.Close()
			return fmt.Errorf("devicesim: listen for device %d: %w", d.Index, err)
		}
		f.mu.Lock()
		f.lns = append(f.lns, ln)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.server.Serve(ln)
		}()
	}
	return nil
}

// Close stops serving. Device state is already saved.
func (f *Fleet) Close() error {
	f.mu.Lock()
	lns := f.lns
	f.lns = nil
	f.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	f.server.Close()
	f.wg.Wait()
	return nil
}

func (f *Fleet) resolve(local, _ net.Addr) (*netconf.Endpoint, error) {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return nil, errors.New("devicesim: not a TCP connection")
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	d, ok := f.byAddr[ip.Unmap()]
	if !ok {
		return nil, fmt.Errorf("devicesim: no device at %s", ip)
	}
	d.mu.Lock()
	seed := d.st.HostKey
	d.mu.Unlock()
	signer, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	user, pass := f.cfg.Username, f.cfg.Password
	conf := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			if c.User() == user && string(p) == pass {
				return nil, nil
			}
			return nil, errors.New("devicesim: authentication failed")
		},
	}
	conf.AddHostKey(signer)
	return &netconf.Endpoint{SSH: conf, Handler: d}, nil
}

func (d *Device) statePath() string {
	if d.fleet.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(d.fleet.cfg.StateDir, fmt.Sprintf("device-%05d.json", d.Index))
}

// load reads the device's saved state, if any.
func (d *Device) load() error {
	p := d.statePath()
	if p == "" {
		return nil
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	var st deviceState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("devicesim: state of device %d (%s): %w", d.Index, p, err)
	}
	d.st = st
	return nil
}

// save writes the device's state atomically.
func (d *Device) save() error {
	p := d.statePath()
	if p == "" {
		return nil
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	data, err := json.Marshal(&d.st)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	return nil
}
