# licbroker — build, run, test.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

GO      ?= go
BIN     := bin
DATA    ?= ./data
PKGS    := ./...

.PHONY: build run test bench fuzz lint clean

build:
	$(GO) build -o $(BIN)/ ./cmd/licbroker ./cmd/devicesim

# make run: a single-node broker (Raft + bolt under ./data, API on
# 127.0.0.1:7800) and a 20-device simulator fleet on 127.1.0.1-20:8300.
# Ctrl-C stops both; a second run reuses ./data.
run: build
	@mkdir -p $(DATA)
	export LICBROKER_ADDR=http://127.0.0.1:7800
	LICBROKER_NETCONF_PORT=8300 $(BIN)/licbroker serve --data-dir $(DATA) --http-addr 127.0.0.1:7800 --raft-addr 127.0.0.1:7900 2>>$(DATA)/broker.log &
	broker=$$!
	sim=
	trap 'kill $$broker $$sim 2>/dev/null; wait $$broker $$sim 2>/dev/null; echo; echo "stopped (data kept in $(DATA))"' EXIT
	for i in $$(seq 1 100); do
	  [ -s $(DATA)/admin-token ] && curl -fsS -o /dev/null $$LICBROKER_ADDR/readyz 2>/dev/null && break
	  kill -0 $$broker 2>/dev/null || { echo "broker failed to start; see $(DATA)/broker.log:"; tail -5 $(DATA)/broker.log; exit 1; }
	  sleep 0.1
	done
	export LICBROKER_TOKEN=$$(cat $(DATA)/admin-token)
	if ! $(BIN)/licbroker credentials list -o csv | grep -q '^default,'; then
	  printf admin > $(DATA)/.sim-password
	  $(BIN)/licbroker credentials add default --username admin --password-file $(DATA)/.sim-password >/dev/null
	  rm -f $(DATA)/.sim-password
	fi
	$(BIN)/devicesim serve --count 20 --first-address 127.1.0.1 --port 8300 --state-dir $(DATA)/devicesim \
	  --trust $(DATA)/trusted-keys.pem 2>>$(DATA)/devicesim.log &
	sim=$$!
	sleep 0.5
	kill -0 $$sim 2>/dev/null || { echo "devicesim failed to start; see $(DATA)/devicesim.log:"; tail -5 $(DATA)/devicesim.log; exit 1; }
	cat <<-MSG
	
	licbroker is running: broker http://127.0.0.1:7800 (logs $(DATA)/broker.log),
	20 simulated devices on 127.1.0.1-127.1.0.20 port 8300 (logs $(DATA)/devicesim.log).
	
	Admin token: $$LICBROKER_TOKEN
	
	In another shell:
	  export PATH=$$PWD/$(BIN):\$$PATH LICBROKER_TOKEN=$$(cat $(DATA)/admin-token)
	  licbroker device discover 127.1.0.0/27 --wait
	  licbroker device list
	  licbroker pak add --id PAK00000001 --feature ipservices --type permanent --quantity 5 --family 3750e
	
	Ctrl-C stops both.
	MSG
	wait $$broker $$sim

test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

bench:
	# One package at a time: benchmarks running side by side on 2 cores measure each other.
	# broker's BenchmarkBulk is the 30,000-device run (discover, install, verify; a few minutes).
	$(GO) test -p 1 -run '^$$' -bench . -skip ClusterWrites -benchmem -timeout 60m $(PKGS)
	# 3-node loopback cluster: raftstore+broker.State vs etcd 3.4 vs bare raft, same records
	$(GO) test -run '^$$' -bench ClusterWrites -benchtime 100000x -timeout 30m ./broker
	# keyengine: every value of every byte of a multi-license file, then fuzz each parser for a minute.
	KEYENGINE_EXHAUSTIVE=1 $(GO) test -count=1 -run 'Tamper' ./keyengine
	for f in FuzzParseFile FuzzParseCompactKey FuzzParseCanonical; do $(GO) test ./keyengine -run '^$$' -fuzz "^$$f$$" -fuzztime 60s; done

# Short fuzzing runs of the netconf decoders (go test -fuzz allows one
# target per run).
fuzz:
	for t in FuzzReader FuzzServerRPC FuzzFastParse FuzzParseLicensing; do $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s -fuzzminimizetime 10s ./netconf; done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)
