package configs

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// Peer is one member of a cluster named in configuration.
type Peer struct {
	ID       string `mapstructure:"id"`
	RaftAddr string `mapstructure:"raft_addr"`
	HTTPAddr string `mapstructure:"http_addr"`
}

// Broker is the configuration of one licbroker node.
type Broker struct {
	NodeID        string `mapstructure:"node_id"`
	DataDir       string `mapstructure:"data_dir"`
	HTTPAddr      string `mapstructure:"http_addr"`
	RaftAddr      string `mapstructure:"raft_addr"`
	RaftAdvertise string `mapstructure:"raft_advertise"`
	// Bootstrap forms a new cluster of this node plus Peers when the node
	// has no Raft state yet.
	Bootstrap bool   `mapstructure:"bootstrap"`
	Peers     []Peer `mapstructure:"peers"`
	// Join is the HTTP URL of a cluster member to join at first start.
	Join string `mapstructure:"join"`
	// JoinSecret lets a node listed in Peers join without the admin
	// token; members accept it from such nodes only.
	JoinSecret string `mapstructure:"join_secret"`
	// CredentialsKey (64 hex characters) encrypts device credentials; all
	// nodes of a cluster need the same, so a cluster node must set it.
	// Empty on a single node: a key is generated in the data directory.
	CredentialsKey string `mapstructure:"credentials_key"`
	// KeyringFile is the signing keyring. Empty on a single node:
	// <data_dir>/keys/keyring.pem, created on first start. A cluster node
	// must name a file that exists (the same keyring copied to every
	// node); it is never created for a cluster.
	KeyringFile string `mapstructure:"keyring_file"`
	// RaftTLSCert, RaftTLSKey and RaftTLSCA (PEM files) turn on mutual
	// TLS between nodes: all three or none.
	RaftTLSCert string `mapstructure:"raft_tls_cert"`
	RaftTLSKey  string `mapstructure:"raft_tls_key"`
	RaftTLSCA   string `mapstructure:"raft_tls_ca"`
	// NetconfPort is the devices' NETCONF port when a discovery names none
	// (default 830).
	NetconfPort       int           `mapstructure:"netconf_port"`
	DeviceConcurrency int           `mapstructure:"device_concurrency"`
	DeviceTimeout     time.Duration `mapstructure:"device_timeout"`
	// RefreshInterval re-reads every device that often (0: never on a
	// schedule).
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// JobAttempts is how often a job tries a device whose failure may pass
	// (timeout, dropped session); JobRetryBackoff is the first wait
	// between tries, doubled each time.
	JobAttempts     int           `mapstructure:"job_attempts"`
	JobRetryBackoff time.Duration `mapstructure:"job_retry_backoff"`
	LogLevel        string        `mapstructure:"log_level"`
	// TLSCertFile and TLSKeyFile (PEM) make the API serve HTTPS; both or
	// neither.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`
	// APIMaxBodyBytes bounds a request body (default 1 MiB).
	APIMaxBodyBytes int64 `mapstructure:"api_max_body_bytes"`
	// SSHKeyExchanges, SSHCiphers, SSHMACs and SSHHostKeyAlgorithms
	// restrict the SSH algorithms the broker offers devices, each in order
	// of preference (empty: x/crypto/ssh's defaults, the post-quantum
	// hybrid key exchange first). The broker refuses names that
	// x/crypto/ssh does not implement or lists as insecure.
	SSHKeyExchanges      []string `mapstructure:"ssh_key_exchanges"`
	SSHCiphers           []string `mapstructure:"ssh_ciphers"`
	SSHMACs              []string `mapstructure:"ssh_macs"`
	SSHHostKeyAlgorithms []string `mapstructure:"ssh_host_key_algorithms"`
	// LegacyLogFormat makes the node propose every command as JSON and
	// store log entries uncompressed, the forms nodes of versions before
	// the binary redemption command and S2-compressed entries can read.
	// Set it on every node during a rolling upgrade from such a version,
	// clear it once all nodes run this one. Every version reads both forms.
	LegacyLogFormat bool `mapstructure:"legacy_log_format"`
}

var brokerDefaults = map[string]any{
	"node_id":                 "node1",
	"data_dir":                "./data",
	"http_addr":               "127.0.0.1:7800",
	"raft_addr":               "127.0.0.1:7900",
	"raft_advertise":          "",
	"bootstrap":               true,
	"peers":                   []Peer{},
	"join":                    "",
	"join_secret":             "",
	"credentials_key":         "",
	"keyring_file":            "",
	"raft_tls_cert":           "",
	"raft_tls_key":            "",
	"raft_tls_ca":             "",
	"netconf_port":            830,
	"device_concurrency":      64,
	"device_timeout":          30 * time.Second,
	"refresh_interval":        time.Duration(0),
	"job_attempts":            3,
	"job_retry_backoff":       time.Second,
	"log_level":               "info",
	"tls_cert_file":           "",
	"tls_key_file":            "",
	"api_max_body_bytes":      1 << 20,
	"ssh_key_exchanges":       []string{},
	"ssh_ciphers":             []string{},
	"ssh_macs":                []string{},
	"ssh_host_key_algorithms": []string{},
	"legacy_log_format":       false,
}

var brokerFlags = map[string]string{
	"data-dir":  "data_dir",
	"http-addr": "http_addr",
	"raft-addr": "raft_addr",
	"node-id":   "node_id",
	"bootstrap": "bootstrap",
	"join":      "join",
}

// LoadBroker reads a node's configuration: defaults, the file at path (may
// be empty), LICBROKER_* environment variables, then the flags of `serve`
// that were set.
func LoadBroker(path string, flags *pflag.FlagSet) (Broker, error) {
	var c Broker
	if err := load(path, "LICBROKER", brokerDefaults, flags, brokerFlags, &c); err != nil {
		return Broker{}, err
	}
	return c, c.Validate()
}

// Validate checks a broker configuration.
func (c Broker) Validate() error {
	if c.NodeID == "" {
		return fmt.Errorf("configs: node_id is empty")
	}
	if c.DataDir == "" {
		return fmt.Errorf("configs: data_dir is empty")
	}
	for name, a := range map[string]string{"http_addr": c.HTTPAddr, "raft_addr": c.RaftAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("configs: %s %q: want HOST:PORT", name, a)
		}
	}
	if c.CredentialsKey != "" {
		k, err := hex.DecodeString(c.CredentialsKey)
		if err != nil || len(k) != 32 {
			return fmt.Errorf("configs: credentials_key must be 64 hex characters (32 bytes)")
		}
	}
	if c.NetconfPort < 1 || c.NetconfPort > 65535 {
		return fmt.Errorf("configs: netconf_port %d is out of range 1-65535", c.NetconfPort)
	}
	if c.DeviceConcurrency < 1 || c.DeviceConcurrency > 10000 {
		return fmt.Errorf("configs: device_concurrency %d must be between 1 and 10000", c.DeviceConcurrency)
	}
	if c.DeviceTimeout < time.Second {
		return fmt.Errorf("configs: device_timeout %s is shorter than 1s", c.DeviceTimeout)
	}
	if c.RefreshInterval != 0 && c.RefreshInterval < time.Second {
		return fmt.Errorf("configs: refresh_interval %s: want 0 (off) or at least 1s", c.RefreshInterval)
	}
	if c.JobAttempts < 1 || c.JobAttempts > 10 {
		return fmt.Errorf("configs: job_attempts %d must be between 1 and 10", c.JobAttempts)
	}
	if c.JobRetryBackoff < 10*time.Millisecond || c.JobRetryBackoff > time.Minute {
		return fmt.Errorf("configs: job_retry_backoff %s must be between 10ms and 1m", c.JobRetryBackoff)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("configs: tls_cert_file and tls_key_file go together; give both or neither")
	}
	for _, f := range []string{c.TLSCertFile, c.TLSKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("configs: TLS file %s: %w", f, errors.Unwrap(err))
		}
	}
	if c.APIMaxBodyBytes < 1024 || c.APIMaxBodyBytes > 64<<20 {
		return fmt.Errorf("configs: api_max_body_bytes %d must be between 1024 and 67108864", c.APIMaxBodyBytes)
	}
	return c.validateCluster()
}

// Clustered reports whether the node is (or will be) one of several: it
// names other peers or joins a cluster.
func (c Broker) Clustered() bool {
	return c.Join != "" || len(c.Peers) > 1
}

func (c Broker) validateCluster() error {
	seen := map[string]bool{}
	self := false
	for i, p := range c.Peers {
		if p.ID == "" || p.RaftAddr == "" {
			return fmt.Errorf("configs: peers[%d]: id and raft_addr are required", i)
		}
		if seen[p.ID] {
			return fmt.Errorf("configs: peers: node id %q is listed twice", p.ID)
		}
		seen[p.ID] = true
		if _, _, err := net.SplitHostPort(p.RaftAddr); err != nil {
			return fmt.Errorf("configs: peers[%d] (%s): raft_addr %q: want HOST:PORT", i, p.ID, p.RaftAddr)
		}
		self = self || p.ID == c.NodeID
	}
	if len(c.Peers) > 0 && c.Bootstrap && c.Join == "" && !self {
		return fmt.Errorf("configs: node_id %q is not in peers; a bootstrapping node must be one of them", c.NodeID)
	}
	if c.Join != "" {
		u, err := url.Parse(c.Join)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("configs: join %q: want the URL of a member, like http://127.0.0.1:7801", c.Join)
		}
	}
	n := 0
	for _, f := range []string{c.RaftTLSCert, c.RaftTLSKey, c.RaftTLSCA} {
		if f != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		return fmt.Errorf("configs: raft_tls_cert, raft_tls_key and raft_tls_ca go together: set all three or none")
	}
	if c.Clustered() {
		if c.CredentialsKey == "" {
			return fmt.Errorf("configs: credentials_key is required on a cluster node (every node needs the same 64 hex characters; make one with: openssl rand -hex 32)")
		}
		if c.KeyringFile == "" {
			return fmt.Errorf("configs: keyring_file is required on a cluster node (every node signs with the same keyring: create it once with `licbroker key init --data-dir DIR` and copy DIR/keys/keyring.pem to each node)")
		}
	}
	return nil
}
