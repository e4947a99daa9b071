package broker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkExpiringMetric30k scrapes the expiring, evaluation and rehost
// gauges of 30,000 devices, each with a tracked evaluation, beside the
// floor of copying the same devices out of the state (br.Devices).
func BenchmarkExpiringMetric30k(b *testing.B) {
	br := fleetBroker(b, 30000)
	b.Run("floor-copy-devices", func(b *testing.B) {
		for b.Loop() {
			if len(br.Devices("")) != 30000 {
				b.Fatal("devices")
			}
		}
	})
	c := newTempCollector(br)
	b.Run("collect", func(b *testing.B) {
		for b.Loop() {
			ch := make(chan prometheus.Metric, 64)
			go func() { c.Collect(ch); close(ch) }()
			n := 0
			for range ch {
				n++
			}
			if n == 0 {
				b.Fatal("no metrics")
			}
		}
	})
}
