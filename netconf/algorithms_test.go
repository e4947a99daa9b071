package netconf

import (
	"context"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestSSHAlgorithms: the client's key exchange and cipher preferences
// decide what a session negotiates, and a server restricted to other
// algorithms is refused with the reason.
func TestSSHAlgorithms(t *testing.T) {
	var got ssh.NegotiatedAlgorithms
	e := newTestEnv(t)
	for _, tc := range []struct {
		kex, cipher string
	}{
		{ssh.KeyExchangeECDHP256, ssh.CipherChaCha20Poly1305},
		{ssh.KeyExchangeCurve25519, ssh.CipherAES128GCM},
		{ssh.KeyExchangeMLKEM768X25519, ssh.CipherAES256CTR},
	} {
		cfg := e.clientConfig()
		cfg.Algorithms = SSHAlgorithms{KeyExchanges: []string{tc.kex}, Ciphers: []string{tc.cipher}, HostKeys: []string{ssh.KeyAlgoED25519}}
		c, err := NewDialer(cfg).Dial(context.Background(), e.addr)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.kex, tc.cipher, err)
		}
		if m, ok := c.sshc.Conn.(ssh.AlgorithmsConnMetadata); ok {
			got = m.Algorithms()
		}
		if _, err := c.Identity(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if got.KeyExchange != tc.kex || got.Write.Cipher != tc.cipher || got.Read.Cipher != tc.cipher || got.HostKey != ssh.KeyAlgoED25519 {
			t.Errorf("asked for %s/%s, negotiated %+v", tc.kex, tc.cipher, got)
		}
	}

	// A server that offers only P-256 and a client that wants only
	// curve25519: no session, and the error names the algorithms.
	srv := newTestEnv(t, func(c *ServerConfig) {
		inner := c.Resolve
		c.Resolve = func(l, r net.Addr) (*Endpoint, error) {
			ep, err := inner(l, r)
			if err != nil {
				return nil, err
			}
			conf := *ep.SSH
			SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeECDHP256}}.ApplyServer(&conf)
			return &Endpoint{SSH: &conf, Handler: ep.Handler}, nil
		}
	})
	cfg := srv.clientConfig()
	cfg.Algorithms.KeyExchanges = []string{ssh.KeyExchangeCurve25519}
	if _, err := Dial(context.Background(), srv.addr, cfg); err == nil || !strings.Contains(err.Error(), "key exchange") {
		t.Errorf("dial with no common key exchange: %v", err)
	}
	cfg.Algorithms.KeyExchanges = []string{ssh.KeyExchangeCurve25519, ssh.KeyExchangeECDHP256}
	c, err := Dial(context.Background(), srv.addr, cfg)
	if err != nil {
		t.Fatalf("dial with a common key exchange: %v", err)
	}
	c.Close()
}

func TestSSHAlgorithmsValidate(t *testing.T) {
	for _, tc := range []struct {
		a    SSHAlgorithms
		want string
	}{
		{SSHAlgorithms{}, ""},
		{SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeECDHP256, ssh.KeyExchangeMLKEM768X25519}, Ciphers: []string{ssh.CipherAES128GCM},
			MACs: []string{ssh.HMACSHA256ETM}, HostKeys: []string{ssh.KeyAlgoED25519}}, ""},
		{SSHAlgorithms{KeyExchanges: []string{"curve25519"}}, `unknown or insecure SSH key exchange "curve25519"`},
		{SSHAlgorithms{KeyExchanges: []string{ssh.InsecureKeyExchangeDH1SHA1}}, `SSH key exchange "diffie-hellman-group1-sha1"`},
		{SSHAlgorithms{Ciphers: []string{ssh.InsecureCipherAES128CBC}}, `SSH cipher "aes128-cbc"`},
		{SSHAlgorithms{MACs: []string{"hmac-md5"}}, `SSH MAC "hmac-md5"`},
		{SSHAlgorithms{HostKeys: []string{"ssh-dss"}}, `SSH host key algorithm "ssh-dss"`},
	} {
		err := tc.a.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.a, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%+v: got %v, want %q", tc.a, err, tc.want)
		}
	}
}
