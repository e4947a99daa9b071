package broker

import (
	"fmt"
	"slices"
	"strings"
)

// Apply functions for devices and groups.

func (a *applier) devicesUpsert(p devicesUpsert) (any, *APIError) {
	for i := range p.Devices {
		if _, ok := a.d.Tenants[p.Devices[i].Tenant]; !ok {
			return nil, apiErr("not_found", "tenant %q does not exist", p.Devices[i].Tenant)
		}
	}
	var res upsertResult
	for i := range p.Devices {
		d := p.Devices[i]
		if d.Licenses == nil {
			d.Licenses = []DeviceLicense{}
		}
		if d.Levels == nil {
			d.Levels = []string{}
		}
		old, ok := a.d.Devices[d.UDI]
		if !ok {
			d.Groups = []string{}
			d.ReplacedBy = ""
			a.d.Devices[d.UDI] = &d
			a.trackEvaluations(&d)
			res.Added++
			a.audit(d.Tenant, "device/"+d.UDI, "discovered at %s: %s, software %s, level %s, %d licenses",
				d.Address, d.PID, d.SoftwareVersion, d.ActiveLevel, len(d.Licenses))
			continue
		}
		if old.Tenant != d.Tenant {
			// A device belongs to one tenant; never move it silently.
			res.Conflicts = append(res.Conflicts, d.UDI)
			continue
		}
		// Groups change only through device.groups, ReplacedBy only
		// through rehost.create.
		d.Groups, d.ReplacedBy = old.Groups, old.ReplacedBy
		if d.Credentials == "" {
			d.Credentials = old.Credentials
		}
		changes := deviceChanges(old, &d)
		a.d.Devices[d.UDI] = &d
		a.trackEvaluations(&d)
		if len(changes) == 0 {
			res.Unchanged++
			continue
		}
		res.Changed++
		a.audit(d.Tenant, "device/"+d.UDI, "%s", strings.Join(changes, "; "))
	}
	return res, nil
}

// deviceChanges describes what differs between two records of a device,
// ignoring when it was last seen.
func deviceChanges(old, nd *Device) []string {
	var out []string
	field := func(name, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s %s -> %s", name, orNone(a), orNone(b)))
		}
	}
	field("address", old.Address, nd.Address)
	field("software", old.SoftwareVersion, nd.SoftwareVersion)
	field("active level", old.ActiveLevel, nd.ActiveLevel)
	field("next boot level", old.NextBootLevel, nd.NextBootLevel)
	field("credentials", old.Credentials, nd.Credentials)
	key := func(l DeviceLicense) string {
		if l.ID != "" {
			return l.ID
		}
		return l.Feature + "/" + l.Type
	}
	was := map[string]DeviceLicense{}
	for _, l := range old.Licenses {
		was[key(l)] = l
	}
	is := map[string]bool{}
	for _, l := range nd.Licenses {
		k := key(l)
		is[k] = true
		if o, ok := was[k]; !ok {
			out = append(out, fmt.Sprintf("license %s (%s %s) added, %s", k, l.Feature, l.Type, l.State))
		} else if o.State != l.State {
			out = append(out, fmt.Sprintf("license %s %s -> %s", k, o.State, l.State))
		}
	}
	for _, l := range old.Licenses {
		if k := key(l); !is[k] {
			out = append(out, fmt.Sprintf("license %s (%s %s) removed", k, l.Feature, l.Type))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (a *applier) deviceGroups(p deviceGroups) (any, *APIError) {
	devs := make([]*Device, 0, len(p.UDIs))
	for _, u := range p.UDIs {
		d, ok := a.d.Devices[u]
		if !ok || (p.Tenant != "" && d.Tenant != p.Tenant) {
			return nil, apiErr("not_found", "device %s not found", u)
		}
		devs = append(devs, d)
	}
	out := make([]Device, 0, len(devs))
	for _, d := range devs {
		groups := slices.Clone(d.Groups)
		for _, g := range p.Add {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		groups = slices.DeleteFunc(groups, func(g string) bool { return slices.Contains(p.Remove, g) })
		slices.Sort(groups)
		if !slices.Equal(groups, d.Groups) {
			a.audit(d.Tenant, "device/"+d.UDI, "groups [%s] -> [%s]", strings.Join(d.Groups, " "), strings.Join(groups, " "))
			d.Groups = groups
		}
		out = append(out, *d)
	}
	return out, nil
}
