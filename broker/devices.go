package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
)

// FamilyOf maps a product ID to its family id: 3750e, 3560e, 880 or 860;
// "" for a product the broker does not license.
func FamilyOf(pid string) string {
	switch {
	case strings.HasPrefix(pid, "WS-C3750E-"):
		return "3750e"
	case strings.HasPrefix(pid, "WS-C3560E-"):
		return "3560e"
	case strings.HasPrefix(pid, "CISCO88"):
		return "880"
	case strings.HasPrefix(pid, "CISCO86"):
		return "860"
	}
	return ""
}

// Families lists the family ids the broker knows.
var Families = []string{"3750e", "3560e", "880", "860"}

// Devices lists a tenant's devices ("" lists all), sorted by UDI.
func (b *Broker) Devices(tenant string) []Device { return b.DevicesWhere(tenant, DeviceFilter{}) }

// DeviceFilter selects devices. Zero fields match everything.
type DeviceFilter struct {
	Group  string `json:"group,omitempty"`
	Family string `json:"family,omitempty"`
	// PID matches product IDs that start with it (e.g. WS-C3750E-48).
	PID string `json:"pid,omitempty"`
}

// Match reports whether a device passes the filter.
func (f DeviceFilter) Match(dev *Device) bool {
	return (f.Family == "" || dev.Family == f.Family) && (f.Group == "" || slices.Contains(dev.Groups, f.Group)) &&
		strings.HasPrefix(dev.PID, f.PID)
}

// IsZero reports whether the filter matches every device.
func (f DeviceFilter) IsZero() bool { return f == DeviceFilter{} }

// DevicesWhere lists a tenant's devices that match f, sorted by UDI.
func (b *Broker) DevicesWhere(tenant string, f DeviceFilter) []Device {
	var out []Device
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Devices) {
			dev := d.Devices[k]
			if (tenant == "" || dev.Tenant == tenant) && f.Match(dev) {
				out = append(out, *dev)
			}
		}
	})
	return out
}

// GroupInfo is a device group and how many devices it has.
type GroupInfo struct {
	Name    string `json:"name"`
	Tenant  string `json:"tenant"`
	Devices int    `json:"devices"`
}

// Groups lists a tenant's device groups ("" lists all), by tenant and name.
func (b *Broker) Groups(tenant string) []GroupInfo {
	count := map[[2]string]int{}
	b.state.read(func(d *stateData) {
		for _, dev := range d.Devices {
			if tenant == "" || dev.Tenant == tenant {
				for _, g := range dev.Groups {
					count[[2]string{dev.Tenant, g}]++
				}
			}
		}
	})
	out := make([]GroupInfo, 0, len(count))
	for k, n := range count {
		out = append(out, GroupInfo{Tenant: k[0], Name: k[1], Devices: n})
	}
	sortBy(out, func(g GroupInfo) string { return g.Tenant + "/" + g.Name })
	return out
}

// GroupsRequest adds devices to groups and removes them from others.
type GroupsRequest struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// SetGroups changes the group memberships of devices of a tenant ("" for
// an admin acting on any tenant). A device may be in several groups.
func (b *Broker) SetGroups(ctx context.Context, actor, tenant string, udis []string, req GroupsRequest) ([]Device, error) {
	if len(udis) == 0 {
		return nil, apiErr("bad_request", "no device given")
	}
	if len(req.Add)+len(req.Remove) == 0 {
		return nil, apiErr("bad_request", "nothing to do: give groups to add or remove")
	}
	for _, u := range udis {
		if err := validUDI(u); err != nil {
			return nil, err
		}
	}
	for _, g := range append(slices.Clone(req.Add), req.Remove...) {
		if err := checkName("group name", g); err != nil {
			return nil, err
		}
	}
	for _, g := range req.Add {
		if slices.Contains(req.Remove, g) {
			return nil, apiErr("bad_request", "group %s is both added and removed", g)
		}
	}
	var out []Device
	err := b.propose(ctx, actor, CmdDeviceGroups, deviceGroups{Tenant: tenant, UDIs: udis, Add: req.Add, Remove: req.Remove}, &out)
	return out, err
}

func validUDI(udi string) error {
	if _, err := keyengine.ParseUDI(udi); err != nil {
		msg := oneLine(err)
		if strings.Contains(msg, "want PID:SN") {
			msg = "want PID:SN"
		}
		return apiErr("bad_request", "invalid UDI %q: %s (e.g. WS-C3750E-24TD-S:FDO1307R0W9)", udi, msg)
	}
	return nil
}

// Device returns one device. A device of another tenant is not found.
func (b *Broker) Device(tenant, udi string) (*Device, error) {
	if err := validUDI(udi); err != nil {
		return nil, err
	}
	var dev *Device
	b.state.read(func(d *stateData) {
		if v, ok := d.Devices[udi]; ok && (tenant == "" || v.Tenant == tenant) {
			cp := *v
			dev = &cp
		}
	})
	if dev == nil {
		return nil, apiErr("not_found", "device %s not found", udi)
	}
	return dev, nil
}

// deviceFilter selects, in one get, the chassis identity (ietf-hardware)
// and the licensing state.
const deviceFilter = `<hardware xmlns="` + netconf.HardwareNS + `"><component><name/><class/><model-name/><serial-num/><software-rev/></component></hardware>` +
	`<licensing xmlns="` + netconf.LicensingNS + `"/>`

// readDevice reads identity and licensing state over an open session, in
// one get, and returns the device record (tenant, address, credentials
// filled by the caller).
func readDevice(ctx context.Context, s *netconf.Client, now time.Time) (Device, error) {
	data, err := s.Get(ctx, deviceFilter)
	if err != nil {
		return Device{}, err
	}
	return deviceFromData(data, now)
}

// readDeviceAndClose is readDevice for a session that has nothing else to
// do: <close-session> goes in the same write as the get (see
// netconf.Client.PipelineClose), and the session is closed.
func readDeviceAndClose(ctx context.Context, s *netconf.Client, now time.Time) (Device, error) {
	res, err := s.PipelineClose(ctx, netconf.GetOp(deviceFilter))
	if err != nil {
		return Device{}, err
	}
	if res[0].Err != nil {
		return Device{}, res[0].Err
	}
	return deviceFromData(res[0].Reply.Data(), now)
}

// deviceFromData builds a device record from the data of a get with
// deviceFilter.
func deviceFromData(data []byte, now time.Time) (Device, error) {
	parsed := netconf.ParseData(data)
	id, err := parsed.Identity()
	if err != nil {
		return Device{}, err
	}
	lic, err := parsed.Licensing()
	switch {
	case errors.Is(err, netconf.ErrNoLicensing):
		return Device{}, errors.New("broker: the device reported no licensing state")
	case err != nil:
		return Device{}, fmt.Errorf("broker: the device's licensing state: %w", err)
	}
	d := Device{UDI: id.UDI(), PID: id.PID, Serial: id.Serial, Family: FamilyOf(id.PID),
		SoftwareVersion: id.SoftwareVersion, Groups: []string{}}
	setLicensing(&d, lic, now)
	return d, nil
}

// setLicensing puts the licensing state read from a device into its record.
func setLicensing(d *Device, lic *netconf.Licensing, now time.Time) {
	d.Levels, d.ActiveLevel, d.NextBootLevel, d.LastSeen = lic.AvailableLevel, lic.ActiveLevel, lic.NextBootLevel, now
	d.Licenses = make([]DeviceLicense, 0, len(lic.Licenses))
	for _, l := range lic.Licenses {
		dl := DeviceLicense{ID: l.ID, Feature: l.Feature, Type: l.Type, State: l.State, Store: l.Store}
		if l.Type != "permanent" && l.PeriodLeftSeconds > 0 && l.State != "inactive" {
			t := now.Add(time.Duration(l.PeriodLeftSeconds) * time.Second).UTC().Truncate(time.Second)
			dl.ExpiresAt = &t
		}
		d.Licenses = append(d.Licenses, dl)
	}
}

// session opens a NETCONF session to a known device.
func (b *Broker) session(ctx context.Context, dev *Device) (*netconf.Client, error) {
	cred := dev.Credentials
	if cred == "" {
		cred = "default"
	}
	dl, err := b.dialer(dev.Tenant, cred)
	if err != nil {
		return nil, err
	}
	return dl.Dial(ctx, dev.Address)
}

// refresh re-reads a device over s and records it.
func (b *Broker) refresh(ctx context.Context, actor string, dev *Device, s *netconf.Client) (*Device, error) {
	nd, err := readDevice(ctx, s, b.now())
	if err != nil {
		return nil, err
	}
	if nd.UDI != dev.UDI {
		return nil, apiErr("conflict", "device at %s is now %s, not %s (replaced? run discovery or rehost)", dev.Address, nd.UDI, dev.UDI)
	}
	nd.Tenant, nd.Address, nd.Credentials, nd.Groups = dev.Tenant, dev.Address, dev.Credentials, dev.Groups
	if err := b.propose(ctx, actor, CmdDevicesUpsert, devicesUpsert{Devices: []Device{nd}}, nil); err != nil {
		return nil, err
	}
	return &nd, nil
}

// ReloadDevice reloads a device over NETCONF, waits for it to come back and
// records its new state.
//
// A rebooting device drops its sessions, and may drop the first ones it
// accepts while it does (the simulator ends every session of a device
// once the session that asked for the reload has ended): a reload whose
// session broke before the device answered is sent once more, and reading
// the device afterwards is retried until the deadline. An rpc-error from
// the device is final.
func (b *Broker) ReloadDevice(ctx context.Context, actor, tenant, udi string) (*Device, error) {
	dev, err := b.Device(tenant, udi)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*b.cfg.DeviceTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		s, err := b.session(ctx, dev)
		if err != nil {
			return nil, deviceErr(dev.UDI, err)
		}
		err = s.Reload(ctx)
		var rerr *netconf.RPCError
		var rerrs netconf.RPCErrors
		if err == nil || attempt == 2 || errors.As(err, &rerr) || errors.As(err, &rerrs) {
			if err != nil {
				return nil, deviceErr(dev.UDI, err)
			}
			break
		}
	}
	// The device ends the session and boots; reconnect and read it.
	var last error
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		s, err := b.session(ctx, dev)
		if err == nil {
			nd, rerr := b.refresh(ctx, actor, dev, s)
			s.Close()
			var ae *APIError
			if rerr == nil || errors.As(rerr, &ae) {
				if rerr != nil {
					return nil, rerr
				}
				return nd, nil
			}
			err = rerr
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, deviceErr(dev.UDI, fmt.Errorf("did not come back after reload: %w", last))
		case <-time.After(delay):
		}
	}
}

func deviceErr(udi string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return apiErr("device_error", "device %s: %s", udi, oneLine(err))
}

// oneLine strips package prefixes that repeat and keeps one line.
func oneLine(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "netconf: ", "")
	s = strings.ReplaceAll(s, "keyengine: ", "")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// expandTargets turns CIDRs, addresses and IPv4 address:port pairs into
// host:port addresses (port where none is given).
// Network and broadcast addresses of IPv4 prefixes shorter than /31 are
// skipped. At most limit addresses are returned.
func expandTargets(specs []string, port, limit int) ([]string, error) {
	if port <= 0 || port > 65535 {
		return nil, apiErr("bad_request", "port %d is out of range 1-65535", port)
	}
	var out []string
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() && ap.Port() != 0 {
			out = append(out, ap.String()) // an address with its own port
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, apiErr("bad_request", "invalid address or CIDR %q", s)
			}
			out = append(out, net.JoinHostPort(a.String(), strconv.Itoa(port)))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, apiErr("bad_request", "invalid CIDR %q: %v", s, err)
		}
		p = p.Masked()
		if !p.Addr().Is4() {
			return nil, apiErr("bad_request", "CIDR %q: only IPv4 ranges can be scanned", s)
		}
		size := 1 << (32 - p.Bits())
		if size > limit {
			return nil, apiErr("bad_request", "CIDR %q has %d addresses, more than the limit of %d", s, size, limit)
		}
		a := p.Addr()
		for i := 0; i < size; i++ {
			if !(p.Bits() < 31 && (i == 0 || i == size-1)) {
				out = append(out, net.JoinHostPort(a.String(), strconv.Itoa(port)))
			}
			a = a.Next()
		}
		if len(out) > limit {
			return nil, apiErr("bad_request", "targets have more than %d addresses", limit)
		}
	}
	if len(out) == 0 {
		return nil, apiErr("bad_request", "no address to discover")
	}
	return out, nil
}
