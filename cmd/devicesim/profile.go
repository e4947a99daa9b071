package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

// profileOnSignals writes CPU profiles of the running fleet into dir: SIGUSR1
// starts one (cpu-1.pprof, cpu-2.pprof, ...), SIGUSR2 stops it and writes
// the heap profile beside it (heap-N.pprof). Benchmarks use it to profile
// the simulator phase by phase. The returned function stops listening and
// any profile in progress.
func profileOnSignals(dir string, log *slog.Logger) func() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		n := 0
		var f *os.File
		stop := func() {
			if f == nil {
				return
			}
			pprof.StopCPUProfile()
			f.Close()
			f = nil
			if h, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", n))); err == nil {
				pprof.Lookup("heap").WriteTo(h, 0)
				h.Close()
			}
		}
		defer stop()
		for {
			select {
			case <-done:
				return
			case s := <-sig:
				stop()
				if s != syscall.SIGUSR1 {
					continue
				}
				n++
				var err error
				if f, err = os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", n))); err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if err != nil {
					log.Error("CPU profile not started", "err", err)
					if f != nil {
						f.Close()
						f = nil
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-stopped
	}
}
