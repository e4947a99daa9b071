package netconf

import (
	"context"
	"encoding/xml"
	"reflect"
	"testing"
)

// testLicensingData is a device's <data>: configuration, hardware and the
// licensing state with an evaluation and an installed license.
func testLicensingData(t testing.TB) []byte {
	d := newTestDevice()
	d.licenses["L-1"] = "ipservices"
	data, err := d.Data(context.Background(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// slowLicensing and slowInstallResults decode with encoding/xml, as the
// package did before the fast path.
func slowLicensing(data []byte) (*Licensing, error) {
	var l Licensing
	if err := decodeChild(data, LicensingNS, "licensing", &l, ErrNoLicensing); err != nil {
		return nil, err
	}
	return &l, nil
}

func slowInstallResults(body []byte) ([]InstallResult, error) {
	var out struct {
		Results []InstallResult `xml:"result"`
	}
	err := xml.Unmarshal(append(append([]byte("<r>"), body...), "</r>"...), &out)
	return out.Results, err
}

// TestParseLicensing: the fast decoding gives encoding/xml's values for a
// device's data and for the cases where the two could part (numbers with
// space, empty numbers, repeated leaves, unknown and nested elements, other
// namespaces, text split by comments and CDATA), and leaves to
// encoding/xml what it does not handle.
func TestParseLicensing(t *testing.T) {
	lic := func(inner string) string { return `<licensing xmlns="` + LicensingNS + `">` + inner + `</licensing>` }
	cases := []string{
		string(testLicensingData(t)),
		lic(`<udi> A:B </udi><license><index> 7 </index><counted> true </counted><count></count></license>`),
		lic(`<udi>a</udi><udi>b</udi><available-level>x</available-level><other><udi>c</udi></other><available-level>y</available-level>`),
		lic(`<udi>a<!-- c -->b<![CDATA[<c>]]>&amp;</udi><license><x:feature xmlns:x="urn:other">f</x:feature></license>`),
		`<licensing xmlns="urn:other"><udi>no</udi></licensing>` + lic(`<udi>yes</udi>`) + lic(`<udi>second</udi>`),
		lic(`<license><index>-1</index></license>`),
		lic(`<license><index>4294967296</index></license>`),
		lic(`<license><counted>yes</counted></license>`),
		lic(`<license><period-left-seconds>   </period-left-seconds></license>`),
		lic(`<udi>a<b/>c</udi>`),
		lic(`<udi>caf` + "\u00e9" + `</udi>`),
		`<hardware xmlns="` + HardwareNS + `"/>`,
		`<licensing xmlns="` + LicensingNS + `"><udi>`,
	}
	for _, c := range cases {
		want, werr := slowLicensing([]byte(c))
		got, gerr := ParseData([]byte(c)).Licensing()
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s:\nfast %+v, %v\nslow %+v, %v", c, got, gerr, want, werr)
		}
	}
	if roots, ok := fastParse(testLicensingData(t)); !ok {
		t.Fatal("the fast parser gave up on a device's data")
	} else if _, ok := licensingOf(roots); !ok {
		t.Fatal("the fast decoding gave up on a device's licensing state")
	}
}

func TestDecodeInstallResults(t *testing.T) {
	for _, c := range []string{
		`<result><line>1</line><license-id>L-1</license-id><feature>ipservices</feature><status>installed</status></result>` +
			`<result><line> 2 </line><status>failed</status><reason>bad signature &amp; more</reason></result>`,
		`<x:result xmlns:x="` + LicensingNS + `"><x:line>3</x:line><x:status>already-present</x:status></x:result><other/>`,
		`<result><line>x</line></result>`,
		`<result><line></line><reason>a<b/></reason></result>`,
		``,
	} {
		want, werr := slowInstallResults([]byte(c))
		got, gerr := decodeInstallResults([]byte(c))
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s:\nfast %+v, %v\nslow %+v, %v", c, got, gerr, want, werr)
		}
	}
}

// FuzzParseLicensing checks that the fast decodings of the licensing state
// and of install-license results agree with encoding/xml on any input.
func FuzzParseLicensing(f *testing.F) {
	f.Add(testLicensingData(f))
	f.Add([]byte(`<licensing xmlns="` + LicensingNS + `"><license><index> 1 </index><counted>1</counted></license></licensing>`))
	f.Add([]byte(`<result><line>1</line><status>installed</status></result><result><line>2</line></result>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := slowLicensing(data)
		got, gerr := ParseData(data).Licensing()
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("licensing of %q:\nfast %+v, %v\nslow %+v, %v", data, got, gerr, want, werr)
		}
		wr, werr := slowInstallResults(data)
		gr, gerr := decodeInstallResults(data)
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(gr, wr)) {
			t.Fatalf("install results of %q:\nfast %+v, %v\nslow %+v, %v", data, gr, gerr, wr, werr)
		}
	})
}

// BenchmarkParseLicensing compares decoding a device's licensing state
// with encoding/xml and with the fast path.
func BenchmarkParseLicensing(b *testing.B) {
	data := testLicensingData(b)
	b.Run("encoding-xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := slowLicensing(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseData(data).Licensing(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
