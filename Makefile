# Courier developer entry points. Every target that needs RabbitMQ/PostgreSQL first runs
# `deploy/local/services.sh up`, which installs and starts project-local instances (data
# under .local/) - so `make run` and `make test` work from a fresh clone.
#
#   make setup          install + start local RabbitMQ and PostgreSQL, write .local/services.env
#   make build          swift build
#   make run            build, create Semble's tables in the local database (courier db init-semble),
#                       and run .build/debug/courierd against the local services
#   make test           check-observability, then swift test in a fresh vhost + database
#                       (deploy/local/with-test-env.sh); the suites that stop services run alone
#                       afterwards, the cluster suite last
#   make unit           only the service-free tests (every suite not tagged `.integration`): no
#                       RabbitMQ, no PostgreSQL (only missing Debian packages installed); seconds once built
#   make check-observability
#                       validate deploy/observability/: promtool check rules (the alerting rules),
#                       promtool check config (the example prometheus.yml), promtool test rules
#                       (deploy/observability/tests/). promtool and prometheus come from Debian's
#                       `prometheus` package, unpacked (not installed: its postinst would start a
#                       system daemon) into .local/prometheus/ by deploy/local/prometheus.sh; `make
#                       test` runs this first, and its PrometheusScrapeTests start that prometheus.
#   make test-cluster   only the cluster failover suite: starts the local three-node RabbitMQ
#                       cluster (deploy/local/cluster.sh) and stops its nodes under two courierd
#   make bench          release build of courier-bench, run in a fresh vhost + database
#   make chaos          the chaos suite (courier-chaos): CHAOS_EVENTS events (default 10000) written to
#                       the outbox in small transactions while 3 courierd compete on the queue and are
#                       killed (kill -9) and restarted, the broker is restarted and Postgres crashes
#                       (stop immediate); then the final tables must equal a clean run's (one
#                       courierd, no faults, same seed: the oracle, dumped to .local/chaos/), every
#                       (event, handler) once in the inbox, the DLQ exactly the injected poison,
#                       nothing left in the outbox, the queues or the pending bundles. Two fresh
#                       vhost + database pairs (with-test-env.sh twice). Prints the figures.
#                       CHAOS_SEED (default 1), CHAOS_RATE (outbox rows/s during the faults, 200),
#                       CHAOS_ARGS for more (e.g. '--consumers 4 --fault-pause 2,8'; `courier-chaos chaos
#                       --help` lists them). CHAOS_BROKER=cluster runs the chaos half on the local
#                       three-node cluster (cluster.sh), stopping or killing one node at a time instead
#                       of restarting the single node. courierd runs with prefetch 100, about a
#                       second of work in the debug build (README, "Chaos suite", says why).
#                       It restarts this checkout's RabbitMQ node (or cluster nodes) and PostgreSQL
#                       cluster: nothing else should use them meanwhile.
#   make fuzz           build the libFuzzer targets (Tests/Fuzz) in .build-fuzz with
#                       -sanitize=fuzzer,address and run each for FUZZ_SECONDS (default 60) on a
#                       copy of the seed corpus; prints the executions reached, fails on a crash
#                       (the input is kept in .build-fuzz/artifacts/<target>/). Runs `setup` first (it installs the C libraries the targets link).
#   make samples        publish a handful of Semble events to the local broker (while `make run`
#                       runs) and show the rows courierd wrote
#   make services-down  stop the local RabbitMQ node, PostgreSQL cluster and RabbitMQ cluster
#   make services-status
#   make clean          remove .build/ and .build-fuzz/
#
# Extra arguments: make test TEST_ARGS='--filter Foo', make run RUN_ARGS=..., make bench BENCH_ARGS=...,
# make chaos CHAOS_EVENTS=100000, make chaos CHAOS_BROKER=cluster, make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=courier-fuzz-headers FUZZ_ARGS='-max_len=8192'.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# The toolchain lives in /opt/swift on this kind of machine; use it when swift is not on PATH.
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

SWIFT          ?= swift
SERVICES       := deploy/local/services.sh
CLUSTER        := deploy/local/cluster.sh
WITH_TEST_ENV  := deploy/local/with-test-env.sh
PROMETHEUS     := deploy/local/prometheus.sh
OBSERVABILITY  := deploy/observability
ENV_FILE       := .local/services.env
BUILD_FLAGS    ?=
TEST_ARGS      ?=
RUN_ARGS       ?=
BENCH_ARGS     ?=
OUTAGE_TESTS   := BrokerRestartTests|PostgresOutageTests|ResourceAlarmTests|PublisherOutageTests|StartupDependencyTests
CLUSTER_TESTS  := ClusterFailoverTests
FUZZ_SECONDS   ?= 60
CHAOS_EVENTS   ?= 10000
CHAOS_SEED     ?= 1
CHAOS_RATE     ?= 200
CHAOS_ARGS     ?=
CHAOS_BROKER   ?= single
CHAOS_DIR      := .local/chaos
FUZZ_TARGETS   ?= courier-fuzz-events courier-fuzz-headers
FUZZ_ARGS      ?=
FUZZ_BUILD     := .build-fuzz
# Only the fuzz products and what they depend on are built, all of it instrumented; the define
# turns each one's entry point into libFuzzer's driver (Tests/Fuzz/Harness/FuzzDriver.swift).
# lld (shipped with the toolchain): gold prints ~140 warnings per sanitized link and dies with
# "internal error in format_file_lineno" instead of naming an undefined symbol.
FUZZ_FLAGS     := --scratch-path $(FUZZ_BUILD) -Xswiftc -DCOURIER_FUZZING -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld

.PHONY: all setup build run test unit check-observability test-cluster bench chaos fuzz samples services-down services-status clean

all: build

setup:
	$(SERVICES) up

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

# The local database has no Semble: `courier db init-semble` creates Semble's tables as Semble's
# migrations leave them (only those missing), then courierd runs against them as it would against
# Semble's own database.
run: setup build
	set -a; . $(ENV_FILE); set +a; \
	export AMQP_URL="$$COURIER_LOCAL_AMQP_URL" DATABASE_URL="$$COURIER_LOCAL_DATABASE_URL"; \
	.build/debug/courier db init-semble; \
	exec .build/debug/courierd $(RUN_ARGS)

# Tests are compiled before the per-run vhost/database exist, so a compile error leaves nothing
# behind and the test resources live only as long as the tests run.
test: setup check-observability
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(WITH_TEST_ENV) $(SWIFT) test $(BUILD_FLAGS) --skip '$(OUTAGE_TESTS)|$(CLUSTER_TESTS)' $(TEST_ARGS)
	@# These restart the local RabbitMQ node or stop Postgres, so each runs alone, after the rest.
	for suite in $(subst |, ,$(OUTAGE_TESTS)); do \
	    $(WITH_TEST_ENV) $(SWIFT) test $(BUILD_FLAGS) --filter "$$suite" || exit 1; \
	done
	$(MAKE) --no-print-directory test-cluster

# Not `setup` (only the packages the build needs) nor with-test-env.sh: the tests tagged `.integration` (they need the broker, the
# database or spawned processes) are skipped, so this runs where no service is (the C libraries'
# headers must be installed, as for any build). `swift test --skip tag:integration` did not skip
# them with this toolchain (6.3.1), so the tag is read from the sources instead: the type (or test
# function) declared on the line after each `.tags(.integration)` becomes a --skip pattern.
unit:
	$(SERVICES) packages
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	skip=$$(grep -rh -A1 --include='*.swift' '[.]tags[(][.]integration' Tests | \
	    sed -nE 's/^(final )?(struct|class|enum|actor) ([A-Za-z0-9_]+).*/[.]\3\\b/p; s/^ *func ([A-Za-z0-9_]+)[(].*/\/\1[(]/p' | paste -sd'|'); \
	$(SWIFT) test --skip-build $(BUILD_FLAGS) --skip "$$skip" $(TEST_ARGS)

# The rule file, the example scrape config and the rules' unit tests, with Debian's promtool.
check-observability:
	$(PROMETHEUS) up
	$$($(PROMETHEUS) path)/promtool check rules $(OBSERVABILITY)/prometheus-alerts.yml
	$$($(PROMETHEUS) path)/promtool check config $(OBSERVABILITY)/prometheus.yml
	$$($(PROMETHEUS) path)/promtool test rules $(OBSERVABILITY)/tests/*.yml

# Three more RabbitMQ nodes (ports 5800+) besides the single one, so it has a target of its own.
test-cluster: setup
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(CLUSTER) up
	COURIER_WITH_CLUSTER=1 $(WITH_TEST_ENV) $(SWIFT) test $(BUILD_FLAGS) --filter '$(CLUSTER_TESTS)'

# Needs the toolchain and librabbitmq-dev (which `make setup` installs), not the services.
fuzz: setup
	for target in $(FUZZ_TARGETS); do $(SWIFT) build $(FUZZ_FLAGS) --product "$$target" || exit 1; done
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_ARGS='$(FUZZ_ARGS)' Tests/Fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

samples: setup
	deploy/local/publish-samples.sh

bench: setup
	$(SWIFT) build -c release --product courier-bench $(BUILD_FLAGS)
	$(WITH_TEST_ENV) .build/release/courier-bench $(BENCH_ARGS)

# The debug build, not release: `make test` (CI runs it first) has already built it, while a release
# build of courierd from a clean clone took 18 min here (1,102 s, on this 2-core machine under load,
# beside a chaos run; courier-chaos 92 s more) — a fifth of CI's 90 minutes for no gain in what the
# suite checks, correctness under faults, not speed. Debug courierd handles ~240 events/s here
# (one process, the 100,000-event clean run), above the default CHAOS_RATE. The clean run goes
# first: its dump is the oracle the chaos run compares with; each gets a vhost and database of its own.
chaos: setup
	$(SWIFT) build --product courierd $(BUILD_FLAGS)
	$(SWIFT) build --product courier-chaos $(BUILD_FLAGS)
	mkdir -p $(CHAOS_DIR)
	$(WITH_TEST_ENV) .build/debug/courier-chaos clean --events $(CHAOS_EVENTS) --seed $(CHAOS_SEED) \
	    --dump $(CHAOS_DIR)/clean-$(CHAOS_EVENTS)-$(CHAOS_SEED).dump
	if [ "$(CHAOS_BROKER)" = cluster ]; then $(CLUSTER) up; fi
	COURIER_WITH_CLUSTER=$(if $(filter cluster,$(CHAOS_BROKER)),1,0) $(WITH_TEST_ENV) .build/debug/courier-chaos chaos \
	    --events $(CHAOS_EVENTS) --seed $(CHAOS_SEED) --rate $(CHAOS_RATE) --broker $(CHAOS_BROKER) \
	    --expect $(CHAOS_DIR)/clean-$(CHAOS_EVENTS)-$(CHAOS_SEED).dump $(CHAOS_ARGS)
	rm -f $(CHAOS_DIR)/clean-$(CHAOS_EVENTS)-$(CHAOS_SEED).dump

services-down:
	$(SERVICES) down
	if [ -d .local/cluster ]; then $(CLUSTER) down; fi

services-status:
	$(SERVICES) status

clean:
	rm -rf .build $(FUZZ_BUILD)
