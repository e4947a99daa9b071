package netconf

import (
	"context"
	_ "embed"
	"encoding/xml"
	"fmt"
	"strings"
)

// Namespaces of the data models the broker reads.
const (
	LicensingNS = "urn:licbroker:yang:licensing"
	HardwareNS  = "urn:ietf:params:xml:ns:yang:ietf-hardware"
	IANAHwNS    = "urn:ietf:params:xml:ns:yang:iana-hardware"
	// LicensingModule and LicensingRevision name the licensing YANG module.
	LicensingModule   = "licbroker-licensing"
	LicensingRevision = "2026-12-03"
)

// CapLicensing is the capability a device advertises for the licensing module.
const CapLicensing = LicensingNS + "?module=" + LicensingModule + "&revision=" + LicensingRevision

// LicensingYANG is the text of the licbroker-licensing YANG module.
//
//go:embed yang/licbroker-licensing.yang
var LicensingYANG string

// Identity is what ietf-hardware says of a device's chassis.
type Identity struct {
	PID             string
	Serial          string
	SoftwareVersion string
}

// UDI returns "PID:SN".
func (id Identity) UDI() string { return id.PID + ":" + id.Serial }

// Hardware is the ietf-hardware /hardware container (the parts we use).
type Hardware struct {
	XMLName    xml.Name            `xml:"urn:ietf:params:xml:ns:yang:ietf-hardware hardware"`
	Components []HardwareComponent `xml:"component"`
}

// HardwareComponent is one /hardware/component entry.
type HardwareComponent struct {
	Name        string `xml:"name"`
	Class       string `xml:"class"`
	Description string `xml:"description,omitempty"`
	SoftwareRev string `xml:"software-rev,omitempty"`
	SerialNum   string `xml:"serial-num,omitempty"`
	MfgName     string `xml:"mfg-name,omitempty"`
	ModelName   string `xml:"model-name,omitempty"`
}

// Licensing is the licbroker-licensing /licensing container.
type Licensing struct {
	XMLName        xml.Name        `xml:"urn:licbroker:yang:licensing licensing"`
	UDI            string          `xml:"udi,omitempty"`
	AvailableLevel []string        `xml:"available-level"`
	ActiveLevel    string          `xml:"active-level,omitempty"`
	BootLevel      string          `xml:"boot-level,omitempty"`
	NextBootLevel  string          `xml:"next-boot-level,omitempty"`
	Licenses       []DeviceLicense `xml:"license"`
}

// DeviceLicense is one entry of /licensing/license.
type DeviceLicense struct {
	Index             uint32 `xml:"index"`
	ID                string `xml:"id,omitempty"`
	Feature           string `xml:"feature"`
	Type              string `xml:"type"`
	State             string `xml:"state"`
	Counted           bool   `xml:"counted"`
	Count             uint32 `xml:"count,omitempty"`
	PeriodLeft        string `xml:"period-left,omitempty"`
	PeriodLeftSeconds uint64 `xml:"period-left-seconds,omitempty"`
	PeriodUsedSeconds uint64 `xml:"period-used-seconds,omitempty"`
	EULAAccepted      bool   `xml:"eula-accepted"`
	Store             string `xml:"store,omitempty"`
	LockType          string `xml:"lock-type,omitempty"`
	Comment           string `xml:"comment,omitempty"`
}

// InstallResult is the outcome for one license line of install-license.
type InstallResult struct {
	Line      uint32 `xml:"line" json:"line"`
	LicenseID string `xml:"license-id,omitempty" json:"license_id,omitempty"`
	Feature   string `xml:"feature,omitempty" json:"feature,omitempty"`
	Status    string `xml:"status" json:"status"`
	Reason    string `xml:"reason,omitempty" json:"reason,omitempty"`
}

// Install-license line statuses.
const (
	StatusInstalled      = "installed"
	StatusAlreadyPresent = "already-present"
	StatusFailed         = "failed"
)

const identityFilter = `<hardware xmlns="` + HardwareNS + `"><component><class/><model-name/><serial-num/><software-rev/></component></hardware>`

// Identity reads the chassis PID, serial number and software version from
// ietf-hardware.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	data, err := c.Get(ctx, identityFilter)
	if err != nil {
		return Identity{}, err
	}
	return ParseIdentity(data)
}

// ParseIdentity finds the chassis component in <data> content.
func ParseIdentity(data []byte) (Identity, error) {
	var hw Hardware
	if err := decodeChild(data, HardwareNS, "hardware", &hw); err != nil {
		return Identity{}, err
	}
	for _, comp := range hw.Components {
		cls := comp.Class
		if i := strings.LastIndexByte(cls, ':'); i >= 0 {
			cls = cls[i+1:]
		}
		if strings.TrimSpace(cls) == "chassis" && comp.ModelName != "" && comp.SerialNum != "" {
			return Identity{PID: strings.TrimSpace(comp.ModelName), Serial: strings.TrimSpace(comp.SerialNum),
				SoftwareVersion: strings.TrimSpace(comp.SoftwareRev)}, nil
		}
	}
	return Identity{}, fmt.Errorf("netconf: ietf-hardware has no chassis component with model-name and serial-num")
}

// Licensing reads the device's licensing state.
func (c *Client) Licensing(ctx context.Context) (*Licensing, error) {
	data, err := c.Get(ctx, `<licensing xmlns="`+LicensingNS+`"/>`)
	if err != nil {
		return nil, err
	}
	var l Licensing
	if err := decodeChild(data, LicensingNS, "licensing", &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// InstallLicense sends a license file and returns the per-line results.
func (c *Client) InstallLicense(ctx context.Context, file []byte) ([]InstallResult, error) {
	var b strings.Builder
	b.WriteString(`<install-license xmlns="` + LicensingNS + `"><license-file>`)
	xml.EscapeText(&b, file)
	b.WriteString(`</license-file></install-license>`)
	r, err := c.Call(ctx, b.String())
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []InstallResult `xml:"result"`
	}
	if err := xml.Unmarshal(append(append([]byte("<r>"), r.Body...), "</r>"...), &out); err != nil {
		return nil, fmt.Errorf("netconf: install-license reply: %w", err)
	}
	return out.Results, nil
}

// ClearLicense removes an installed license.
func (c *Client) ClearLicense(ctx context.Context, id string) error {
	return c.callOK(ctx, "clear-license", "license-id", id)
}

// AcceptEULA accepts the EULA of a feature level.
func (c *Client) AcceptEULA(ctx context.Context, feature string) error {
	return c.callOK(ctx, "accept-eula", "feature", feature)
}

// ActivateEvaluation activates the built-in evaluation license of a feature
// level, accepting its EULA.
func (c *Client) ActivateEvaluation(ctx context.Context, feature string) error {
	return c.callOK(ctx, "activate-evaluation", "feature", feature, "accept-eula", "true")
}

// SetBootLevel sets the level the device activates at its next reload.
func (c *Client) SetBootLevel(ctx context.Context, level string) error {
	return c.callOK(ctx, "set-boot-level", "level", level)
}

// Reload asks the device to reload. The device ends the session afterwards;
// the client is closed.
func (c *Client) Reload(ctx context.Context) error {
	err := c.callOK(ctx, "reload")
	c.Close()
	return err
}

func (c *Client) callOK(ctx context.Context, op string, kv ...string) error {
	var b strings.Builder
	b.WriteString("<" + op + ` xmlns="` + LicensingNS + `">`)
	for i := 0; i+1 < len(kv); i += 2 {
		writeLeaf(&b, kv[i], kv[i+1])
	}
	b.WriteString("</" + op + ">")
	r, err := c.Call(ctx, b.String())
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("netconf: %s: %s: reply is not <ok/>", c.addr, op)
	}
	return nil
}

// Get runs <get> with an optional subtree filter and returns the content of
// <data>.
func (c *Client) Get(ctx context.Context, subtree string) ([]byte, error) {
	op := "<get/>"
	if subtree != "" {
		op = `<get><filter type="subtree">` + subtree + `</filter></get>`
	}
	r, err := c.Call(ctx, op)
	if err != nil {
		return nil, err
	}
	return r.Data(), nil
}

// GetConfig runs <get-config> on source ("running") with an optional subtree
// filter and returns the content of <data>.
func (c *Client) GetConfig(ctx context.Context, source, subtree string) ([]byte, error) {
	op := "<get-config><source><" + source + "/></source>"
	if subtree != "" {
		op += `<filter type="subtree">` + subtree + `</filter>`
	}
	r, err := c.Call(ctx, op+"</get-config>")
	if err != nil {
		return nil, err
	}
	return r.Data(), nil
}

// decodeChild decodes the first element (ns, local) found among the
// top-level elements of data into v.
func decodeChild(data []byte, ns, local string, v any) error {
	d := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("netconf: reply has no %s element", local)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Space == ns && se.Name.Local == local {
			if err := d.DecodeElement(v, &se); err != nil {
				return fmt.Errorf("netconf: decode %s: %w", local, err)
			}
			return nil
		}
		if err := d.Skip(); err != nil {
			return fmt.Errorf("netconf: reply has no %s element", local)
		}
	}
}
