// Command licbroker is the license broker: `licbroker serve` runs a node;
// every other command is a client of a node's REST API.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "licbroker: "+firstLine(err))
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func firstLine(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// globals are the client flags shared by every command.
type globals struct {
	server string
	token  string
	output string
	tenant string
	cacert string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "licbroker",
		Short:         "Replicated license broker for network devices",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch g.output {
			case "table", "json", "csv":
				return nil
			}
			return fmt.Errorf("unknown output format %q (want table, json or csv)", g.output)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("LICBROKER_ADDR", "http://127.0.0.1:7800"), "broker URL (env LICBROKER_ADDR)")
	pf.StringVar(&g.token, "token", os.Getenv("LICBROKER_TOKEN"), "API token (env LICBROKER_TOKEN)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or csv")
	pf.StringVar(&g.tenant, "tenant", os.Getenv("LICBROKER_TENANT"), "tenant to act in, for admin tokens (env LICBROKER_TENANT)")
	pf.StringVar(&g.cacert, "cacert", os.Getenv("LICBROKER_CACERT"), "CA certificate (PEM) to trust for an https --server (env LICBROKER_CACERT)")

	root.AddCommand(
		newServeCmd(),
		newKeyCmd(g),
		newTenantCmd(g),
		newTokenCmd(g),
		newCredentialsCmd(g),
		newDeviceCmd(g),
		newPAKCmd(g),
		newLicenseCmd(g),
		newJobCmd(g),
		newPolicyCmd(g),
		newSpareCmd(g),
		newRehostCmd(g),
		newReportCmd(g),
		newAuditCmd(g),
		newWhoamiCmd(g),
		newClusterCmd(g),
	)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
