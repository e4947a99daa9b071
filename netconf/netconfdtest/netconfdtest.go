// Package netconfdtest runs a real third-party NETCONF server for tests:
// yuma123's netconfd (Debian package netconfd) behind a private OpenSSH
// sshd (openssh-server) whose netconf subsystem is netconf-subsystem, on
// a random loopback address. .ci/run installs both; a missing one fails
// the test with an install hint. See REFERENCE.md, "Running the real
// peers here".
package netconfdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Server is a running netconfd behind sshd. Both stop when the test ends;
// their output (and netconfd's debug log) is logged if the test failed.
type Server struct {
	Addr     string     // host:port of sshd
	Username string     // the user to log in as (the current user)
	KeyFile  string     // OpenSSH private key file of that user's key
	Signer   ssh.Signer // the same key
}

// NeedTool returns path if it exists, else fails the test with a hint
// naming the Debian package that provides it.
func NeedTool(t testing.TB, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: install the Debian package %s (apt-get install %s; .ci/run does)", path, pkg, pkg)
	}
	return path
}

// Start runs netconfd and sshd and returns once sshd accepts connections.
func Start(t testing.TB) *Server {
	t.Helper()
	netconfd := NeedTool(t, "/usr/sbin/netconfd", "netconfd")
	sshd := NeedTool(t, "/usr/sbin/sshd", "openssh-server")
	subsystem := NeedTool(t, "/usr/sbin/netconf-subsystem", "netconfd")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory.
	if _, err := os.Stat("/run/sshd"); err != nil {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd needs /run/sshd: %v (run the tests as root, as .ci/run does)", err)
		}
	}
	dir := t.TempDir()
	addr := freeLoopbackAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	sock := filepath.Join(dir, "ncxserver.sock")

	writeKey := func(name string) ssh.Signer {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	writeKey("host_key")
	client := writeKey("client_key")
	config := fmt.Sprintf(`ListenAddress %s
Port %s
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem netconf "%s --ncxserver-sockname=%s@%s"
`, host, port, dir, dir, dir, subsystem, port, sock)
	for name, data := range map[string][]byte{
		"authorized_keys": ssh.MarshalAuthorizedKey(client.PublicKey()),
		"sshd_config":     []byte(config),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		logf, err := os.Create(filepath.Join(dir, filepath.Base(name)+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logf.Name())
				t.Logf("%s output:\n%s", name, out)
				if log, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)+".log")); err == nil {
					t.Logf("%s log:\n%s", name, log)
				}
			}
		})
	}
	// netconfd admits sessions only on the SSH ports it is told about.
	run(netconfd, "--no-startup", "--superuser="+u.Username, "--port="+port, "--ncxserver-sockname="+sock,
		"--log="+filepath.Join(dir, "netconfd.log"), "--log-level=debug2") // the log is shown when a test fails
	waitFor(t, "netconfd to create its socket", func() bool { _, err := os.Stat(sock); return err == nil })
	run(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	waitFor(t, "sshd to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &Server{Addr: addr, Username: u.Username, KeyFile: filepath.Join(dir, "client_key"), Signer: client}
}

// freeLoopbackAddr returns a free host:port on a random 127.x.y.z address
// (tests running side by side do not meet).
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		ip := fmt.Sprintf("127.%d.%d.%d", 10+mrand.IntN(200), mrand.IntN(250), 1+mrand.IntN(250))
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			continue
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		return net.JoinHostPort(ip, strconv.Itoa(port))
	}
	t.Fatal("no free loopback address for sshd")
	return ""
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
