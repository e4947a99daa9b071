package netconf

import (
	"testing"
)

// TestRequestLeaf: Leaf gives what Decode gives a string field, with the
// operation parsed by the fast parser or not at all yet, and defers to
// Decode for a child with elements.
func TestRequestLeaf(t *testing.T) {
	type params struct {
		File string `xml:"license-file"`
		ID   string `xml:"license-id"`
	}
	for _, tc := range []struct {
		op         string
		file, id   string
		fileUnsure bool
	}{
		{`<install-license xmlns="` + LicensingNS + `"><license-file>L1 &amp; L2
line 2</license-file></install-license>`, "L1 & L2\nline 2", "", false},
		{`<x:clear-license xmlns:x="` + LicensingNS + `"><x:license-id>a</x:license-id><license-id xmlns="urn:other">b</license-id></x:clear-license>`, "", "b", false},
		{`<install-license xmlns="` + LicensingNS + `"><license-file>a<!-- c --><![CDATA[<b>]]></license-file></install-license>`, "a<b>", "", false},
		{`<install-license xmlns="` + LicensingNS + `"><license-file>a<x>b</x>c</license-file></install-license>`, "ac", "", true},
		{`<install-license xmlns="` + LicensingNS + `"/>`, "", "", false},
	} {
		m, rerr := parseRPC([]byte(`<rpc message-id="1" xmlns="` + BaseNS + `">` + tc.op + `</rpc>`))
		if rerr != nil {
			t.Fatalf("%s: %v", tc.op, rerr)
		}
		for _, parsed := range []bool{true, false} {
			req := &Request{Op: m.op, Body: m.body, nsDecls: m.nsDecls}
			if parsed {
				req.tree = m.tree
			}
			var want params
			if err := req.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if want.File != tc.file || want.ID != tc.id {
				t.Fatalf("%s: Decode gives %+v", tc.op, want)
			}
			file, ok := req.Leaf("license-file")
			if ok == tc.fileUnsure || (ok && file != want.File) {
				t.Errorf("%s (parsed %t): Leaf(license-file) = %q, %t; Decode %q", tc.op, parsed, file, ok, want.File)
			}
			if id, ok := req.Leaf("license-id"); !ok || id != want.ID {
				t.Errorf("%s (parsed %t): Leaf(license-id) = %q, %t; Decode %q", tc.op, parsed, id, ok, want.ID)
			}
		}
	}
}
