package keyengine

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The compact key is the license (canonical grant followed by the 64-byte
// signature) in Crockford base32: digits and upper-case letters without I,
// L, O and U, 5 bits a character, most significant bit first, the last
// character padded with zero bits. It is written in groups of 5 characters
// joined by dashes. Every 20th character, and the last one, is a check
// character over the characters of its row (up to 19 before it): a typo in
// one character, or two neighbours swapped, always makes the check fail,
// and the error names the row. Rows are numbered into their check, so
// swapped or lost rows fail too.
//
// Reading is forgiving: case does not matter, spaces, tabs, line breaks and
// dashes are ignored anywhere, and O, I and L read as 0, 1 and 1.

const (
	keyGroup   = 5  // characters per group
	keyRow     = 20 // characters per checked row, its check included
	maxKeyText = 4096
)

// symbolValue maps an input character to its base32 value, -1 for a
// separator and -2 for anything else.
var symbolValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -2
	}
	for i := 0; i < len(crockford); i++ {
		c := crockford[i]
		t[c] = int8(i)
		t[c|0x20] = int8(i) // lower case (digits are unchanged by |0x20)
	}
	for _, a := range []struct {
		c byte
		v int8
	}{{'O', 0}, {'o', 0}, {'I', 1}, {'i', 1}, {'L', 1}, {'l', 1}} {
		t[a.c] = a.v
	}
	for _, c := range []byte(" \t\r\n-") {
		t[c] = -1
	}
	return t
}()

// mul2 multiplies by x in GF(32) modulo x^5 + x^2 + 1.
func mul2(a byte) byte {
	a <<= 1
	if a&0x20 != 0 {
		a ^= 0x25
	}
	return a
}

// rowCheck returns the value that makes a row's check come out zero: with
// h = seed, h = 2h + d for each symbol d, the check is 2h. The result is
// sum(d_i * 2^(k-i)) over the row with its check, so one wrong symbol e
// leaves e*2^j != 0 and two swapped neighbours leave (a+b)*3*2^j != 0.
func rowCheck(row int, syms []byte) byte {
	h := byte(row%31 + 1)
	for _, d := range syms {
		h = mul2(h) ^ d
	}
	return mul2(h)
}

// EncodeCompactKey writes the license as a compact key.
func EncodeCompactKey(l License) string {
	var buf [256]byte
	payload := append(l.Grant.appendCanonical(buf[:0]), l.Signature...)
	return formatKey(keyDataSymbols(payload))
}

// keyDataSymbols splits payload into 5-bit symbols, the last one padded
// with zero bits.
func keyDataSymbols(payload []byte) []byte {
	data := make([]byte, 0, (len(payload)*8+4)/5)
	var acc uint32
	nbits := 0
	for _, c := range payload {
		acc = acc<<8 | uint32(c)
		nbits += 8
		for nbits >= 5 {
			nbits -= 5
			data = append(data, byte(acc>>nbits)&31)
		}
	}
	if nbits > 0 {
		data = append(data, byte(acc<<(5-nbits))&31)
	}
	return data
}

// formatKey adds the check character of each row and writes the symbols in
// dash-separated groups.
func formatKey(data []byte) string {
	nsyms := len(data) + (len(data)+keyRow-2)/(keyRow-1)
	out := make([]byte, 0, nsyms+nsyms/keyGroup)
	n := 0
	put := func(v byte) {
		if n > 0 && n%keyGroup == 0 {
			out = append(out, '-')
		}
		out = append(out, crockford[v])
		n++
	}
	for r := 0; len(data) > 0; r++ {
		k := min(keyRow-1, len(data))
		for _, v := range data[:k] {
			put(v)
		}
		put(rowCheck(r, data[:k]))
		data = data[k:]
	}
	return string(out)
}

// ParseCompactKey reads a compact key. It does not check the signature;
// use TrustStore.Verify. A MalformedError's Pos is the offset in s of the
// offending character, or of the first character of the row whose check
// failed.
func ParseCompactKey(s string) (License, error) {
	if len(s) > maxKeyText {
		return License{}, &MalformedError{Pos: maxKeyText, Msg: fmt.Sprintf("key is longer than %d characters", maxKeyText)}
	}
	var symBuf [512]byte
	syms := symBuf[:0]
	for i := 0; i < len(s); i++ {
		switch v := symbolValue[s[i]]; v {
		case -1:
		case -2:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return License{}, &MalformedError{Pos: i, Msg: fmt.Sprintf("%q is not a key character (keys use 0-9 and A-Z except U)", string(r))}
		default:
			syms = append(syms, byte(v))
		}
	}
	if len(syms) == 0 {
		return License{}, &MalformedError{Pos: 0, Msg: "empty key"}
	}
	// at returns the offset in s of symbol k (only needed for errors).
	at := func(k int) int {
		for i := 0; i < len(s); i++ {
			if symbolValue[s[i]] >= 0 {
				if k == 0 {
					return i
				}
				k--
			}
		}
		return len(s)
	}
	var dataBuf [512]byte
	data := dataBuf[:0]
	for r, start := 0, 0; start < len(syms); r, start = r+1, start+keyRow {
		row := syms[start:min(start+keyRow, len(syms))]
		if len(row) < 2 {
			return License{}, &MalformedError{Pos: at(start), Msg: "key has one character too many at the end"}
		}
		if rowCheck(r, row[:len(row)-1]) != row[len(row)-1] {
			return License{}, &MalformedError{Pos: at(start), Msg: fmt.Sprintf("typo in characters %d-%d (groups %d-%d): check character does not match (a wrong, missing, extra or swapped character)",
				start+1, start+len(row), start/keyGroup+1, (start+len(row)-1)/keyGroup+1)}
		}
		data = append(data, row[:len(row)-1]...)
	}
	symAt := func(d int) int { // input offset of data symbol d
		return at(min(d+d/(keyRow-1), len(syms)-1))
	}
	if r := len(data) * 5 % 8; r >= 5 {
		return License{}, &MalformedError{Pos: symAt(len(data) - 1), Msg: "key has the wrong length (a character missing or extra?)"}
	}
	var payloadBuf [320]byte
	payload := payloadBuf[:0]
	var acc uint32
	nbits := 0
	for _, v := range data {
		acc = acc<<5 | uint32(v)
		nbits += 5
		if nbits >= 8 {
			nbits -= 8
			payload = append(payload, byte(acc>>nbits))
		}
	}
	if acc&(1<<nbits-1) != 0 {
		return License{}, &MalformedError{Pos: symAt(len(data) - 1), Msg: "last character has stray bits (a wrong character?)"}
	}
	if len(payload) <= 64 {
		return License{}, &MalformedError{Pos: symAt(len(data) - 1), Msg: "key is too short to hold a grant and a signature"}
	}
	canon, sig := payload[:len(payload)-64], payload[len(payload)-64:]
	g, err := ParseCanonical(canon)
	if err != nil {
		var me *MalformedError
		if errors.As(err, &me) {
			return License{}, &MalformedError{Pos: symAt(me.Pos * 8 / 5), Msg: "key: " + me.Msg}
		}
		return License{}, err
	}
	return License{Grant: g, Signature: bytes.Clone(sig)}, nil
}

// ParseLicenses reads a license file or a compact key, whichever data holds:
// a license file starts with '<'.
func ParseLicenses(data []byte) ([]License, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return ParseFile(data)
	}
	l, err := ParseCompactKey(string(data))
	if err != nil {
		return nil, err
	}
	return []License{l}, nil
}
