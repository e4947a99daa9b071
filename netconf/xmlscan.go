package netconf

import (
	"bytes"
	"errors"
)

// A balanced-tag scanner: it finds where an element ends without
// tokenizing it, so that the server can skip data roots a filter does not
// select and the client can cut <data> out of a reply. It trusts the input
// to be well-formed (it counts tags, skipping comments, CDATA sections,
// processing instructions and quoted attribute values, and does not check
// names); whatever it returns is parsed by encoding/xml afterwards before
// anything is decoded from it.

var errScan = errors.New("netconf: not well-formed XML")

// scanElement returns the length of the element whose start tag begins at
// b[0], through its end tag.
func scanElement(b []byte) (int, error) {
	if len(b) < 2 || b[0] != '<' || b[1] == '/' || b[1] == '!' || b[1] == '?' {
		return 0, errScan
	}
	depth, i := 0, 0
	for {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return 0, errScan
		}
		i += j
		n, kind := markup(b[i:])
		if n == 0 {
			return 0, errScan
		}
		i += n
		switch kind {
		case startTag:
			depth++
		case endTag:
			depth--
		}
		if depth == 0 && kind != other {
			return i, nil
		}
	}
}

type markupKind int

const (
	other    markupKind = iota // comment, CDATA, processing instruction
	startTag                   // <a ...>
	endTag                     // </a>
	emptyTag                   // <a .../>
)

// markup returns the length and kind of the markup at b[0] ('<'), or 0 if
// it does not end.
func markup(b []byte) (int, markupKind) {
	end := func(prefix, suffix string) (int, markupKind) {
		k := bytes.Index(b[len(prefix):], []byte(suffix))
		if k < 0 {
			return 0, other
		}
		return len(prefix) + k + len(suffix), other
	}
	switch {
	case bytes.HasPrefix(b, []byte("<!--")):
		return end("<!--", "-->")
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		return end("<![CDATA[", "]]>")
	case bytes.HasPrefix(b, []byte("<?")):
		return end("<?", "?>")
	case bytes.HasPrefix(b, []byte("<!")):
		return 0, other // no DOCTYPE inside NETCONF content
	case bytes.HasPrefix(b, []byte("</")):
		k := bytes.IndexByte(b, '>')
		if k < 0 {
			return 0, other
		}
		return k + 1, endTag
	}
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			return 0, other
		case c == '>':
			if b[i-1] == '/' {
				return i + 1, emptyTag
			}
			return i + 1, startTag
		}
	}
	return 0, other
}

// splitElements calls fn with each top-level element of data, skipping
// white space, comments and processing instructions between them.
func splitElements(data []byte, fn func(elem []byte) error) error {
	for i := 0; ; {
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i == len(data) {
			return nil
		}
		if data[i] != '<' {
			return errScan
		}
		n, kind := markup(data[i:])
		if n == 0 {
			return errScan
		}
		if kind == other {
			i += n
			continue
		}
		if kind == emptyTag {
			if err := fn(data[i : i+n]); err != nil {
				return err
			}
			i += n
			continue
		}
		n, err := scanElement(data[i:])
		if err != nil {
			return err
		}
		if err := fn(data[i : i+n]); err != nil {
			return err
		}
		i += n
	}
}

// elementContent returns the content of an element found by scanElement
// (what lies between its start tag and its end tag).
func elementContent(elem []byte) []byte {
	n, kind := markup(elem)
	if kind == emptyTag {
		return nil
	}
	return elem[n:bytes.LastIndexByte(elem, '<')]
}
