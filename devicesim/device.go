package devicesim

import (
	"crypto/ed25519"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"golang.org/x/crypto/ssh"
)

// Device is one simulated device. Its methods are safe for concurrent use.
// A Device is small while idle (its license store is empty until keys are
// installed; its SSH host key is derived from the fleet seed on the first
// connection).
type Device struct {
	// Index is the device's position in the fleet, from 0.
	Index int
	// Addr is the device's loopback address.
	Addr netip.Addr

	fleet *Fleet

	mu     sync.Mutex
	st     deviceState
	fault  *Fault     // nil: no fault injected
	signer ssh.Signer // host key, derived on first use

}

// deviceState is what a device keeps across reloads and process restarts:
// its NVRAM and license storage. Process restarts restore it as it was (the
// device appears to have kept running); a reload boots from it.
type deviceState struct {
	PID        string `json:"pid"`
	Serial     string `json:"serial"`
	Version    string `json:"version"`
	HostKeyGen uint32 `json:"host_key_generation,omitempty"`
	// BootLevel is the configured boot level ("license boot level"); ""
	// means the highest level of the family.
	BootLevel string `json:"boot_level,omitempty"`
	// Active is the level running now, chosen at the last boot.
	Active string `json:"active_level"`
	// InUse names the license that enables Active: an installed license's
	// id, evalKey(level) for a built-in evaluation license, or "".
	InUse string `json:"in_use,omitempty"`
	// Licenses is the primary license storage: installed keys.
	Licenses []storedLicense `json:"licenses,omitempty"`
	// Evals is the built-in license storage: evaluation licenses that were
	// touched (EULA accepted or activated).
	Evals []evalState `json:"evaluations,omitempty"`
	// NextIndex is the index the next installed license gets.
	NextIndex uint32 `json:"next_index,omitempty"`
	// PoweredOff: the device is off (it stays off across process
	// restarts).
	PoweredOff bool `json:"powered_off,omitempty"`
}

type storedLicense struct {
	Index uint32            `json:"index"`
	Lic   keyengine.License `json:"license"`
	// verified is the trust store under which the license's signature
	// and device binding were last found good (nil: not yet); see verify.
	verified *keyengine.TrustStore
}

// evalState is one built-in evaluation license. Usage time is counted while
// the license is in use: Used holds the time counted up to Since, and Since
// is the simulated time counting (re)started, zero when not counting.
type evalState struct {
	Level     string        `json:"level"`
	EULA      bool          `json:"eula,omitempty"`
	Activated bool          `json:"activated,omitempty"`
	Used      time.Duration `json:"used_ns,omitempty"`
	Since     time.Time     `json:"counting_since,omitzero"`
}

func (st *deviceState) clone() deviceState {
	c := *st
	c.Licenses = append([]storedLicense(nil), st.Licenses...)
	c.Evals = append([]evalState(nil), st.Evals...)
	return c
}

func (st *deviceState) udi() keyengine.UDI { return keyengine.UDI{PID: st.PID, SN: st.Serial} }

func (st *deviceState) family() Family { return Families[FamilyOfPID(st.PID)] }

// used returns the usage time of an evaluation license at now.
func (e *evalState) used(now time.Time) time.Duration {
	u := e.Used
	if !e.Since.IsZero() && now.After(e.Since) {
		u += now.Sub(e.Since)
	}
	return u
}

func (e *evalState) expired(now time.Time) bool {
	return e.Activated && e.used(now) >= EvaluationPeriod
}

// UDI returns the device's UDI.
func (d *Device) UDI() keyengine.UDI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.udi()
}

// Family returns the device's family.
func (d *Device) Family() Family {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.family()
}

// ActiveLevel returns the level running now.
func (d *Device) ActiveLevel() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Active
}

// Version returns the software version the device runs.
func (d *Device) Version() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Version
}

// Address returns the device's NETCONF address, host:port.
func (d *Device) Address() string {
	return netip.AddrPortFrom(d.Addr, uint16(d.fleet.Port())).String()
}

// Powered reports whether the device is powered on.
func (d *Device) Powered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.st.PoweredOff
}

// Fault returns the faults injected into the device.
func (d *Device) Fault() Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == nil {
		return Fault{}
	}
	return *d.fault
}

// SetFault replaces the faults injected into the device; the zero Fault
// clears them. New connections and RPCs see the change at once.
func (d *Device) SetFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	if f == (Fault{}) {
		d.fault = nil
	} else {
		d.fault = &f
	}
	d.mu.Unlock()
	d.fleet.log.Info("fault set", "device", d.Index, "address", d.Addr, "fault", f.String())
	return nil
}

// HostKey returns the device's SSH host public key. It does not keep the
// private key around (listing a large fleet stays cheap).
func (d *Device) HostKey() ssh.PublicKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer != nil {
		return d.signer.PublicKey()
	}
	priv := ed25519.NewKeyFromSeed(hostKeySeed(d.fleet.cfg.Seed, d.Index, d.st.HostKeyGen))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		panic("devicesim: ed25519 host key: " + err.Error()) // cannot happen for a valid key
	}
	return pub
}

// hostSigner returns the device's host key signer, deriving it from the
// fleet seed on first use.
func (d *Device) hostSigner() ssh.Signer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer == nil {
		key := ed25519.NewKeyFromSeed(hostKeySeed(d.fleet.cfg.Seed, d.Index, d.st.HostKeyGen))
		s, err := ssh.NewSignerFromKey(key)
		if err != nil {
			panic("devicesim: ed25519 host key: " + err.Error()) // cannot happen for a valid key
		}
		d.signer = s
	}
	return d.signer
}

// update applies fn to a copy of the device's state, persists the copy and
// only then makes it current, so that a failed write loses nothing and
// leaves nothing half-applied.
func (d *Device) update(fn func(st *deviceState, now time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updateLocked(fn)
}

func (d *Device) updateLocked(fn func(st *deviceState, now time.Time) error) error {
	next := d.st.clone()
	if err := fn(&next, d.fleet.clock.Now()); err != nil {
		return err
	}
	if err := d.fleet.store.saveDevice(d.Index, &next); err != nil {
		return err
	}
	d.st = next
	return nil
}

// String returns "index address UDI".
func (d *Device) String() string {
	return strconv.Itoa(d.Index) + " " + d.Addr.String() + " " + d.UDI().String()
}
