package broker

// Apply functions for licensing policies.

func (a *applier) policyPut(p policyPut) (any, *APIError) {
	pol := p.Policy
	if _, ok := a.d.Tenants[pol.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", pol.Tenant)
	}
	for _, id := range pol.PAKs {
		if pk, ok := a.d.PAKs[id]; !ok || pk.Tenant != pol.Tenant {
			return nil, apiErr("not_found", "PAK %s not found", id)
		}
	}
	key := pol.Tenant + "/" + pol.Name
	verb := "added"
	pol.Created = a.c.Time
	if old, ok := a.d.Policies[key]; ok {
		verb = "replaced"
		pol.Created = old.Created
	}
	pol.Updated = a.c.Time
	a.d.Policies[key] = &pol
	action := "deploy"
	if pol.StoreOnly {
		action = "store"
	}
	a.audit(pol.Tenant, "policy/"+pol.Name, "%s policy %s: %s %s from %s for devices %s, %s", verb, pol.Name,
		pol.Feature, orNone(pol.Type), pakList(pol.PAKs), filterText(pol.Devices), action)
	return pol, nil
}

func (a *applier) policyDelete(p policyDelete) (any, *APIError) {
	key := p.Tenant + "/" + p.Name
	pol, ok := a.d.Policies[key]
	if !ok {
		return nil, apiErr("not_found", "policy %s not found", p.Name)
	}
	delete(a.d.Policies, key)
	a.audit(pol.Tenant, "policy/"+pol.Name, "deleted policy %s", pol.Name)
	return *pol, nil
}

func pakList(ids []string) string {
	if len(ids) == 0 {
		return "any PAK"
	}
	s := "PAK"
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += " " + id
	}
	return s
}

// filterText describes a device filter, e.g. "family 3750e, group core".
func filterText(f DeviceFilter) string {
	s := ""
	for _, kv := range [][2]string{{"family", f.Family}, {"group", f.Group}, {"pid", f.PID + "*"}} {
		if kv[1] == "" || kv[1] == "*" {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += kv[0] + " " + kv[1]
	}
	if s == "" {
		return "(all)"
	}
	return s
}
