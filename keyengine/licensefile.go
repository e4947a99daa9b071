package keyengine

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// LicenseFileNS is the XML namespace of license files.
const LicenseFileNS = "urn:licbroker:license-file:1"

const (
	fileHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<licenseFile xmlns="` + LicenseFileNS + `">` + "\n"
	fileFooter = "</licenseFile>\n"
	lineOpen   = "    <line>"
	lineClose  = "</line>\n"
)

// A license file looks like this (one <license> element per license; pak,
// tenant and comment only when set):
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<licenseFile xmlns="urn:licbroker:license-file:1">
//	  <license id="L01JH8...">
//	    <udi>WS-C3750E-24TD-S:FDO1307R0W9</udi>
//	    <feature>ipservices</feature>
//	    <type>extension</type>
//	    <count>uncounted</count>
//	    <issued>2025-03-01T10:00:00Z</issued>
//	    <starts>2025-03-01T09:55:00Z</starts>
//	    <expires>2025-05-30T09:55:00Z</expires>
//	    <pak>PAK00000001</pak>
//	    <tenant>acme</tenant>
//	    <keyId>3f2a19c4</keyId>
//	    <comment>spare for site B</comment>
//	    <line>AQMB...</line>
//	  </license>
//	</licenseFile>
//
// Everything but <line> is the human-readable part; <line> is the base64 of
// the canonical grant followed by the 64-byte signature. The readable part
// is derived from the signed grant, and ParseFile accepts only the exact
// bytes EncodeFile writes, so any edit anywhere is detected.

// EncodeFile writes licenses as an XML license file.
func EncodeFile(lics []License) []byte {
	b := make([]byte, 0, len(fileHeader)+len(fileFooter)+700*len(lics))
	b = append(b, fileHeader...)
	var canon [192]byte
	for _, l := range lics {
		b = appendLicenseBlock(b, l.Grant, l.Grant.appendCanonical(canon[:0]), l.Signature)
	}
	return append(b, fileFooter...)
}

func appendLicenseBlock(b []byte, g Grant, canon, sig []byte) []byte {
	b = append(b, `  <license id="`...)
	b = append(b, g.ID...)
	b = append(b, "\">\n"...)
	b = appendElem(b, "udi", g.UDI.PID+":"+g.UDI.SN)
	b = appendElem(b, "feature", g.Feature)
	b = appendElem(b, "type", string(g.Type))
	if g.Counted {
		b = append(b, "    <count>"...)
		b = strconv.AppendUint(b, uint64(g.Count), 10)
		b = append(b, "</count>\n"...)
	} else {
		b = appendElem(b, "count", "uncounted")
	}
	b = appendTimeElem(b, "issued", g.IssuedAt)
	b = appendTimeElem(b, "starts", g.NotBefore)
	if g.NotAfter.IsZero() {
		b = appendElem(b, "expires", "never")
	} else {
		b = appendTimeElem(b, "expires", g.NotAfter)
	}
	if g.PAK != "" {
		b = appendElem(b, "pak", g.PAK)
	}
	if g.Tenant != "" {
		b = appendElem(b, "tenant", g.Tenant)
	}
	b = appendElem(b, "keyId", g.KeyID)
	if g.Comment != "" {
		b = append(b, "    <comment>"...)
		b = appendEscaped(b, g.Comment)
		b = append(b, "</comment>\n"...)
	}
	b = append(b, lineOpen...)
	n := len(canon) + len(sig)
	start := len(b)
	b = append(b, make([]byte, base64.StdEncoding.EncodedLen(n))...)
	var raw [256]byte
	base64.StdEncoding.Encode(b[start:], append(append(raw[:0], canon...), sig...))
	b = append(b, lineClose...)
	return append(b, "  </license>\n"...)
}

func appendElem(b []byte, name, text string) []byte {
	b = append(b, "    <"...)
	b = append(b, name...)
	b = append(b, '>')
	b = append(b, text...)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, ">\n"...)
}

func appendTimeElem(b []byte, name string, t time.Time) []byte {
	b = append(b, "    <"...)
	b = append(b, name...)
	b = append(b, '>')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, ">\n"...)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&apos;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// ParseFile reads a license file. It accepts exactly the bytes EncodeFile
// writes: the readable part of each license must be the one its signed line
// gives, so any edit is detected, and errors give the byte offset of the
// first difference. It does not check signatures; use TrustStore.Verify.
func ParseFile(data []byte) ([]License, error) {
	if !bytes.HasPrefix(data, []byte(fileHeader)) {
		return nil, fileHeaderError(data)
	}
	pos := len(fileHeader)
	var lics []License
	buf := make([]byte, 0, 1024)
	for n := 1; ; n++ {
		rest := data[pos:]
		if bytes.HasPrefix(rest, []byte("</licenseFile>")) {
			if n == 1 {
				return nil, &MalformedError{Pos: pos, Msg: "license file holds no license"}
			}
			if !bytes.Equal(rest, []byte(fileFooter)) {
				return nil, &MalformedError{Pos: pos + firstDiff(rest, []byte(fileFooter)), Msg: "license file does not end right after </licenseFile>"}
			}
			return lics, nil
		}
		open := bytes.Index(rest, []byte(lineOpen))
		if open < 0 {
			return nil, &MalformedError{Pos: pos, Msg: fmt.Sprintf("license %d: no <line> element", n)}
		}
		textStart := pos + open + len(lineOpen)
		end := bytes.IndexByte(data[textStart:], '<')
		if end < 0 {
			return nil, &MalformedError{Pos: textStart, Msg: fmt.Sprintf("license %d: <line> is not closed", n)}
		}
		text := data[textStart : textStart+end]
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		m, err := base64.StdEncoding.Strict().Decode(raw, text)
		if err != nil {
			off := 0
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				off = int(ce)
			}
			return nil, &MalformedError{Pos: textStart + off, Msg: fmt.Sprintf("license %d: <line> is not base64", n)}
		}
		raw = raw[:m]
		if len(raw) <= 64 {
			return nil, &MalformedError{Pos: textStart, Msg: fmt.Sprintf("license %d: <line> is too short to hold a grant and a signature", n)}
		}
		canon, sig := raw[:len(raw)-64], raw[len(raw)-64:]
		g, err := ParseCanonical(canon)
		if err != nil {
			var me *MalformedError
			if errors.As(err, &me) {
				return nil, &MalformedError{Pos: textStart + me.Pos/3*4, Msg: fmt.Sprintf("license %d: <line>: %s", n, me.Msg)}
			}
			return nil, err
		}
		buf = appendLicenseBlock(buf[:0], g, canon, sig)
		if !bytes.HasPrefix(rest, buf) {
			d := firstDiff(buf, rest)
			return nil, &MalformedError{Pos: pos + d, Msg: fmt.Sprintf("license %d: %s does not match its signed line (edited?)", n, elementAt(buf, d))}
		}
		lics = append(lics, License{Grant: g, Signature: sig})
		pos += len(buf)
	}
}

// fileHeaderError explains why data does not start like a license file.
func fileHeaderError(data []byte) error {
	if bytes.Contains(data, []byte("\r\n")) {
		return &MalformedError{Pos: bytes.Index(data, []byte("\r\n")), Msg: "license file has Windows line ends (CR LF); convert it back to LF line ends (dos2unix)"}
	}
	const nsPrefix = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<licenseFile xmlns="urn:licbroker:license-file:`
	if rest, ok := bytes.CutPrefix(data, []byte(nsPrefix)); ok {
		if v, _, ok := bytes.Cut(rest, []byte(`"`)); ok && len(v) > 0 && len(v) < 6 {
			if n, err := strconv.Atoi(string(v)); err == nil && n != 1 {
				return fmt.Errorf("%w: license file version %d (this build reads 1)", ErrUnsupportedVersion, n)
			}
		}
	}
	return &MalformedError{Pos: firstDiff(data, []byte(fileHeader)), Msg: "not a license file (the header differs from " + strconv.Quote(fileHeader[:len(fileHeader)-1]) + ")"}
}

// elementAt names the element of the rendered block that holds offset d.
func elementAt(block []byte, d int) string {
	lineStart := bytes.LastIndexByte(block[:d], '\n') + 1
	line := bytes.TrimLeft(block[lineStart:], " <")
	if i := bytes.IndexAny(line, " >"); i > 0 {
		return "<" + string(line[:i]) + ">"
	}
	return "the license"
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
