package netconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Capabilities of the base protocol and of the modules this package serves.
const (
	CapBase10     = "urn:ietf:params:netconf:base:1.0"
	CapBase11     = "urn:ietf:params:netconf:base:1.1"
	CapMonitoring = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring?module=ietf-netconf-monitoring&revision=2010-10-04"
)

// Hello is a parsed <hello> message.
type Hello struct {
	Capabilities []string
	// SessionID is 0 when the hello carries none (a client's hello).
	SessionID uint32
	// HasSessionID reports whether a <session-id> element was present.
	HasSessionID bool
}

// Has reports whether the hello advertises capability c (ignoring any
// query part of a module URI).
func (h *Hello) Has(c string) bool {
	for _, v := range h.Capabilities {
		if v == c || strings.HasPrefix(v, c+"?") {
			return true
		}
	}
	return false
}

// ParseHello decodes a <hello> message.
func ParseHello(msg []byte) (*Hello, error) {
	roots, err := parseNodes(msg)
	if err != nil {
		return nil, fmt.Errorf("netconf: bad hello: %w", err)
	}
	if len(roots) != 1 || roots[0].name.Local != "hello" || roots[0].name.Space != BaseNS {
		return nil, fmt.Errorf("netconf: bad hello: want one <hello> in %s", BaseNS)
	}
	h := &Hello{}
	for _, c := range roots[0].children {
		switch c.name.Local {
		case "capabilities":
			for _, cp := range c.children {
				if v := strings.TrimSpace(cp.text); cp.name.Local == "capability" && v != "" {
					h.Capabilities = append(h.Capabilities, v)
				}
			}
		case "session-id":
			h.HasSessionID = true
			id, err := strconv.ParseUint(strings.TrimSpace(c.text), 10, 32)
			if err != nil || id == 0 {
				return nil, fmt.Errorf("netconf: bad hello: session-id %q is not in 1..4294967295", strings.TrimSpace(c.text))
			}
			h.SessionID = uint32(id)
		}
	}
	if !h.Has(CapBase10) && !h.Has(CapBase11) {
		return nil, fmt.Errorf("netconf: hello has no common base version (peer offers %s)", strings.Join(h.Capabilities, ", "))
	}
	return h, nil
}

// MarshalHello encodes a hello; sessionID 0 leaves <session-id> out.
func MarshalHello(caps []string, sessionID uint32) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<hello xmlns="` + BaseNS + `"><capabilities>`)
	for _, c := range caps {
		writeLeaf(&b, "capability", c)
	}
	b.WriteString("</capabilities>")
	if sessionID != 0 {
		b.WriteString("<session-id>" + strconv.FormatUint(uint64(sessionID), 10) + "</session-id>")
	}
	b.WriteString("</hello>")
	return []byte(b.String())
}

// negotiate returns the framing both sides support.
func negotiate(local []string, peer *Hello) Framing {
	localHas := false
	for _, c := range local {
		if c == CapBase11 {
			localHas = true
		}
	}
	if localHas && peer.Has(CapBase11) {
		return FramingChunked
	}
	return FramingEOM
}
