package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// Host keys of replaced devices.
//
// Device sessions trust on first use (netconf.KnownHosts): the first key a
// device address presents is recorded, and a different key later is
// refused — it may be an impostor. An RMA replacement that takes the failed
// device's address presents a new key there, and the operator who asked
// for the rehost expects that. The broker lets exactly that change through,
// and nothing else:
//
//   - Only the session that installs a rehost's licenses (rehost --install)
//     tolerates a changed key: at the failed device's recorded address, or
//     at another address when the operator gives the new unit's
//     fingerprint (--host-key, read at its console). A given fingerprint
//     is checked before authenticating and admits that key only.
//   - The tolerated key is trusted only after the device, over that
//     session, reports the replacement's UDI; any other device there is
//     refused and the recorded key stays as it was.
//   - Then the approval (address, key, previous fingerprint) is committed
//     through Raft with the rehost and audited; every node's ordinary
//     sessions accept that one key at that address (hostKeyCallback) and
//     replace their recorded key with it. Any other changed key — at that
//     address later, or anywhere else — is refused as before.

// HostKeyApproval is a device host key that a rehost accepted at an
// address in place of the key recorded there.
type HostKeyApproval struct {
	Address string `json:"address"`
	// Key is the public key in SSH wire format, base64.
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
	// Previous is the fingerprint of the key it replaced.
	Previous string `json:"previous,omitempty"`
	// UDI is the replacement that presented the key; Rehost the failed
	// device whose rehost approved it.
	UDI      string    `json:"udi"`
	Rehost   string    `json:"rehost"`
	Approved time.Time `json:"approved"`
}

// hostKeyCallback is the host key policy of every device session: trust
// on first use, and a changed key only where a rehost approved exactly it.
func (b *Broker) hostKeyCallback() ssh.HostKeyCallback {
	inner := b.cfg.KnownHosts.Callback()
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := inner(hostname, remote, key)
		var changed *netconf.HostKeyChangedError
		if !errors.As(err, &changed) || !b.approvedHostKey(changed.Host, key) {
			return err
		}
		return b.adoptHostKey(changed.Host, key)
	}
}

// approvedHostKey reports whether a rehost approved key at addr.
func (b *Broker) approvedHostKey(addr string, key ssh.PublicKey) bool {
	ok := false
	wire := base64.StdEncoding.EncodeToString(key.Marshal())
	b.state.read(func(d *stateData) {
		if hk, found := d.HostKeys[addr]; found {
			ok = hk.Key == wire
		}
	})
	return ok
}

// adoptHostKey replaces the key recorded for addr in this node's known
// hosts with key.
func (b *Broker) adoptHostKey(addr string, key ssh.PublicKey) error {
	if err := b.cfg.KnownHosts.Forget(addr); err != nil {
		return err
	}
	b.cfg.Logger.Warn("device host key replaced after a rehost", "address", addr, "fingerprint", ssh.FingerprintSHA256(key))
	return b.cfg.KnownHosts.Callback()(addr, nil, key)
}

// rehostHostKeys is the host key policy of the session that installs a
// rehost's licenses on the replacement at addr. See the comment at the top
// of this file.
type rehostHostKeys struct {
	b *Broker
	// addr tolerates a changed key when it is the failed device's address.
	addr     string
	tolerate bool
	// pin, if set, is the only fingerprint accepted.
	pin string
	// offered and previous are set when a changed key was tolerated (by
	// the SSH handshake's goroutine).
	mu       sync.Mutex
	offered  ssh.PublicKey
	previous string
}

func (h *rehostHostKeys) callback() ssh.HostKeyCallback {
	inner := h.b.hostKeyCallback()
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if fp := ssh.FingerprintSHA256(key); h.pin != "" && fp != h.pin {
			return fmt.Errorf("%w: %s presented %s, not %s", errHostKeyPin, h.addr, fp, h.pin)
		}
		err := inner(hostname, remote, key)
		var changed *netconf.HostKeyChangedError
		if errors.As(err, &changed) && h.tolerate && changed.Host == h.addr {
			h.mu.Lock()
			h.offered, h.previous = key, changed.Known
			h.mu.Unlock()
			return nil
		}
		return err
	}
}

// approval returns the approval of the tolerated key, or nil when the
// device presented the key already recorded (or a first one).
func (h *rehostHostKeys) approval() *HostKeyApproval {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.offered == nil {
		return nil
	}
	return &HostKeyApproval{Address: h.addr, Key: base64.StdEncoding.EncodeToString(h.offered.Marshal()),
		Fingerprint: ssh.FingerprintSHA256(h.offered), Previous: h.previous}
}
