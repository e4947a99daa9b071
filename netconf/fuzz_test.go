package netconf

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// Fuzz targets: `go test -fuzz FuzzReader ./netconf` and
// `go test -fuzz FuzzServerRPC ./netconf` (see `make fuzz`). Without -fuzz
// they run their seed corpus as ordinary tests.

// FuzzReader feeds arbitrary bytes to the framing decoder, in both
// framings, with a small limit: it must not panic, must never return a
// message over the limit, and must keep its buffer bounded by the limit.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"<a/>]]>]]><b/>]]>]]>",
		"\n#4\n<rpc\n#18\n message-id=\"102\"\n\n#3\n/>\n\n##\n",
		"\n#99999999999\n", "\n#0\n", "\n##\n", "]]>]]]]>]]>",
		string(AppendFramed(nil, bytes.Repeat([]byte("x"), 3000), FramingChunked)),
		string(AppendFramed(nil, bytes.Repeat([]byte("]"), 3000), FramingEOM)),
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	const limit = 1024
	f.Fuzz(func(t *testing.T, data []byte, chunked bool) {
		r := NewReader(bytes.NewReader(data), limit)
		if chunked {
			r.SetFraming(FramingChunked)
		}
		for range 1000 {
			msg, err := r.ReadMessage()
			if len(msg) > limit {
				t.Fatalf("message of %d bytes over the %d limit", len(msg), limit)
			}
			if cap(r.buf) > 2*(limit+4096+64) {
				t.Fatalf("buffer grew to %d bytes with a %d limit", cap(r.buf), limit)
			}
			var tb *TooBigError
			if errors.As(err, &tb) {
				if len(tb.Head) > tooBigHead {
					t.Fatalf("too-big head of %d bytes", len(tb.Head))
				}
				continue
			}
			if err != nil {
				var fe *FramingError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
		}
	})
}

// fuzzDevice is the test device without the operations that sleep or drop
// the connection.
type fuzzDevice struct{ *testDevice }

func (d fuzzDevice) RPC(ctx context.Context, req *Request) ([]byte, error) {
	if req.Op.Space == "urn:example:test" {
		return nil, ErrUnknownOperation
	}
	return d.testDevice.RPC(ctx, req)
}

// FuzzServerRPC runs arbitrary messages through the server's request path
// (rpc parser, dispatch, base operations, filters, the device handler): it
// must not panic, and every reply must be a well-formed <rpc-reply> whose
// attributes are those of the request.
func FuzzServerRPC(f *testing.F) {
	for _, seed := range []string{
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>`,
		`<?xml version="1.0"?><nc:rpc xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="a" x="y"><nc:get><nc:filter type="subtree"><top xmlns="urn:example:config"><hostname/></top></nc:filter></nc:get></nc:rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get><filter><hardware xmlns="urn:ietf:params:xml:ns:yang:ietf-hardware"><component><name>chassis</name><serial-num/></component></hardware></filter></get></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get-config><source><running/></source></get-config></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><lock><target><running/></target></lock></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><kill-session><session-id>2</session-id></kill-session></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><edit-config><target><running/></target><config><top xmlns="urn:example:config"/></config></edit-config></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><install-license xmlns="urn:licbroker:yang:licensing"><license-file>L1 ipservices&#10;bad</license-file></install-license></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><identifier>licbroker-licensing</identifier></get-schema></rpc>`,
		`<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>`,
		`<rpc message-id="1" message-id="2" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>`,
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get></rpc>`,
		`<rpc message-id='1' a:b="&lt;" xmlns:a="urn:a" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><close-session/></rpc>`,
	} {
		f.Add([]byte(seed))
	}
	srv, err := NewServer(ServerConfig{Resolve: func(_, _ net.Addr) (*Endpoint, error) { return nil, nil },
		Capabilities: []string{CapLicensing}, Schemas: map[string]string{LicensingModule: LicensingYANG}})
	if err != nil {
		f.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	dev := fuzzDevice{newTestDevice()}
	c := &serverConn{s: srv, conn: a, ep: &Endpoint{Handler: dev}, user: "fuzz", idle: time.NewTimer(time.Hour)}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ss := &serverSession{id: 1, h: dev, c: c, framing: FramingChunked}
		reply, _ := ss.handle(context.Background(), msg)
		if reply == nil {
			return
		}
		d := xml.NewDecoder(bytes.NewReader(reply))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("reply is not well-formed XML: %v\n%s", err, reply)
			}
		}
		var r struct {
			XMLName xml.Name
			Attrs   []xml.Attr `xml:",any,attr"`
		}
		if err := xml.Unmarshal(reply, &r); err != nil || r.XMLName.Local != "rpc-reply" || r.XMLName.Space != BaseNS {
			t.Fatalf("not an rpc-reply (%v): %s", err, reply)
		}
		m, rerr := parseRPC(msg)
		if rerr == nil && m.attrs == "" {
			t.Fatalf("request accepted without attributes: %s", msg)
		}
		if !bytes.HasPrefix(reply, []byte(`<rpc-reply xmlns="`+BaseNS+`"`+m.attrs+">")) {
			t.Fatalf("reply does not echo the request's attributes %q: %s", m.attrs, reply)
		}
		if rerr == nil {
			// Request.Leaf agrees with Decode.
			req := &Request{Op: m.op, Body: m.body, nsDecls: m.nsDecls, tree: m.tree}
			var in struct {
				File   string `xml:"license-file"`
				Source string `xml:"source"`
			}
			if err := req.Decode(&in); err == nil {
				if v, ok := req.Leaf("license-file"); ok && v != in.File {
					t.Fatalf("Leaf(license-file) %q, Decode %q: %s", v, in.File, msg)
				}
				if v, ok := req.Leaf("source"); ok && v != in.Source {
					t.Fatalf("Leaf(source) %q, Decode %q: %s", v, in.Source, msg)
				}
			}
		}
	})
}

// sameTree reports whether two trees are equal, positions aside.
func sameTree(a, b *node) bool {
	if a.name != b.name || a.text != b.text || len(a.attrs) != len(b.attrs) || len(a.nsdecls) != len(b.nsdecls) || len(a.children) != len(b.children) {
		return false
	}
	for i := range a.attrs {
		if a.attrs[i] != b.attrs[i] {
			return false
		}
	}
	for i := range a.nsdecls {
		if a.nsdecls[i] != b.nsdecls[i] {
			return false
		}
	}
	for i := range a.children {
		if !sameTree(a.children[i], b.children[i]) {
			return false
		}
	}
	return true
}

// FuzzFastParse checks the fast XML parser against encoding/xml: whatever
// it accepts, encoding/xml accepts and reads as the same tree; and the
// fast rpc path agrees with the encoding/xml one.
func FuzzFastParse(f *testing.F) {
	for _, seed := range []string{
		rfcUsers, testHardware,
		`<a xmlns="u" xmlns:p="v"><p:b p:c="1&amp;2" d='x'>t&#65;&#x42;<![CDATA[<c>]]><!--n--></p:b><e/></a>`,
		"<?xml version=\"1.0\"?>\r\n<a>\r\n x\r y</a>",
		`<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>`,
		`<nc:rpc xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns="urn:x" message-id="2"><get><filter/></get></nc:rpc>`,
		`<a><b></a></b>`, `<a x="<"/>`, `<a:b:c/>`, `<a xmlns:a="u"><a:b xml:lang="en"/></a>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := fastParse(data)
		if ok {
			slow, err := slowParseNodes(data)
			if err != nil {
				t.Fatalf("fast parser accepted what encoding/xml refuses (%v): %q", err, data)
			}
			if len(fast) != len(slow) {
				t.Fatalf("%d roots, encoding/xml %d: %q", len(fast), len(slow), data)
			}
			for i := range fast {
				if !sameTree(fast[i], slow[i]) {
					t.Fatalf("root %d differs from encoding/xml's: %q", i, data)
				}
				if again, ok := fastParse(data[fast[i].start:fast[i].end]); !ok || len(again) != 1 || again[0].name.Local != fast[i].name.Local {
					t.Fatalf("root %d span %d:%d is not the element: %q", i, fast[i].start, fast[i].end, data)
				}
			}
		}
		if m := fastRPC(data); m != nil {
			s, rerr := slowRPC(data)
			if rerr != nil {
				t.Fatalf("fast rpc path accepted what the slow one answers %s: %q", rerr.Tag, data)
			}
			if m.attrs != s.attrs || m.nsDecls != s.nsDecls || m.op != s.op || !bytes.Equal(m.body, s.body) || !sameTree(m.tree, s.tree) {
				t.Fatalf("fast rpc path differs:\n%+v\n%+v", m, s)
			}
		}
	})
}
