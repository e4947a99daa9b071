// Command ledgernode runs one raftstore node with the test Ledger state
// machine and a small HTTP API, for the fault tests that kill and restart
// real processes. It is test support, not a product binary.
//
//	ledgernode --id node1 --dir D --raft HOST:PORT --http HOST:PORT --peers node1=HOST:PORT,node2=...
//
// POST /apply (body: a ledger command) answers 200 with the result, or 503
// with X-Error-Kind no_quorum (nothing applied) or unknown_outcome.
// GET /read?consistency=linearizable|stale answers the ledger's state
// (stale adds X-Data-Age-Ms). GET /status answers the node's status.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ledgernode:", err)
		os.Exit(1)
	}
}

func run() error {
	id := flag.String("id", "", "node id")
	dir := flag.String("dir", "", "data directory")
	raftAddr := flag.String("raft", "", "raft address")
	httpAddr := flag.String("http", "", "HTTP address")
	peers := flag.String("peers", "", "id=addr,... of the initial cluster")
	flag.Parse()
	cfg := raftstore.Config{NodeID: *id, Dir: *dir, BindAddr: *raftAddr, Bootstrap: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, p := range strings.Split(*peers, ",") {
		pid, addr, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("bad --peers entry %q", p)
		}
		cfg.Peers = append(cfg.Peers, raftstore.Peer{ID: pid, Addr: addr})
	}
	ledger := raftstoretest.NewLedger()
	s, err := raftstore.Open(cfg, ledger)
	if err != nil {
		return err
	}
	defer s.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		cmd, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		res, err := s.Apply(ctx, cmd)
		if err != nil {
			fail(w, err)
			return
		}
		w.Write(res)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("consistency") == "stale" {
			w.Header().Set("X-Data-Age-Ms", strconv.FormatInt(s.DataAge().Milliseconds(), 10))
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := s.Barrier(ctx); err != nil {
				fail(w, err)
				return
			}
		}
		json.NewEncoder(w).Encode(ledger.View())
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(s.Status())
	})
	srv := &http.Server{Addr: *httpAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func fail(w http.ResponseWriter, err error) {
	kind := "other"
	switch {
	case errors.Is(err, raftstore.ErrNoQuorum):
		kind = "no_quorum"
	case errors.Is(err, raftstore.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded):
		kind = "unknown_outcome"
	}
	w.Header().Set("X-Error-Kind", kind)
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}
