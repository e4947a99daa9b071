package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// TestSSHAlgorithmsConfig: the broker's SSH algorithm settings reach the
// sessions it opens, and a name x/crypto/ssh does not implement (or lists
// as insecure) is refused when the broker is built, naming it.
func TestSSHAlgorithmsConfig(t *testing.T) {
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Signer: kr, CredentialsKey: bytes.Repeat([]byte{1}, 32)}
	cfg.SSHAlgorithms.KeyExchanges = []string{ssh.KeyExchangeECDHP256, "diffie-hellman-group1-sha1"}
	if _, err := New(cfg, nil, NewState()); err == nil || !strings.Contains(err.Error(), `"diffie-hellman-group1-sha1"`) {
		t.Fatalf("New with an insecure key exchange: %v", err)
	}
	cfg.SSHAlgorithms = netconf.SSHAlgorithms{KeyExchanges: []string{ssh.KeyExchangeECDHP256}, Ciphers: []string{ssh.CipherChaCha20Poly1305}}
	b, err := New(cfg, nil, NewState())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sealed, err := b.seal([]byte("admin"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.clientConfig(&Credential{Name: "default", Username: "admin", Sealed: sealed})
	if err != nil {
		t.Fatal(err)
	}
	sc := netconf.NewDialer(c).SSHConfig()
	if strings.Join(sc.KeyExchanges, " ") != ssh.KeyExchangeECDHP256 || strings.Join(sc.Ciphers, " ") != ssh.CipherChaCha20Poly1305 {
		t.Fatalf("SSH client configuration: kex %q, ciphers %q", sc.KeyExchanges, sc.Ciphers)
	}
}
