package broker

// Apply functions for tenants, tokens and credential profiles.

func (a *applier) tenantCreate(p tenantCreate) (any, *APIError) {
	if _, ok := a.d.Tenants[p.Name]; ok {
		return nil, apiErr("conflict", "tenant %q already exists", p.Name)
	}
	t := &Tenant{Name: p.Name, Created: a.c.Time}
	a.d.Tenants[p.Name] = t
	a.audit(p.Name, "tenant/"+p.Name, "created tenant %s", p.Name)
	return t, nil
}

func (a *applier) tokenCreate(p tokenCreate) (any, *APIError) {
	t := p.Token
	switch t.Role {
	case RoleAdmin:
		if t.Tenant != "" {
			return nil, apiErr("bad_request", "an admin token belongs to no tenant")
		}
	case RoleOperator, RoleViewer:
		if _, ok := a.d.Tenants[t.Tenant]; !ok {
			return nil, apiErr("not_found", "tenant %q does not exist", t.Tenant)
		}
	default:
		return nil, apiErr("bad_request", "unknown role %q", t.Role)
	}
	if _, ok := a.d.Tokens[t.Hash]; ok {
		return nil, apiErr("conflict", "token already exists")
	}
	t.Created = a.c.Time
	a.d.Tokens[t.Hash] = &t
	name := ""
	if t.Name != "" {
		name = " named " + t.Name
	}
	a.audit(t.Tenant, "token/"+t.ID, "created %s token%s", t.Role, name)
	return t.info(), nil
}

func (a *applier) tokenRevoke(p tokenRevoke) (any, *APIError) {
	for _, h := range sortedKeys(a.d.Tokens) {
		t := a.d.Tokens[h]
		if t.ID == p.ID {
			delete(a.d.Tokens, h)
			a.audit(t.Tenant, "token/"+t.ID, "revoked %s token", t.Role)
			return t.info(), nil
		}
	}
	return nil, apiErr("not_found", "token %s not found", p.ID)
}

func (a *applier) credentialPut(p credentialPut) (any, *APIError) {
	cr := p.Credential
	if _, ok := a.d.Tenants[cr.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", cr.Tenant)
	}
	key := cr.Tenant + "/" + cr.Name
	verb := "added"
	if _, ok := a.d.Credentials[key]; ok {
		verb = "replaced"
	}
	a.d.Credentials[key] = &cr
	info := credInfo(&cr)
	a.audit(cr.Tenant, "credential/"+cr.Name, "%s credential profile %s (user %s, %s)", verb, cr.Name, cr.Username, info.Kind)
	return info, nil
}
