package netconf

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// SSHAlgorithms restricts the SSH algorithms a client or server offers, each
// list in order of preference. An empty list keeps x/crypto/ssh's default
// for that kind (for key exchange: the post-quantum hybrid
// mlkem768x25519-sha256 first, then curve25519-sha256 and the NIST curves).
//
// The key exchange is most of the CPU cost of a short session: with
// x/crypto/ssh v0.59 on amd64, a session (SSH, hello, close) with
// ecdh-sha2-nistp256 costs about two thirds of the CPU of one with
// mlkem768x25519-sha256, both sides counted (BenchmarkHandshake).
// Deployments that open many short sessions may prefer it; those that must
// resist a future quantum computer recording today's traffic keep the
// default.
type SSHAlgorithms struct {
	KeyExchanges []string
	Ciphers      []string
	MACs         []string
	// HostKeys are the host key signature algorithms a client accepts
	// (servers offer the algorithms of their host keys).
	HostKeys []string
}

// IsZero reports whether a keeps every default.
func (a SSHAlgorithms) IsZero() bool {
	return len(a.KeyExchanges) == 0 && len(a.Ciphers) == 0 && len(a.MACs) == 0 && len(a.HostKeys) == 0
}

// Validate checks that every name is an algorithm x/crypto/ssh implements.
// Algorithms it lists as insecure are refused.
func (a SSHAlgorithms) Validate() error {
	sup := ssh.SupportedAlgorithms()
	for _, k := range []struct {
		what       string
		names, all []string
	}{
		{"key exchange", a.KeyExchanges, sup.KeyExchanges},
		{"cipher", a.Ciphers, sup.Ciphers},
		{"MAC", a.MACs, sup.MACs},
		{"host key algorithm", a.HostKeys, sup.HostKeys},
	} {
		for _, n := range k.names {
			if !slices.Contains(k.all, n) {
				return fmt.Errorf("netconf: unknown or insecure SSH %s %q (supported: %s)", k.what, n, strings.Join(k.all, ", "))
			}
		}
	}
	return nil
}

// apply sets the algorithms of an SSH configuration.
func (a SSHAlgorithms) apply(c *ssh.Config) {
	c.KeyExchanges = slices.Clone(a.KeyExchanges)
	c.Ciphers = slices.Clone(a.Ciphers)
	c.MACs = slices.Clone(a.MACs)
}

// ApplyServer sets the algorithms of an SSH server configuration (the host
// key algorithms are those of its host keys).
func (a SSHAlgorithms) ApplyServer(c *ssh.ServerConfig) { a.apply(&c.Config) }
