package netconf

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/netconf/netconfdtest"
)

// Interoperability with real peers (Debian packages installed by .ci/run):
// ncclient as a client of our server, and our client against netconfd
// (yuma123) behind OpenSSH's sshd.

// needTool fails the test with an install hint when a peer is missing.
func needTool(t *testing.T, path, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install %s; .ci/run does)", path, pkg, pkg)
	}
	return p
}

func TestInteropNcclientClient(t *testing.T) {
	python := needTool(t, "/usr/bin/python3", "python3")
	if out, err := exec.Command(python, "-c", "import ncclient").CombinedOutput(); err != nil {
		t.Fatalf("python3 cannot import ncclient: install the Debian package python3-ncclient (%s)", strings.TrimSpace(string(out)))
	}
	for _, base := range []string{"1.0", "1.1"} {
		t.Run("base"+base, func(t *testing.T) {
			e := newTestEnv(t, func(c *ServerConfig) { c.Schemas = Schemas() })
			host, port, _ := net.SplitHostPort(e.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "testdata/interop/ncclient_client.py", host, port, testUser, testPassword, base)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("ncclient: %v\n%s\n%s", err, out, stderr)
			}
			var got struct {
				SessionID  string   `json:"session_id"`
				ServerCaps []string `json:"server_caps"`
				Chunked    bool     `json:"chunked"`
				Get        string   `json:"get"`
				GetConfig  string   `json:"get_config"`
				Install    string   `json:"install"`
				Schema     string   `json:"schema"`
				Error      *struct {
					Type, Tag, Severity, Path, Message string
					AppTag                             string `json:"app_tag"`
				} `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("ncclient output %s: %v", out, err)
			}
			if got.SessionID == "" || got.Chunked != (base == "1.1") {
				t.Fatalf("session %q, chunked %v with a base:%s client", got.SessionID, got.Chunked, base)
			}
			for _, want := range []struct{ in, what string }{
				{got.Get, "<serial-num>FDO1307R0W9</serial-num>"},
				{got.GetConfig, "<hostname>sw1</hostname>"},
				{got.Install, "<status>installed</status>"},
				{got.Install, "<status>already-present</status>"},
				{got.Install, "<status>failed</status>"},
				{got.Schema, "module licbroker-licensing"},
			} {
				if !strings.Contains(want.in, want.what) {
					t.Errorf("ncclient saw %q, want it to contain %q", want.in, want.what)
				}
			}
			if got.Error == nil || got.Error.Type != "application" || got.Error.Tag != "data-missing" || got.Error.Severity != "error" ||
				got.Error.AppTag != "licensing" || got.Error.Message != "no license L9" || !strings.Contains(got.Error.Path, "L9") {
				t.Fatalf("ncclient's rpc-error %+v", got.Error)
			}
			// ncclient closed the session with close-session.
			waitFor(t, "the session to end", func() bool { return len(e.dev.endedSessions()) == 1 })
		})
	}
}

// netconfd (yuma123 2.x, Debian) mishandles an <rpc> that reaches it in
// the same read as the client's <hello>: it defers the trailing input while
// it handles the hello and then either forgets it until more input arrives
// (agt_ncxserver.c clears scb before testing scb->indefer_len) or loses the
// reply ("IO failed on session"). A fast client whose first RPC follows the
// hellos closely meets it in about one session in five here;
// ClientConfig.FirstRPCDelay works around it.
func TestInteropNetconfdServer(t *testing.T) {
	nd := netconfdtest.Start(t)
	addr, username, key := nd.Addr, nd.Username, nd.Signer
	kh, err := OpenKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, caps := range [][]string{{CapBase10, CapBase11}, {CapBase10}} {
		t.Run(fmt.Sprint(len(caps)), func(t *testing.T) {
			c, err := Dial(ctx, addr, ClientConfig{User: username, Signer: key, HostKeyCallback: kh.Callback(),
				DialTimeout: 10 * time.Second, HelloTimeout: 10 * time.Second, RPCTimeout: 10 * time.Second, Capabilities: caps,
				FirstRPCDelay: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wantFraming := FramingEOM
			if len(caps) == 2 {
				wantFraming = FramingChunked
			}
			if c.SessionID() == 0 || c.Framing() != wantFraming {
				t.Fatalf("session %d, framing %v", c.SessionID(), c.Framing())
			}
			found := false
			for _, cp := range c.ServerCapabilities() {
				found = found || strings.HasPrefix(cp, MonitoringNS+"?")
			}
			if !found {
				t.Fatalf("netconfd capabilities %v", c.ServerCapabilities())
			}
			// get with a subtree filter: netconfd lists our own session.
			data, err := c.Get(ctx, `<netconf-state xmlns="`+MonitoringNS+`"><sessions><session><session-id>`+
				itoa(c.SessionID())+`</session-id><username/></session></sessions></netconf-state>`)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "<username>"+username+"</username>") {
				t.Fatalf("get: %s", data)
			}
			cfg, err := c.GetConfig(ctx, "running", "")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(cfg), "ietf-netconf-acm") {
				t.Fatalf("get-config: %s", cfg)
			}
			if err := c.Lock(ctx, "running"); err != nil {
				t.Fatal(err)
			}
			if err := c.Unlock(ctx, "running"); err != nil {
				t.Fatal(err)
			}
			// A real server's rpc-error comes back typed.
			_, err = c.Call(ctx, `<frobnicate xmlns="urn:example:nobody"/>`)
			re, ok := err.(*RPCError)
			if !ok || re.Type == "" || re.Tag != "unknown-namespace" || re.Severity != "error" || re.AppTag == "" || re.Message == "" {
				t.Fatalf("unknown operation: %v (%T)", err, err)
			}
			// A pipeline (several rpcs in one write): netconfd answers each
			// in order.
			res, err := c.Pipeline(ctx, GetConfigOp("running", ""), `<frobnicate xmlns="urn:example:nobody"/>`, GetOp(""))
			if err != nil || len(res) != 3 {
				t.Fatalf("pipeline: %d results, %v", len(res), err)
			}
			if res[0].Err != nil || !strings.Contains(string(res[0].Reply.Data()), "ietf-netconf-acm") {
				t.Fatalf("pipelined get-config: %v %s", res[0].Err, res[0].Reply.Body)
			}
			if re, ok := res[1].Err.(*RPCError); !ok || re.Tag != "unknown-namespace" {
				t.Fatalf("pipelined unknown operation: %v", res[1].Err)
			}
			if res[2].Err != nil || !strings.Contains(string(res[2].Reply.Data()), "netconf-state") {
				t.Fatalf("pipelined get: %v", res[2].Err)
			}
			if err := c.CloseSession(ctx); err != nil {
				t.Fatalf("close-session: %v", err)
			}
			// A get and close-session in one write.
			c, err = Dial(ctx, addr, ClientConfig{User: username, Signer: key, HostKeyCallback: kh.Callback(),
				RPCTimeout: 10 * time.Second, Capabilities: caps, FirstRPCDelay: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			res, err = c.PipelineClose(ctx, GetOp(""))
			if err != nil || len(res) != 1 || res[0].Err != nil || !strings.Contains(string(res[0].Reply.Data()), "netconf-state") {
				t.Fatalf("get with close-session: %d results, %v", len(res), err)
			}
			if _, err := c.Get(ctx, ""); err == nil || !strings.Contains(err.Error(), "closed by the client") {
				t.Fatalf("call after PipelineClose: %v", err)
			}
		})
	}
	if kh.Fingerprint(addr) == "" {
		t.Fatal("sshd's host key was not recorded")
	}
}
