package raftstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The store's own RPCs travel on connections that start with connRPC.
// A request is: op byte, 8-byte big-endian payload length, payload. A
// response is: status byte (0 = ok, else an error code), length, payload
// (the result, or the error message). One request at a time per
// connection; idle connections are pooled.
const (
	opApply     byte = 1 // payload: encodeBatch(cmds); result: 8-byte index, encodeBatch(results)
	opReadIndex byte = 2 // result: 8-byte index
	opJoin      byte = 3 // payload: JSON joinRequest
	opRemove    byte = 4 // payload: node id
	opTransfer  byte = 5 // payload: node id or empty
	opRestore   byte = 6 // payload: a snapshot file
	opStatus    byte = 7 // result: JSON Status of the node asked
)

// Error codes on the wire, one per sentinel.
var wireErrors = []error{nil, ErrNotLeader, ErrNoQuorum, ErrUnknownOutcome, ErrClosed, ErrTooLarge,
	ErrJoinRefused, ErrUnknownNode, ErrBadSnapshot}

const codeOther = 255

// maxFrame bounds a non-restore payload; maxRestoreFrame a snapshot file.
const (
	maxFrame        = 64 << 20
	maxRestoreFrame = 8 << 30
)

func requestLimit(op byte) uint64 {
	if op == opRestore {
		return maxRestoreFrame
	}
	return maxFrame
}

func responseLimit(byte) uint64 { return maxFrame }

// maxCalls bounds this node's concurrent RPCs to other nodes.
const maxCalls = 64

// remoteError is an error the leader returned.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func encodeErr(err error) (byte, []byte) {
	for i, s := range wireErrors {
		if s != nil && errors.Is(err, s) {
			return byte(i), []byte(err.Error())
		}
	}
	return codeOther, []byte(err.Error())
}

func decodeErr(code byte, msg []byte) error {
	if int(code) < len(wireErrors) && wireErrors[code] != nil {
		return &remoteError{sentinel: wireErrors[code], msg: string(msg)}
	}
	return &remoteError{msg: string(msg)}
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var h [9]byte
	h[0] = kind
	binary.BigEndian.PutUint64(h[1:], uint64(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame; limit gives the largest payload accepted for
// a frame kind, checked before anything is allocated.
func readFrame(r io.Reader, limit func(kind byte) uint64) (byte, []byte, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint64(h[1:])
	if max := limit(h[0]); n > max {
		return 0, nil, fmt.Errorf("raftstore: frame of %d bytes exceeds %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return h[0], buf, nil
}

// serveRPC answers requests on one connection until it closes.
func (s *Store) serveRPC(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	for {
		op, payload, err := readFrame(r, requestLimit)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ApplyTimeout)
		res, err := s.handleRPC(ctx, op, payload)
		cancel()
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err != nil {
			code, msg := encodeErr(err)
			err = writeFrame(w, code, msg)
		} else {
			err = writeFrame(w, 0, res)
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			return
		}
		c.SetWriteDeadline(time.Time{})
	}
}

func (s *Store) handleRPC(ctx context.Context, op byte, payload []byte) ([]byte, error) {
	switch op {
	case opApply:
		cmds, err := decodeBatch(payload)
		if err != nil {
			return nil, err
		}
		if !s.IsLeader() {
			return nil, ErrNotLeader
		}
		res, index, err := s.applyLocal(ctx, cmds)
		if err != nil {
			return nil, err
		}
		return append(binary.BigEndian.AppendUint64(nil, index), encodeBatch(res)...), nil
	case opReadIndex:
		idx, err := s.readIndexLocal(ctx)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint64(nil, idx), nil
	case opJoin:
		req, err := decodeJoin(payload)
		if err != nil {
			return nil, err
		}
		return nil, s.joinLocal(req)
	case opRemove:
		return nil, s.removeLocal(string(payload))
	case opTransfer:
		return nil, s.transferLocal(string(payload))
	case opRestore:
		return nil, s.restoreLocal(ctx, payload)
	case opStatus:
		return json.Marshal(s.Status())
	}
	return nil, fmt.Errorf("raftstore: unknown RPC %d", op)
}

// connPool keeps idle RPC connections per address.
type connPool struct {
	m      *mux
	mu     sync.Mutex
	idle   map[string][]*rpcConn
	closed bool
}

type rpcConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

const maxIdlePerAddr = 16

func newConnPool(m *mux) *connPool {
	return &connPool{m: m, idle: map[string][]*rpcConn{}}
}

func (p *connPool) get(ctx context.Context, addr string) (*rpcConn, error) {
	p.mu.Lock()
	for len(p.idle[addr]) > 0 {
		l := p.idle[addr]
		rc := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		if rc.alive() {
			p.mu.Unlock()
			return rc, nil
		}
		rc.c.Close()
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := p.m.dialKind(dctx, addr, connRPC)
	if err != nil {
		return nil, err
	}
	return &rpcConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

// alive reports whether a pooled connection was not closed by the peer
// while idle (an idle peer sends nothing, so any read result but a
// timeout means the connection is gone).
func (rc *rpcConn) alive() bool {
	if rc.r.Buffered() > 0 {
		return false
	}
	rc.c.SetReadDeadline(time.Now().Add(50 * time.Microsecond))
	_, err := rc.r.Peek(1)
	rc.c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (p *connPool) put(addr string, rc *rpcConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerAddr {
		rc.c.Close()
		return
	}
	p.idle[addr] = append(p.idle[addr], rc)
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, l := range p.idle {
		for _, rc := range l {
			rc.c.Close()
		}
	}
	p.idle = nil
}

// call sends one request to addr. Failures before the whole request was
// written are *safeError (the peer cannot have acted on it); failures
// after are wrapped in ErrUnknownOutcome; errors the peer answered come
// back as *remoteError.
func (s *Store) call(ctx context.Context, addr string, op byte, payload []byte) ([]byte, error) {
	select {
	case s.calls <- struct{}{}:
		defer func() { <-s.calls }()
	case <-ctx.Done():
		return nil, &safeError{ctx.Err()}
	}
	rc, err := s.pool.get(ctx, addr)
	if err != nil {
		return nil, &safeError{err}
	}
	stop := context.AfterFunc(ctx, func() { rc.c.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		rc.c.SetDeadline(dl)
	}
	if err := writeFrame(rc.w, op, payload); err != nil {
		rc.c.Close()
		return nil, &safeError{err}
	}
	if err := rc.w.Flush(); err != nil {
		rc.c.Close()
		return nil, &safeError{err}
	}
	code, res, err := readFrame(rc.r, responseLimit)
	if err != nil {
		rc.c.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnknownOutcome, addr, err)
	}
	if stop() {
		rc.c.SetDeadline(time.Time{})
		s.pool.put(addr, rc)
	} else {
		rc.c.Close()
	}
	if code != 0 {
		return nil, decodeErr(code, res)
	}
	return res, nil
}

// forwardApply sends a batch to the leader at addr and returns the
// results and the entry's index.
func (s *Store) forwardApply(ctx context.Context, addr string, cmds [][]byte) ([][]byte, uint64, error) {
	res, err := s.call(ctx, addr, opApply, encodeBatch(cmds))
	if err != nil {
		if errors.Is(err, ErrNotLeader) {
			return nil, 0, &safeError{err}
		}
		return nil, 0, err
	}
	if len(res) < 8 {
		return nil, 0, fmt.Errorf("%w: bad answer from %s", ErrUnknownOutcome, addr)
	}
	out, err := decodeBatch(res[8:])
	if err != nil || len(out) != len(cmds) {
		return nil, 0, fmt.Errorf("%w: bad answer from %s", ErrUnknownOutcome, addr)
	}
	return out, binary.BigEndian.Uint64(res), nil
}
