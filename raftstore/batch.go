package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// A log entry written by the store is: magic byte, uvarint length and
// bytes of the proposer's node id, uvarint count, then per command a
// uvarint length and the command bytes. The proposer id tells each node
// whether anyone waits on it for the results.
const entryMagic = 0xB2

// batchMagic marks the same list without a proposer: the payload of a
// forwarded batch and of a forwarded batch's results.
const batchMagic = 0xB1

// compressedMagic marks an entry stored compressed: the magic byte, then
// an entryMagic entry compressed as one S2 block. Entries of at least
// compressMin bytes are compressed when that saves an eighth or more:
// less to write to bolt, to send and to garbage-collect, on every node.
const (
	compressedMagic = 0xB3
	compressMin     = 1024
	// maxEntryBytes bounds what a compressed entry may claim to expand to.
	maxEntryBytes = 1 << 30
)

var errBadBatch = errors.New("raftstore: malformed batch")

func appendList(b []byte, items [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, c := range items {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

func listSize(items [][]byte) int {
	n := binary.MaxVarintLen64
	for _, c := range items {
		n += binary.MaxVarintLen64 + len(c)
	}
	return n
}

// scratch recycles the buffers plain entries are built in before they
// are compressed and compressed entries are expanded into for applying:
// both are garbage right after.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// maxScratch is the largest buffer scratch keeps.
const maxScratch = 4 << 20

func putScratch(b *[]byte) {
	if cap(*b) <= maxScratch {
		scratch.Put(b)
	}
}

// encodeEntry builds a log entry proposed by node proposer, compressed
// when that pays (and compress is set).
func encodeEntry(proposer string, cmds [][]byte, compress bool) []byte {
	size := 1 + binary.MaxVarintLen64 + len(proposer) + listSize(cmds)
	if size < compressMin || !compress {
		return appendEntry(make([]byte, 0, size), proposer, cmds)
	}
	sp := scratch.Get().(*[]byte)
	defer putScratch(sp)
	b := appendEntry((*sp)[:0], proposer, cmds)
	*sp = b
	c := make([]byte, 1+s2.MaxEncodedLen(len(b)))
	c[0] = compressedMagic
	n := len(s2.Encode(c[1:], b))
	if 1+n > len(b)-len(b)/8 {
		return append([]byte(nil), b...)
	}
	return c[: 1+n : 1+n]
}

func appendEntry(b []byte, proposer string, cmds [][]byte) []byte {
	b = append(b, entryMagic)
	b = binary.AppendUvarint(b, uint64(len(proposer)))
	b = append(b, proposer...)
	return appendList(b, cmds)
}

// decodeEntry splits a log entry; it also reads the proposer-less and the
// compressed forms. A compressed entry is expanded into *buf (grown as
// needed) when buf is not nil: the commands are then valid only as long
// as *buf is not reused.
func decodeEntry(b []byte, buf *[]byte) (proposer string, cmds [][]byte, err error) {
	if len(b) == 0 {
		return "", nil, errBadBatch
	}
	if b[0] == compressedMagic {
		n, err := s2.DecodedLen(b[1:])
		if err != nil || n > maxEntryBytes {
			return "", nil, fmt.Errorf("%w: compressed entry: size %d: %v", errBadBatch, n, err)
		}
		var dst []byte
		if buf != nil && cap(*buf) >= n {
			dst = (*buf)[:n]
		} else {
			dst = make([]byte, n)
			if buf != nil {
				*buf = dst
			}
		}
		if b, err = s2.Decode(dst, b[1:]); err != nil {
			return "", nil, fmt.Errorf("%w: compressed entry: %v", errBadBatch, err)
		}
		if len(b) == 0 || b[0] != entryMagic {
			return "", nil, fmt.Errorf("%w: compressed entry holds no entry", errBadBatch)
		}
	}
	switch b[0] {
	case batchMagic:
		cmds, err = decodeList(b[1:])
		return "", cmds, err
	case entryMagic:
		b = b[1:]
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", nil, errBadBatch
		}
		proposer = string(b[k : k+int(n)])
		cmds, err = decodeList(b[k+int(n):])
		return proposer, cmds, err
	}
	return "", nil, errBadBatch
}

// encodeBatch builds a proposer-less list (forwarded batches, results).
func encodeBatch(items [][]byte) []byte {
	b := make([]byte, 0, 1+listSize(items))
	b = append(b, batchMagic)
	return appendList(b, items)
}

func decodeBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0] != batchMagic {
		return nil, errBadBatch
	}
	return decodeList(b[1:])
}

func decodeList(b []byte) ([][]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadBatch
	}
	b = b[k:]
	cmds := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: item %d", errBadBatch, i)
		}
		cmds = append(cmds, b[k:k+int(l):k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadBatch)
	}
	return cmds, nil
}
