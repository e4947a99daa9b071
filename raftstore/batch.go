package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A log entry written by the store is: magic byte, uvarint length and
// bytes of the proposer's node id, uvarint count, then per command a
// uvarint length and the command bytes. The proposer id tells each node
// whether anyone waits on it for the results.
const entryMagic = 0xB2

// batchMagic marks the same list without a proposer: the payload of a
// forwarded batch and of a forwarded batch's results.
const batchMagic = 0xB1

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

// encodeEntry builds a log entry proposed by node proposer.
func encodeEntry(proposer string, cmds [][]byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(proposer)+listSize(cmds))
	b = append(b, entryMagic)
	b = binary.AppendUvarint(b, uint64(len(proposer)))
	b = append(b, proposer...)
	return appendList(b, cmds)
}

// decodeEntry splits a log entry; it also reads the proposer-less form.
func decodeEntry(b []byte) (proposer string, cmds [][]byte, err error) {
	if len(b) == 0 {
		return "", nil, errBadBatch
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
