package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eNode is one `licbroker serve` process of a test cluster.
type e2eNode struct {
	id, http, raft, config, dataDir string
	p                               *proc
}

type e2eCluster struct {
	t      *testing.T
	dir    string
	nodes  []*e2eNode
	secret string
	credK  string
	keys   string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newE2ECluster writes configs for n nodes (peers node1..nodeN) on random
// loopback addresses sharing one keyring, credentials key and join secret.
func newE2ECluster(t *testing.T, n int) *e2eCluster {
	dir := t.TempDir()
	c := &e2eCluster{t: t, dir: dir, secret: randHex(8), credK: randHex(32), keys: filepath.Join(dir, "cluster")}
	out, err := exec.Command(filepath.Join(binDir, "licbroker"), "key", "init", "--data-dir", c.keys).CombinedOutput()
	if err != nil {
		t.Fatalf("key init: %v\n%s", err, out)
	}
	host := fleetBase() + ".1"
	for i := 1; i <= n; i++ {
		c.nodes = append(c.nodes, &e2eNode{id: fmt.Sprintf("node%d", i), http: freeAddr(t, host), raft: freeAddr(t, host)})
	}
	for _, nd := range c.nodes {
		c.writeConfig(nd, c.nodes, "")
	}
	return c
}

func (c *e2eCluster) writeConfig(nd *e2eNode, peers []*e2eNode, extra string) {
	nd.dataDir = filepath.Join(c.dir, nd.id)
	nd.config = filepath.Join(c.dir, nd.id+".yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "node_id: %s\ndata_dir: %s\nhttp_addr: %s\nraft_addr: %s\n", nd.id, nd.dataDir, nd.http, nd.raft)
	fmt.Fprintf(&b, "keyring_file: %s\ncredentials_key: %s\njoin_secret: %s\n", filepath.Join(c.keys, "keys", "keyring.pem"), c.credK, c.secret)
	b.WriteString("peers:\n")
	for _, p := range peers {
		fmt.Fprintf(&b, "  - {id: %s, raft_addr: %s, http_addr: %s}\n", p.id, p.raft, p.http)
	}
	b.WriteString(extra)
	if err := os.WriteFile(nd.config, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *e2eCluster) start(nd *e2eNode, args ...string) {
	nd.p = start(c.t, nil, "licbroker", append([]string{"serve", "--config", nd.config}, args...)...)
}

// ready waits until the node answers /readyz and wrote its admin token.
func (c *e2eCluster) ready(nd *e2eNode) *cli {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tok, _ := os.ReadFile(filepath.Join(nd.dataDir, "admin-token"))
		resp, err := http.Get("http://" + nd.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && len(tok) > 0 {
				return &cli{t: c.t, server: "http://" + nd.http, token: strings.TrimSpace(string(tok))}
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready; output:\n%s", nd.id, nd.p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type e2eStatus struct {
	Leader string `json:"leader_id"`
	Nodes  []struct {
		ID     string `json:"id"`
		Error  string `json:"error"`
		Status *struct {
			State        string `json:"state"`
			Leader       string `json:"leader_id"`
			CommitIndex  uint64 `json:"commit_index"`
			AppliedIndex uint64 `json:"applied_index"`
			LastContact  string `json:"last_contact"`
		} `json:"status"`
	} `json:"nodes"`
}

// waitStatus polls `cluster status` through c until ok accepts it.
func waitStatus(t *testing.T, c *cli, what string, ok func(st e2eStatus) bool) e2eStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var st e2eStatus
	for {
		out, _, err := c.run("cluster", "status", "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status never showed %s; last: %s", what, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tenantNames(t *testing.T, c *cli) []string {
	var ts []struct{ Name string }
	c.json(&ts, "tenant", "list")
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
	}
	return names
}

func waitTenants(t *testing.T, c *cli, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := strings.Join(tenantNames(t, c), ",")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: tenants %q, want %q", c.server, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterE2E runs three `licbroker serve` processes from config: writes
// through any node, joins refused and accepted, leader transfer, snapshot
// save and restore (a damaged file refused), SIGKILL of the leader and a
// restart that rejoins without help.
func TestClusterE2E(t *testing.T) {
	t.Parallel()
	c := newE2ECluster(t, 3)
	for _, nd := range c.nodes {
		c.start(nd)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("%s output:\n%s", nd.id, nd.p.output())
			}
		}
	})
	clis := make([]*cli, 3)
	for i, nd := range c.nodes {
		clis[i] = c.ready(nd)
	}
	st := waitStatus(t, clis[1], "3 nodes with a leader", func(st e2eStatus) bool {
		if st.Leader == "" || len(st.Nodes) != 3 {
			return false
		}
		for _, n := range st.Nodes {
			if n.Status == nil || n.Status.Leader != st.Leader {
				return false
			}
		}
		return true
	})
	table := clis[1].ok("cluster", "status")
	for _, col := range []string{"ROLE", "LEADER", "LAST_CONTACT", "COMMIT", "APPLIED", "leader", "follower"} {
		if !strings.Contains(table, col) {
			t.Fatalf("cluster status table lacks %q:\n%s", col, table)
		}
	}
	// The store's metrics are on /metrics.
	resp0, err := http.Get(clis[0].server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	for _, m := range []string{`raftstore_role{role="Leader"}`, "raftstore_commit_index", "raftstore_apply_seconds_count"} {
		if !strings.Contains(string(metrics), m) {
			t.Fatalf("/metrics lacks %s", m)
		}
	}
	leader := -1
	for i, nd := range c.nodes {
		if nd.id == st.Leader {
			leader = i
		}
	}
	f1, f2 := (leader+1)%3, (leader+2)%3

	// A write on a follower is forwarded; every node sees it.
	clis[f1].ok("tenant", "create", "acme")
	for _, x := range clis {
		waitTenants(t, x, "acme,default")
	}

	// Joins: unauthenticated, wrong secret and unknown node id are refused
	// and change nothing.
	resp, err := http.Post("http://"+c.nodes[f2].http+"/v1/cluster/join", "application/json",
		strings.NewReader(`{"node_id":"node9","raft_addr":"127.0.0.1:1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated join: %s", resp.Status)
	}
	anon := &cli{t: t, server: clis[f2].server}
	anon.fails("wrong join secret", "cluster", "join", "node4", "127.0.0.1:1", "--secret", "guess")
	anon.fails(`unknown node id "node4"`, "cluster", "join", "node4", "127.0.0.1:1", "--secret", c.secret)
	anon.fails("declared at "+c.nodes[f1].raft, "cluster", "join", c.nodes[f1].id, "127.0.0.1:1", "--secret", c.secret)
	// A fourth node that tries to join by itself with the secret is refused at start.
	n4 := &e2eNode{id: "node4", http: freeAddr(t, "127.0.0.1"), raft: freeAddr(t, "127.0.0.1")}
	c.writeConfig(n4, c.nodes, "bootstrap: false\njoin: "+clis[f2].server+"\n")
	out, err := exec.Command(filepath.Join(binDir, "licbroker"), "serve", "--config", n4.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown node id "node4"`) {
		t.Fatalf("node4 joining with the secret: err %v, output:\n%s", err, out)
	}
	waitStatus(t, clis[f2], "still 3 nodes", func(st e2eStatus) bool { return len(st.Nodes) == 3 })

	// An admin adds node4 (started empty, waiting), then removes it.
	c.writeConfig(n4, nil, "bootstrap: false\n")
	c.start(n4)
	clis[f2].ok("cluster", "join", "node4", n4.raft)
	waitStatus(t, clis[leader], "node4 following", func(st e2eStatus) bool {
		for _, n := range st.Nodes {
			if n.ID == "node4" && n.Status != nil && n.Status.Leader == st.Leader && st.Leader != "" {
				return true
			}
		}
		return false
	})
	c4 := c.ready(n4)
	waitTenants(t, c4, "acme,default")
	clis[f1].ok("cluster", "remove", "node4")
	waitStatus(t, clis[leader], "node4 gone", func(st e2eStatus) bool { return len(st.Nodes) == 3 })
	n4.p.stop(t)
	clis[f1].fails("no such node", "cluster", "remove", "node4")

	// Leader transfer, asked on a follower.
	clis[f1].ok("cluster", "transfer", c.nodes[f2].id)
	waitStatus(t, clis[f1], c.nodes[f2].id+" leading", func(st e2eStatus) bool { return st.Leader == c.nodes[f2].id })
	leader, f1, f2 = f2, leader, f1

	// Snapshot save, more writes, a damaged file refused, then restore.
	snap := filepath.Join(t.TempDir(), "cluster.snap")
	if out := clis[f1].ok("cluster", "snapshot", "save", snap); !strings.Contains(out, "sha256") {
		t.Fatalf("snapshot save: %s", out)
	}
	clis[f2].ok("tenant", "create", "later")
	data, _ := os.ReadFile(snap)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	badFile := filepath.Join(t.TempDir(), "bad.snap")
	os.WriteFile(badFile, bad, 0o600)
	clis[f1].fails("checksum mismatch", "cluster", "snapshot", "restore", badFile)
	// The server checks too: send the damaged file directly.
	req, _ := http.NewRequest("POST", clis[f1].server+"/v1/cluster/snapshot/restore", bytes.NewReader(bad))
	req.Header.Set("Authorization", "Bearer "+clis[f1].token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("damaged snapshot sent directly: %s", resp.Status)
	}
	for _, x := range clis {
		waitTenants(t, x, "acme,default,later")
	}
	clis[f2].ok("cluster", "snapshot", "restore", snap)
	for _, x := range clis {
		waitTenants(t, x, "acme,default")
	}

	// SIGKILL the leader: a new leader within 5s, writes go on, and the
	// old leader restarts from its data and rejoins without help.
	killed := c.nodes[leader]
	killed.p.cmd.Process.Signal(syscall.SIGKILL)
	<-killed.p.done
	t0 := time.Now()
	st = waitStatus(t, clis[f1], "a new leader", func(st e2eStatus) bool { return st.Leader != "" && st.Leader != killed.id })
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("new leader after %v", d)
	}
	clis[f1].ok("tenant", "create", "afterkill")
	c.start(killed)
	clis[leader] = c.ready(killed)
	for _, x := range clis {
		waitTenants(t, x, "acme,afterkill,default")
	}
	waitStatus(t, clis[leader], "all three following one leader", func(st e2eStatus) bool {
		n := 0
		for _, x := range st.Nodes {
			if x.Status != nil && x.Status.Leader == st.Leader && st.Leader != "" {
				n++
			}
		}
		return n == 3
	})

	// Replace a node: remove it, wipe its data, start it with `join` and
	// the join secret (it is in the members' peers, so it is known).
	st = waitStatus(t, clis[0], "a leader", func(st e2eStatus) bool { return st.Leader != "" })
	victim := 0
	for i, nd := range c.nodes {
		if nd.id != st.Leader {
			victim = i
		}
	}
	other := (victim + 1) % 3
	clis[other].ok("cluster", "remove", c.nodes[victim].id)
	c.nodes[victim].p.stop(t)
	os.RemoveAll(c.nodes[victim].dataDir)
	c.writeConfig(c.nodes[victim], c.nodes, "join: "+clis[other].server+"\n")
	c.start(c.nodes[victim])
	clis[victim] = c.ready(c.nodes[victim])
	waitTenants(t, clis[victim], "acme,afterkill,default")
	waitStatus(t, clis[other], c.nodes[victim].id+" back", func(st e2eStatus) bool {
		for _, x := range st.Nodes {
			if x.ID == c.nodes[victim].id && x.Status != nil && x.Status.Leader == st.Leader && st.Leader != "" {
				return len(st.Nodes) == 3
			}
		}
		return false
	})
	f1, f2 = victim, other
	for i := range c.nodes {
		if i != victim && i != other {
			leader = i
		}
	}

	// Two nodes down: the last one cannot commit and says so (503 with the
	// reason); a stale read still answers, with the data's age.
	c.nodes[f1].p.stop(t)
	c.nodes[leader].p.stop(t)
	lone := clis[f2]
	req, _ = http.NewRequest("POST", lone.server+"/v1/tenants", strings.NewReader(`{"name":"nobody"}`))
	req.Header.Set("Authorization", "Bearer "+lone.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no quorum") {
		t.Fatalf("write without quorum: %s %s", resp.Status, body)
	}
	lone.fails("no quorum", "tenant", "create", "nobody")
	req, _ = http.NewRequest("GET", lone.server+"/v1/tenants?consistency=stale", nil)
	req.Header.Set("Authorization", "Bearer "+lone.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Licbroker-Data-Age") == "" || !strings.Contains(string(body), "afterkill") {
		t.Fatalf("stale read without quorum: %s age %q %s", resp.Status, resp.Header.Get("X-Licbroker-Data-Age"), body)
	}
}
