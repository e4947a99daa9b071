package broker

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/licbroker/licbroker/netconf"
	"github.com/licbroker/licbroker/raftstore"
	"golang.org/x/crypto/ssh"
)

// BenchmarkBulk is the scale run of the bulk operations: a fleet of
// LICBROKER_BENCH_DEVICES simulated devices (default 30,000) served by a
// separate devicesim process on this machine, and a broker (real Raft on
// disk, real SSH and NETCONF) in this process. It discovers the fleet,
// installs one PAK on every device, then verifies every device with a
// refresh, and reports devices per second for each phase beside the floor:
// bare x/crypto/ssh client handshakes (TCP connect, key exchange, password
// login, close) against the same fleet, with the same concurrency and the
// same client configuration, measured in the same run before and after.
// It also reports the broker's peak resident memory (VmHWM of this
// process, which also holds the floor client) and the CPU time per device
// of each process. The broker's SSH key exchange is ecdh-sha2-nistp256
// (see netconf.SSHAlgorithms); LICBROKER_BENCH_SSH_KEX names others,
// comma-separated, or, empty, keeps x/crypto/ssh's defaults. Set
// LICBROKER_BENCH_CONCURRENCY to change the session bound (default 64) and
// LICBROKER_BENCH_PROFILE to a directory to write CPU and heap profiles of
// each phase, of both processes.
func BenchmarkBulk(b *testing.B) {
	n := envInt(b, "LICBROKER_BENCH_DEVICES", 30000)
	conc := envInt(b, "LICBROKER_BENCH_CONCURRENCY", 64)
	profDir := os.Getenv("LICBROKER_BENCH_PROFILE")
	for b.Loop() {
		r := newBulkRun(b, n, conc, profDir)
		r.run()
		r.report()
		r.stop()
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s=%q is not a positive number", name, s)
	}
	return v
}

// bulkRun is one scale run.
type bulkRun struct {
	b       *testing.B
	n, conc int
	dir     string
	first   netip.Addr
	port    int
	sim     *exec.Cmd
	simOut  *bytes.Buffer
	store   *raftstore.Store
	br      *Broker
	profDir string
	// simProfiles counts the profiles devicesim was asked to write.
	simProfiles int
	phases      []phase
	algs        ssh.NegotiatedAlgorithms // what the first floor negotiated
}

// phase is what one phase measured, with the SSH floor measured just
// before it.
type phase struct {
	name            string
	wall            time.Duration
	devices         int
	selfCPU, simCPU time.Duration
	failed          int
	detail          string
	floor           phase0
}

// phase0 is a floor measurement: handshakes, their wall time and the CPU
// time of both processes.
type phase0 struct {
	n               int
	wall            time.Duration
	selfCPU, simCPU time.Duration
}

func newBulkRun(b *testing.B, n, conc int, profDir string) *bulkRun {
	if n > 65000 {
		b.Fatalf("at most 65000 devices (one 127.x.0.0/16)")
	}
	r := &bulkRun{b: b, n: n, conc: conc, dir: b.TempDir(), profDir: profDir}
	r.first = netip.MustParseAddr(fmt.Sprintf("127.%d.0.1", 10+rand.IntN(240)))

	// The broker: a single Raft node on disk.
	state := NewState()
	store, err := raftstore.Open(raftstore.Config{NodeID: "n1", Dir: filepath.Join(r.dir, "raft"),
		BindAddr: freeAddrB(b, "127.0.0.1"), Bootstrap: true}, state)
	if err != nil {
		b.Fatal(err)
	}
	r.store = store
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	kr, err := keyengine.NewKeyring(time.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	trust := filepath.Join(r.dir, "trusted-keys.pem")
	if err := os.WriteFile(trust, kr.TrustStore().MarshalTrustedKeys(), 0o644); err != nil {
		b.Fatal(err)
	}
	kh, _ := netconf.OpenKnownHosts(filepath.Join(r.dir, "known_hosts"))
	// The key exchange: ecdh-sha2-nistp256 unless LICBROKER_BENCH_SSH_KEX
	// names others (comma-separated; empty for x/crypto/ssh's defaults).
	kex := []string{ssh.KeyExchangeECDHP256}
	if v, ok := os.LookupEnv("LICBROKER_BENCH_SSH_KEX"); ok {
		kex = nil
		if v != "" {
			kex = strings.Split(v, ",")
		}
	}
	r.br, err = New(Config{Signer: kr, KnownHosts: kh, CredentialsKey: bytes.Repeat([]byte{7}, 32), DeviceConcurrency: conc,
		DeviceTimeout: 60 * time.Second, JobBackoff: 500 * time.Millisecond, SSHAlgorithms: netconf.SSHAlgorithms{KeyExchanges: kex}}, store, state)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.br.Init(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := r.br.PutCredential(ctx, "bench", DefaultTenant, "default", "admin", []byte("admin"), false); err != nil {
		b.Fatal(err)
	}

	// The fleet: a devicesim process.
	bin := filepath.Join(r.dir, "devicesim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/licbroker/licbroker/cmd/devicesim").CombinedOutput(); err != nil {
		b.Fatalf("building devicesim: %v\n%s", err, out)
	}
	r.port = freePortB(b, r.first.String())
	r.simOut = &bytes.Buffer{}
	args := []string{"serve", "--count", strconv.Itoa(n), "--first-address", r.first.String(), "--port", strconv.Itoa(r.port),
		"--trust", trust, "--control-addr", ""}
	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			b.Fatal(err)
		}
		args = append(args, "--profile-dir", profDir)
	}
	r.sim = exec.Command(bin, args...)
	r.sim.Stdout, r.sim.Stderr = r.simOut, r.simOut
	if err := r.sim.Start(); err != nil {
		b.Fatal(err)
	}
	last := r.first
	for i := 1; i < n; i++ {
		last = last.Next()
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(last, uint16(r.port)).String(), time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("devicesim did not start:\n%s", r.simOut)
		}
	}
	return r
}

func (r *bulkRun) stop() {
	r.br.Close()
	r.store.Close()
	r.sim.Process.Signal(syscall.SIGTERM)
	r.sim.Wait()
}

// run measures the floor, the three phases and the floor again.
func (r *bulkRun) run() {
	b := r.b
	ctx := context.Background()
	// Discover: the /17 that holds the fleet (32,766 addresses for
	// 30,000 devices: the rest are refused, as in a real scan).
	bits := 32 - lenBits(r.n+2)
	cidr := netip.PrefixFrom(r.first, bits).Masked().String()
	disc := r.job("discover", func() (*Job, error) {
		return r.br.StartDiscover(ctx, "bench", DefaultTenant, DiscoverRequest{Targets: []string{cidr}, Port: r.port})
	})
	if disc.Statuses[StatusDiscovered] != r.n {
		b.Fatalf("discovered %d of %d devices: %v; first failure: %s", disc.Statuses[StatusDiscovered], r.n, disc.Statuses, firstFailure(disc))
	}
	r.phases[len(r.phases)-1].detail = fmt.Sprintf("%d addresses scanned", disc.Total)

	if _, err := r.br.AddPAK(ctx, "bench", DefaultTenant, PAKRequest{ID: "PAKBENCH001", Lines: []PAKLineRequest{
		{Feature: "ipservices", Quantity: r.n, Families: []string{"3750e", "3560e"}},
		{Feature: "advipservices", Quantity: r.n, Families: []string{"880", "860"}}}}); err != nil {
		b.Fatal(err)
	}
	inst := r.job("install", func() (*Job, error) {
		return r.br.StartInstall(ctx, "bench", DefaultTenant, InstallRequest{PAK: "PAKBENCH001", All: true})
	})
	if inst.Done != r.n || inst.Statuses[StatusInstalled] != r.n {
		b.Fatalf("install: %v; first failure: %s", inst.Statuses, firstFailure(inst))
	}
	ver := r.job("verify", func() (*Job, error) {
		return r.br.StartRefresh(ctx, "bench", DefaultTenant, RefreshRequest{All: true})
	})
	if ver.Done != r.n || ver.Failed != 0 {
		b.Fatalf("verify: %v; first failure: %s", ver.Statuses, firstFailure(ver))
	}
	// Every device holds exactly one license, installed; the PAK is spent
	// once per device.
	used, installed := 0, 0
	p, _ := r.br.PAK("", "PAKBENCH001")
	for _, l := range p.Lines {
		used += l.Used
	}
	r.br.state.read(func(d *stateData) {
		for _, dev := range d.Devices {
			ids := d.byUDI[dev.UDI]
			if len(ids) != 1 || d.Licenses[ids[0]].State != LicenseInstalled || !onDevice(dev, ids[0]) {
				b.Fatalf("%s: licenses %v", dev.UDI, ids)
			}
			installed++
		}
	})
	if used != r.n || installed != r.n {
		b.Fatalf("PAK used %d, devices licensed %d, want %d", used, installed, r.n)
	}
}

// lenBits is the number of bits needed for n values.
func lenBits(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

func firstFailure(j *Job) string {
	for _, r := range j.Results {
		if !r.OK {
			return fmt.Sprintf("%s %s: %s", r.Target, r.Status, r.Reason)
		}
	}
	return "none"
}

// job runs one phase: a job, timed, with CPU time of both processes.
func (r *bulkRun) job(name string, start func() (*Job, error)) *Job {
	r.b.Helper()
	p := phase{name: name, floor: r.floor(len(r.phases))}
	stopProf := r.profile(name)
	runtime.GC()
	cpu0, sim0, t0 := selfCPU(r.b), procCPU(r.b, r.sim.Process.Pid), time.Now()
	j, err := start()
	if err != nil {
		r.b.Fatal(err)
	}
	for {
		v, err := r.br.JobView("", j.ID, ResultsNone)
		if err != nil {
			r.b.Fatal(err)
		}
		if v.State != JobRunning {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.wall = time.Since(t0)
	p.selfCPU, p.simCPU = selfCPU(r.b)-cpu0, procCPU(r.b, r.sim.Process.Pid)-sim0
	stopProf()
	full, _ := r.br.Job("", j.ID)
	p.devices, p.failed = full.Done, full.Failed
	r.phases = append(r.phases, p)
	r.b.Logf("%s: %d ok, %d failed in %s", name, full.Done, full.Failed, p.wall.Round(time.Millisecond))
	return full
}

// floor opens and closes a bare SSH connection to a third of the devices
// (the k-th third) with the jobs' concurrency and the broker's client
// configuration: the floor of the phase that follows. Measured next to
// each phase, it moves with the load other processes put on the machine.
func (r *bulkRun) floor(k int) phase0 {
	b := r.b
	// The SSH client configuration of the broker's sessions with the
	// fleet's credential profile.
	dl, err := r.br.dialer(DefaultTenant, "default")
	if err != nil {
		b.Fatal(err)
	}
	cfg := dl.SSHConfig()
	addrs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	runtime.GC()
	cpu0, sim0, t0 := selfCPU(b), procCPU(b, r.sim.Process.Pid), time.Now()
	for range r.conc {
		wg.Go(func() {
			for a := range addrs {
				algs, err := sshHandshake(a, cfg)
				if err == nil && k == 0 {
					mu.Lock()
					r.algs = algs
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", a, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	third := max(1, r.n/3)
	a := r.first
	for i := 0; i < r.n; i++ {
		if i/third == k%3 {
			addrs <- netip.AddrPortFrom(a, uint16(r.port)).String()
		}
		a = a.Next()
	}
	close(addrs)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return phase0{n: third, wall: time.Since(t0), selfCPU: selfCPU(b) - cpu0, simCPU: procCPU(b, r.sim.Process.Pid) - sim0}
}

// sshHandshake is the floor's unit: TCP connect, SSH key exchange and
// password login, then close. It returns the algorithms negotiated.
func sshHandshake(addr string, cfg *ssh.ClientConfig) (ssh.NegotiatedAlgorithms, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return ssh.NegotiatedAlgorithms{}, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return ssh.NegotiatedAlgorithms{}, err
	}
	var algs ssh.NegotiatedAlgorithms
	if m, ok := c.(ssh.AlgorithmsConnMetadata); ok {
		algs = m.Algorithms()
	}
	return algs, ssh.NewClient(c, chans, reqs).Close()
}

// profile starts a CPU profile of a phase when asked to, and returns the
// function that stops it and writes a heap profile.
func (r *bulkRun) profile(name string) func() {
	if r.profDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(r.profDir, 0o755); err != nil {
		r.b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(r.profDir, name+".cpu.pprof"))
	if err != nil {
		r.b.Fatal(err)
	}
	// devicesim profiles itself from SIGUSR1 to SIGUSR2 (cpu-N.pprof).
	r.simProfiles++
	r.sim.Process.Signal(syscall.SIGUSR1)
	if err := pprof.StartCPUProfile(f); err != nil {
		r.b.Fatal(err)
	}
	runtime.SetBlockProfileRate(int(time.Millisecond))
	runtime.SetMutexProfileFraction(10)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		r.sim.Process.Signal(syscall.SIGUSR2)
		heap := filepath.Join(r.profDir, fmt.Sprintf("heap-%d.pprof", r.simProfiles))
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(heap); err == nil {
				break
			}
		}
		os.Rename(filepath.Join(r.profDir, fmt.Sprintf("cpu-%d.pprof", r.simProfiles)), filepath.Join(r.profDir, "devicesim-"+name+".cpu.pprof"))
		os.Rename(heap, filepath.Join(r.profDir, "devicesim-"+name+".heap.pprof"))
		for _, kind := range []string{"block", "mutex"} {
			w, err := os.Create(filepath.Join(r.profDir, name+"."+kind+".pprof"))
			if err != nil {
				r.b.Fatal(err)
			}
			pprof.Lookup(kind).WriteTo(w, 0)
			w.Close()
		}
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
		h, err := os.Create(filepath.Join(r.profDir, name+".heap.pprof"))
		if err != nil {
			r.b.Fatal(err)
		}
		defer h.Close()
		pprof.Lookup("heap").WriteTo(h, 0)
	}
}

func (r *bulkRun) report() {
	b := r.b
	us := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
	var total time.Duration
	var tb strings.Builder
	tb.WriteString("\n| phase | wall | devices/s | ssh floor, handshakes/s | rate / floor | broker CPU/device | devicesim CPU/device | CPU / floor CPU |\n")
	tb.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.phases {
		rate := float64(p.devices) / p.wall.Seconds()
		floor := float64(p.floor.n) / p.floor.wall.Seconds()
		cpu := us(p.selfCPU+p.simCPU, r.n)
		floorCPU := us(p.floor.selfCPU+p.floor.simCPU, p.floor.n)
		total += p.wall
		b.ReportMetric(rate, p.name+"-dev/s")
		b.ReportMetric(rate/floor, p.name+"/floor")
		fmt.Fprintf(&tb, "| %s | %.1f s | %.0f | %.0f | %.2f | %.0f µs | %.0f µs | %.2f |\n", p.name, p.wall.Seconds(), rate, floor, rate/floor,
			us(p.selfCPU, r.n), us(p.simCPU, r.n), cpu/floorCPU)
		if p.name == "discover" {
			fmt.Fprintf(&tb, "| ssh floor (CPU per handshake) | | | | | %.0f µs | %.0f µs | 1 |\n", us(p.floor.selfCPU, p.floor.n), us(p.floor.simCPU, p.floor.n))
		}
	}
	rss := peakRSS(b)
	fmt.Fprintf(&tb, "\n%d devices (discovery scanned %s), concurrency %d, %d CPUs shared with devicesim; discover+install+verify %.1f s; broker peak RSS %.0f MiB\n",
		r.n, r.phases[0].detail, r.conc, runtime.NumCPU(), total.Seconds(), float64(rss)/(1<<20))
	fmt.Fprintf(&tb, "SSH: key exchange %s, host key %s, cipher %s\n", r.algs.KeyExchange, r.algs.HostKey, r.algs.Write.Cipher)
	b.ReportMetric(total.Seconds(), "total-s")
	b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	// The table goes to stdout: a benchmark's log is cut after ten lines.
	fmt.Println(tb.String())
}

func freeAddrB(b *testing.B, host string) string {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func freePortB(b *testing.B, host string) int {
	_, p, _ := net.SplitHostPort(freeAddrB(b, host))
	n, _ := strconv.Atoi(p)
	return n
}

// selfCPU is this process's user plus system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is another process's user plus system CPU time.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

var hwmRe = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// peakRSS is this process's peak resident set.
func peakRSS(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	m := hwmRe.FindSubmatch(data)
	if m == nil {
		b.Fatal("no VmHWM in /proc/self/status")
	}
	kb, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return kb << 10
}
