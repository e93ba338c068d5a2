# Switchboard: every entry point. Each target installs what it needs, idempotently.
#   make demo    run the IVR caller scripts through the reference plugin
#   make test    build the guests from source, run every test
#   make bench   run the benchmarks and update BENCHMARKS.md
#   make reliability  the long reliability runs; updates RELIABILITY.md
#   make lint    rustfmt and clippy

CARGO ?= cargo
GUESTS := -p switchboard-ivr -p hostile-guest
GUEST_DIR := target/wasm32-wasip2/guest

.PHONY: demo test bench reliability fuzz lint setup guests clean

## Toolchain pieces the project needs beyond a bare Rust install.
setup: .venv/.installed sim/conformance/node_modules/.installed plugins/js/node_modules/.installed
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## The official Python SDK (the simulator's conformance tests) and componentize-py (the
## Python plugins), pinned, in the project's venv.
.venv/.installed: sim/conformance/requirements.txt plugins/python/requirements.txt
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r sim/conformance/requirements.txt -r plugins/python/requirements.txt
	touch $@

## The official JavaScript SDK, pinned by package-lock.json.
sim/conformance/node_modules/.installed: sim/conformance/package-lock.json
	cd sim/conformance && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The JavaScript plugin toolchain (componentize-js, esbuild, jco), pinned by
## package-lock.json.
plugins/js/node_modules/.installed: plugins/js/package-lock.json
	cd plugins/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

JS_SOURCES := $(wildcard plugins/js/sdk/*.js plugins/js/ivr/*.js) plugins/js/build.sh wit/policy.wit

## The reference IVR in JavaScript, as a component.
$(GUEST_DIR)/ivr_js.wasm: plugins/js/node_modules/.installed $(JS_SOURCES)
	mkdir -p $(GUEST_DIR)
	plugins/js/build.sh $@

PY_SOURCES := $(wildcard plugins/python/switchboard_policy/*.py plugins/python/ivr/*.py) plugins/python/build.sh plugins/python/immortalize.py wit/policy.wit

## The reference IVR in Python, as a component.
$(GUEST_DIR)/ivr_py.wasm: .venv/.installed $(PY_SOURCES)
	mkdir -p $(GUEST_DIR)
	plugins/python/build.sh $@

## Every plugin and test guest, as components (profile `guest`: small and fast).
guests: setup $(GUEST_DIR)/ivr_js.wasm $(GUEST_DIR)/ivr_py.wasm
	$(CARGO) build --profile guest --target wasm32-wasip2 $(GUESTS)

# The main job: simulator + host + the IVR plugin, every ivr.md caller script.
demo: guests
	$(CARGO) run --release -p ivr-demo

HOST_CRATES := --workspace --exclude switchboard-ivr --exclude hostile-guest

# `--all-targets` also runs each benchmark once, quickly, in the test profile.
test: guests
	node --test plugins/js/tests/
	.venv/bin/python -m unittest discover -s plugins/python/tests -t plugins/python/tests
	$(CARGO) test $(HOST_CRATES) --all-targets
	$(CARGO) test $(HOST_CRATES) --doc

bench: guests
	rm -rf target/bench
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard --bench invoke
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard --bench tenancy
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard --bench polyglot
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard-sim --bench load
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard-e2e --bench host_load
	BENCH_OUT=$(CURDIR)/target/bench $(CARGO) bench -p switchboard-e2e --bench replicas
	python3 scripts/splice_bench.py BENCHMARKS.md target/bench

## Issue #8: 1,000 calls under the fault mix, the noisy-neighbour bench, kill -9 with 100
## calls in flight (one host, and one of three replicas) and fuzzing, their tables
## spliced into RELIABILITY.md; then every bad-input and sandbox test
## (`make test` runs short versions of each).
RELIABILITY_OUT := $(CURDIR)/target/reliability
reliability: guests
	rm -rf $(RELIABILITY_OUT)
	RELIABILITY_OUT=$(RELIABILITY_OUT) SWITCHBOARD_FAULT_MIX_CALLS=1000 $(CARGO) test -p switchboard-e2e --test fault_mix -- --nocapture
	BENCH_OUT=$(RELIABILITY_OUT) $(CARGO) bench -p switchboard-e2e --bench noisy
	RELIABILITY_OUT=$(RELIABILITY_OUT) SWITCHBOARD_KILL_CALLS_PER_SCRIPT=20 $(CARGO) test -p switchboard-e2e --test durability
	( printf '| fault | calls | in progress at the kill | held by the killed process | ended as expected | repeatable operations run twice | calls where a media operation ran again | calls resumed from the store |\n|---|---|---|---|---|---|---|---|\n'; \
	  cat $(RELIABILITY_OUT)/kill-host.md $(RELIABILITY_OUT)/kill-replica.md ) > $(RELIABILITY_OUT)/process-faults.md
	rm $(RELIABILITY_OUT)/kill-host.md $(RELIABILITY_OUT)/kill-replica.md
	$(CARGO) test -p switchboard-e2e --test bad_input --test foreign_event --test shutdown --test ivr
	$(CARGO) test -p switchboard --test sandbox --test callback_auth --test admin --test fuzz_regressions
	$(MAKE) fuzz FUZZ_OUT=$(RELIABILITY_OUT)
	python3 scripts/splice_bench.py RELIABILITY.md $(RELIABILITY_OUT)

## cargo-fuzz, pinned, in the project (it runs on stable Rust with `-s none`).
CARGO_FUZZ := $(CURDIR)/.tools/cargo-fuzz/bin/cargo-fuzz
$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version 0.13.2 --locked --root $(CURDIR)/.tools/cargo-fuzz

## Every fuzz target of host/fuzz for FUZZ_SECONDS (scripts/fuzz.sh says what to do
## with a crash). `make test` replays the seeds and regressions.
FUZZ_SECONDS ?= 60
fuzz: $(CARGO_FUZZ)
	FUZZ_SECONDS=$(FUZZ_SECONDS) OUT=$(FUZZ_OUT) scripts/fuzz.sh $(CARGO_FUZZ)

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(HOST_CRATES) --all-targets -- -D warnings
	$(CARGO) clippy --target wasm32-wasip2 $(GUESTS) -- -D warnings

clean:
	$(CARGO) clean
