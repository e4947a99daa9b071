package devicesim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reload reboots the device: all its NETCONF sessions end and it activates
// the licensed level (see the package comment).
func (d *Device) Reload() error {
	if !d.Powered() {
		return fmt.Errorf("%w: %s", ErrPoweredOff, d.Addr)
	}
	d.fleet.server.CloseSessions(d)
	if err := d.boot(); err != nil {
		return err
	}
	d.fleet.log.Info("device reloaded", "device", d.Index, "address", d.Addr, "active_level", d.ActiveLevel())
	return nil
}

func (d *Device) boot() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bootLocked()
}

// PowerOff turns the device off: its sessions end, new connections are
// reset and evaluation usage time stops counting. A powered-off device
// stays off across process restarts until PowerOn.
func (d *Device) PowerOff() error {
	d.mu.Lock()
	err := d.updateLocked(func(st *deviceState, now time.Time) error {
		st.settle(now)
		st.PoweredOff = true
		return nil
	})
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.fleet.server.CloseSessions(d)
	d.fleet.log.Info("device powered off", "device", d.Index, "address", d.Addr)
	return nil
}

// PowerOn turns the device on; it boots. Powering on a running device does
// nothing.
func (d *Device) PowerOn() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.st.PoweredOff {
		return nil
	}
	err := d.updateLocked(func(st *deviceState, now time.Time) error {
		st.PoweredOff = false
		st.boot(d.env(now))
		return nil
	})
	if err == nil {
		d.fleet.log.Info("device powered on", "device", d.Index, "address", d.Addr, "active_level", d.st.Active)
	}
	return err
}

// Upgrade installs another release of the device's universal image and
// reloads the device. Licenses are kept: a software upgrade needs no new
// key.
func (d *Device) Upgrade(version string) error {
	d.mu.Lock()
	pid := d.st.PID
	d.mu.Unlock()
	m, err := ModelByPID(pid)
	if err != nil {
		return err
	}
	if !slices.Contains(m.Versions, version) {
		return fmt.Errorf("%w %q for %s (%s releases: %s)", ErrUnknownVersion, version, pid, m.Image, strings.Join(m.Versions, ", "))
	}
	d.fleet.server.CloseSessions(d)
	err = d.update(func(st *deviceState, now time.Time) error {
		st.Version = version
		if !st.PoweredOff {
			st.boot(d.env(now))
		}
		return nil
	})
	if err == nil {
		d.fleet.log.Info("device upgraded", "device", d.Index, "address", d.Addr, "version", version)
	}
	return err
}

// Replace swaps the device for a new unit of the same model at the same
// address (an RMA): a new serial number, a new SSH host key, an empty
// license store, booted at the base level. Its sessions end.
func (d *Device) Replace() error {
	// One replacement at a time, so that two cannot pick the same serial.
	d.fleet.replaceMu.Lock()
	defer d.fleet.replaceMu.Unlock()
	d.mu.Lock()
	pid, gen := d.st.PID, d.st.HostKeyGen+1
	d.mu.Unlock()
	m, err := ModelByPID(pid)
	if err != nil {
		return err
	}
	serial := d.fleet.replacementSerial(m, d.Index, gen)
	d.fleet.server.CloseSessions(d)
	d.mu.Lock()
	defer d.mu.Unlock()
	err = d.updateLocked(func(st *deviceState, now time.Time) error {
		*st = deviceState{PID: st.PID, Serial: serial, Version: st.Version, HostKeyGen: gen,
			Active: st.family().Levels[0]}
		return nil
	})
	if err != nil {
		return err
	}
	d.signer = nil
	d.fleet.log.Info("device replaced", "device", d.Index, "address", d.Addr, "udi", d.st.udi())
	return nil
}

// replacementSerial makes a serial number for the gen-th replacement of
// device i, reproducible from the seed and unique in the fleet.
func (f *Fleet) replacementSerial(m Model, i int, gen uint32) string {
	rng := rand.New(rand.NewPCG(f.cfg.Seed^uint64(i)<<20, 0x7e91ace+uint64(gen)))
	for {
		plant := m.Plants[rng.IntN(len(m.Plants))]
		s := MakeSerial(plant, 15+rng.IntN(3), 1+rng.IntN(52), rng.IntN(34*34*34*34))
		if !f.serialTaken(s) {
			return s
		}
	}
}

func (f *Fleet) serialTaken(serial string) bool {
	for _, d := range f.devices {
		d.mu.Lock()
		taken := d.st.Serial == serial
		d.mu.Unlock()
		if taken {
			return true
		}
	}
	return false
}

// Lookup finds a device by index ("12"), address ("127.1.0.13", with or
// without ":port"), UDI ("PID:SN") or serial number.
func (f *Fleet) Lookup(id string) (*Device, error) {
	id = strings.TrimSpace(id)
	if i, err := strconv.Atoi(id); err == nil {
		if i >= 0 && i < len(f.devices) {
			return f.devices[i], nil
		}
		return nil, fmt.Errorf("%w: index %d (the fleet has %d devices, 0-%d)", ErrNoSuchDevice, i, len(f.devices), len(f.devices)-1)
	}
	if ap, err := netip.ParseAddrPort(id); err == nil {
		id = ap.Addr().String()
	}
	if a, err := netip.ParseAddr(id); err == nil {
		if d := f.deviceAt(a); d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("%w at %s (the fleet is %s-%s)", ErrNoSuchDevice, a, f.devices[0].Addr, f.devices[len(f.devices)-1].Addr)
	}
	for _, d := range f.devices {
		u := d.UDI()
		if u.String() == id || u.SN == id {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w with UDI or serial %q", ErrNoSuchDevice, id)
}

// AdvanceClock moves the fleet's simulated time forward by dur and saves
// it.
func (f *Fleet) AdvanceClock(dur time.Duration) (time.Time, error) {
	if dur < 0 {
		return time.Time{}, fmt.Errorf("%w: cannot move the clock back by %s", ErrBadConfig, dur)
	}
	now := f.clock.Advance(dur)
	f.log.Info("clock advanced", "by", dur, "now", now)
	return now, f.store.saveClock(f.clock)
}

// SetClockSpeed changes the speed of the fleet's simulated time.
func (f *Fleet) SetClockSpeed(speed float64) error {
	if speed <= 0 || speed > 1e9 {
		return fmt.Errorf("%w: clock speed %g must be above 0 and at most 1e9", ErrBadConfig, speed)
	}
	f.clock.SetSpeed(speed)
	f.log.Info("clock speed set", "speed", speed)
	return f.store.saveClock(f.clock)
}
