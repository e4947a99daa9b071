package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterExamplesLoad: node1..node3.yaml are valid cluster configs
// that agree on peers, keyring, credentials key and join secret.
func TestClusterExamplesLoad(t *testing.T) {
	var first Broker
	for i, f := range []string{"node1.yaml", "node2.yaml", "node3.yaml"} {
		c, err := LoadBroker(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !c.Clustered() || len(c.Peers) != 3 || c.Peers[i].ID != c.NodeID || c.Peers[i].RaftAddr != c.RaftAddr {
			t.Fatalf("%s: %+v", f, c)
		}
		if i == 0 {
			first = c
			continue
		}
		if c.KeyringFile != first.KeyringFile || c.CredentialsKey != first.CredentialsKey || c.JoinSecret != first.JoinSecret {
			t.Fatalf("%s disagrees with node1.yaml on keyring, credentials key or join secret", f)
		}
	}
}

// TestClusterSettings: a cluster node needs the shared keyring and
// credentials key; peers, join URL and raft TLS are checked; each error
// names the setting.
func TestClusterSettings(t *testing.T) {
	dir := t.TempDir()
	const peers = "peers:\n  - {id: node1, raft_addr: 127.0.0.1:7901}\n  - {id: node2, raft_addr: 127.0.0.1:7902}\n"
	const shared = "keyring_file: /k.pem\ncredentials_key: " + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + "\n"
	for _, c := range []struct {
		yaml, want string
	}{
		{peers, "credentials_key is required on a cluster node"},
		{peers + "credentials_key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", "keyring_file is required on a cluster node"},
		{"join: http://127.0.0.1:7801\n" + shared, ""},
		{"join: 127.0.0.1:7801\n" + shared, "want the URL of a member"},
		{"node_id: node9\n" + peers + shared, `node_id "node9" is not in peers`},
		{"peers:\n  - {id: node1, raft_addr: 127.0.0.1:7901}\n  - {id: node1, raft_addr: 127.0.0.1:7902}\n" + shared, `"node1" is listed twice`},
		{"peers:\n  - {id: node1, raft_addr: nope}\n  - {id: node2, raft_addr: 127.0.0.1:7902}\n" + shared, "raft_addr \"nope\""},
		{"raft_tls_cert: a.pem\n", "raft_tls_cert, raft_tls_key and raft_tls_ca go together"},
		{peers + shared + "raft_tls_cert: a.pem\nraft_tls_key: a-key.pem\nraft_tls_ca: ca.pem\n", ""},
	} {
		f := filepath.Join(dir, "b.yaml")
		os.WriteFile(f, []byte(c.yaml), 0o600)
		_, err := LoadBroker(f, nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}
