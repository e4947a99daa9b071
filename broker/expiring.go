package broker

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// expiredRunning is the period left of a time-limited license that ran
// out while the device still runs its level, until the next reload.
const expiredRunning = "expired, in use until reload"

// collectExpiring lists the time-limited licenses in opt's scope that end
// within opt.Within of now, and those that ran out but that the device
// still runs until its next reload:
//
//   - evaluations the broker tracks, ending when their usage time runs
//     out (from the period left at the last read of the device);
//   - extension licenses the broker issued, ending at the grant's end
//     date (in the state the device last reported them);
//   - extension licenses seen on a device that the broker did not issue.
//
// Devices that were rehosted away and revoked or rehosted records are left
// out. The order is the caller's.
func collectExpiring(d *stateData, opt ReportOptions, now time.Time) []ExpiringLicense {
	end := now.Add(opt.Within)
	out := []ExpiringLicense{}
	in := func(t time.Time) bool { return t.After(now) && !t.After(end) }
	// scoped returns the license's device (nil if not in inventory) and
	// whether the license is in the report's scope.
	scoped := func(tenant, udi string) (*Device, bool) {
		dev := d.Devices[udi]
		switch {
		case tenant == "" || (opt.Tenant != "" && tenant != opt.Tenant),
			opt.Group != "" && (dev == nil || !slices.Contains(dev.Groups, opt.Group)),
			dev != nil && dev.ReplacedBy != "":
			return nil, false
		}
		return dev, true
	}
	add := func(dev *Device, e ExpiringLicense) {
		if dev != nil {
			e.Address = dev.Address
		}
		out = append(out, e)
	}

	for _, ev := range d.Evaluations {
		dev, ok := scoped(ev.Tenant, ev.UDI)
		if !ok {
			continue
		}
		e := ExpiringLicense{Tenant: ev.Tenant, UDI: ev.UDI, Feature: ev.Feature, Type: "evaluation", State: ev.State, Source: "device"}
		switch {
		case ev.State == "expiredInUse":
			e.ExpiresAt, e.PeriodLeft = lastKnown(ev.EndsAt, ev.LastSeen), expiredRunning
		case (ev.State == "inUse" || ev.State == "notInUse") && ev.EndsAt != nil && !ev.EndsAt.After(end):
			// An end already past by the broker's clock is shown too: the
			// device said it was in use with time left, so it likely
			// runs out of time now.
			e.ExpiresAt, e.PeriodLeft = *ev.EndsAt, periodLeft("evaluation", ev.State, ev.EndsAt, now)
		default:
			continue
		}
		add(dev, e)
	}

	for _, l := range d.Licenses {
		if l.Type != "extension" || l.Expires == nil || (l.State != LicenseIssued && l.State != LicenseInstalled) {
			continue
		}
		dev, ok := scoped(l.Tenant, l.UDI)
		if !ok {
			continue
		}
		e := ExpiringLicense{Tenant: l.Tenant, UDI: l.UDI, ID: l.ID, Feature: l.Feature, Type: l.Type, State: l.State,
			ExpiresAt: *l.Expires, Source: "broker"}
		if dev != nil {
			if i := slices.IndexFunc(dev.Licenses, func(dl DeviceLicense) bool { return dl.ID == l.ID }); i >= 0 {
				e.State = dev.Licenses[i].State
			}
		}
		switch {
		case e.State == "expiredInUse":
			e.PeriodLeft = expiredRunning
		case in(*l.Expires):
			e.PeriodLeft = periodLeft(l.Type, e.State, l.Expires, now)
		default:
			continue
		}
		add(dev, e)
	}

	for _, dev := range d.Devices {
		if _, ok := scoped(dev.Tenant, dev.UDI); !ok {
			continue
		}
		for _, l := range dev.Licenses {
			if l.Type != "extension" || l.State == "inactive" {
				continue
			}
			if _, issued := d.Licenses[l.ID]; issued {
				continue
			}
			e := ExpiringLicense{Tenant: dev.Tenant, UDI: dev.UDI, Address: dev.Address, ID: l.ID, Feature: l.Feature,
				Type: l.Type, State: l.State, Source: "device"}
			switch {
			case l.State == "expiredInUse":
				e.ExpiresAt, e.PeriodLeft = lastKnown(l.ExpiresAt, dev.LastSeen), expiredRunning
			case l.ExpiresAt != nil && in(*l.ExpiresAt):
				e.ExpiresAt, e.PeriodLeft = *l.ExpiresAt, periodLeft(l.Type, l.State, l.ExpiresAt, now)
			default:
				continue
			}
			out = append(out, e)
		}
	}
	return out
}

// lastKnown returns *t, or else fallback.
func lastKnown(t *time.Time, fallback time.Time) time.Time {
	if t != nil {
		return *t
	}
	return fallback
}

// expiringWindows are the windows of the licbroker_licenses_expiring
// metric.
var expiringWindows = []struct {
	label string
	d     time.Duration
}{{"7d", 7 * 24 * time.Hour}, {"14d", 14 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// tempCollector exports what ends soon, rehosts and tracked evaluations at
// scrape time, with no tenant labels (/metrics is unauthenticated).
type tempCollector struct {
	b                                    *Broker
	expiring, expired, evals, rehostsDsc *prometheus.Desc
}

func newTempCollector(b *Broker) *tempCollector {
	return &tempCollector{b: b,
		expiring: prometheus.NewDesc("licbroker_licenses_expiring",
			"Evaluation and extension licenses that end within the window (7d, 14d, 30d; cumulative), by type.", []string{"type", "within"}, nil),
		expired: prometheus.NewDesc("licbroker_licenses_expired_in_use",
			"Evaluation and extension licenses that ran out while the device still runs their level (until its next reload), by type.", []string{"type"}, nil),
		evals:      prometheus.NewDesc("licbroker_evaluations", "Tracked evaluation licenses by state.", []string{"state"}, nil),
		rehostsDsc: prometheus.NewDesc("licbroker_rehosts", "Rehosts (RMA) recorded, and how many of them are installed.", []string{"kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *tempCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiring
	ch <- c.expired
	ch <- c.evals
	ch <- c.rehostsDsc
}

// Collect implements prometheus.Collector.
func (c *tempCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.b.now()
	last := expiringWindows[len(expiringWindows)-1].d
	types := []string{"evaluation", "extension"}
	within := map[string][]int{"evaluation": make([]int, len(expiringWindows)), "extension": make([]int, len(expiringWindows))}
	expired := map[string]int{}
	evals := map[string]int{"notInUse": 0, "inUse": 0, "expiredInUse": 0, "expiredNotInUse": 0, EvaluationReplaced: 0}
	var rehosts, installed int
	c.b.state.read(func(d *stateData) {
		for _, e := range collectExpiring(d, ReportOptions{Within: last}, now) {
			if !e.ExpiresAt.After(now) || e.PeriodLeft == expiredRunning {
				expired[e.Type]++
				continue
			}
			for i, w := range expiringWindows {
				if !e.ExpiresAt.After(now.Add(w.d)) {
					within[e.Type][i]++
				}
			}
		}
		for _, ev := range d.Evaluations {
			evals[ev.State]++
		}
		for _, rh := range d.Rehosts {
			rehosts++
			if rh.Installed != nil {
				installed++
			}
		}
	})
	g := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, t := range types {
		for i, w := range expiringWindows {
			g(c.expiring, within[t][i], t, w.label)
		}
		g(c.expired, expired[t], t)
	}
	for s, n := range evals {
		g(c.evals, n, s)
	}
	g(c.rehostsDsc, rehosts, "recorded")
	g(c.rehostsDsc, installed, "installed")
}
