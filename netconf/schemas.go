package netconf

import (
	"embed"
	"io/fs"
	"strings"
)

// Capabilities of the modules a device built on this package implements.
const (
	// CapHardware advertises ietf-hardware (RFC 8348), the identity model.
	CapHardware = HardwareNS + "?module=ietf-hardware&revision=2018-03-13"
	// CapIANAHardware advertises iana-hardware, whose identities
	// (ianahw:chassis) ietf-hardware data uses.
	CapIANAHardware = IANAHwNS + "?module=iana-hardware&revision=2018-03-13"
)

//go:embed yang/*.yang
var yangFS embed.FS

// Schemas returns the YANG text of every module under netconf/yang (ours
// and the IETF modules it is used with), by module name, for
// ServerConfig.Schemas.
func Schemas() map[string]string {
	out := map[string]string{}
	files, _ := fs.Glob(yangFS, "yang/*.yang")
	for _, f := range files {
		data, err := yangFS.ReadFile(f)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f, "yang/"), ".yang")
		if i := strings.IndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		out[name] = string(data)
	}
	return out
}
