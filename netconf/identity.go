package netconf

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
)

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

// IdentityFilter is the subtree filter that selects what Identity needs of
// ietf-hardware (RFC 8348); it asks for the list key (name) too, so that
// the reply is valid YANG instance data even from a schema-unaware server.
const IdentityFilter = `<hardware xmlns="` + HardwareNS + `"><component><name/><class/><model-name/><serial-num/><software-rev/></component></hardware>`

// Identity reads the chassis PID (model-name), serial number (serial-num)
// and software version (software-rev) from ietf-hardware.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	data, err := c.Get(ctx, IdentityFilter)
	if err != nil {
		return Identity{}, err
	}
	id, err := ParseIdentity(data)
	if err != nil {
		return Identity{}, fmt.Errorf("%w (from %s)", err, c.addr)
	}
	return id, nil
}

// ParseIdentity finds the chassis component in <data> content. The class is
// an identityref; any prefix is accepted for ianahw:chassis.
func ParseIdentity(data []byte) (Identity, error) {
	return ParseData(data).Identity()
}

// identityOf finds the chassis component among parsed top-level elements.
func identityOf(roots []*node) (Identity, error) {
	for _, hw := range roots {
		if hw.name.Space != HardwareNS || hw.name.Local != "hardware" {
			continue
		}
		for _, comp := range hw.children {
			if comp.name.Local != "component" {
				continue
			}
			leaf := func(name string) string {
				if c := comp.child(name); c != nil && len(c.children) == 0 {
					return strings.TrimSpace(c.text)
				}
				return ""
			}
			cls := leaf("class")
			if i := strings.LastIndexByte(cls, ':'); i >= 0 {
				cls = cls[i+1:]
			}
			if cls == "chassis" && leaf("model-name") != "" && leaf("serial-num") != "" {
				return Identity{PID: leaf("model-name"), Serial: leaf("serial-num"), SoftwareVersion: leaf("software-rev")}, nil
			}
		}
		return Identity{}, errNoChassis
	}
	return Identity{}, fmt.Errorf("netconf: reply has no hardware element")
}
