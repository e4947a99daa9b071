package raftstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

// Fault tests run real ledgernode processes (a raftstore node with the
// test Ledger), so that a leader can die by SIGKILL. The binary is built
// once for the package.

var (
	nodeBinOnce sync.Once
	nodeBin     string
	nodeBinErr  error
)

func ledgerNodeBin(t *testing.T) string {
	t.Helper()
	nodeBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledgernode")
		if err != nil {
			nodeBinErr = err
			return
		}
		nodeBin = filepath.Join(dir, "ledgernode")
		out, err := exec.Command("go", "build", "-o", nodeBin, "github.com/licbroker/licbroker/raftstore/raftstoretest/ledgernode").CombinedOutput()
		if err != nil {
			nodeBinErr = fmt.Errorf("building ledgernode: %v\n%s", err, out)
		}
	})
	if nodeBinErr != nil {
		t.Fatal(nodeBinErr)
	}
	return nodeBin
}

type procNode struct {
	id, dir, raft, http string
	cmd                 *exec.Cmd
	out                 *lockedBuf
	done                chan struct{}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type procCluster struct {
	t     *testing.T
	bin   string
	nodes []*procNode
	peers string
	hc    *http.Client
}

func startProcCluster(t *testing.T, n int) *procCluster {
	pc := &procCluster{t: t, bin: ledgerNodeBin(t), hc: &http.Client{Timeout: 5 * time.Second}}
	base := t.TempDir()
	var peers []string
	for i := 1; i <= n; i++ {
		nd := &procNode{id: fmt.Sprintf("node%d", i), dir: filepath.Join(base, fmt.Sprintf("node%d", i)),
			raft: raftstoretest.FreeAddr(t), http: raftstoretest.FreeAddr(t)}
		pc.nodes = append(pc.nodes, nd)
		peers = append(peers, nd.id+"="+nd.raft)
	}
	pc.peers = strings.Join(peers, ",")
	for i := range pc.nodes {
		pc.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range pc.nodes {
			pc.kill(nd)
		}
		if t.Failed() {
			for _, nd := range pc.nodes {
				t.Logf("%s output:\n%s", nd.id, nd.out.String())
			}
		}
	})
	return pc
}

func (pc *procCluster) start(i int) {
	nd := pc.nodes[i]
	nd.cmd = exec.Command(pc.bin, "--id", nd.id, "--dir", nd.dir, "--raft", nd.raft, "--http", nd.http, "--peers", pc.peers)
	if nd.out == nil {
		nd.out = &lockedBuf{}
	}
	nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
	if err := nd.cmd.Start(); err != nil {
		pc.t.Fatal(err)
	}
	nd.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(nd.cmd, nd.done)
}

// kill sends SIGKILL and waits for the process to end.
func (pc *procCluster) kill(nd *procNode) {
	if nd.cmd == nil {
		return
	}
	nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
	nd.cmd = nil
}

func (pc *procCluster) status(nd *procNode) (raftstore.Status, error) {
	var st raftstore.Status
	resp, err := pc.hc.Get("http://" + nd.http + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// leader waits until a running node says it leads and returns its index.
func (pc *procCluster) leader(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		for i, nd := range pc.nodes {
			if nd.cmd == nil {
				continue
			}
			if st, err := pc.status(nd); err == nil && st.State == "Leader" {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no leader within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apply sends a command; kind is "" on success, else the X-Error-Kind
// ("no_quorum", "unknown_outcome", "other"), "refused" (node down,
// nothing sent) or "unreachable" (the answer was lost).
func (pc *procCluster) apply(nd *procNode, cmd string) (res, kind string) {
	resp, err := pc.hc.Post("http://"+nd.http+"/apply", "text/plain", strings.NewReader(cmd))
	if errors.Is(err, syscall.ECONNREFUSED) {
		return err.Error(), "refused" // the node is down: nothing sent
	}
	if err != nil {
		// The request may have reached the node before it died.
		return err.Error(), "unreachable"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), resp.Header.Get("X-Error-Kind")
	}
	return string(b), ""
}

// read returns a node's ledger; linearizable unless stale.
func (pc *procCluster) read(nd *procNode, stale bool) (raftstoretest.LedgerView, error) {
	var v raftstoretest.LedgerView
	c := "linearizable"
	if stale {
		c = "stale"
	}
	resp, err := pc.hc.Get("http://" + nd.http + "/read?consistency=" + c)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return v, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// waitAllAgree waits until every running node's stale view has the same
// puts and balance, and returns the views.
func (pc *procCluster) waitAllAgree(within time.Duration) []raftstoretest.LedgerView {
	pc.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var views []raftstoretest.LedgerView
		ok := true
		for _, nd := range pc.nodes {
			v, err := pc.read(nd, true)
			if err != nil {
				ok = false
				break
			}
			views = append(views, v)
		}
		if ok {
			for _, v := range views[1:] {
				if v.Balance != views[0].Balance || len(v.Puts) != len(views[0].Puts) || len(v.Redeemed) != len(views[0].Redeemed) {
					ok = false
				}
			}
		}
		if ok {
			return views
		}
		if time.Now().After(deadline) {
			pc.t.Fatalf("nodes do not agree within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// long reports whether the long variants of the fault tests are on.
func long() bool { return os.Getenv("RAFTSTORE_FAULT_LONG") != "" }
