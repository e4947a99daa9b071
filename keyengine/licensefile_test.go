package keyengine

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestLicenseFileRoundTrip(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	lics := signedFixed(t, kr)
	for i, c := range fixedGrants(t) {
		t.Run(c.Name, func(t *testing.T) {
			file := EncodeFile(lics[i : i+1])
			golden(t, c.Name+".lic", file)
			got, err := ParseFile(file)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if !reflect.DeepEqual(got, lics[i:i+1]) {
				t.Fatalf("round trip changed the license:\n got %+v\nwant %+v", got, lics[i:i+1])
			}
			if err := ts.Verify(got[0], lics[i].Grant.UDI, t0); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("all", func(t *testing.T) {
		file := EncodeFile(lics)
		golden(t, "all.lic", file)
		got, err := ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, lics) {
			t.Fatal("round trip of a file with several licenses changed them")
		}
	})
}

// TestLicenseFileGoldenVerifies checks the golden files against the fixed
// key: a change to the encoding that breaks files already issued shows here
// even after -update.
func TestLicenseFileGoldenVerifies(t *testing.T) {
	ts := fixedKeyring(t).TrustStore()
	lics, err := ParseFile(readTestdata(t, "all.lic"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lics) != len(fixedGrants(t)) {
		t.Fatalf("%d licenses, want %d", len(lics), len(fixedGrants(t)))
	}
	for _, l := range lics {
		if err := ts.Verify(l, l.Grant.UDI, t0); err != nil {
			t.Errorf("golden license %s: %v", l.Grant.ID, err)
		}
	}
}

// TestLicenseFileIsXML checks that standard XML tools read the file and see
// the same human-readable values as the signed grant.
func TestLicenseFileIsXML(t *testing.T) {
	kr := fixedKeyring(t)
	lics := signedFixed(t, kr)
	var f struct {
		XMLName  xml.Name `xml:"urn:licbroker:license-file:1 licenseFile"`
		Licenses []struct {
			ID      string `xml:"id,attr"`
			UDI     string `xml:"udi"`
			Feature string `xml:"feature"`
			Type    string `xml:"type"`
			Expires string `xml:"expires"`
			Comment string `xml:"comment"`
			Line    string `xml:"line"`
		} `xml:"license"`
	}
	if err := xml.Unmarshal(EncodeFile(lics), &f); err != nil {
		t.Fatalf("encoding/xml cannot read a license file: %v", err)
	}
	for i, x := range f.Licenses {
		g := lics[i].Grant
		if x.ID != g.ID || x.UDI != g.UDI.String() || x.Feature != g.Feature || x.Type != string(g.Type) || x.Comment != g.Comment {
			t.Errorf("license %d: XML says %+v, grant says %+v", i, x, g)
		}
	}
}

// TestLicenseFileTamper: every single-byte change of a license file fails
// parsing or verification, and so does deleting or inserting a byte.
func TestLicenseFileTamper(t *testing.T) {
	kr := fixedKeyring(t)
	ts := kr.TrustStore()
	lics := signedFixed(t, kr)
	known := map[string]Grant{}
	for _, l := range lics {
		if err := ts.Verify(l, l.Grant.UDI, t0); err != nil {
			t.Fatal(err)
		}
		known[string(l.Signature)] = l.Grant
	}
	accepted := func(b []byte) bool {
		got, err := ParseFile(b)
		if err != nil {
			return false
		}
		for _, l := range got {
			if known[string(l.Signature)] == l.Grant {
				continue // an untouched license: it verifies (checked below)
			}
			if ts.Verify(l, l.Grant.UDI, t0) != nil {
				return false
			}
		}
		return true
	}

	// sample is the values tried at every byte when not all 255 are: every
	// single-bit flip and the characters that matter to XML and base64.
	sample := []byte{' ', '\n', '"', '<', '>', '/', '=', '+', '0', 'A', 'a', '&'}
	check := func(t *testing.T, file []byte, everyValue bool) {
		if !accepted(file) {
			t.Fatal("the untouched file is refused")
		}
		b := bytes.Clone(file)
		for i := range b {
			orig := b[i]
			values := sample
			for bit := 0; bit < 8; bit++ {
				values = append(values, orig^1<<bit)
			}
			if everyValue {
				values = values[:0]
				for v := 0; v < 256; v++ {
					values = append(values, byte(v))
				}
			}
			for _, v := range values {
				if v == orig {
					continue
				}
				b[i] = v
				if accepted(b) {
					t.Fatalf("byte %d changed from %q to %q: the file still verifies", i, orig, v)
				}
			}
			b[i] = orig
			if accepted(append(bytes.Clone(file[:i]), file[i+1:]...)) {
				t.Fatalf("deleting byte %d (%q): the file still verifies", i, orig)
			}
			if accepted(append(append(bytes.Clone(file[:i]), ' '), file[i:]...)) {
				t.Fatalf("inserting a space at %d: the file still verifies", i)
			}
		}
	}
	// All 255 other values of every byte of the extension license, whose
	// file has every element (count, end, PAK, tenant, escaped comment);
	// bit flips and syntax characters at every byte of the other files.
	t.Run("extension-every-value", func(t *testing.T) { t.Parallel(); check(t, EncodeFile(lics[2:3]), true) })
	// KEYENGINE_EXHAUSTIVE=1 (make bench) tries every value there too.
	t.Run("all", func(t *testing.T) { t.Parallel(); check(t, EncodeFile(lics), os.Getenv("KEYENGINE_EXHAUSTIVE") != "") })
}

func TestParseFileErrors(t *testing.T) {
	kr := fixedKeyring(t)
	good := EncodeFile(signedFixed(t, kr)[:1])
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("%q not in the file", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	lineAt := bytes.Index(good, []byte("<line>")) + len("<line>")
	cases := []struct {
		name string
		in   []byte
		want error
		pos  int // -1: do not check
		msg  string
	}{
		{"empty", nil, ErrMalformed, 0, "not a license file"},
		{"not xml", []byte("hello"), ErrMalformed, 0, "not a license file"},
		{"windows line ends", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), ErrMalformed, 38, "dos2unix"},
		{"other version", replace("license-file:1", "license-file:2"), ErrUnsupportedVersion, -1, "license file version 2"},
		{"no license", []byte(fileHeader + fileFooter), ErrMalformed, len(fileHeader), "holds no license"},
		{"trailing text", append(bytes.Clone(good), "x"...), ErrMalformed, len(good), "does not end"},
		{"no footer", good[:len(good)-len(fileFooter)], ErrMalformed, -1, "no <line> element"},
		{"edited feature", replace("<feature>ipservices", "<feature>advipservices"), ErrMalformed, bytes.Index(good, []byte("ipservices</feature>")), "<feature> does not match its signed line"},
		{"edited udi", replace("FDO1307R0W9</udi>", "FDO1307R0W8</udi>"), ErrMalformed, bytes.Index(good, []byte("R0W9</udi>")) + 3, "<udi> does not match"},
		{"edited expiry", replace("<expires>never", "<expires>Never"), ErrMalformed, bytes.Index(good, []byte("never")), "<expires> does not match"},
		{"added comment", replace("    <line>", "    <comment>mine</comment>\n    <line>"), ErrMalformed, bytes.Index(good, []byte("    <line>")) + 5, "does not match"},
		{"bad base64", replace("<line>AQ", "<line>A*"), ErrMalformed, lineAt + 1, "not base64"},
		{"short line", replace(string(good[lineAt:bytes.Index(good, []byte("</line>"))]), "AQID"), ErrMalformed, lineAt, "too short"},
		{"unclosed line", good[:lineAt+10], ErrMalformed, lineAt, "not closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFile(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "keyengine: ") || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("message %q, want one line containing %q", err, c.msg)
			}
			var me *MalformedError
			if c.pos >= 0 && (!errors.As(err, &me) || me.Pos != c.pos) {
				t.Fatalf("err %v: position %d, want %d", err, me.Pos, c.pos)
			}
		})
	}
}

func TestParseFileVersionInLine(t *testing.T) {
	kr := fixedKeyring(t)
	l := signedFixed(t, kr)[0]
	canon := l.Grant.Canonical()
	canon[0] = 2
	file := appendLicenseBlock([]byte(fileHeader), l.Grant, canon, l.Signature)
	file = append(file, fileFooter...)
	if _, err := ParseFile(file); !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), "grant version 2") {
		t.Fatalf("err %v, want unsupported version naming version 2", err)
	}
}
