// Package yangtest validates device data and NETCONF messages against the
// YANG modules of package netconf (netconf/yang) with yanglint, from the
// Debian package libyang2-tools. It is for tests: a missing yanglint fails
// the test with an install hint.
package yangtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/licbroker/licbroker/netconf"
)

// InstallHint is the message a test fails with when yanglint is missing.
const InstallHint = "yanglint not found: install the Debian package libyang2-tools (apt-get install libyang2-tools; .ci/run does)"

var (
	once    sync.Once
	dir     string
	modules []string
	setup   error
)

// moduleDir returns the directory of the YANG modules (netconf/yang in the
// source tree; a copy of the embedded modules if the source is not at hand)
// and the module files to load.
func moduleDir() (string, []string, error) {
	once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "yang")
		if _, err := os.Stat(filepath.Join(dir, netconf.LicensingModule+".yang")); err != nil {
			if dir, setup = os.MkdirTemp("", "licbroker-yang-"); setup != nil {
				return
			}
			for name, text := range netconf.Schemas() {
				if setup = os.WriteFile(filepath.Join(dir, name+".yang"), []byte(text), 0o644); setup != nil {
					return
				}
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.yang"))
		for _, f := range files {
			base := filepath.Base(f)
			if !strings.HasPrefix(base, "ietf-inet-types") && !strings.HasPrefix(base, "ietf-yang-types") {
				modules = append(modules, f) // the type modules are imported only
			}
		}
		sort.Strings(modules)
	})
	return dir, modules, setup
}

// Check runs yanglint on one file of the given type ("get", "nc-rpc",
// "nc-reply"...; see yanglint -t) with every module of netconf/yang
// loaded. For nc-reply, rpc is the request the reply answers. It returns
// yanglint's complaint, or nil if the input is valid.
func Check(typ string, input, rpc []byte) error {
	bin, err := exec.LookPath("yanglint")
	if err != nil {
		return fmt.Errorf("yangtest: %s", InstallHint)
	}
	d, mods, err := moduleDir()
	if err != nil {
		return fmt.Errorf("yangtest: %w", err)
	}
	tmp, err := os.MkdirTemp("", "licbroker-yanglint-")
	if err != nil {
		return fmt.Errorf("yangtest: %w", err)
	}
	defer os.RemoveAll(tmp)
	in := filepath.Join(tmp, "input.xml")
	if err := os.WriteFile(in, input, 0o644); err != nil {
		return fmt.Errorf("yangtest: %w", err)
	}
	args := []string{"-p", d, "-t", typ}
	if rpc != nil {
		rq := filepath.Join(tmp, "rpc.xml")
		if err := os.WriteFile(rq, rpc, 0o644); err != nil {
			return fmt.Errorf("yangtest: %w", err)
		}
		args = append(args, "-R", rq)
	}
	args = append(args, mods...)
	args = append(args, in)
	out, err := exec.Command(bin, args...).CombinedOutput()
	// yanglint sometimes exits 0 after an error message: trust both.
	if err != nil || bytes.Contains(out, []byte("[E]")) || bytes.Contains(out, []byte("err :")) {
		return fmt.Errorf("yangtest: yanglint -t %s: %s (%v)", typ, strings.TrimSpace(string(out)), err)
	}
	return nil
}

// Data fails t unless data (the content of <data> of a <get>: ietf-hardware
// and licbroker-licensing state) is valid.
func Data(t testing.TB, data []byte) {
	t.Helper()
	if err := Check("get", data, nil); err != nil {
		t.Fatal(err)
	}
}

// RPC fails t unless rpc (a whole <rpc> message) is valid.
func RPC(t testing.TB, rpc []byte) {
	t.Helper()
	if err := Check("nc-rpc", rpc, nil); err != nil {
		t.Fatal(err)
	}
}

// Reply fails t unless reply (a whole <rpc-reply>) is a valid answer to
// rpc.
func Reply(t testing.TB, rpc, reply []byte) {
	t.Helper()
	if err := Check("nc-reply", reply, rpc); err != nil {
		t.Fatal(err)
	}
}
