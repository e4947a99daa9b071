package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFleetExample(t *testing.T) {
	c, err := LoadFleet("fleet.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Count != 200 || c.Port != 8300 || c.Mix["880"] != 1 || c.Mix["3750e"] != 2 || c.SilentHold != 2*time.Minute {
		t.Fatalf("example fleet: %+v", c)
	}
	if len(c.DeviceCredentials) != 1 || c.DeviceCredentials[0].Username != "netops" || c.DeviceCredentials[0].Last != "127.1.0.200" {
		t.Fatalf("device credentials: %+v", c.DeviceCredentials)
	}
}

func TestLoadFleetErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "cuont: 5\n", `unknown setting "cuont"`},
		{"not loopback", "first_address: 10.0.0.1\n", "loopback"},
		{"control endpoint off loopback", "control_addr: 0.0.0.0:8399\n", "control_addr"},
		{"bad range", "device_credentials:\n  - {first: 127.1.0.9, last: 127.1.0.1, username: a, password: b}\n", "device_credentials[0]"},
		{"range without password", "device_credentials:\n  - {first: 127.1.0.1, last: 127.1.0.2, username: a}\n", "password"},
		{"nobody can log in", "password: \"\"\n", "nobody could log in"},
		{"zero count", "count: 0\n", "count 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFleet(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestLoadFleetSSHAlgorithms: the SSH algorithm lists are empty by default
// and load from a file and from DEVICESIM_* variables.
func TestLoadFleetSSHAlgorithms(t *testing.T) {
	c, err := LoadFleet("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SSHKeyExchanges)+len(c.SSHCiphers)+len(c.SSHMACs) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	p := filepath.Join(t.TempDir(), "f.yaml")
	os.WriteFile(p, []byte("ssh_key_exchanges: [ecdh-sha2-nistp256]\n"), 0o644)
	t.Setenv("DEVICESIM_SSH_CIPHERS", "aes128-gcm@openssh.com,aes256-ctr")
	if c, err = LoadFleet(p, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.SSHKeyExchanges, " ") != "ecdh-sha2-nistp256" || strings.Join(c.SSHCiphers, " ") != "aes128-gcm@openssh.com aes256-ctr" {
		t.Fatalf("loaded: kex %q, ciphers %q", c.SSHKeyExchanges, c.SSHCiphers)
	}
}
