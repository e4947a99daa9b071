package netconf

import (
	"encoding/xml"
	"fmt"
	"io"
	"sync"

	gonetconf "github.com/Juniper/go-netconf/netconf"
)

// Transport is a NETCONF transport over any byte stream (an SSH channel).
// It implements go-netconf's Transport interface, without that package's
// defects: every read and write error is returned, chunk headers are
// stripped, no stray bytes are written, and the hello can be sent before the
// peer's hello has arrived.
type Transport struct {
	rd     *Reader
	w      io.Writer
	closer io.Closer

	wmu     sync.Mutex
	wbuf    []byte
	framing Framing
}

var _ gonetconf.Transport = (*Transport)(nil)

// NewTransport returns a transport reading r and writing w; Close calls c.
// maxMessage bounds the size of a received message (0 means 16 MiB).
func NewTransport(r io.Reader, w io.Writer, c io.Closer, maxMessage int64) *Transport {
	return &Transport{rd: NewReader(r, maxMessage), w: w, closer: c}
}

// Send writes one framed message.
func (t *Transport) Send(msg []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wbuf = AppendFramed(t.wbuf[:0], msg, t.framing)
	if _, err := t.w.Write(t.wbuf); err != nil {
		return fmt.Errorf("netconf: send: %w", err)
	}
	return nil
}

// SendAll writes several framed messages with one write (RPCs sent
// without waiting for replies).
func (t *Transport) SendAll(msgs ...[]byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wbuf = t.wbuf[:0]
	for _, m := range msgs {
		t.wbuf = AppendFramed(t.wbuf, m, t.framing)
	}
	if _, err := t.w.Write(t.wbuf); err != nil {
		return fmt.Errorf("netconf: send: %w", err)
	}
	return nil
}

// Receive reads one framed message. The message is valid until the next
// call (the transport reuses its buffer).
func (t *Transport) Receive() ([]byte, error) {
	msg, err := t.rd.ReadMessage()
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// Close closes the underlying stream.
func (t *Transport) Close() error {
	if t.closer == nil {
		return nil
	}
	return t.closer.Close()
}

// SendHello writes a hello (always with end-of-message framing).
func (t *Transport) SendHello(h *gonetconf.HelloMessage) error {
	data, err := xml.Marshal(h)
	if err != nil {
		return fmt.Errorf("netconf: hello: %w", err)
	}
	return t.Send(append([]byte(xml.Header), data...))
}

// ReceiveHello reads the peer's hello.
func (t *Transport) ReceiveHello() (*gonetconf.HelloMessage, error) {
	msg, err := t.Receive()
	if err != nil {
		return nil, fmt.Errorf("netconf: reading hello: %w", err)
	}
	h, err := ParseHello(msg)
	if err != nil {
		return nil, err
	}
	return &gonetconf.HelloMessage{Capabilities: h.Capabilities, SessionID: int(h.SessionID)}, nil
}

// SetVersion switches framing: "v1.1" selects chunked framing, anything else
// end-of-message framing. Call it only between messages.
func (t *Transport) SetVersion(version string) {
	f := FramingEOM
	if version == "v1.1" {
		f = FramingChunked
	}
	t.setFraming(f)
}

func (t *Transport) setFraming(f Framing) {
	t.wmu.Lock()
	t.framing = f
	t.wmu.Unlock()
	t.rd.SetFraming(f)
}
