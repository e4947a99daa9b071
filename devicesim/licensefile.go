package devicesim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"

	"github.com/licbroker/licbroker/keyengine"
)

// parsedLine is one license line of a license file: the license, or why it
// could not be read.
type parsedLine struct {
	lic keyengine.License
	err error
}

// parseLicenseLines reads what install-license carries: a license file or
// a compact key (keyengine.ParseLicenses). keyengine reads a file in one
// go and refuses it whole if any byte is off; then each <license> element
// is read on its own, so that one bad line fails alone: its <line> must
// decode to a grant and signature, and the element must be exactly what
// keyengine.EncodeFile writes for that grant (so an edited summary is
// caught). Signatures are verified by the caller.
func parseLicenseLines(file []byte) ([]parsedLine, error) {
	lics, err := keyengine.ParseLicenses(file)
	if err == nil {
		out := make([]parsedLine, len(lics))
		for i, l := range lics {
			out[i].lic = l
		}
		return out, nil
	}
	if t := bytes.TrimLeft(file, " \t\r\n"); len(t) == 0 || t[0] != '<' {
		return nil, fmt.Errorf("%w: %s", errMalformedFile, reason(err)) // a compact key
	}
	d := xml.NewDecoder(bytes.NewReader(file))
	root := false
	var out []parsedLine
	for {
		start := d.InputOffset()
		tok, terr := d.Token()
		if terr != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !root {
			if se.Name.Space != keyengine.LicenseFileNS || se.Name.Local != "licenseFile" {
				return nil, fmt.Errorf("%w: root element is not {%s}licenseFile", errMalformedFile, keyengine.LicenseFileNS)
			}
			root = true
			continue
		}
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformedFile, err)
		}
		if se.Name.Local == "license" {
			out = append(out, parseLicenseElement(file[start:d.InputOffset()]))
		}
	}
	if !root {
		return nil, fmt.Errorf("%w: %s", errMalformedFile, reason(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: it holds no license", errMalformedFile)
	}
	return out, nil
}

// parseLicenseElement reads one <license> element, raw as it stands in the
// file.
func parseLicenseElement(raw []byte) parsedLine {
	var x struct {
		ID   string `xml:"id,attr"`
		Line string `xml:"line"`
	}
	var p parsedLine
	if err := xml.Unmarshal(raw, &x); err != nil {
		p.err = fmt.Errorf("malformed license: %v", err)
		return p
	}
	p.lic.Grant.ID = x.ID
	sig, err := base64.StdEncoding.Strict().DecodeString(x.Line)
	switch {
	case err != nil:
		p.err = fmt.Errorf("malformed license line: not base64: %v", err)
		return p
	case len(sig) <= 64:
		p.err = errors.New("malformed license line: too short")
		return p
	}
	g, err := keyengine.ParseCanonical(sig[:len(sig)-64])
	if err != nil {
		p.err = fmt.Errorf("malformed license line: %s", reason(err))
		return p
	}
	p.lic = keyengine.License{Grant: g, Signature: sig[len(sig)-64:]}
	if !bytes.Equal(licenseBlock(p.lic), raw) {
		p.err = errors.New("license summary does not match its signed line (edited?)")
	}
	return p
}

// licenseBlock returns the <license> element keyengine.EncodeFile writes
// for l, without its indentation and line end.
func licenseBlock(l keyengine.License) []byte {
	empty := keyengine.EncodeFile(nil)
	header := bytes.Index(empty, []byte("</licenseFile>"))
	one := keyengine.EncodeFile([]keyengine.License{l})
	block := one[header : len(one)-(len(empty)-header)]
	return bytes.TrimSpace(block)
}
