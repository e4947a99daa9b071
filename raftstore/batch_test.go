package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/klauspost/compress/s2"
)

// Entries round-trip in every form: small ones stay plain, large ones
// that compress are stored compressed, large ones that do not stay plain;
// a plain entry (as every entry was written before compression) still
// decodes.
func TestEntryForms(t *testing.T) {
	var repetitive, random [][]byte
	x := uint64(88172645463325252)
	for i := range 200 {
		repetitive = append(repetitive, fmt.Appendf(nil, "put license-%06d tenant=default pak=PAKBENCH001 feature=ipservices", i))
		r := make([]byte, 64)
		for k := range r {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			r[k] = byte(x)
		}
		random = append(random, r)
	}
	for _, c := range []struct {
		name string
		cmds [][]byte
		form byte
	}{
		{"small", repetitive[:3], entryMagic},
		{"large repetitive", repetitive, compressedMagic},
		{"large random", random, entryMagic},
		{"barrier", nil, entryMagic},
	} {
		e := encodeEntry("node2", c.cmds, true)
		if e[0] != c.form {
			t.Errorf("%s: entry form %#x, want %#x", c.name, e[0], c.form)
		}
		if c.form == compressedMagic && len(e) > listSize(c.cmds)/2 {
			t.Errorf("%s: compressed to %d bytes from about %d", c.name, len(e), listSize(c.cmds))
		}
		// Without a buffer, with one too small and with one large enough.
		for _, buf := range []*[]byte{nil, new([]byte), func() *[]byte { b := make([]byte, 1<<20); return &b }()} {
			p, cmds, err := decodeEntry(e, buf)
			if err != nil || p != "node2" || !slices.EqualFunc(cmds, c.cmds, bytes.Equal) {
				t.Errorf("%s: decoded proposer %q, %d commands, %v", c.name, p, len(cmds), err)
			}
		}
	}
	if e := encodeEntry("node2", repetitive, false); e[0] != entryMagic {
		t.Errorf("an entry made with compression off is %#x", e[0])
	}
	// The plain form of a large entry, as written before compression.
	plain := append([]byte{entryMagic, 5}, "node1"...)
	plain = appendList(plain, repetitive)
	if p, cmds, err := decodeEntry(plain, nil); err != nil || p != "node1" || !slices.EqualFunc(cmds, repetitive, bytes.Equal) {
		t.Fatalf("plain entry: proposer %q, %d commands, %v", p, len(cmds), err)
	}
}

// A damaged compressed entry is an error, never other commands.
func TestCompressedEntryDamaged(t *testing.T) {
	var cmds [][]byte
	for i := range 100 {
		cmds = append(cmds, fmt.Appendf(nil, "put %d aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i))
	}
	e := encodeEntry("n", cmds, true)
	if e[0] != compressedMagic {
		t.Fatal("entry not compressed")
	}
	inner := []byte{batchMagic}
	inner = appendList(inner, cmds)
	for name, bad := range map[string][]byte{
		"truncated": e[:len(e)/2],
		"garbage":   append([]byte{compressedMagic}, bytes.Repeat([]byte{0xff}, 40)...),
		"empty":     {compressedMagic},
		// Compressed, but not an entry inside.
		"not an entry": append([]byte{compressedMagic}, s2.Encode(nil, inner)...),
	} {
		if _, _, err := decodeEntry(bad, nil); !errors.Is(err, errBadBatch) {
			t.Errorf("%s: %v, want errBadBatch", name, err)
		}
	}
}
