package netconf

import "context"

// ClearLicenseOp returns the licensing module's <clear-license> operation.
func ClearLicenseOp(id string) string { return licensingOp("clear-license", "license-id", id) }

// ClearLicense removes an installed license from the device's primary
// license storage.
func (c *Client) ClearLicense(ctx context.Context, id string) error {
	return c.callOK(ctx, "clear-license", ClearLicenseOp(id))
}
