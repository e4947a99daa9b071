package devicesim_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"golang.org/x/crypto/ssh"
)

// benchDevices is the fleet size of the benchmarks: 30,000 unless
// DEVICESIM_BENCH_DEVICES says otherwise.
func benchDevices(b *testing.B) int {
	if s := os.Getenv("DEVICESIM_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("DEVICESIM_BENCH_DEVICES=%q is not a positive number", s)
		}
		return n
	}
	return 30000
}

// startBenchFleet builds and serves a fleet of n devices on a random
// 127.x.0.0/16 block and a free port.
func startBenchFleet(b *testing.B, n int) *devicesim.Fleet {
	b.Helper()
	f, err := devicesim.NewFleet(devicesim.FleetConfig{Count: n, FirstAddress: netipAddr(fmt.Sprintf("127.%d.0.1", 10+mrand.IntN(241)))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	if err := f.StartOn(ln); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkFleetStart measures the time from nothing to a fleet of 30,000
// devices listening (target: under 3 s), and checks that the last device
// answers.
func BenchmarkFleetStart(b *testing.B) {
	n := benchDevices(b)
	for b.Loop() {
		f := startBenchFleet(b, n)
		b.StopTimer()
		c, err := netconf.Dial(context.Background(), f.Devices()[n-1].Address(), benchClientConfig())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Identity(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.Close()
		f.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "devices")
}

// BenchmarkFleetRestart measures a process restart of a 30,000-device
// fleet whose every device has a state file (each has a license installed
// and was reloaded): from the state directory to listening.
func BenchmarkFleetRestart(b *testing.B) {
	n := benchDevices(b)
	dir := b.TempDir()
	first := netipAddr(fmt.Sprintf("127.%d.0.1", 10+mrand.IntN(241)))
	l := &lab{kr: mustKeyring(b)}
	cfg := devicesim.FleetConfig{Count: n, FirstAddress: first, StateDir: dir, Trust: l.kr.TrustStore()}
	f, err := devicesim.NewFleet(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range f.Devices() {
		lic, err := l.kr.Sign(keyengine.Grant{ID: "B" + strconv.Itoa(d.Index), UDI: d.UDI(), Feature: d.Family().Levels[1],
			Type: keyengine.Permanent, IssuedAt: time.Now(), NotBefore: time.Now().Add(-time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		if r := d.Install(keyengine.EncodeFile([]keyengine.License{lic})); r[0].Status != devicesim.StatusInstalled {
			b.Fatalf("install: %+v", r)
		}
		if err := d.Reload(); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	for b.Loop() {
		g, err := devicesim.NewFleet(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			b.Fatal(err)
		}
		if err := g.StartOn(ln); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if d := g.Devices()[n-1]; d.ActiveLevel() != d.Family().Levels[1] {
			b.Fatalf("device %d not restored: %s", n-1, d.ActiveLevel())
		}
		g.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "devices")
}

func mustKeyring(b *testing.B) *keyengine.Keyring {
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return kr
}

func benchClientConfig() netconf.ClientConfig {
	return netconf.ClientConfig{User: "admin", Password: "admin", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
}

// memNow returns the process's resident set (VmRSS) and the Go heap in
// use, after a full collection.
func memNow(b *testing.B) (rss, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		b.Fatal("no VmRSS in /proc/self/status")
	}
	kb, _ := strconv.ParseUint(string(m[1]), 10, 64)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return kb << 10, ms.HeapAlloc
}

// BenchmarkIdleMemory measures resident memory and Go heap per idle device
// of a served 30,000-device fleet (target: under 8 KiB RSS per device),
// against the process's own baseline taken in the same run: once right
// after start, once after every device's host key has been derived (as
// after one connection to each).
func BenchmarkIdleMemory(b *testing.B) {
	n := benchDevices(b)
	for b.Loop() {
		rss0, heap0 := memNow(b)
		f := startBenchFleet(b, n)
		rss1, heap1 := memNow(b)
		// A session per device would take minutes; what one leaves behind
		// is the cached host key signer.
		f.ContactAll()
		rss2, heap2 := memNow(b)
		b.ReportMetric(float64(rss0)/(1<<20), "baseline-rss-MiB")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/device")
		b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/device")
		b.ReportMetric(float64(rss2-rss0)/float64(n), "rss-B/contacted-device")
		b.ReportMetric(float64(heap2-heap0)/float64(n), "heap-B/contacted-device")
		f.Close()
	}
}

// BenchmarkSession compares a fresh NETCONF session (connect, hello, get
// identity, close-session) against the fleet with the same against a bare
// x/crypto/ssh server that runs the netconf subsystem with canned replies.
// Sessions alternate between the two in one run; each reaches a device
// not contacted before. Target: ratio <= 1.2.
func BenchmarkSession(b *testing.B) {
	n := benchDevices(b)
	f := startBenchFleet(b, n)
	defer f.Close()
	bare := startBareServer(b)
	defer bare.close()
	dialer := netconf.NewDialer(benchClientConfig())
	ctx := context.Background()
	var fleetCPU, bareCPU time.Duration
	session := func(addr string, cpu *time.Duration) time.Duration {
		start, cpu0 := time.Now(), cpuTime(b)
		c, err := dialer.Dial(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Identity(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		*cpu += cpuTime(b) - cpu0
		return time.Since(start)
	}
	// Warm up both sides once.
	session(bare.addr, new(time.Duration))
	session(f.Devices()[0].Address(), new(time.Duration))
	var fleetT, bareT time.Duration
	var ratios []float64
	i := 1
	for b.Loop() {
		var ft, bt time.Duration
		if i%2 == 0 {
			bt = session(bare.addr, &bareCPU)
			ft = session(f.Devices()[i%n].Address(), &fleetCPU)
		} else {
			ft = session(f.Devices()[i%n].Address(), &fleetCPU)
			bt = session(bare.addr, &bareCPU)
		}
		fleetT, bareT = fleetT+ft, bareT+bt
		ratios = append(ratios, float64(ft)/float64(bt))
		i++
	}
	runs := float64(i - 1)
	slices.Sort(ratios)
	b.ReportMetric(float64(fleetT.Microseconds())/runs, "fleet-µs/session")
	b.ReportMetric(float64(bareT.Microseconds())/runs, "bare-µs/session")
	b.ReportMetric(float64(fleetT)/float64(bareT), "fleet/bare")
	// Each pair runs back to back, so the median of the pairs' ratios
	// shrugs off load bursts from other processes on a shared machine.
	b.ReportMetric(ratios[len(ratios)/2], "fleet/bare-median")
	b.ReportMetric(float64(fleetCPU)/float64(bareCPU), "fleet/bare-cpu")
}

// bareServer is the floor: x/crypto/ssh with an Ed25519 host key and
// password authentication, the netconf subsystem, a canned hello (base 1.1
// and 1.0, chunked framing like the fleet) and canned replies.
type bareServer struct {
	ln   net.Listener
	addr string
	wg   sync.WaitGroup
}

var msgIDRe = regexp.MustCompile(`message-id="([^"]*)"`)

func startBareServer(b *testing.B) *bareServer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	conf := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
		if c.User() == "admin" && string(p) == "admin" {
			return nil, nil
		}
		return nil, errors.New("denied")
	}}
	conf.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &bareServer{ln: ln, addr: ln.Addr().String()}
	hello := netconf.MarshalHello([]string{netconf.CapBase10, netconf.CapBase11}, 1)
	identity := `<data><hardware xmlns="` + netconf.HardwareNS + `"><component><name>chassis</name>` +
		`<class xmlns:ianahw="` + netconf.IANAHwNS + `">ianahw:chassis</class><software-rev>12.2(55)SE</software-rev>` +
		`<serial-num>FDO1307R0W9</serial-num><model-name>WS-C3750E-24TD-S</model-name></component></hardware></data>`
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { serveBare(conn, conf, hello, identity) })
		}
	})
	return s
}

func serveBare(conn net.Conn, conf *ssh.ServerConfig, hello []byte, identity string) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for r := range creqs {
				r.Reply(r.Type == "subsystem", nil)
			}
		}()
		// Like the fleet: end the channel after close-session and let the
		// client close the connection.
		go serveBareChannel(ch, hello, identity)
	}
}

func serveBareChannel(ch ssh.Channel, hello []byte, identity string) {
	defer ch.Close()
	t := netconf.NewTransport(ch, ch, ch, 1<<20)
	if t.Send(hello) != nil {
		return
	}
	if _, err := t.Receive(); err != nil {
		return
	}
	t.SetVersion("v1.1")
	for {
		msg, err := t.Receive()
		if err != nil {
			return
		}
		id := ""
		if m := msgIDRe.FindSubmatch(msg); m != nil {
			id = string(m[1])
		}
		body := identity
		closing := bytes.Contains(msg, []byte("close-session"))
		if closing {
			body = "<ok/>"
		}
		if t.Send([]byte(`<rpc-reply xmlns="`+netconf.BaseNS+`" message-id="`+id+`">`+body+`</rpc-reply>`)) != nil || closing {
			return
		}
	}
}

func (s *bareServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// BenchmarkSweep opens a fresh session to every device of the fleet (64 at
// a time, as a broker's discovery job does), reads its identity and closes
// it; it reports sessions per second and the open files and resident
// memory per device afterwards. The fleet has DEVICESIM_BENCH_SWEEP
// devices (default 3000; 30000 takes about a minute).
func BenchmarkSweep(b *testing.B) {
	n := 3000
	if s := os.Getenv("DEVICESIM_BENCH_SWEEP"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("DEVICESIM_BENCH_SWEEP=%q is not a positive number", s)
		}
	}
	for b.Loop() {
		rss0, _ := memNow(b)
		f := startBenchFleet(b, n)
		dialer := netconf.NewDialer(benchClientConfig())
		ctx := context.Background()
		work := make(chan *devicesim.Device)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		maxFDs := 0
		cpu0 := cpuTime(b)
		start := time.Now()
		for range 64 {
			wg.Go(func() {
				for d := range work {
					c, err := dialer.Dial(ctx, d.Address())
					if err == nil {
						_, err = c.Identity(ctx)
						c.Close()
					}
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if d.Index%500 == 0 {
						maxFDs = max(maxFDs, openFiles(b))
					}
					mu.Unlock()
				}
			})
		}
		for _, d := range f.Devices() {
			work <- d
		}
		close(work)
		wg.Wait()
		el, cpu := time.Since(start), cpuTime(b)-cpu0
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		rss1, _ := memNow(b)
		b.ReportMetric(float64(n)/el.Seconds(), "sessions/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/session")
		b.ReportMetric(float64(maxFDs), "max-open-files")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/device")
		f.Close()
	}
}

func openFiles(b *testing.B) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(ents)
}

// cpuTime returns the process's user plus system CPU time: on a shared
// machine it says more than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
