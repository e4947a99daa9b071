package broker

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// seal encrypts a credential secret with the credentials key (AES-256-GCM,
// random nonce prepended).
func (b *Broker) seal(secret []byte) ([]byte, error) {
	blk, err := aes.NewCipher(b.cfg.CredentialsKey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, secret, nil), nil
}

func (b *Broker) open(sealed []byte) ([]byte, error) {
	blk, err := aes.NewCipher(b.cfg.CredentialsKey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("broker: sealed credential too short")
	}
	out, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("broker: cannot decrypt credential (is credentials_key the same on every node?)")
	}
	return out, nil
}

// CredentialInfo is a credential profile as the API shows it: never the
// secret.
type CredentialInfo struct {
	Name     string `json:"name"`
	Tenant   string `json:"tenant"`
	Username string `json:"username"`
	Kind     string `json:"kind"` // password | key
}

// PutCredential stores (or replaces) a named device login for a tenant.
// secret is a password, or a PEM private key when isKey.
func (b *Broker) PutCredential(ctx context.Context, actor, tenant, name, username string, secret []byte, isKey bool) (*CredentialInfo, error) {
	if err := checkName("credential name", name); err != nil {
		return nil, err
	}
	if username == "" {
		return nil, apiErr("bad_request", "credential %s: username is empty", name)
	}
	if len(secret) == 0 {
		return nil, apiErr("bad_request", "credential %s: password or key is empty", name)
	}
	if isKey {
		if _, err := ssh.ParsePrivateKey(secret); err != nil {
			return nil, apiErr("bad_request", "credential %s: key is not a usable unencrypted private key: %v", name, err)
		}
	}
	sealed, err := b.seal(secret)
	if err != nil {
		return nil, err
	}
	c := Credential{Name: name, Tenant: tenant, Username: username, Sealed: sealed, IsKey: isKey}
	if err := b.propose(ctx, actor, CmdCredentialPut, credentialPut{Credential: c}, nil); err != nil {
		return nil, err
	}
	info := credInfo(&c)
	return &info, nil
}

func credInfo(c *Credential) CredentialInfo {
	kind := "password"
	if c.IsKey {
		kind = "key"
	}
	return CredentialInfo{Name: c.Name, Tenant: c.Tenant, Username: c.Username, Kind: kind}
}

// Credentials lists a tenant's credential profiles ("" lists all).
func (b *Broker) Credentials(tenant string) []CredentialInfo {
	var out []CredentialInfo
	b.state.read(func(d *stateData) {
		for _, k := range sortedKeys(d.Credentials) {
			c := d.Credentials[k]
			if tenant == "" || c.Tenant == tenant {
				out = append(out, credInfo(c))
			}
		}
	})
	return out
}

// dialer returns a NETCONF dialer for a tenant's credential profile, with
// the broker's host key policy (hostKeyCallback).
func (b *Broker) dialer(tenant, name string) (*netconf.Dialer, error) {
	c, key, err := b.credential(tenant, name)
	if err != nil {
		return nil, err
	}
	b.dialMu.Lock()
	defer b.dialMu.Unlock()
	if d, ok := b.dialers[key]; ok {
		return d, nil
	}
	cfg, err := b.clientConfig(c)
	if err != nil {
		return nil, err
	}
	cfg.HostKeyCallback = b.hostKeyCallback()
	d := netconf.NewDialer(cfg)
	b.dialers[key] = d
	return d, nil
}

// credential returns a tenant's credential profile and a key that changes
// when the profile does.
func (b *Broker) credential(tenant, name string) (*Credential, string, error) {
	var c *Credential
	b.state.read(func(d *stateData) {
		if v, ok := d.Credentials[tenant+"/"+name]; ok {
			cp := *v
			c = &cp
		}
	})
	if c == nil {
		return nil, "", apiErr("not_found", "credential profile %q does not exist in tenant %s", name, tenant)
	}
	return c, tenant + "/" + name + "/" + HashToken(string(c.Sealed)), nil
}

// clientConfig returns the NETCONF client configuration of a credential
// profile, without a host key policy.
func (b *Broker) clientConfig(c *Credential) (netconf.ClientConfig, error) {
	secret, err := b.open(c.Sealed)
	if err != nil {
		return netconf.ClientConfig{}, err
	}
	cfg := netconf.ClientConfig{User: c.Username, DialTimeout: b.cfg.DeviceTimeout, HelloTimeout: b.cfg.DeviceTimeout,
		RPCTimeout: b.cfg.DeviceTimeout, Algorithms: b.cfg.SSHAlgorithms}
	if c.IsKey {
		signer, err := ssh.ParsePrivateKey(secret)
		if err != nil {
			return netconf.ClientConfig{}, fmt.Errorf("broker: credential %s: %w", c.Name, err)
		}
		cfg.Signer = signer
	} else {
		cfg.Password = string(secret)
	}
	return cfg, nil
}
