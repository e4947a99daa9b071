package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A batch entry is: magic byte, uvarint count, then per command a uvarint
// length and the command bytes.
const batchMagic = 0xB1

var errBadBatch = errors.New("raftstore: malformed batch entry")

func encodeBatch(cmds [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, batchMagic)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

func decodeBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0] != batchMagic {
		return nil, errBadBatch
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadBatch
	}
	b = b[k:]
	cmds := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: command %d", errBadBatch, i)
		}
		cmds = append(cmds, b[k:k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadBatch)
	}
	return cmds, nil
}
