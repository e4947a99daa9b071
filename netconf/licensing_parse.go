package netconf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Decoding of the licensing state and of install-license results from
// the fast parser's trees, without encoding/xml's reflection. It gives the
// values encoding/xml's Unmarshal gives for the same input (the Licensing,
// DeviceLicense and InstallResult struct tags); on anything it does not
// handle the same way (a leaf with child elements, a number that does not
// parse, input beyond the fast parser) it gives up and the caller decodes
// with encoding/xml, which decides and reports. FuzzParseLicensing checks
// both agree.

// Data is the content of a <data> reply, parsed once for several readers.
type Data struct {
	raw   []byte
	roots []*node
	err   error
}

// ParseData parses the content of a <data> reply (a sequence of top-level
// elements). Data that is not well-formed XML is reported by the readers.
func ParseData(raw []byte) *Data {
	roots, err := parseNodes(raw)
	return &Data{raw: raw, roots: roots, err: err}
}

// Identity reads the chassis identity; see ParseIdentity.
func (d *Data) Identity() (Identity, error) {
	if d.err != nil {
		return Identity{}, fmt.Errorf("netconf: reply data is not well-formed XML: %w", d.err)
	}
	return identityOf(d.roots)
}

// Licensing decodes the first top-level licensing container (namespace
// LicensingNS). It returns ErrNoLicensing when there is none.
func (d *Data) Licensing() (*Licensing, error) {
	if d.err == nil {
		if l, ok := licensingOf(d.roots); ok {
			return l, nil
		}
	}
	var l Licensing
	if err := decodeChild(d.raw, LicensingNS, "licensing", &l, ErrNoLicensing); err != nil {
		return nil, err
	}
	return &l, nil
}

// licensingOf decodes the first licensing root. ok is false when there is
// none or when encoding/xml must decide.
func licensingOf(roots []*node) (*Licensing, bool) {
	for _, r := range roots {
		if r.name.Space != LicensingNS || r.name.Local != "licensing" {
			continue
		}
		l := &Licensing{XMLName: xml.Name{Space: LicensingNS, Local: "licensing"}}
		for _, c := range r.children {
			var ok bool
			switch c.name.Local {
			case "udi":
				ok = setString(&l.UDI, c)
			case "available-level":
				var s string
				if ok = setString(&s, c); ok {
					l.AvailableLevel = append(l.AvailableLevel, s)
				}
			case "active-level":
				ok = setString(&l.ActiveLevel, c)
			case "boot-level":
				ok = setString(&l.BootLevel, c)
			case "next-boot-level":
				ok = setString(&l.NextBootLevel, c)
			case "license":
				var dl DeviceLicense
				if ok = deviceLicenseOf(&dl, c); ok {
					l.Licenses = append(l.Licenses, dl)
				}
			default:
				ok = true
			}
			if !ok {
				return nil, false
			}
		}
		return l, true
	}
	return nil, false
}

func deviceLicenseOf(dl *DeviceLicense, n *node) bool {
	for _, c := range n.children {
		var ok bool
		switch c.name.Local {
		case "index":
			ok = setUint(&dl.Index, c, 32)
		case "id":
			ok = setString(&dl.ID, c)
		case "feature":
			ok = setString(&dl.Feature, c)
		case "type":
			ok = setString(&dl.Type, c)
		case "state":
			ok = setString(&dl.State, c)
		case "counted":
			ok = setBool(&dl.Counted, c)
		case "count":
			ok = setUint(&dl.Count, c, 32)
		case "period-left":
			ok = setString(&dl.PeriodLeft, c)
		case "period-left-seconds":
			ok = setUint(&dl.PeriodLeftSeconds, c, 64)
		case "period-used-seconds":
			ok = setUint(&dl.PeriodUsedSeconds, c, 64)
		case "eula-accepted":
			ok = setBool(&dl.EULAAccepted, c)
		case "store":
			ok = setString(&dl.Store, c)
		case "lock-type":
			ok = setString(&dl.LockType, c)
		case "comment":
			ok = setString(&dl.Comment, c)
		default:
			ok = true
		}
		if !ok {
			return false
		}
	}
	return true
}

// installResultsOf decodes the result elements among roots (the content
// of an install-license reply). ok is false when encoding/xml must decide.
func installResultsOf(roots []*node) ([]InstallResult, bool) {
	var out []InstallResult
	for _, r := range roots {
		if r.name.Local != "result" {
			continue
		}
		var res InstallResult
		for _, c := range r.children {
			ok := true
			switch c.name.Local {
			case "line":
				ok = setUint(&res.Line, c, 32)
			case "license-id":
				ok = setString(&res.LicenseID, c)
			case "feature":
				ok = setString(&res.Feature, c)
			case "status":
				ok = setString(&res.Status, c)
			case "reason":
				ok = setString(&res.Reason, c)
			}
			if !ok {
				return nil, false
			}
		}
		out = append(out, res)
	}
	return out, true
}

// setString sets a string field from a leaf, as encoding/xml does: its
// character data, untrimmed. An element with children is left to
// encoding/xml.
func setString(dst *string, n *node) bool {
	if len(n.children) > 0 {
		return false
	}
	*dst = n.text
	return true
}

// setUint and setBool parse a leaf as encoding/xml does: no text is the
// zero value, anything else is parsed with space trimmed (an error is left
// to encoding/xml to report).
func setUint[T uint32 | uint64](dst *T, n *node, bits int) bool {
	if len(n.children) > 0 {
		return false
	}
	if n.text == "" {
		*dst = 0
		return true
	}
	v, err := strconv.ParseUint(strings.TrimSpace(n.text), 10, bits)
	*dst = T(v)
	return err == nil
}

func setBool(dst *bool, n *node) bool {
	if len(n.children) > 0 {
		return false
	}
	if n.text == "" {
		*dst = false
		return true
	}
	v, err := strconv.ParseBool(strings.TrimSpace(n.text))
	*dst = v
	return err == nil
}

// decodeInstallResults decodes the results of an install-license reply
// body.
func decodeInstallResults(body []byte) ([]InstallResult, error) {
	if roots, ok := fastParse(body); ok {
		if out, ok := installResultsOf(roots); ok {
			return out, nil
		}
	}
	var out struct {
		Results []InstallResult `xml:"result"`
	}
	var b bytes.Buffer
	b.Grow(len(body) + 7)
	b.WriteString("<r>")
	b.Write(body)
	b.WriteString("</r>")
	if err := xml.Unmarshal(b.Bytes(), &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}
