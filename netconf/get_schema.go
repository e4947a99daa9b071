package netconf

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// MonitoringNS is the ietf-netconf-monitoring namespace.
const MonitoringNS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"

// GetSchemaOp returns the ietf-netconf-monitoring <get-schema> operation
// (RFC 6022 3.1) for a module; version "" asks for any revision.
func GetSchemaOp(identifier, version string) string {
	var b strings.Builder
	b.WriteString(`<get-schema xmlns="` + MonitoringNS + `">`)
	writeLeaf(&b, "identifier", identifier)
	writeLeaf(&b, "version", version)
	b.WriteString("<format>yang</format></get-schema>")
	return b.String()
}

// GetSchema fetches the YANG text of a module from the device.
func (c *Client) GetSchema(ctx context.Context, identifier, version string) (string, error) {
	r, err := c.Call(ctx, GetSchemaOp(identifier, version))
	if err != nil {
		return "", err
	}
	var out struct {
		Data *struct {
			Text string `xml:",chardata"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(append(append([]byte("<r>"), r.Body...), "</r>"...), &out); err != nil || out.Data == nil {
		return "", fmt.Errorf("netconf: %s: get-schema reply has no <data>", c.addr)
	}
	return out.Data.Text, nil
}

var revisionRE = regexp.MustCompile(`(?m)^\s*revision\s+"?(\d{4}-\d{2}-\d{2})`)

// schemaRevision returns the newest (first) revision of a YANG module.
func schemaRevision(text string) string {
	if m := revisionRE.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// getSchema serves ietf-netconf-monitoring <get-schema> for the modules of
// ServerConfig.Schemas.
func (s *Server) getSchema(req *Request) []byte {
	op, rerr := opTree(req)
	if rerr == nil {
		rerr = checkChildren(op, "identifier", "version", "format")
	}
	if rerr != nil {
		return errorBody(rerr)
	}
	id := op.child("identifier")
	if id == nil || strings.TrimSpace(id.text) == "" {
		return errorBody(ErrMissingElement("protocol", "identifier"))
	}
	name := strings.TrimSpace(id.text)
	text, ok := s.cfg.Schemas[name]
	if !ok {
		return errorBody(ErrInvalidValue("protocol", "no schema "+name))
	}
	if v := op.child("version"); v != nil {
		if want := strings.TrimSpace(v.text); want != "" && want != schemaRevision(text) {
			return errorBody(ErrInvalidValue("protocol", fmt.Sprintf("schema %s has no revision %s (it has %s)", name, want, schemaRevision(text))))
		}
	}
	if f := op.child("format"); f != nil {
		format := strings.TrimSpace(f.text)
		if i := strings.LastIndexByte(format, ':'); i >= 0 {
			format = format[i+1:]
		}
		if format != "" && format != "yang" {
			return errorBody(ErrInvalidValue("protocol", "schema format "+format+" is not available (only yang)"))
		}
	}
	var b strings.Builder
	b.WriteString(`<data xmlns="` + MonitoringNS + `">`)
	xml.EscapeText(&b, []byte(text))
	b.WriteString("</data>")
	return []byte(b.String())
}
