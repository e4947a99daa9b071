package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HashToken returns the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// HasToken reports whether a token secret is known.
func (b *Broker) HasToken(secret string) bool {
	return b.tokenFor(secret) != nil
}

// tokenFor returns a copy of the token with this secret, or nil.
func (b *Broker) tokenFor(secret string) *Token {
	var t *Token
	h := HashToken(secret)
	b.state.read(func(d *stateData) {
		if v, ok := d.Tokens[h]; ok {
			cp := *v
			t = &cp
		}
	})
	return t
}

// CreateToken makes a new API token and returns its secret (shown once;
// only its hash is stored). Admin tokens belong to no tenant.
func (b *Broker) CreateToken(ctx context.Context, actor, tenant, role string) (string, *Token, error) {
	return b.CreateNamedToken(ctx, actor, tenant, role, "")
}

// CreateNamedToken is CreateToken with a name that the audit log shows.
func (b *Broker) CreateNamedToken(ctx context.Context, actor, tenant, role, name string) (string, *Token, error) {
	switch role {
	case RoleAdmin:
		if tenant != "" {
			return "", nil, apiErr("bad_request", "an admin token belongs to no tenant; drop --tenant")
		}
	case RoleOperator, RoleViewer:
		if tenant == "" {
			return "", nil, apiErr("bad_request", "a %s token needs a tenant (--tenant)", role)
		}
		if !b.tenantExists(tenant) {
			return "", nil, apiErr("not_found", "tenant %q does not exist", tenant)
		}
	default:
		return "", nil, apiErr("bad_request", "unknown role %q (want admin, operator or viewer)", role)
	}
	if name != "" {
		if err := checkName("token name", name); err != nil {
			return "", nil, err
		}
	}
	var raw [24]byte
	rand.Read(raw[:])
	secret := "lb_" + hex.EncodeToString(raw[:])
	t := Token{ID: newID("tok-"), Hash: HashToken(secret), Role: role, Tenant: tenant, Name: name}
	var info TokenInfo
	if err := b.propose(ctx, actor, CmdTokenCreate, tokenCreate{Token: t}, &info); err != nil {
		return "", nil, err
	}
	t.Created = info.Created
	return secret, &t, nil
}

// Tokens lists tokens (never secrets or hashes); tenant "" lists all.
func (b *Broker) Tokens(tenant string) []TokenInfo {
	var out []TokenInfo
	b.state.read(func(d *stateData) {
		for _, t := range d.Tokens {
			if tenant == "" || t.Tenant == tenant {
				out = append(out, t.info())
			}
		}
	})
	sortBy(out, func(t TokenInfo) string { return t.ID })
	return out
}

// RevokeToken deletes a token; requests with it fail from then on.
func (b *Broker) RevokeToken(ctx context.Context, actor, id string) (*TokenInfo, error) {
	if !strings.HasPrefix(id, "tok-") {
		return nil, apiErr("bad_request", "invalid token id %q (want tok-...)", id)
	}
	var out TokenInfo
	if err := b.propose(ctx, actor, CmdTokenRevoke, tokenRevoke{ID: id}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
