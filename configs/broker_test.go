package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrokerExampleLoads: the single-node example file is valid and
// matches the defaults where it should.
func TestBrokerExampleLoads(t *testing.T) {
	c, err := LoadBroker("broker-single.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:7800" || c.APIMaxBodyBytes != 1<<20 || c.TLSCertFile != "" {
		t.Fatalf("example: %+v", c)
	}
}

// TestBrokerAPISettings: TLS files go together and must exist; the body
// limit is bounded; each error names the setting.
func TestBrokerAPISettings(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	os.WriteFile(cert, []byte("x"), 0o600)
	for _, c := range []struct {
		yaml, want string
	}{
		{"tls_cert_file: " + cert + "\n", "tls_cert_file and tls_key_file go together"},
		{"tls_cert_file: " + cert + "\ntls_key_file: " + filepath.Join(dir, "nokey.pem") + "\n", "TLS file"},
		{"api_max_body_bytes: 10\n", "api_max_body_bytes 10"},
		{"tls_certfile: x\n", `unknown setting "tls_certfile"`},
	} {
		f := filepath.Join(dir, "b.yaml")
		os.WriteFile(f, []byte(c.yaml), 0o600)
		_, err := LoadBroker(f, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("x"), 0o600)
	f := filepath.Join(dir, "ok.yaml")
	os.WriteFile(f, []byte("tls_cert_file: "+cert+"\ntls_key_file: "+filepath.Join(dir, "key.pem")+"\n"), 0o600)
	if _, err := LoadBroker(f, nil); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerJobSettings: the job settings have defaults, load from a file
// and the environment, and bad values name the setting.
func TestBrokerJobSettings(t *testing.T) {
	c, err := LoadBroker("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshInterval != 0 || c.JobAttempts != 3 || c.JobRetryBackoff != time.Second {
		t.Fatalf("defaults: refresh %s, attempts %d, back-off %s", c.RefreshInterval, c.JobAttempts, c.JobRetryBackoff)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "b.yaml")
	os.WriteFile(f, []byte("refresh_interval: 15m\njob_attempts: 5\n"), 0o600)
	t.Setenv("LICBROKER_JOB_RETRY_BACKOFF", "250ms")
	if c, err = LoadBroker(f, nil); err != nil {
		t.Fatal(err)
	}
	if c.RefreshInterval != 15*time.Minute || c.JobAttempts != 5 || c.JobRetryBackoff != 250*time.Millisecond {
		t.Fatalf("loaded: refresh %s, attempts %d, back-off %s", c.RefreshInterval, c.JobAttempts, c.JobRetryBackoff)
	}
	os.Unsetenv("LICBROKER_JOB_RETRY_BACKOFF")
	for _, c := range []struct{ yaml, want string }{
		{"refresh_interval: 10ms\n", "refresh_interval 10ms"},
		{"job_attempts: 0\n", "job_attempts 0"},
		{"job_retry_backoff: 2h\n", "job_retry_backoff 2h0m0s"},
	} {
		os.WriteFile(f, []byte(c.yaml), 0o600)
		if _, err := LoadBroker(f, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

// TestBrokerSSHAlgorithms: the SSH algorithm lists are empty by default
// (x/crypto/ssh's choice) and load from a file as lists and from the
// environment as comma-separated values.
func TestBrokerSSHAlgorithms(t *testing.T) {
	c, err := LoadBroker("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SSHKeyExchanges)+len(c.SSHCiphers)+len(c.SSHMACs)+len(c.SSHHostKeyAlgorithms) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	f := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(f, []byte("ssh_key_exchanges: [ecdh-sha2-nistp256, curve25519-sha256]\nssh_host_key_algorithms: [ssh-ed25519]\n"), 0o600)
	t.Setenv("LICBROKER_SSH_CIPHERS", "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com")
	if c, err = LoadBroker(f, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.SSHKeyExchanges, " ") != "ecdh-sha2-nistp256 curve25519-sha256" || strings.Join(c.SSHHostKeyAlgorithms, " ") != "ssh-ed25519" ||
		strings.Join(c.SSHCiphers, " ") != "aes128-gcm@openssh.com chacha20-poly1305@openssh.com" || len(c.SSHMACs) != 0 {
		t.Fatalf("loaded: kex %q, ciphers %q, macs %q, host keys %q", c.SSHKeyExchanges, c.SSHCiphers, c.SSHMACs, c.SSHHostKeyAlgorithms)
	}
}

// legacy_log_format (a rolling upgrade from a version that reads only JSON
// commands and plain log entries) is off unless set, by file or env.
func TestBrokerLegacyLogFormat(t *testing.T) {
	c, err := LoadBroker("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LegacyLogFormat {
		t.Fatal("legacy_log_format is on by default")
	}
	f := filepath.Join(t.TempDir(), "b.yaml")
	os.WriteFile(f, []byte("legacy_log_format: true\n"), 0o600)
	if c, err = LoadBroker(f, nil); err != nil || !c.LegacyLogFormat {
		t.Fatalf("from file: %v, %v", c.LegacyLogFormat, err)
	}
	t.Setenv("LICBROKER_LEGACY_LOG_FORMAT", "true")
	if c, err = LoadBroker("", nil); err != nil || !c.LegacyLogFormat {
		t.Fatalf("from env: %v, %v", c.LegacyLogFormat, err)
	}
}
