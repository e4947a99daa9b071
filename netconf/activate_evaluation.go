package netconf

import "context"

// ActivateEvaluationOp returns the licensing module's <activate-evaluation>
// operation; acceptEULA accepts the feature's EULA in the same step.
func ActivateEvaluationOp(feature string, acceptEULA bool) string {
	accept := ""
	if acceptEULA {
		accept = "true"
	}
	return licensingOp("activate-evaluation", "feature", feature, "accept-eula", accept)
}

// ActivateEvaluation activates the built-in evaluation license of a feature
// level, accepting its EULA, and makes it the boot level.
func (c *Client) ActivateEvaluation(ctx context.Context, feature string) error {
	return c.callOK(ctx, "activate-evaluation", ActivateEvaluationOp(feature, true))
}
