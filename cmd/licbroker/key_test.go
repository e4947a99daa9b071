package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/keyengine"
)

// TestKeyCommands runs `licbroker key ...` as a process: init, rotate,
// list, export-public, verify (license file, compact key in a file, on
// the command line and on stdin), revoke, and the refusals.
func TestKeyCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &cli{t: t, server: "http://127.0.0.1:1", token: "x"}
	dd := []string{"--data-dir", dir}
	key := func(args ...string) []string { return append(append([]string{"key"}, args...), dd...) }

	out := c.ok(key("init")...)
	if !strings.Contains(out, "created keyring") {
		t.Fatalf("init: %s", out)
	}
	c.fails("already exists", key("init")...)
	fi, err := os.Stat(filepath.Join(dir, keyringFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}

	// A license signed with the first key (as the broker would).
	kr, err := keyengine.LoadKeyringFile(filepath.Join(dir, keyringFile))
	if err != nil {
		t.Fatal(err)
	}
	oldID := kr.ActiveID()
	udi := keyengine.UDI{PID: "WS-C3750E-24TD-S", SN: "FDO1307R0W9"}
	now := time.Now()
	lic, err := kr.Sign(keyengine.Grant{ID: "L42", UDI: udi, Feature: "ipservices", Type: keyengine.Extension,
		IssuedAt: now, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour), Comment: "test"})
	if err != nil {
		t.Fatal(err)
	}
	licFile := filepath.Join(dir, "l42.lic")
	keyFile := filepath.Join(dir, "l42.key")
	compact := keyengine.EncodeCompactKey(lic)
	os.WriteFile(licFile, keyengine.EncodeFile([]keyengine.License{lic}), 0o644)
	os.WriteFile(keyFile, []byte(strings.ToLower(compact)+"\n"), 0o644)

	out = c.ok(key("rotate")...)
	if !strings.Contains(out, "new active key") {
		t.Fatalf("rotate: %s", out)
	}
	var keys []keyJSON
	c.json(&keys, key("list")...)
	if len(keys) != 2 || keys[0].ID != oldID || keys[0].State != "retired" || keys[1].State != "active" {
		t.Fatalf("key list: %+v", keys)
	}
	trusted := filepath.Join(dir, "trusted.pem")
	os.WriteFile(trusted, []byte(c.ok(key("export-public")...)), 0o644)

	// Rotation keeps the license valid, in both encodings, with the
	// keyring or with only the public keys.
	for _, args := range [][]string{
		key("verify", licFile, "--udi", udi.String(), "--compact"),
		key("verify", keyFile, "--trusted", trusted),
		key("verify", compact, "--udi", udi.String()),
	} {
		out := c.ok(args...)
		if !strings.HasPrefix(out, "OK L42 "+udi.String()+" ipservices extension expires ") {
			t.Fatalf("%v: %s", args, out)
		}
	}
	if out := c.ok(key("verify", licFile, "--compact")...); !strings.Contains(out, compact) {
		t.Fatalf("--compact does not print the key: %s", out)
	}
	stdin := runStdin(t, strings.NewReader(compact), key("verify", "-")...)
	if !strings.HasPrefix(stdin, "OK L42 ") {
		t.Fatalf("verify from stdin: %s", stdin)
	}

	// Refusals, each one line.
	c.fails("license is for device "+udi.String()+", not WS-C3750E-24TD-S:FDO1307R0W8", key("verify", licFile, "--udi", "WS-C3750E-24TD-S:FDO1307R0W8")...)
	edited := strings.Replace(string(keyengine.EncodeFile([]keyengine.License{lic})), "ipservices", "ipservicez", 1)
	os.WriteFile(licFile+".edited", []byte(edited), 0o644)
	c.fails("<feature> does not match its signed line", key("verify", licFile+".edited")...)
	typo := []byte(compact)
	typo[30] = map[bool]byte{true: '1', false: '0'}[typo[30] == '0']
	c.fails("typo in characters 21-40", key("verify", string(typo))...)

	c.fails("active signing key; rotate first", key("revoke", keys[1].ID)...)
	c.fails("unknown key id", key("revoke", "deadbeef")...)
	out = c.ok(key("revoke", oldID)...)
	if !strings.Contains(out, "revoked key "+oldID) {
		t.Fatalf("revoke: %s", out)
	}
	c.fails("revoked key id", key("verify", licFile)...)
	os.WriteFile(trusted, []byte(c.ok(key("export-public")...)), 0o644)
	c.fails("revoked key "+oldID, key("verify", keyFile, "--trusted", trusted)...)

	os.Chmod(filepath.Join(dir, keyringFile), 0o644)
	c.fails("fix with chmod 600 "+filepath.Join(dir, keyringFile), key("list")...)
}

// runStdin runs licbroker with stdin and returns its stdout.
func runStdin(t *testing.T, stdin *strings.Reader, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "licbroker"), args...)
	cmd.Stdin = stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("licbroker %v: %v", args, err)
	}
	return string(out)
}
