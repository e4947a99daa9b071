package netconf_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licbroker/licbroker/netconf"
	"github.com/licbroker/licbroker/netconf/yangtest"
)

// The YANG modules compile, and the protocol bytes pinned by the golden
// files are valid instances of them: every request, every reply, every
// rpc-error, and the device data the replies carry.

func TestYANGModulesCompile(t *testing.T) {
	bin, err := exec.LookPath("yanglint")
	if err != nil {
		t.Fatal(yangtest.InstallHint)
	}
	files, _ := filepath.Glob("yang/*.yang")
	if len(files) < 7 {
		t.Fatalf("yang/ holds %d modules", len(files))
	}
	for _, f := range files {
		out, err := exec.Command(bin, "-p", "yang", f).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
	// The embedded text is the file's.
	data, _ := os.ReadFile("yang/licbroker-licensing.yang")
	if string(data) != netconf.LicensingYANG || netconf.Schemas()[netconf.LicensingModule] != netconf.LicensingYANG {
		t.Fatal("embedded module differs from yang/licbroker-licensing.yang")
	}
	if !strings.Contains(netconf.LicensingYANG, "revision "+netconf.LicensingRevision) {
		t.Fatalf("LicensingRevision %s is not the module's revision", netconf.LicensingRevision)
	}
}

// unframe returns the message of a golden file in chunked framing.
func unframe(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd := netconf.NewReader(bytes.NewReader(raw), 0)
	rd.SetFraming(netconf.FramingChunked)
	msg, err := rd.ReadMessage()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return append([]byte(nil), msg...)
}

func TestYANGGoldenRPCs(t *testing.T) {
	reqs, _ := filepath.Glob("testdata/rpc/*.request")
	if len(reqs) < 10 {
		t.Fatalf("%d golden requests", len(reqs))
	}
	for _, rq := range reqs {
		name := strings.TrimSuffix(filepath.Base(rq), ".request")
		t.Run(name, func(t *testing.T) {
			req := unframe(t, rq)
			yangtest.RPC(t, req)
			yangtest.Reply(t, req, unframe(t, strings.TrimSuffix(rq, ".request")+".reply"))
		})
	}
}

// Each rpc-error reply is a valid rpc-reply (error-type, error-tag and the
// rest are checked against ietf-netconf). Requests that are invalid on
// purpose are replaced by a plain <get> to give the reply its context.
func TestYANGGoldenRPCErrors(t *testing.T) {
	replies, _ := filepath.Glob("testdata/rpc-error/*.reply")
	if len(replies) < 12 {
		t.Fatalf("%d golden rpc-errors", len(replies))
	}
	stand := []byte(`<rpc message-id="1" xmlns="` + netconf.BaseNS + `"><get/></rpc>`)
	for _, rp := range replies {
		name := strings.TrimSuffix(filepath.Base(rp), ".reply")
		t.Run(name, func(t *testing.T) {
			reply := unframe(t, rp)
			req := stand
			if raw := strings.TrimSuffix(rp, ".reply") + ".request"; fileExists(raw) {
				if r := unframe(t, raw); yangtest.Check("nc-rpc", r, nil) == nil {
					req = r
				}
			}
			if !bytes.Contains(reply, []byte("message-id=")) {
				// The server could not read the request's message-id;
				// yanglint wants one on every reply.
				reply = bytes.Replace(reply, []byte("<rpc-reply "), []byte(`<rpc-reply message-id="1" `), 1)
			}
			yangtest.Reply(t, req, reply)
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// replyData returns the content of <data> in a golden reply.
func replyData(t *testing.T, path string) []byte {
	t.Helper()
	msg := unframe(t, path)
	i, j := bytes.Index(msg, []byte("<data>")), bytes.LastIndex(msg, []byte("</data>"))
	if i < 0 || j < i {
		t.Fatalf("%s has no <data>", path)
	}
	return msg[i+len("<data>") : j]
}

// The device data in the golden replies (ietf-hardware identity and
// licbroker-licensing state) validates; corrupted copies do not, so the
// check is real.
func TestYANGDeviceData(t *testing.T) {
	identity := replyData(t, "testdata/rpc/get-identity.reply")
	licensing := replyData(t, "testdata/rpc/get-licensing.reply")
	yangtest.Data(t, identity)
	yangtest.Data(t, licensing)
	yangtest.Data(t, append(append([]byte(nil), identity...), licensing...))
	for name, bad := range map[string][]byte{
		"unknown license type":   bytes.Replace(licensing, []byte("<type>evaluation</type>"), []byte("<type>forever</type>"), 1),
		"feature level pattern":  bytes.Replace(licensing, []byte("<active-level>ipbase</active-level>"), []byte("<active-level>IP Base</active-level>"), 1),
		"unknown leaf":           bytes.Replace(licensing, []byte("<udi>"), []byte("<color>red</color><udi>"), 1),
		"unknown hardware class": bytes.Replace(identity, []byte("ianahw:chassis"), []byte("ianahw:spaceship"), 1),
	} {
		if err := yangtest.Check("get", bad, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
