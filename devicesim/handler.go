package devicesim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/licbroker/licbroker/netconf"
)

// Data implements netconf.Handler: ietf-hardware identity (the chassis
// component) and the licensing state. When the request's subtree filter
// names only one of the two trees, the other is not built.
func (d *Device) Data(ctx context.Context, req *netconf.Request, configOnly bool) ([]byte, error) {
	f, err := d.injectLatency(ctx)
	if err != nil {
		return nil, err
	}
	if f.Drop != DropNone {
		// The server drops a session only for RPC errors; for get the
		// device closes its sessions itself, so that no reply is sent.
		d.fleet.server.CloseSessions(d)
		return nil, netconf.ErrDropSession
	}
	wantHW, wantLic := true, !configOnly
	if req != nil && bytes.Contains(req.Body, []byte("filter")) {
		wantHW = bytes.Contains(req.Body, []byte("hardware"))
		wantLic = wantLic && bytes.Contains(req.Body, []byte("licensing"))
	}
	now := d.fleet.clock.Now()
	d.mu.Lock()
	s := d.st.snapshot(d.env(now), wantLic)
	d.mu.Unlock()

	var b strings.Builder
	if wantHW {
		b.WriteString(`<hardware xmlns="` + netconf.HardwareNS + `"><component><name>chassis</name>`)
		b.WriteString(`<class xmlns:ianahw="` + netconf.IANAHwNS + `">ianahw:chassis</class>`)
		if !configOnly {
			leaf(&b, "description", s.PID+" "+s.Image+" "+s.Version)
			leaf(&b, "software-rev", s.Version)
			leaf(&b, "serial-num", s.Serial)
			leaf(&b, "mfg-name", "Cisco Systems, Inc.")
			leaf(&b, "model-name", s.PID)
		}
		b.WriteString(`</component></hardware>`)
	}
	if wantLic {
		writeLicensing(&b, &s)
	}
	return []byte(b.String()), nil
}

func writeLicensing(b *strings.Builder, s *State) {
	b.WriteString(`<licensing xmlns="` + netconf.LicensingNS + `">`)
	leaf(b, "udi", s.PID+":"+s.Serial)
	for _, l := range s.Levels {
		leaf(b, "available-level", l)
	}
	leaf(b, "active-level", s.Active)
	leaf(b, "boot-level", s.BootLevel)
	leaf(b, "next-boot-level", s.NextBoot)
	for _, l := range s.Licenses {
		b.WriteString("<license>")
		leaf(b, "index", strconv.FormatUint(uint64(l.Index), 10))
		leaf(b, "id", l.ID)
		leaf(b, "feature", l.Feature)
		leaf(b, "type", l.Type)
		leaf(b, "state", l.State)
		leaf(b, "counted", strconv.FormatBool(l.Counted))
		if l.Counted {
			leaf(b, "count", strconv.FormatUint(uint64(l.Count), 10))
		}
		leaf(b, "period-left", l.PeriodLeft)
		if l.Type != "permanent" {
			leaf(b, "period-left-seconds", strconv.FormatUint(l.LeftSeconds, 10))
			leaf(b, "period-used-seconds", strconv.FormatUint(l.UsedSeconds, 10))
		}
		leaf(b, "eula-accepted", strconv.FormatBool(l.EULA))
		leaf(b, "store", l.Store)
		if l.NodeLocked {
			leaf(b, "lock-type", "node-locked")
		} else {
			leaf(b, "lock-type", "not-node-locked")
		}
		leaf(b, "comment", l.Comment)
		b.WriteString("</license>")
	}
	b.WriteString(`</licensing>`)
}

func leaf(b *strings.Builder, name, v string) {
	if v == "" {
		return
	}
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(v))
	b.WriteString("</" + name + ">")
}

// injectLatency waits for the device's reply latency and returns its
// faults.
func (d *Device) injectLatency(ctx context.Context) (Fault, error) {
	f := d.Fault()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return f, ctx.Err()
		case <-d.fleet.done:
			return f, ErrClosed
		}
	}
	return f, nil
}

// RPC implements netconf.Handler: the licensing operations.
func (d *Device) RPC(ctx context.Context, req *netconf.Request) ([]byte, error) {
	if req.Op.Space != netconf.LicensingNS {
		return nil, netconf.ErrUnknownOperation
	}
	f, err := d.injectLatency(ctx)
	if err != nil {
		return nil, err
	}
	if f.Drop == DropBefore {
		return nil, netconf.ErrDropSession
	}
	out, err := d.rpc(req)
	if f.Drop == DropAfter {
		return nil, netconf.ErrDropSession
	}
	return out, err
}

func (d *Device) rpc(req *netconf.Request) ([]byte, error) {
	in, err := decodeParams(req)
	if err != nil {
		return nil, netconf.ErrBadElement("protocol", req.Op.Local, "cannot decode "+req.Op.Local+": "+err.Error())
	}
	switch req.Op.Local {
	case "install-license":
		if strings.TrimSpace(in.File) == "" {
			return nil, netconf.ErrMissingElement("protocol", "license-file")
		}
		var b strings.Builder
		for _, r := range d.Install([]byte(in.File)) {
			b.WriteString(`<result xmlns="` + netconf.LicensingNS + `">`)
			leaf(&b, "line", strconv.FormatUint(uint64(r.Line), 10))
			leaf(&b, "license-id", r.LicenseID)
			leaf(&b, "feature", r.Feature)
			leaf(&b, "status", r.Status)
			leaf(&b, "reason", r.Reason)
			b.WriteString("</result>")
		}
		return []byte(b.String()), nil
	case "clear-license":
		if in.LicenseID == "" {
			return nil, netconf.ErrMissingElement("protocol", "license-id")
		}
		return nil, appErr(d.ClearLicense(in.LicenseID))
	case "accept-eula":
		if in.Feature == "" {
			return nil, netconf.ErrMissingElement("protocol", "feature")
		}
		return nil, appErr(d.AcceptEULA(in.Feature))
	case "activate-evaluation":
		if in.Feature == "" {
			return nil, netconf.ErrMissingElement("protocol", "feature")
		}
		accept := strings.TrimSpace(in.AcceptEULA)
		if accept != "" && accept != "true" && accept != "false" {
			return nil, netconf.ErrInvalidValue("protocol", "accept-eula must be true or false")
		}
		return nil, appErr(d.ActivateEvaluation(in.Feature, accept == "true"))
	case "set-boot-level":
		if in.Level == "" {
			return nil, netconf.ErrMissingElement("protocol", "level")
		}
		return nil, appErr(d.SetBootLevel(in.Level))
	case "reload":
		// A rebooting device drops its other sessions at once, boots,
		// answers and ends this session. Sessions opened from now on see
		// the booted device and are left alone.
		d.fleet.server.CloseSessionsExcept(d, req.SessionID)
		if err := d.boot(); err != nil {
			return nil, appErr(err)
		}
		req.CloseSession()
		return nil, nil
	}
	return nil, netconf.ErrUnknownOperation
}

func appErr(err error) error {
	if err == nil {
		return nil
	}
	tag := "operation-failed"
	switch {
	case errors.Is(err, ErrUnknownLevel), errors.Is(err, ErrBaseLevel), errors.Is(err, ErrNoSuchLicense):
		tag = "invalid-value"
	}
	return &netconf.RPCError{Type: "application", Tag: tag, Severity: "error",
		AppTag: "licensing", Message: reason(err)}
}

// rpcParams are the parameters of the licensing operations.
type rpcParams struct {
	File       string `xml:"license-file"`
	LicenseID  string `xml:"license-id"`
	Feature    string `xml:"feature"`
	Level      string `xml:"level"`
	AcceptEULA string `xml:"accept-eula"`
}

// decodeParams reads an operation's parameters from its parsed tree, or
// with Request.Decode when a parameter is not a plain leaf.
func decodeParams(req *netconf.Request) (rpcParams, error) {
	var p rpcParams
	for _, f := range []struct {
		name string
		dst  *string
	}{{"license-file", &p.File}, {"license-id", &p.LicenseID}, {"feature", &p.Feature}, {"level", &p.Level}, {"accept-eula", &p.AcceptEULA}} {
		v, ok := req.Leaf(f.name)
		if !ok {
			p = rpcParams{}
			return p, req.Decode(&p)
		}
		*f.dst = v
	}
	return p, nil
}
