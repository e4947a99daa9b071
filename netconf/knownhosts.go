package netconf

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// KnownHosts is a trust-on-first-use host key store: the first key a device
// presents is recorded; a different key later is refused. Keys are kept in
// memory and, if Path is set, appended to a file in OpenSSH known_hosts
// syntax ("host key-type base64").
type KnownHosts struct {
	path string
	mu   sync.Mutex
	keys map[string]ssh.PublicKey
}

// HostKeyChangedError reports a device whose host key differs from the one
// recorded.
type HostKeyChangedError struct {
	Host           string
	Known, Offered string // SHA256 fingerprints
}

func (e *HostKeyChangedError) Error() string {
	return fmt.Sprintf("netconf: host key of %s changed: known %s, offered %s (if the device was replaced, forget its old key)",
		e.Host, e.Known, e.Offered)
}

// OpenKnownHosts loads the store at path (created when missing). An empty
// path keeps the store in memory only.
func OpenKnownHosts(path string) (*KnownHosts, error) {
	kh := &KnownHosts{path: path, keys: map[string]ssh.PublicKey{}}
	if path == "" {
		return kh, nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("netconf: known hosts: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("netconf: known hosts %s line %d: want host, key type and key", path, n)
		}
		raw, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("netconf: known hosts %s line %d: %w", path, n, err)
		}
		k, err := ssh.ParsePublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("netconf: known hosts %s line %d: %w", path, n, err)
		}
		if f[1] == "@forget" {
			delete(kh.keys, f[0])
			continue
		}
		kh.keys[f[0]] = k
	}
	return kh, nil
}

// Callback returns an ssh.HostKeyCallback that applies the store's policy.
func (kh *KnownHosts) Callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		host := hostname
		if remote != nil {
			host = remote.String()
		}
		kh.mu.Lock()
		defer kh.mu.Unlock()
		if old, ok := kh.keys[host]; ok {
			if bytes.Equal(old.Marshal(), key.Marshal()) {
				return nil
			}
			return &HostKeyChangedError{Host: host, Known: ssh.FingerprintSHA256(old), Offered: ssh.FingerprintSHA256(key)}
		}
		kh.keys[host] = key
		return kh.appendLine(host + " " + key.Type() + " " + base64.StdEncoding.EncodeToString(key.Marshal()))
	}
}

// Forget drops the recorded key of host (host:port), so that the next key it
// offers is trusted. Used when a device is replaced at the same address.
func (kh *KnownHosts) Forget(host string) error {
	kh.mu.Lock()
	defer kh.mu.Unlock()
	old, ok := kh.keys[host]
	if !ok {
		return nil
	}
	delete(kh.keys, host)
	return kh.appendLine(host + " @forget " + base64.StdEncoding.EncodeToString(old.Marshal()))
}

// Fingerprint returns the SHA256 fingerprint recorded for host, or "".
func (kh *KnownHosts) Fingerprint(host string) string {
	kh.mu.Lock()
	defer kh.mu.Unlock()
	if k, ok := kh.keys[host]; ok {
		return ssh.FingerprintSHA256(k)
	}
	return ""
}

func (kh *KnownHosts) appendLine(line string) error {
	if kh.path == "" {
		return nil
	}
	f, err := os.OpenFile(kh.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("netconf: known hosts: %w", err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("netconf: known hosts: %w", err)
	}
	return f.Close()
}
