package broker

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics counts and times API requests by route pattern (bounded
// cardinality: never the raw path).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licbroker_http_requests_total",
			Help: "API requests by route pattern and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "licbroker_http_request_duration_seconds",
			Help: "API request latency by route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"route"}),
	}
}

func (m *httpMetrics) observe(r *http.Request, code int, d time.Duration) {
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// stateCollector exports totals of the replicated state at scrape time.
// It has no per-tenant labels: /metrics is unauthenticated and must not
// tell one customer about another.
type stateCollector struct {
	b                                    *Broker
	tenants, devices, licenses, pakUnits *prometheus.Desc
	jobs, spares, audit, applied         *prometheus.Desc
}

func newStateCollector(b *Broker) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("licbroker_"+name, help, labels, nil)
	}
	return &stateCollector{b: b,
		tenants:  d("tenants", "Tenants."),
		devices:  d("devices", "Devices in inventory."),
		licenses: d("licenses", "License records by state.", "state"),
		pakUnits: d("pak_units", "PAK units over all lines: quantity bought, used and remaining.", "kind"),
		jobs:     d("jobs", "Jobs by state.", "state"),
		spares:   d("spares", "Depot spares by state.", "state"),
		audit:    d("audit_entries", "Audit entries held."),
		applied:  d("state_applied_index", "Log index of the last command applied to this node's state."),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tenants, c.devices, c.licenses, c.pakUnits, c.jobs, c.spares, c.audit, c.applied} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	lic := map[string]int{LicenseIssued: 0, LicenseInstalled: 0, LicenseRevoked: 0, LicenseRehosted: 0}
	jobs := map[string]int{JobRunning: 0, JobDone: 0, JobFailed: 0, JobCancelled: 0}
	spares := map[string]int{SpareStocked: 0, SpareAssigned: 0}
	var qty, used, tenants, devices, audit int
	var index uint64
	c.b.state.read(func(d *stateData) {
		tenants, devices, audit, index = len(d.Tenants), len(d.Devices), d.Audit.len(), d.Index
		for _, l := range d.Licenses {
			lic[l.State]++
		}
		for _, p := range d.PAKs {
			for _, l := range p.Lines {
				qty += l.Quantity
				used += l.Used
			}
		}
		for _, j := range d.Jobs {
			jobs[j.State]++
		}
		for _, s := range d.Spares {
			spares[s.State]++
		}
	})
	g := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	g(c.tenants, tenants)
	g(c.devices, devices)
	g(c.audit, audit)
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(index))
	for s, n := range lic {
		g(c.licenses, n, s)
	}
	for s, n := range jobs {
		g(c.jobs, n, s)
	}
	for s, n := range spares {
		g(c.spares, n, s)
	}
	g(c.pakUnits, qty, "quantity")
	g(c.pakUnits, used, "used")
	g(c.pakUnits, qty-used, "remaining")
}
