package broker

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
	"github.com/prometheus/client_golang/prometheus"
)

// The cluster write benchmark: 64 writers put activation records (a
// license.redeem command of about 400 bytes) into a 3-node loopback
// cluster, each writer keeping benchInflight records in flight. In one
// run it measures, with the same records and concurrency:
//
//   - raftstore: 3 raftstore nodes in process (real TCP, bolt, fsync)
//     with broker.State applying every record on every node;
//   - etcd: 3 etcd 3.4 members (Debian etcd-server) through the v3 JSON
//     gateway (POST /v3/kv/put), key = license id, value = the record;
//   - bareraft: 3 hashicorp/raft nodes (raft-boltdb, TCP transport) with
//     a no-op FSM and 50 records per entry: the floor.
//
// Each reports records/s. Run it on its own for stable numbers:
//
//	go test -run '^$' -bench ClusterWrites -benchtime 100000x ./broker
const (
	benchWriters   = 64
	benchPAK       = "PAKBENCH001"
	recordsPerBare = 50
)

// benchInflight is the records each writer keeps in flight
// (LICBROKER_BENCH_INFLIGHT, default 16).
var benchInflight = func() int {
	if v, err := strconv.Atoi(os.Getenv("LICBROKER_BENCH_INFLIGHT")); err == nil && v > 0 {
		return v
	}
	return 16
}()

// redeemRecord returns activation record n: a license.redeem command as
// the broker proposes it (the binary encoding), about 400 bytes with the
// signed license it carries. A stand-in of ~250 bytes (the size of a
// compact key; a full XML license file is ~700) keeps the record at the
// size the issue measures.
func redeemRecord(n int, now time.Time) []byte {
	udi := fmt.Sprintf("WS-C3750E-24TD-S:FDO%07dX", n)
	id := fmt.Sprintf("lic-%012x", n)
	sig := sha512.Sum512([]byte(id))
	file := fmt.Appendf(nil, "<license id=%q><udi>%s</udi><feature>ipservices</feature><type>permanent</type><pak>%s</pak><line>%s</line></license>",
		id, udi, benchPAK, base64.StdEncoding.EncodeToString(sig[:]))
	lic := License{ID: id, Tenant: DefaultTenant, UDI: udi, PAK: benchPAK, Feature: "ipservices",
		Type: "permanent", IssuedAt: now, File: file}
	cmd, err := newCommand(CmdRedeem, "operator:tok-1", now, redeem{Tenant: DefaultTenant, PAK: benchPAK, License: lic})
	if err != nil {
		panic(err)
	}
	return cmd
}

// benchSetup returns the commands that prepare a state for n records: the
// tenant, a PAK large enough and the n devices the records redeem for.
func benchSetup(n int, now time.Time) [][]byte {
	var cmds [][]byte
	add := func(typ string, p any) {
		c, err := newCommand(typ, "system", now, p)
		if err != nil {
			panic(err)
		}
		cmds = append(cmds, c)
	}
	add(CmdTenantCreate, tenantCreate{Name: DefaultTenant})
	add(CmdPAKAdd, pakAdd{PAK: PAK{ID: benchPAK, Tenant: DefaultTenant, Lines: []PAKLine{{Feature: "ipservices",
		Type: "permanent", Quantity: n + 1, Families: []string{"3750e"}}}}})
	for i := 0; i < n; i += 500 {
		var devs []Device
		for k := i; k < min(i+500, n); k++ {
			udi := fmt.Sprintf("WS-C3750E-24TD-S:FDO%07dX", k)
			devs = append(devs, Device{UDI: udi, PID: "WS-C3750E-24TD-S", Serial: udi[17:], Tenant: DefaultTenant,
				Family: "3750e", Address: "127.1.0.1", ActiveLevel: "ipbase"})
		}
		add(CmdDevicesUpsert, devicesUpsert{Devices: devs})
	}
	return cmds
}

func makeRecords(n int) [][]byte {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = redeemRecord(i, now)
	}
	return recs
}

// drive runs benchWriters*benchInflight goroutines that call put for
// records 0..n-1 and reports records/s.
func drive(b *testing.B, n int, put func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	stopProfile := profileDrive(b)
	defer stopProfile()
	var gc0 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	b.ResetTimer()
	start := time.Now()
	for range benchWriters * benchInflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := put(i); err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("record %d: %v", i, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	var gc1 runtime.MemStats
	runtime.ReadMemStats(&gc1)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
	// In-process clusters share one heap: GC cycles while measuring (and
	// their count varies run to run) weigh on the result.
	b.Logf("%d records in %v; in the process: %d GC cycles, %d MB allocated, heap %d MB",
		n, elapsed.Round(time.Millisecond), gc1.NumGC-gc0.NumGC, (gc1.TotalAlloc-gc0.TotalAlloc)>>20, gc1.HeapAlloc>>20)
}

// profileDrive writes a CPU profile of the measured part alone (not the
// setup) to $LICBROKER_BENCH_CPUPROFILE.<benchmark name>, when set.
func profileDrive(b *testing.B) func() {
	path := os.Getenv("LICBROKER_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + strings.ReplaceAll(b.Name(), "/", "_"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func BenchmarkClusterWrites(b *testing.B) {
	b.Run("raftstore", benchRaftstore)
	b.Run("etcd", benchEtcd)
	b.Run("bareraft", benchBareRaft)
}

func benchRaftstore(b *testing.B) {
	c := raftstoretest.Start(b, 3, func() raftstore.StateMachine { return NewState() }, func(i int, c *raftstore.Config) {
		if v, err := strconv.Atoi(os.Getenv("LICBROKER_BENCH_MAXINFLIGHT")); err == nil {
			c.MaxInflight = v
		}
	})
	l := c.Nodes[c.Leader()]
	ctx := context.Background()
	now := time.Now().UTC()
	for _, cmd := range benchSetup(b.N, now) {
		if _, err := l.Apply(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	recs := makeRecords(b.N)
	drive(b, b.N, func(i int) error {
		res, err := l.Apply(ctx, recs[i])
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(res, []byte(`{"data":`)) || bytes.Contains(res, []byte(`"existing":true`)) {
			return fmt.Errorf("result %.200s", res)
		}
		return nil
	})
	for i, n := range c.Nodes {
		b.Logf("%s: %s", c.Cfgs[i].NodeID, storeStats(n))
	}
}

// benchBareRaft is the floor: hashicorp/raft alone, 50 records an entry.
func benchBareRaft(b *testing.B) {
	rafts := startBareRaft(b, 3)
	var leader *raft.Raft
	deadline := time.Now().Add(10 * time.Second)
	for leader == nil && time.Now().Before(deadline) {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if leader == nil {
		b.Fatal("bare raft: no leader")
	}
	recs := makeRecords(recordsPerBare)
	var entry []byte
	for _, r := range recs {
		entry = append(entry, r...)
	}
	entries := (b.N + recordsPerBare - 1) / recordsPerBare
	// One writer per entry in flight: 64 writers, like the others.
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(entries) {
				if err := leader.Apply(entry, 10*time.Second).Error(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(entries*recordsPerBare)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnap{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnap struct{}

func (nopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnap) Release()                          {}

func startBareRaft(b *testing.B, n int) []*raft.Raft {
	var servers []raft.Server
	var trans []*raft.NetworkTransport
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: io.Discard})
	for i := range n {
		t, err := raft.NewTCPTransportWithLogger(raftstoretest.FreeAddr(b), nil, 3, 10*time.Second, logger)
		if err != nil {
			b.Fatal(err)
		}
		trans = append(trans, t)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint(i)), Address: t.LocalAddr()})
	}
	var rafts []*raft.Raft
	dir := b.TempDir()
	for i := range n {
		c := raft.DefaultConfig()
		c.LocalID = servers[i].ID
		c.Logger = logger
		c.BatchApplyCh = true
		c.MaxAppendEntries = 256
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, fmt.Sprintf("raft%d.db", i))})
		if err != nil {
			b.Fatal(err)
		}
		snaps := raft.NewInmemSnapshotStore()
		r, err := raft.NewRaft(c, nopFSM{}, bolt, bolt, snaps, trans[i])
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			r.BootstrapCluster(raft.Configuration{Servers: servers})
		}
		rafts = append(rafts, r)
		b.Cleanup(func() {
			r.Shutdown().Error()
			trans[i].Close()
			bolt.Close()
		})
	}
	return rafts
}

func TestBenchRecordSize(t *testing.T) {
	r := makeRecords(1)[0]
	if len(r) < 350 || len(r) > 450 {
		t.Fatalf("benchmark record is %d bytes, want about 400: %s", len(r), r)
	}
}

// storeStats summarises a store's batch and latency histograms.
func storeStats(s *raftstore.Store) string {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, _ := reg.Gather()
	out := ""
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				out += fmt.Sprintf("%s: n=%d mean=%.4g sum=%.3g; ", mf.GetName(), h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()), h.GetSampleSum())
			}
		}
	}
	return out
}

// BenchmarkStateApplyBatch measures broker.State applying activation
// records: Apply one by one, and ApplyBatch 64 at a time with and without
// results (a follower needs none).
func BenchmarkStateApplyBatch(b *testing.B) {
	fresh := func(n int) *State {
		s := NewState()
		for i, c := range benchSetup(n, time.Now().UTC()) {
			s.Apply(uint64(i+1), c)
		}
		return s
	}
	for _, want := range []bool{true, false} {
		b.Run(fmt.Sprintf("batch-results=%v", want), func(b *testing.B) {
			s, recs := fresh(b.N), makeRecords(b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				s.ApplyBatch(uint64(i+1<<20), recs[i:min(i+64, b.N)], want)
			}
		})
	}
	b.Run("apply", func(b *testing.B) {
		s, recs := fresh(b.N), makeRecords(b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.Apply(uint64(i+1<<20), recs[i])
		}
	})
}
