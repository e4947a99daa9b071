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

const (
	eom            = "]]>]]>"
	maxChunkSize   = 4294967295
	defaultMaxSize = 16 << 20
)

// ErrTooBig is returned by ReadMessage when a message exceeds the reader's
// limit. The rest of the message has been consumed, so the session can go on.
var ErrTooBig = errors.New("netconf: message too big")

// FramingError reports a framing violation; the session cannot go on.
type FramingError struct{ Msg string }

func (e *FramingError) Error() string { return "netconf: framing: " + e.Msg }

// Reader reads framed NETCONF messages.
type Reader struct {
	br      *bufio.Reader
	framing Framing
	max     int64
}

// NewReader returns a Reader with end-of-message framing. max bounds the size
// of one message (0 means 16 MiB).
func NewReader(r io.Reader, max int64) *Reader {
	if max <= 0 {
		max = defaultMaxSize
	}
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// SetFraming switches the framing for the messages that follow.
func (r *Reader) SetFraming(f Framing) { r.framing = f }

// ReadMessage returns the next message. At a clean end of input between
// messages it returns io.EOF; in the middle of a message,
// io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() ([]byte, error) {
	if r.framing == FramingChunked {
		return r.readChunked()
	}
	return r.readEOM()
}

func (r *Reader) readEOM() ([]byte, error) {
	var buf bytes.Buffer
	tooBig := false
	for {
		chunk, err := r.br.ReadSlice('>')
		buf.Write(chunk)
		if bytes.HasSuffix(buf.Bytes(), []byte(eom)) {
			if tooBig {
				return nil, ErrTooBig
			}
			return buf.Bytes()[:buf.Len()-len(eom)], nil
		}
		if int64(buf.Len()) > r.max+int64(len(eom)) {
			// Over the limit: keep only the tail that may start the delimiter.
			tooBig = true
			tail := append([]byte(nil), buf.Bytes()[buf.Len()-len(eom)+1:]...)
			buf.Reset()
			buf.Write(tail)
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				if !tooBig && len(bytes.TrimSpace(buf.Bytes())) == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func (r *Reader) readChunked() ([]byte, error) {
	var buf bytes.Buffer
	tooBig := false
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
		b, err = r.br.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		if b == '#' {
			if b, err = r.br.ReadByte(); err != nil {
				return nil, unexpected(err)
			}
			if b != '\n' {
				return nil, &FramingError{Msg: "end-of-chunks marker not followed by newline"}
			}
			if buf.Len() == 0 && !tooBig {
				return nil, &FramingError{Msg: "message has no chunks"}
			}
			if tooBig {
				return nil, ErrTooBig
			}
			return buf.Bytes(), nil
		}
		if b < '1' || b > '9' {
			return nil, &FramingError{Msg: fmt.Sprintf("chunk size must start with 1-9, got %q", b)}
		}
		digits := []byte{b}
		for {
			if b, err = r.br.ReadByte(); err != nil {
				return nil, unexpected(err)
			}
			if b == '\n' {
				break
			}
			if b < '0' || b > '9' || len(digits) >= 10 {
				return nil, &FramingError{Msg: "bad chunk size"}
			}
			digits = append(digits, b)
		}
		size, _ := strconv.ParseUint(string(digits), 10, 64)
		if size > maxChunkSize {
			return nil, &FramingError{Msg: fmt.Sprintf("chunk size %d exceeds 4294967295", size)}
		}
		if !tooBig && int64(buf.Len())+int64(size) > r.max {
			tooBig = true
			buf.Reset()
		}
		if tooBig {
			if _, err := io.CopyN(io.Discard, r.br, int64(size)); err != nil {
				return nil, unexpected(err)
			}
			continue
		}
		if _, err := io.CopyN(&buf, r.br, int64(size)); err != nil {
			return nil, unexpected(err)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
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
