package netconf

import (
	"context"
	"strings"
)

// EditOption sets an optional parameter of <edit-config>.
type EditOption func(*editConfig)

type editConfig struct {
	defaultOperation, testOption, errorOption string
}

// DefaultOperation sets <default-operation>: merge, replace or none.
func DefaultOperation(op string) EditOption {
	return func(e *editConfig) { e.defaultOperation = op }
}

// TestOption sets <test-option>: test-then-set, set or test-only.
func TestOption(opt string) EditOption { return func(e *editConfig) { e.testOption = opt } }

// ErrorOption sets <error-option>: stop-on-error, continue-on-error or
// rollback-on-error.
func ErrorOption(opt string) EditOption { return func(e *editConfig) { e.errorOption = opt } }

// EditConfigOp returns the <edit-config> operation (RFC 6241 7.2) loading
// config (the content of <config>, as XML) into target.
func EditConfigOp(target, config string, opts ...EditOption) string {
	var e editConfig
	for _, o := range opts {
		o(&e)
	}
	var b strings.Builder
	b.WriteString("<edit-config><target><" + target + "/></target>")
	writeLeaf(&b, "default-operation", e.defaultOperation)
	writeLeaf(&b, "test-option", e.testOption)
	writeLeaf(&b, "error-option", e.errorOption)
	b.WriteString("<config>" + config + "</config></edit-config>")
	return b.String()
}

// EditConfig loads config (the content of <config>, as XML) into the target
// datastore. The server answers in-use while another session holds the
// target's lock.
func (c *Client) EditConfig(ctx context.Context, target, config string, opts ...EditOption) error {
	return c.callOK(ctx, "edit-config", EditConfigOp(target, config, opts...))
}
