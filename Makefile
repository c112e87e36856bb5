# The front door a newcomer expects. Meson does the building; this file only
# names the everyday jobs. See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# make fuzz: seconds per target, and which targets (default: all of them).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
DEMO_DIR   ?= var/demo
MESON_TEST ?= meson test --print-errorlogs --num-processes 2
# A throw-away PostgreSQL server (initdb in /tmp, own port and socket) for
# the PostgreSQL pass of the tests; stopped and removed even when tests fail.
PG_SERVER  ?= ./scripts/pg-test-server.sh run --

.PHONY: all deps build run run-cluster check check-cluster check-crash check-fault check-tls test test-asan fuzz format format-check bench clean deb

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

# The sanitised build is also the fault test build (-Dfault_injection,
# src/core/fault.h): its suite 'fault' (tests/fault/) injects store and
# allocation faults, and ASan/LSan catch what an error path leaks or breaks.
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true -Dbench=false -Dbuildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true \
		-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# Sets up the demo environment (idempotent) and serves it in the foreground.
run: build
	./$(BUILD)/dupla demo --dir $(DEMO_DIR)

# A local cluster (#15) in var/cluster/: a PostgreSQL primary and a synchronous
# hot standby, three nodes on that store, HAProxy (TCP) on 127.0.0.1:8543/8544;
# in the foreground until Ctrl-C, beside `make run`. See scripts/cluster.sh.
run-cluster: build
	./scripts/cluster.sh run --build $(BUILD)

# Every suite on SQLite, then every suite that touches the store again on
# PostgreSQL (one server for the whole pass; each store is its own schema),
# the browser's included.
test: build
	$(MESON_TEST) -C $(BUILD)
	$(PG_SERVER) $(MESON_TEST) -C $(BUILD) --setup postgresql --suite store

test-asan: deps $(ASAN_BUILD)/build.ninja
	@meson configure $(ASAN_BUILD) | grep -Eq '^ *fault_injection +true' || \
		meson configure $(ASAN_BUILD) -Dfault_injection=true
	meson compile -C $(ASAN_BUILD)
	$(MESON_TEST) -C $(ASAN_BUILD)
	$(PG_SERVER) $(MESON_TEST) -C $(ASAN_BUILD) --setup postgresql --suite store \
		--no-suite e2e --no-suite browser

# Every test: the normal build, then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the formatting check.
check: test test-asan format-check
	@echo "make check: all passed"

# The failure tests of several nodes on one PostgreSQL (#15): a whole cluster
# (scripts/cluster.sh) in a temporary folder on its own ports; a node killed
# under load, a PostgreSQL failover, mail raced by three nodes, revocations
# seen by another node within 1 s. 2-3 minutes; .ci/run runs it after check.
check-cluster: build
	python3 tests/cluster/cluster_test.py $(BUILD)

# The TLS face of both listeners (#18.4): testssl.sh scans a served demo;
# no protocol below TLS 1.2, only AEAD ciphers with forward secrecy in the
# server's order, no client renegotiation, no compression, HSTS on the pages.
# A few minutes (testssl is thorough); .ci/run runs it after check.
check-tls: build
	python3 tests/tls/check_tls.py $(BUILD)

# The durability claim at scale (#18.8): the server SIGKILLed 100 times
# while 8 clients fetch, restarted each time; every answer a client received
# must be in the log exactly once and the log must verify. On SQLite, then on
# PostgreSQL. The figure is printed; .ci/run runs it after check. (The normal
# suite runs the same test with 3 kills.)
CRASH_ROUNDS ?= 100
CRASH_TEST   ?= --timeout-multiplier 12 e2e-data --test-args=--filter=data/sigkill_rounds* --verbose
check-crash: build
	DUPLA_CRASH_ROUNDS=$(CRASH_ROUNDS) $(MESON_TEST) -C $(BUILD) $(CRASH_TEST) \
		> $(BUILD)/check-crash.log 2>&1; rc=$$?; \
		grep -E 'crash test:|^Ok|^Fail|FAIL' $(BUILD)/check-crash.log; exit $$rc
	$(PG_SERVER) env DUPLA_CRASH_ROUNDS=$(CRASH_ROUNDS) $(MESON_TEST) -C $(BUILD) \
		--setup postgresql $(CRASH_TEST) > $(BUILD)/check-crash-pg.log 2>&1; rc=$$?; \
		grep -E 'crash test:|^Ok|^Fail|FAIL' $(BUILD)/check-crash-pg.log; exit $$rc

# Injected faults (#18.2, tests/fault/): for a data call, a log append, a
# token issue and an ingest, the n-th store call and, separately, the n-th
# allocation made to fail, for EVERY n until the operation completes
# (`make check` walks the allocations with a stride); each answer a success
# or a clean 5xx problem, the store whole, the next call served, no leak.
check-fault: deps $(ASAN_BUILD)/build.ninja
	@meson configure $(ASAN_BUILD) | grep -Eq '^ *fault_injection +true' || \
		meson configure $(ASAN_BUILD) -Dfault_injection=true
	meson compile -C $(ASAN_BUILD)
	DUPLA_FAULT_STRIDE=1 $(MESON_TEST) -C $(ASAN_BUILD) --suite fault --verbose \
		> $(ASAN_BUILD)/check-fault.log 2>&1; rc=$$?; \
		grep -E '^fault:|^Ok|^Fail|FAIL|Assertion' $(ASAN_BUILD)/check-fault.log; exit $$rc
	$(PG_SERVER) env DUPLA_FAULT_STRIDE=1 $(MESON_TEST) -C $(ASAN_BUILD) --setup postgresql \
		--suite fault --verbose > $(ASAN_BUILD)/check-fault-pg.log 2>&1; rc=$$?; \
		grep -E '^fault:|^Ok|^Fail|FAIL|Assertion' $(ASAN_BUILD)/check-fault-pg.log; exit $$rc

# The libFuzzer targets (fuzz/), built by clang with ASan and UBSan, each
# run for FUZZ_SECONDS on one core from its seed corpus (fuzz/corpus/<t>);
# what it learns goes to var/fuzz/<t>, a finding to var/fuzz/artifacts.
# `make check` replays the seed corpora in the normal and ASan builds.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false -Dbench=false \
		-Dbuildtype=debugoptimized -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

SOURCES = $(shell find src tests bench fuzz -name '*.[ch]' -not -path '*/node_modules/*' | sort)

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES) && echo "format-check: clean"

bench: build
	./bench/run.sh $(BUILD)

# dupla_<version>_<arch>.deb in build-deb/ (dpkg-buildpackage; see debian/).
deb: deps
	./scripts/build-deb.sh build-deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-deb
