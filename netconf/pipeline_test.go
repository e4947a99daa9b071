package netconf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPipeline: RPCs sent in one write get their replies in order, each
// with its own rpc-error; the session goes on after a pipeline, in both
// framings.
func TestPipeline(t *testing.T) {
	e := newTestEnv(t)
	for _, caps := range [][]string{{CapBase10, CapBase11}, {CapBase10}} {
		cfg := e.clientConfig()
		cfg.Capabilities = caps
		c, err := Dial(context.Background(), e.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Pipeline(context.Background(),
			InstallLicenseOp([]byte("L-7 ipservices\n")),
			`<clear-license xmlns="`+LicensingNS+`"><license-id>nope</license-id></clear-license>`,
			GetOp(LicensingFilter),
			`<set-boot-level xmlns="`+LicensingNS+`"><level>ipservices</level></set-boot-level>`)
		if err != nil || len(res) != 4 {
			t.Fatalf("%v: %d results, %v", caps, len(res), err)
		}
		inst, err := ParseInstallResults(res[0].Reply)
		if res[0].Err != nil || err != nil || len(inst) != 1 || inst[0].LicenseID != "L-7" {
			t.Errorf("%v: install: %+v %v %v", caps, inst, res[0].Err, err)
		}
		var re *RPCError
		if !errors.As(res[1].Err, &re) || re.Tag != "data-missing" {
			t.Errorf("%v: clear-license of a missing license: %v", caps, res[1].Err)
		}
		lic, err := ParseData(res[2].Reply.Data()).Licensing()
		if res[2].Err != nil || err != nil || len(lic.Licenses) != 2 || lic.Licenses[1].ID != "L-7" {
			t.Errorf("%v: licensing after the install: %+v %v %v", caps, lic, res[2].Err, err)
		}
		if res[3].Err != nil || !res[3].Reply.OK {
			t.Errorf("%v: set-boot-level: %+v %v", caps, res[3].Reply, res[3].Err)
		}
		if _, err := c.Identity(context.Background()); err != nil {
			t.Errorf("%v: call after a pipeline: %v", caps, err)
		}
		c.Close()
		delete(e.dev.licenses, "L-7")
	}
}

// TestPipelineClose: the session ends after the replies, as after
// CloseSession; the server sees it end.
func TestPipelineClose(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	id := c.SessionID()
	res, err := c.PipelineClose(context.Background(), GetOp(IdentityFilter))
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("%d results, %v", len(res), err)
	}
	if got, err := ParseIdentity(res[0].Reply.Data()); err != nil || got.Serial != "FDO1307R0W9" {
		t.Fatalf("identity %+v, %v", got, err)
	}
	if _, err := c.Get(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "closed by the client") {
		t.Fatalf("call after PipelineClose: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close after PipelineClose: %v", err)
	}
	waitFor(t, "the server to end the session", func() bool {
		for _, s := range e.dev.endedSessions() {
			if s == id {
				return true
			}
		}
		return false
	})
}

// TestPipelineFailures: a session that drops mid-pipeline, or a pipeline
// over its deadline, ends the session with the reason and no results.
func TestPipelineFailures(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial(t)
	res, err := c.Pipeline(context.Background(), GetOp(IdentityFilter), `<drop xmlns="urn:example:test"/>`, GetOp(""))
	if err == nil || res != nil || !strings.Contains(err.Error(), e.addr) {
		t.Fatalf("pipeline over a dropped session: %v, %d results", err, len(res))
	}
	if _, err := c.Get(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "session closed") {
		t.Fatalf("call after a failed pipeline: %v", err)
	}
	cfg := e.clientConfig()
	cfg.RPCTimeout = 200 * time.Millisecond
	c, err = Dial(context.Background(), e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.PipelineClose(context.Background(), `<sleep xmlns="urn:example:test"/>`)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("slow pipeline: %v after %v", err, time.Since(start))
	}
}
