package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
