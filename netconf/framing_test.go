package netconf

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, f Framing, max int64) ([]string, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), max)
	r.SetFraming(f)
	var out []string
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return out, err
		}
		out = append(out, string(m))
	}
}

func TestReaderEOM(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      error
	}{
		{"two messages", "<a/>]]>]]><b/>]]>]]>", []string{"<a/>", "<b/>"}, io.EOF},
		{"delimiter split by '>' inside", "<a>x>y</a>]]>]]>", []string{"<a>x>y</a>"}, io.EOF},
		{"']]>' inside is not the end", "<a><![CDATA[x]]></a>]]>]]>", []string{"<a><![CDATA[x]]></a>"}, io.EOF},
		{"trailing newline between messages", "<a/>]]>]]>\n<b/>]]>]]>\n", []string{"<a/>", "\n<b/>"}, io.EOF},
		{"empty input", "", nil, io.EOF},
		{"cut in the middle", "<a/>]]>]]><b", []string{"<a/>"}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, FramingEOM, 0)
			if !errors.Is(err, tc.err) || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestReaderChunked(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string // "" for io.EOF at the end
	}{
		{"RFC 6242 example", "\n#4\n<rpc\n#18\n message-id=\"102\"\n\n#79\n     xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">\n  <close-session/>\n</rpc>\n##\n",
			[]string{"<rpc message-id=\"102\"\n     xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">\n  <close-session/>\n</rpc>"}, ""},
		{"two messages", "\n#3\nabc\n##\n\n#1\nd\n##\n", []string{"abc", "d"}, ""},
		{"leading zero", "\n#03\nabc\n##\n", nil, "chunk size must start with 1-9"},
		{"zero size", "\n#0\n\n##\n", nil, "chunk size must start with 1-9"},
		{"too large", "\n#4294967296\n", nil, "exceeds 4294967295"},
		{"eleven digits", "\n#12345678901\n", nil, "bad chunk size"},
		{"no chunks", "\n##\n", nil, "message has no chunks"},
		{"missing newline", "#3\nabc\n##\n", nil, "expected newline"},
		{"bad end marker", "\n#3\nabc\n##x", nil, "end-of-chunks"},
		{"not a digit", "\n#3a\nabc\n##\n", nil, "bad chunk size"},
		{"cut in a chunk", "\n#10\nabc", nil, "unexpected EOF"},
		{"end-of-message framing sent instead", "<a/>]]>]]>", nil, "expected newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, FramingChunked, 0)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("messages %q, want %q", got, tc.want)
			}
			if tc.err == "" {
				if err != io.EOF {
					t.Fatalf("error %v, want EOF", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			var fe *FramingError
			if tc.err != "unexpected EOF" && !errors.As(err, &fe) {
				t.Fatalf("error %T, want *FramingError", err)
			}
		})
	}
}

func TestAppendFramedRoundTrip(t *testing.T) {
	msgs := []string{"<a/>", strings.Repeat("x", 70000), "<rpc>\n]]>\n</rpc>"}
	for _, f := range []Framing{FramingEOM, FramingChunked} {
		var b []byte
		for _, m := range msgs[:2] {
			b = AppendFramed(b, []byte(m), f)
		}
		if f == FramingChunked {
			b = AppendFramed(b, []byte(msgs[2]), f)
		}
		got, err := readAll(t, string(b), f, 0)
		n := 2
		if f == FramingChunked {
			n = 3
		}
		if err != io.EOF || strings.Join(got, "|") != strings.Join(msgs[:n], "|") {
			t.Fatalf("%v: round trip lost messages (%v)", f, err)
		}
	}
}

// An oversize message is reported with its head and consumed; the next
// message is read normally.
func TestReaderTooBig(t *testing.T) {
	head := `<rpc message-id="42" xmlns="` + BaseNS + `">`
	big := head + strings.Repeat("y", 10000) + "</rpc>"
	for _, f := range []Framing{FramingEOM, FramingChunked} {
		t.Run(f.String(), func(t *testing.T) {
			in := AppendFramed(nil, []byte(big), f)
			in = AppendFramed(in, []byte("<ok/>"), f)
			r := NewReader(bytes.NewReader(in), 1000)
			r.SetFraming(f)
			_, err := r.ReadMessage()
			var tb *TooBigError
			if !errors.As(err, &tb) || !errors.Is(err, ErrTooBig) || tb.Limit != 1000 {
				t.Fatalf("error %v, want *TooBigError", err)
			}
			if !strings.HasPrefix(string(tb.Head), head) || len(tb.Head) > tooBigHead {
				t.Fatalf("head %q (%d bytes)", tb.Head[:min(len(tb.Head), 80)], len(tb.Head))
			}
			if m, _ := parseRPC(tb.Head); m.attrs != ` message-id="42"` {
				t.Fatalf("attributes recovered from the head: %q", m.attrs)
			}
			m, err := r.ReadMessage()
			if err != nil || string(m) != "<ok/>" {
				t.Fatalf("next message %q, %v", m, err)
			}
		})
	}
}

// endless yields an rpc start tag, then the same byte forever (up to n).
type endless struct {
	prefix string
	n      int64
	fill   byte
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && e.prefix != "" {
		p[k] = e.prefix[0]
		e.prefix = e.prefix[1:]
		k++
	}
	for k < len(p) && int64(k) < e.n {
		p[k] = e.fill
		k++
	}
	e.n -= int64(k)
	return k, nil
}

// A 64 MiB message through a reader limited to 64 KiB is discarded as it
// arrives: memory use stays near the limit, not near the message.
func TestReaderTooBigDoesNotBuffer(t *testing.T) {
	for _, f := range []Framing{FramingEOM, FramingChunked} {
		t.Run(f.String(), func(t *testing.T) {
			const size = 64 << 20
			var src io.Reader
			if f == FramingEOM {
				src = io.MultiReader(&endless{prefix: `<rpc message-id="1">`, n: size, fill: 'z'}, strings.NewReader(eom))
			} else {
				src = io.MultiReader(strings.NewReader("\n#4000000000\n"), &endless{n: 4000000000 - (4000000000 - size), fill: 'z'})
			}
			r := NewReader(src, 64<<10)
			r.SetFraming(f)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := r.ReadMessage()
			runtime.ReadMemStats(&after)
			if f == FramingEOM && !errors.Is(err, ErrTooBig) {
				t.Fatalf("error %v, want too big", err)
			}
			if f == FramingChunked && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v, want unexpected EOF after discarding", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Fatalf("allocated %d bytes reading a %d-byte message with a 64 KiB limit", alloc, size)
			}
		})
	}
}
