package devicesim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
)

func TestControlHandler(t *testing.T) {
	l := newLab(t, "3750e", 5)
	srv := httptest.NewServer(l.fleet.ControlHandler())
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m, raw
	}
	errCode := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/devices/7", "", 404, "not_found"},
		{"GET", "/devices/127.9.9.9", "", 404, "not_found"},
		{"PUT", "/devices/1/fault", `{"latency":"2s","bogus":1}`, 400, "bad_request"},
		{"PUT", "/devices/1/fault", `{"latency":"forever"}`, 400, "bad_request"},
		{"PUT", "/devices/1/fault", `{"drop":"sideways"}`, 400, "bad_request"},
		{"POST", "/devices/1/upgrade", `{"version":"15.1(4)M"}`, 400, "bad_request"},
		{"POST", "/clock", `{}`, 400, "bad_request"},
		{"POST", "/clock", `{"advance":"-3d"}`, 400, "bad_request"},
		{"POST", "/trust/reload", "", 400, "bad_request"},
		{"GET", "/devices?limit=x", "", 400, "bad_request"},
	} {
		status, m, raw := call(tc.method, tc.path, tc.body)
		if status != tc.status || errCode(m) != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, status, raw, tc.status, tc.code)
		}
	}
	if status, _, raw := call("PUT", "/devices/127.200.0.2/fault", `{"latency":"1.5s","storage_full":true}`); status != 200 {
		t.Fatalf("set fault: %d %s", status, raw)
	}
	if f := l.dev(1).Fault(); f.Latency != 1500*time.Millisecond || !f.StorageFull {
		t.Fatalf("fault set over HTTP: %+v", f)
	}
	if _, _, raw := call("GET", "/devices/1/fault", ""); !strings.Contains(string(raw), `"latency": "1.5s"`) {
		t.Fatalf("fault read back: %s", raw)
	}
	if status, _, _ := call("DELETE", "/devices/"+l.dev(1).UDI().String()+"/fault", ""); status != 200 || l.dev(1).Fault() != (devicesim.Fault{}) {
		t.Fatal("clearing the fault by UDI")
	}
	var devs []devicesim.DeviceInfo
	_, _, raw := call("GET", "/devices?offset=3&limit=10", "")
	if err := json.Unmarshal(raw, &devs); err != nil || len(devs) != 2 || devs[0].Index != 3 {
		t.Fatalf("paging: %s %v", raw, err)
	}
	before := l.fleet.Clock().Now()
	if status, _, raw := call("POST", "/clock", `{"advance":"8w4d"}`); status != 200 {
		t.Fatalf("advance: %s", raw)
	}
	if got := l.fleet.Clock().Now().Sub(before); got != 60*day {
		t.Fatalf("clock moved %s, want 60 days", got)
	}
	if status, _, raw := call("POST", "/devices/0/power-off", ""); status != 200 || !strings.Contains(string(raw), `"powered": false`) {
		t.Fatalf("power off: %s", raw)
	}
	if status, m, _ := call("POST", "/devices/0/reload", ""); status != 409 || errCode(m) != "powered_off" {
		t.Fatalf("reload while off: %d %v", status, m)
	}
}
