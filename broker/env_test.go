package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/raftstore"
)

// env is a broker on a real single-node raftstore in a temporary
// directory, served over HTTP on loopback, with an admin token.
type env struct {
	t     *testing.T
	dir   string
	store *raftstore.Store
	state *State
	b     *Broker
	api   *API
	srv   *httptest.Server
	admin string
	kr    *keyengine.Keyring

	raftAddr string
	hook     func(*Config)
}

// randomLoopback returns a random 127.x.y.z (x in 10..250) so that
// concurrent tests on this machine do not collide.
func randomLoopback() string {
	return fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(240), rand.IntN(256), 1+rand.IntN(250))
}

func freeAddr(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// storeCluster adapts the raftstore to ClusterInfo, as cmd/licbroker does.
type storeCluster struct{ s *raftstore.Store }

func (c storeCluster) Status() any { return c.s.Status() }
func (c storeCluster) Ready() error {
	if c.s.Status().Leader == "" {
		return raftstore.ErrNoQuorum
	}
	return nil
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with a hook that adjusts the broker's Config.
func newEnvWith(t *testing.T, hook func(*Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), state: NewState(), raftAddr: freeAddr(t, randomLoopback()), hook: hook}
	store, err := raftstore.Open(raftstore.Config{NodeID: "n1", Dir: e.dir + "/raft", BindAddr: e.raftAddr,
		Bootstrap: true}, e.state)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := store.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if e.kr, err = keyengine.NewKeyring(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	e.b, err = New(e.config(), store, e.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.b.Close)
	if err := e.b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if e.admin, _, err = e.b.CreateToken(ctx, "system", "", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e.api = NewAPI(e.b, storeCluster{store})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// config is the broker configuration of the env.
func (e *env) config() Config {
	c := Config{Signer: e.kr, CredentialsKey: bytes.Repeat([]byte{7}, 32), DeviceTimeout: 5 * time.Second, DeviceConcurrency: 8}
	if e.hook != nil {
		e.hook(&c)
	}
	return c
}

// propose applies a command directly (test setup).
func (e *env) propose(typ string, payload, out any) {
	e.t.Helper()
	if err := e.b.propose(context.Background(), "admin:test", typ, payload, out); err != nil {
		e.t.Fatalf("%s: %v", typ, err)
	}
}

// token creates a token of a role in a tenant.
func (e *env) token(tenant, role string) string {
	e.t.Helper()
	s, _, err := e.b.CreateToken(context.Background(), "admin:test", tenant, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// resp is an HTTP response read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errCode() string {
	var b errorBody
	json.Unmarshal(r.body, &b)
	return b.Error.Code
}

func (r resp) errMsg() string {
	var b errorBody
	json.Unmarshal(r.body, &b)
	return b.Error.Message
}

// req describes a request.
type req struct {
	method, path, token string
	body                any // string (sent as is), []byte, or JSON-encoded value
	header              map[string]string
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(q.method, e.srv.URL+q.path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

// ok does a request that must answer want, and decodes the JSON body.
func (e *env) ok(q req, want int, out any) resp {
	e.t.Helper()
	r := e.do(q)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", q.method, q.path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", q.method, q.path, err, r.body)
		}
	}
	return r
}

// fleet starts n simulated devices trusting the broker's keys at
// 127.x.y.1 and up; it returns the fleet, its /24 as a CIDR, and the port.
func (e *env) fleet(n int) (*devicesim.Fleet, string, int) {
	e.t.Helper()
	first := netip.MustParseAddr(fmt.Sprintf("127.%d.%d.1", 10+rand.IntN(240), rand.IntN(256)))
	_, port, _ := net.SplitHostPort(freeAddr(e.t, first.String()))
	var p int
	fmt.Sscan(port, &p)
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: n, FirstAddress: first, Port: p, Trust: e.kr.TrustStore()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Close() })
	b := first.As4()
	return f, fmt.Sprintf("%d.%d.%d.0/24", b[0], b[1], b[2]), p
}

// waitJob polls a job until it is no longer running.
func (e *env) waitJob(id string) *Job {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := e.b.Job("", id)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.State != JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still running: %+v", id, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
