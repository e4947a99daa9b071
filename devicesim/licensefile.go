package devicesim

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	"github.com/licbroker/licbroker/keyengine"
)

// parsedLine is one license line of a license file: the license, or why it
// could not be read.
type parsedLine struct {
	lic keyengine.License
	err error
}

// parseLicenseLines reads a license file line by line, so that one bad line
// fails alone. keyengine.ParseFile reads a canonical file in one go; when it
// refuses the file, each <license> element is decoded on its own and
// checked against its signed line (keyengine's file format: summary
// attributes plus base64 of the canonical grant followed by the Ed25519
// signature). Signatures are verified by the caller.
func parseLicenseLines(file []byte) ([]parsedLine, error) {
	if lics, err := keyengine.ParseFile(file); err == nil {
		out := make([]parsedLine, len(lics))
		for i, l := range lics {
			out[i].lic = l
		}
		return out, nil
	}
	var f struct {
		XMLName  xml.Name `xml:"licenseFile"`
		Licenses []struct {
			ID      string `xml:"id,attr"`
			UDI     string `xml:"udi,attr"`
			Feature string `xml:"feature,attr"`
			Type    string `xml:"type,attr"`
			Expires string `xml:"expires,attr"`
			Line    string `xml:"line"`
		} `xml:"license"`
	}
	if err := xml.Unmarshal(file, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedFile, err)
	}
	if f.XMLName.Space != keyengine.LicenseFileNS {
		return nil, fmt.Errorf("%w: root element is not {%s}licenseFile", errMalformedFile, keyengine.LicenseFileNS)
	}
	if len(f.Licenses) == 0 {
		return nil, fmt.Errorf("%w: it holds no license", errMalformedFile)
	}
	out := make([]parsedLine, len(f.Licenses))
	for i, x := range f.Licenses {
		p := &out[i]
		p.lic.Grant.ID, p.lic.Grant.Feature = x.ID, x.Feature
		raw, err := base64.StdEncoding.Strict().DecodeString(x.Line)
		if err != nil {
			p.err = fmt.Errorf("malformed license line: not base64: %v", err)
			continue
		}
		if len(raw) <= 64 {
			p.err = errors.New("malformed license line: too short")
			continue
		}
		g, err := keyengine.ParseCanonical(raw[:len(raw)-64])
		if err != nil {
			p.err = fmt.Errorf("malformed license line: %w", err)
			continue
		}
		expires := "never"
		if !g.NotAfter.IsZero() {
			expires = g.NotAfter.UTC().Format(time.RFC3339)
		}
		if x.ID != g.ID || x.UDI != g.UDI.String() || x.Feature != g.Feature || x.Type != string(g.Type) || x.Expires != expires {
			p.err = errors.New("license summary does not match its signed line (edited?)")
			continue
		}
		p.lic = keyengine.License{Grant: g, Signature: raw[len(raw)-64:]}
	}
	return out, nil
}
