package netconf

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
)

// InstallResult is the outcome for one license line of install-license.
type InstallResult struct {
	Line      uint32 `xml:"line" json:"line"`
	LicenseID string `xml:"license-id,omitempty" json:"license_id,omitempty"`
	Feature   string `xml:"feature,omitempty" json:"feature,omitempty"`
	Status    string `xml:"status" json:"status"`
	Reason    string `xml:"reason,omitempty" json:"reason,omitempty"`
}

// Install-license line statuses.
const (
	StatusInstalled      = "installed"
	StatusAlreadyPresent = "already-present"
	StatusFailed         = "failed"
)

// InstallLicenseOp returns the licensing module's <install-license>
// operation carrying a license file.
func InstallLicenseOp(file []byte) string {
	var b strings.Builder
	b.WriteString(`<install-license xmlns="` + LicensingNS + `"><license-file>`)
	xml.EscapeText(&b, file)
	b.WriteString(`</license-file></install-license>`)
	return b.String()
}

// InstallLicense sends a license file and returns the per-line results:
// installed, already-present, or failed with a reason.
func (c *Client) InstallLicense(ctx context.Context, file []byte) ([]InstallResult, error) {
	r, err := c.Call(ctx, InstallLicenseOp(file))
	if err != nil {
		return nil, err
	}
	results, err := ParseInstallResults(r)
	if err != nil {
		return nil, fmt.Errorf("netconf: %s: %w", c.addr, err)
	}
	return results, nil
}

// ParseInstallResults decodes the results of a reply to InstallLicenseOp
// (sent with Pipeline, say).
func ParseInstallResults(r *Reply) ([]InstallResult, error) {
	results, err := decodeInstallResults(r.Body)
	if err != nil {
		return nil, fmt.Errorf("install-license reply: %w", err)
	}
	for _, res := range results {
		switch res.Status {
		case StatusInstalled, StatusAlreadyPresent, StatusFailed:
		default:
			return nil, fmt.Errorf("install-license reply: line %d has unknown status %q", res.Line, res.Status)
		}
	}
	return results, nil
}
