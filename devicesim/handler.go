package devicesim

import (
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/licbroker/licbroker/netconf"
)

// Data implements netconf.Handler: ietf-hardware identity and the
// licensing state.
func (d *Device) Data(_ context.Context, _ *netconf.Request, configOnly bool) ([]byte, error) {
	s := d.Snapshot()
	var b strings.Builder
	b.WriteString(`<hardware xmlns="` + netconf.HardwareNS + `"><component><name>chassis</name>`)
	b.WriteString(`<class xmlns:ianahw="` + netconf.IANAHwNS + `">ianahw:chassis</class>`)
	if configOnly {
		b.WriteString(`</component></hardware>`)
		return []byte(b.String()), nil
	}
	leaf(&b, "description", s.PID+" "+s.Image+" "+s.Version)
	leaf(&b, "software-rev", s.Version)
	leaf(&b, "serial-num", s.Serial)
	leaf(&b, "mfg-name", "Cisco Systems, Inc.")
	leaf(&b, "model-name", s.PID)
	b.WriteString(`</component></hardware>`)

	b.WriteString(`<licensing xmlns="` + netconf.LicensingNS + `">`)
	leaf(&b, "udi", s.PID+":"+s.Serial)
	for _, l := range s.Levels {
		leaf(&b, "available-level", l)
	}
	leaf(&b, "active-level", s.Active)
	leaf(&b, "boot-level", s.BootLevel)
	leaf(&b, "next-boot-level", s.NextBoot)
	for _, l := range s.Licenses {
		b.WriteString("<license>")
		leaf(&b, "index", strconv.FormatUint(uint64(l.Index), 10))
		leaf(&b, "id", l.ID)
		leaf(&b, "feature", l.Feature)
		leaf(&b, "type", l.Type)
		leaf(&b, "state", l.State)
		leaf(&b, "counted", strconv.FormatBool(l.Counted))
		if l.Counted {
			leaf(&b, "count", strconv.FormatUint(uint64(l.Count), 10))
		}
		leaf(&b, "period-left", l.PeriodLeft)
		if l.Type != "permanent" {
			leaf(&b, "period-left-seconds", strconv.FormatUint(l.LeftSeconds, 10))
			leaf(&b, "period-used-seconds", strconv.FormatUint(l.UsedSeconds, 10))
		}
		leaf(&b, "eula-accepted", strconv.FormatBool(l.EULA))
		leaf(&b, "store", l.Store)
		if l.NodeLocked {
			leaf(&b, "lock-type", "node-locked")
		} else {
			leaf(&b, "lock-type", "not-node-locked")
		}
		b.WriteString("</license>")
	}
	b.WriteString(`</licensing>`)
	return []byte(b.String()), nil
}

func leaf(b *strings.Builder, name, v string) {
	if v == "" {
		return
	}
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(v))
	b.WriteString("</" + name + ">")
}

// RPC implements netconf.Handler: the licensing operations.
func (d *Device) RPC(_ context.Context, req *netconf.Request) ([]byte, error) {
	if req.Op.Space != netconf.LicensingNS {
		return nil, netconf.ErrUnknownOperation
	}
	var in struct {
		File       string `xml:"license-file"`
		LicenseID  string `xml:"license-id"`
		Feature    string `xml:"feature"`
		Level      string `xml:"level"`
		AcceptEULA string `xml:"accept-eula"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, netconf.ErrBadElement("rpc", req.Op.Local, "cannot decode "+req.Op.Local+": "+err.Error())
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
		return nil, appErr(d.ActivateEvaluation(in.Feature, strings.TrimSpace(in.AcceptEULA) == "true"))
	case "set-boot-level":
		if in.Level == "" {
			return nil, netconf.ErrMissingElement("protocol", "level")
		}
		return nil, appErr(d.SetBootLevel(in.Level))
	case "reload":
		if err := d.Reload(); err != nil {
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
	msg := strings.TrimPrefix(err.Error(), "devicesim: ")
	return &netconf.RPCError{Type: "application", Tag: "operation-failed", Severity: "error",
		AppTag: "licensing", Message: fmt.Sprint(msg)}
}
