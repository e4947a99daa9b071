package netconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Framing is the RFC 6242 message framing in use on a session.
type Framing int

// The two framings of RFC 6242.
const (
	// FramingEOM is base:1.0 end-of-message framing: message, then "]]>]]>".
	FramingEOM Framing = iota
	// FramingChunked is base:1.1 chunked framing: "\n#<size>\n<data>"... "\n##\n".
	FramingChunked
)

// String returns "base:1.0 end-of-message" or "base:1.1 chunked".
func (f Framing) String() string {
	if f == FramingChunked {
		return "base:1.1 chunked"
	}
	return "base:1.0 end-of-message"
}

const (
	eom            = "]]>]]>"
	maxChunkSize   = 4294967295
	defaultMaxSize = 16 << 20
	// tooBigHead is how much of an oversize message a Reader keeps, so that
	// the server can echo the message-id of the <rpc> it refuses.
	tooBigHead = 4 << 10
)

// TooBigError reports a message over the reader's limit. Head holds its
// first bytes (at most 4 KiB), enough to recover the <rpc> start tag.
type TooBigError struct {
	Limit int64
	Head  []byte
}

func (e *TooBigError) Error() string {
	return fmt.Sprintf("netconf: message too big (limit %d bytes)", e.Limit)
}

// Unwrap returns ErrTooBig.
func (e *TooBigError) Unwrap() error { return ErrTooBig }

// FramingError reports a framing violation; the session cannot go on.
type FramingError struct{ Msg string }

func (e *FramingError) Error() string { return "netconf: framing: " + e.Msg }

// Reader reads framed NETCONF messages. It keeps one buffer that it reuses:
// a message returned by ReadMessage is valid until the next call.
type Reader struct {
	br      *bufio.Reader
	framing Framing
	max     int64
	buf     []byte
}

// NewReader returns a Reader with end-of-message framing. max bounds the size
// of one message (0 means 16 MiB).
func NewReader(r io.Reader, max int64) *Reader {
	if max <= 0 {
		max = defaultMaxSize
	}
	return &Reader{br: bufio.NewReaderSize(r, 4<<10), max: max}
}

// SetFraming switches the framing for the messages that follow.
func (r *Reader) SetFraming(f Framing) { r.framing = f }

// ReadMessage returns the next message. At a clean end of input between
// messages it returns io.EOF; in the middle of a message,
// io.ErrUnexpectedEOF. A message over the limit is consumed and reported as
// a *TooBigError; a framing violation as a *FramingError.
func (r *Reader) ReadMessage() ([]byte, error) {
	if r.framing == FramingChunked {
		return r.readChunked()
	}
	return r.readEOM()
}

// overflow turns an oversize message into its head and reports it.
func (r *Reader) tooBig() error {
	head := r.buf
	if len(head) > tooBigHead {
		head = head[:tooBigHead]
	}
	e := &TooBigError{Limit: r.max, Head: append([]byte(nil), head...)}
	r.buf = r.buf[:0]
	return e
}

func (r *Reader) readEOM() ([]byte, error) {
	buf := r.buf[:0]
	over := false // buf holds the head, then the last bytes only
	var tail []byte
	for {
		chunk, err := r.br.ReadSlice('>')
		if !over {
			buf = append(buf, chunk...)
			if bytes.HasSuffix(buf, []byte(eom)) {
				r.buf = buf
				return buf[:len(buf)-len(eom)], nil
			}
			if int64(len(buf)) > r.max+int64(len(eom)) {
				// Over the limit: keep the head for the error and only
				// the bytes that may start the delimiter.
				over = true
				n := min(len(buf), tooBigHead)
				tail = append(tail[:0], buf[len(buf)-len(eom)+1:]...)
				buf = buf[:n]
			}
		} else {
			tail = append(tail, chunk...)
			if bytes.HasSuffix(tail, []byte(eom)) {
				r.buf = buf
				return nil, r.tooBig()
			}
			if len(tail) > len(eom) {
				tail = append(tail[:0], tail[len(tail)-len(eom)+1:]...)
			}
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			r.buf = buf[:0]
			if err == io.EOF {
				if !over && len(bytes.TrimSpace(buf)) == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func (r *Reader) readChunked() ([]byte, error) {
	buf := r.buf[:0]
	over := false
	first := true
	for {
		// Each chunk header is "\n#<size>\n"; the end is "\n##\n".
		b, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF && first {
				return nil, io.EOF
			}
			return nil, unexpected(err)
		}
		first = false
		if b != '\n' {
			return nil, &FramingError{Msg: fmt.Sprintf("expected newline before chunk header, got %q", b)}
		}
		if b, err = r.br.ReadByte(); err != nil {
			return nil, unexpected(err)
		}
		if b != '#' {
			return nil, &FramingError{Msg: fmt.Sprintf("expected '#' in chunk header, got %q", b)}
		}
		if b, err = r.br.ReadByte(); err != nil {
			return nil, unexpected(err)
		}
		if b == '#' {
			if b, err = r.br.ReadByte(); err != nil {
				return nil, unexpected(err)
			}
			if b != '\n' {
				return nil, &FramingError{Msg: "end-of-chunks marker not followed by newline"}
			}
			if len(buf) == 0 && !over {
				return nil, &FramingError{Msg: "message has no chunks"}
			}
			r.buf = buf
			if over {
				return nil, r.tooBig()
			}
			return buf, nil
		}
		if b < '1' || b > '9' {
			return nil, &FramingError{Msg: fmt.Sprintf("chunk size must start with 1-9, got %q", b)}
		}
		size := uint64(b - '0')
		for digits := 1; ; digits++ {
			if b, err = r.br.ReadByte(); err != nil {
				return nil, unexpected(err)
			}
			if b == '\n' {
				break
			}
			if b < '0' || b > '9' || digits >= 10 {
				return nil, &FramingError{Msg: "bad chunk size"}
			}
			size = size*10 + uint64(b-'0')
		}
		if size > maxChunkSize {
			return nil, &FramingError{Msg: fmt.Sprintf("chunk size %d exceeds 4294967295", size)}
		}
		if !over && int64(len(buf))+int64(size) > r.max {
			over = true
			// Keep up to tooBigHead bytes of the message for the error.
			keep := min(int64(tooBigHead-min(len(buf), tooBigHead)), int64(size))
			if len(buf) > tooBigHead {
				buf = buf[:tooBigHead]
			}
			if keep > 0 {
				if buf, err = readN(r.br, buf, int(keep)); err != nil {
					return nil, err
				}
				size -= uint64(keep)
			}
		}
		if over {
			if _, err := r.br.Discard(int(size)); err != nil {
				return nil, unexpected(err)
			}
			continue
		}
		if buf, err = readN(r.br, buf, int(size)); err != nil {
			return nil, err
		}
	}
}

// readN appends exactly n bytes from br to buf, growing buf as the bytes
// arrive (never by more than what was read plus one bufio buffer).
func readN(br *bufio.Reader, buf []byte, n int) ([]byte, error) {
	for n > 0 {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m := min(n, cap(buf)-len(buf))
		got, err := io.ReadFull(br, buf[len(buf):len(buf)+m])
		buf = buf[:len(buf)+got]
		n -= got
		if err != nil {
			return buf, unexpected(err)
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFramed appends msg framed with f to dst.
func AppendFramed(dst, msg []byte, f Framing) []byte {
	if f == FramingChunked {
		dst = append(dst, "\n#"...)
		dst = strconv.AppendInt(dst, int64(len(msg)), 10)
		dst = append(dst, '\n')
		dst = append(dst, msg...)
		return append(dst, "\n##\n"...)
	}
	dst = append(dst, msg...)
	return append(dst, eom...)
}
