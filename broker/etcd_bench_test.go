package broker

import (
	"bytes"
	"encoding/base64"
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

	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

// etcdBin is the Debian etcd-server binary the benchmark compares with.
const etcdBin = "/usr/bin/etcd"

// benchEtcd puts the same records into a 3-member etcd 3.4 cluster on
// loopback through its v3 JSON gateway (plain HTTP, so no etcd client
// library is needed), writing to the leader like the raftstore run.
func benchEtcd(b *testing.B) {
	if _, err := os.Stat(etcdBin); err != nil {
		b.Fatalf("%s is missing: install the Debian package etcd-server (apt-get install etcd-server)", etcdBin)
	}
	clients := startEtcd(b, 3)
	leader := etcdLeader(b, clients)
	recs := makeRecords(b.N)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: benchWriters * benchInflight, MaxConnsPerHost: benchWriters * benchInflight}}
	url := leader + "/v3/kv/put"
	drive(b, b.N, func(i int) error {
		body, _ := json.Marshal(map[string]string{
			"key":   base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "/licenses/lic-%012x", i)),
			"value": base64.StdEncoding.EncodeToString(recs[i]),
		})
		resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"revision"`)) {
			return fmt.Errorf("etcd put: %s %.200s", resp.Status, out)
		}
		return nil
	})
}

// startEtcd starts n etcd members on random loopback addresses and
// returns their client URLs once all are healthy.
func startEtcd(b *testing.B, n int) []string {
	dir := b.TempDir()
	type member struct{ name, peer, client string }
	var ms []member
	var initial []string
	for i := range n {
		m := member{name: fmt.Sprintf("e%d", i+1), peer: "http://" + raftstoretest.FreeAddr(b), client: "http://" + raftstoretest.FreeAddr(b)}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	var clients []string
	for _, m := range ms {
		var out bytes.Buffer
		cmd := exec.Command(etcdBin, "--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "licbroker-bench", "--log-level", "error", "--logger", "zap",
			"--quota-backend-bytes", fmt.Sprint(8<<30))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			b.Fatalf("starting etcd: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		b.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		clients = append(clients, m.client)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range clients {
		for {
			resp, err := http.Get(c + "/health")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if bytes.Contains(body, []byte(`"true"`)) {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("etcd member %s not healthy", c)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return clients
}

// etcdLeader returns the client URL of the member that leads.
func etcdLeader(b *testing.B, clients []string) string {
	for range 100 {
		for _, c := range clients {
			resp, err := http.Post(c+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
			if err != nil {
				continue
			}
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Leader != "" && st.Leader == st.Header.MemberID {
				return c
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatal("etcd: no leader")
	return ""
}
