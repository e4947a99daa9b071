package broker

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

const benchPAK = "PAKBENCH001"

// redeemRecord returns a realistic activation record: a license.redeem
// command for device n (about 400 bytes).
func redeemRecord(n int, now time.Time) []byte {
	udi := fmt.Sprintf("WS-C3750E-24TD-S:FDO%08dX", n)
	lic := License{ID: fmt.Sprintf("lic-%016x", n), Tenant: DefaultTenant, UDI: udi, PAK: benchPAK, Feature: "ipservices",
		Type: "permanent", IssuedAt: now, File: []byte(fmt.Sprintf("SIG%064x", n))}
	cmd, err := newCommand(CmdRedeem, "operator:tok-0123456789abcdef", now, redeem{Tenant: DefaultTenant, PAK: benchPAK, License: lic})
	if err != nil {
		panic(err)
	}
	return cmd
}

func TestRecordSize(t *testing.T) {
	r := redeemRecord(1, time.Now())
	t.Logf("%d bytes: %s", len(r), r)
}

func BenchmarkRaftRedeem3Nodes(b *testing.B) {
	c := raftstoretest.Start(b, 3, func() raftstore.StateMachine { return NewState() }, nil)
	l := c.Nodes[c.Leader()]
	ctx := context.Background()
	now := time.Now().UTC()
	mustApply := func(typ string, p any) {
		cmd, _ := newCommand(typ, "system", now, p)
		if _, err := l.Apply(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	mustApply(CmdTenantCreate, tenantCreate{Name: DefaultTenant})
	mustApply(CmdPAKAdd, pakAdd{PAK: PAK{ID: benchPAK, Tenant: DefaultTenant, Lines: []PAKLine{{Feature: "ipservices", Type: "permanent", Quantity: 1 << 40, Families: []string{"3750e"}}}}})
	recs := make([][]byte, b.N)
	for i := range recs {
		recs[i] = redeemRecord(i, now)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < benchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := l.Apply(ctx, recs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.Log(batchStats(l))
}

func BenchmarkStateApplyRedeem(b *testing.B) {
	s := NewState()
	now := time.Now().UTC()
	cmd, _ := newCommand(CmdTenantCreate, "system", now, tenantCreate{Name: DefaultTenant})
	s.Apply(1, cmd)
	cmd, _ = newCommand(CmdPAKAdd, "system", now, pakAdd{PAK: PAK{ID: benchPAK, Tenant: DefaultTenant, Lines: []PAKLine{{Feature: "ipservices", Type: "permanent", Quantity: 1 << 40, Families: []string{"3750e"}}}}})
	s.Apply(2, cmd)
	recs := make([][]byte, b.N)
	for i := range recs {
		recs[i] = redeemRecord(i, now)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Apply(uint64(i+3), recs[i])
	}
}

func batchStats(s *raftstore.Store) string {
	out := ""
	for _, c := range s.Collectors() {
		ch := make(chan prometheus.Metric, 100)
		c.Collect(ch)
		close(ch)
		for m := range ch {
			var d dto.Metric
			m.Write(&d)
			if h := d.GetHistogram(); h != nil {
				out += fmt.Sprintf("%s count=%d mean=%.4g; ", m.Desc().String()[:40], h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
			}
		}
	}
	return out
}

type nopSM struct{}

func (nopSM) Apply(index uint64, cmd []byte) []byte { return nil }
func (nopSM) Snapshot() (func(w io.Writer) error, error) {
	return func(w io.Writer) error { return nil }, nil
}
func (nopSM) Restore(r io.Reader) error { return nil }

func BenchmarkRaftNop3Nodes(b *testing.B) {
	c := raftstoretest.Start(b, 3, func() raftstore.StateMachine { return nopSM{} }, tuneEnv)
	l := c.Nodes[c.Leader()]
	ctx := context.Background()
	now := time.Now().UTC()
	recs := make([][]byte, b.N)
	for i := range recs {
		recs[i] = redeemRecord(i, now)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < benchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := l.Apply(ctx, recs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.Log(batchStats(l))
}

var benchWriters = func() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_WRITERS")); err == nil {
		return v
	}
	return 64
}()

func tuneEnv(i int, c *raftstore.Config) {
	if v, err := strconv.Atoi(os.Getenv("BENCH_INFLIGHT")); err == nil {
		c.MaxInflight = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_LINGER")); err == nil {
		c.Linger = v
	}
}
