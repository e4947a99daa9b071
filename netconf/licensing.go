package netconf

import (
	"bytes"
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

// LicensingFilter is the subtree filter that selects the licensing state.
const LicensingFilter = `<licensing xmlns="` + LicensingNS + `"/>`

// Licensing reads the device's licensing state.
func (c *Client) Licensing(ctx context.Context) (*Licensing, error) {
	data, err := c.Get(ctx, LicensingFilter)
	if err != nil {
		return nil, err
	}
	l, err := ParseData(data).Licensing()
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, c.addr)
	}
	return l, nil
}

// licensingOp builds an operation of the licensing module with leaf
// parameters given as name, value pairs (empty values are left out).
func licensingOp(op string, kv ...string) string {
	var b strings.Builder
	b.WriteString("<" + op + ` xmlns="` + LicensingNS + `">`)
	for i := 0; i+1 < len(kv); i += 2 {
		writeLeaf(&b, kv[i], kv[i+1])
	}
	b.WriteString("</" + op + ">")
	return b.String()
}

// callOK runs an operation whose answer is <ok/>.
func (c *Client) callOK(ctx context.Context, name, op string) error {
	r, err := c.Call(ctx, op)
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("netconf: %s: %s: reply is not <ok/>", c.addr, name)
	}
	return nil
}

// decodeChild decodes the first element (ns, local) found among the
// top-level elements of data into v. It returns notFound when there is
// none.
func decodeChild(data []byte, ns, local string, v any, notFound error) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return notFound
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
			return notFound
		}
	}
}
