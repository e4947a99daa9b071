package keyengine

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"time"
)

// LicenseFileNS is the XML namespace of license files.
const LicenseFileNS = "urn:licbroker:license-file:1"

type xmlLicenseFile struct {
	XMLName  xml.Name     `xml:"urn:licbroker:license-file:1 licenseFile"`
	Licenses []xmlLicense `xml:"license"`
}

type xmlLicense struct {
	ID      string `xml:"id,attr"`
	UDI     string `xml:"udi,attr"`
	Feature string `xml:"feature,attr"`
	Type    string `xml:"type,attr"`
	Expires string `xml:"expires,attr"`
	Line    string `xml:"line"`
}

func expiresText(g Grant) string {
	if g.NotAfter.IsZero() {
		return "never"
	}
	return g.NotAfter.UTC().Format(time.RFC3339)
}

// EncodeFile writes licenses as an XML license file: per license a
// human-readable summary (id, UDI, feature, type, expiry) and the signed
// license line (base64 of the canonical grant followed by the signature).
func EncodeFile(lics []License) []byte {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString(`<licenseFile xmlns="` + LicenseFileNS + `">` + "\n")
	for _, l := range lics {
		g := l.Grant
		line := append(append([]byte{}, g.Canonical()...), l.Signature...)
		fmt.Fprintf(&buf, "  <license id=%q udi=%q feature=%q type=%q expires=%q>\n    <line>%s</line>\n  </license>\n",
			g.ID, g.UDI.String(), g.Feature, string(g.Type), expiresText(g), base64.StdEncoding.EncodeToString(line))
	}
	buf.WriteString("</licenseFile>\n")
	return buf.Bytes()
}

// ParseFile reads a license file. It checks that the summary agrees with the
// signed lines and that the file is exactly as EncodeFile writes it, so any
// edit is detected. It does not verify signatures; use TrustStore.Verify.
func ParseFile(data []byte) ([]License, error) {
	var f xmlLicenseFile
	if err := xml.Unmarshal(data, &f); err != nil {
		return nil, &MalformedError{Pos: 0, Msg: "license file: " + err.Error()}
	}
	if len(f.Licenses) == 0 {
		return nil, &MalformedError{Pos: 0, Msg: "license file holds no license"}
	}
	lics := make([]License, 0, len(f.Licenses))
	for i, x := range f.Licenses {
		raw, err := base64.StdEncoding.Strict().DecodeString(x.Line)
		if err != nil {
			return nil, &MalformedError{Pos: 0, Msg: fmt.Sprintf("license %d: line is not base64: %v", i+1, err)}
		}
		if len(raw) < 64 {
			return nil, &MalformedError{Pos: 0, Msg: fmt.Sprintf("license %d: line too short", i+1)}
		}
		g, err := ParseCanonical(raw[:len(raw)-64])
		if err != nil {
			return nil, fmt.Errorf("license %d: %w", i+1, err)
		}
		if x.ID != g.ID || x.UDI != g.UDI.String() || x.Feature != g.Feature || x.Type != string(g.Type) || x.Expires != expiresText(g) {
			return nil, &MalformedError{Pos: 0, Msg: fmt.Sprintf("license %d: summary does not match the signed line", i+1)}
		}
		lics = append(lics, License{Grant: g, Signature: raw[len(raw)-64:]})
	}
	if !bytes.Equal(EncodeFile(lics), data) {
		return nil, &MalformedError{Pos: firstDiff(EncodeFile(lics), data), Msg: "license file is not in canonical form (edited?)"}
	}
	return lics, nil
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
