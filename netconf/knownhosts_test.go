package netconf

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// serveWithKey serves the test device on addr with another host key.
func serveWithKey(t *testing.T, addr string, key ssh.Signer, dev Handler) {
	t.Helper()
	conf := &ssh.ServerConfig{PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) { return nil, nil }}
	conf.AddHostKey(key)
	srv, err := NewServer(ServerConfig{Resolve: func(_, _ net.Addr) (*Endpoint, error) {
		return &Endpoint{SSH: conf, Handler: dev}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); ln.Close() })
}

func TestKnownHostsTrustOnFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t)
	cfg := e.clientConfig()
	cfg.HostKeyCallback = kh.Callback()
	ctx := context.Background()

	// First contact: the key is trusted and recorded.
	c, err := Dial(ctx, e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	wantFP := ssh.FingerprintSHA256(e.hostKey.PublicKey())
	if kh.Fingerprint(e.addr) != wantFP {
		t.Fatalf("recorded %q, want %q", kh.Fingerprint(e.addr), wantFP)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), e.addr+" ssh-ed25519 ") {
		t.Fatalf("known_hosts file:\n%s", data)
	}

	// The store survives a restart and still accepts the same key.
	kh2, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKeyCallback = kh2.Callback()
	if c, err = Dial(ctx, e.addr, cfg); err != nil {
		t.Fatalf("same key after reopening: %v", err)
	}
	c.Close()

	// The device is replaced by one with another key at the same address:
	// refused, naming the device and both fingerprints.
	e.srv.Close()
	other := testSigner(t, "replacement")
	serveWithKey(t, e.addr, other, e.dev)
	_, err = Dial(ctx, e.addr, cfg)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("changed key: %v, want *HostKeyChangedError", err)
	}
	otherFP := ssh.FingerprintSHA256(other.PublicKey())
	if changed.Host != e.addr || changed.Known != wantFP || changed.Offered != otherFP {
		t.Fatalf("error %+v", changed)
	}
	for _, s := range []string{e.addr, wantFP, otherFP} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not name %s", err, s)
		}
	}
	if kh2.Fingerprint(e.addr) != wantFP {
		t.Fatal("a refused key replaced the recorded one")
	}

	// Forget lets the replacement in, and is recorded too.
	if err := kh2.Forget(e.addr); err != nil {
		t.Fatal(err)
	}
	if c, err = Dial(ctx, e.addr, cfg); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	c.Close()
	kh3, err := OpenKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if kh3.Fingerprint(e.addr) != otherFP {
		t.Fatalf("after reopening: %q, want the replacement's %q", kh3.Fingerprint(e.addr), otherFP)
	}
}

func TestKnownHostsBadFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"too few fields": "127.0.0.1:830 ssh-ed25519\n",
		"bad base64":     "127.0.0.1:830 ssh-ed25519 !!!\n",
		"not a key":      "127.0.0.1:830 ssh-ed25519 aGVsbG8=\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(path, []byte("# comment\n\n"+content), 0o600)
		_, err := OpenKnownHosts(path)
		if err == nil || !strings.Contains(err.Error(), path+" line 3") {
			t.Errorf("%s: %v, want an error naming the file and line 3", name, err)
		}
	}
	if _, err := OpenKnownHosts(dir); err == nil {
		t.Error("a directory opened as known_hosts")
	}
}
