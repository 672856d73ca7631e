# Courier developer entry points. Every target that needs RabbitMQ/PostgreSQL first runs
# `deploy/local/services.sh up`, which installs and starts project-local instances (data
# under .local/) - so `make run` and `make test` work from a fresh clone.
#
#   make setup          install + start local RabbitMQ and PostgreSQL, write .local/services.env
#   make build          swift build
#   make run            build and run .build/debug/courierd against the local services
#   make test           swift test in a fresh vhost + database (deploy/local/with-test-env.sh)
#   make bench          release build of courier-bench, run in a fresh vhost + database
#   make samples        publish a handful of Semble events to the local broker (while `make run`
#                       runs) and show the rows courierd wrote
#   make services-down  stop the local RabbitMQ node and PostgreSQL cluster
#   make services-status
#   make clean          remove .build/
#
# Extra arguments: make test TEST_ARGS='--filter Foo', make run RUN_ARGS=..., make bench BENCH_ARGS=...

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# The toolchain lives in /opt/swift on this kind of machine; use it when swift is not on PATH.
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

SWIFT          ?= swift
SERVICES       := deploy/local/services.sh
WITH_TEST_ENV  := deploy/local/with-test-env.sh
ENV_FILE       := .local/services.env
BUILD_FLAGS    ?=
TEST_ARGS      ?=
RUN_ARGS       ?=
BENCH_ARGS     ?=
OUTAGE_TESTS   := BrokerRestartTests|PostgresOutageTests|ResourceAlarmTests|PublisherOutageTests

.PHONY: all setup build run test bench samples services-down services-status clean

all: build

setup:
	$(SERVICES) up

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

run: setup build
	set -a; . $(ENV_FILE); set +a; \
	AMQP_URL="$$COURIER_LOCAL_AMQP_URL" DATABASE_URL="$$COURIER_LOCAL_DATABASE_URL" \
	    exec .build/debug/courierd $(RUN_ARGS)

# Tests are compiled before the per-run vhost/database exist, so a compile error leaves nothing
# behind and the test resources live only as long as the tests run.
test: setup
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(WITH_TEST_ENV) $(SWIFT) test $(BUILD_FLAGS) --skip '$(OUTAGE_TESTS)' $(TEST_ARGS)
	@# These restart the local RabbitMQ node or stop Postgres, so each runs alone, after the rest.
	for suite in $(subst |, ,$(OUTAGE_TESTS)); do \
	    $(WITH_TEST_ENV) $(SWIFT) test $(BUILD_FLAGS) --filter "$$suite" || exit 1; \
	done

samples: setup
	deploy/local/publish-samples.sh

bench: setup
	$(SWIFT) build -c release --product courier-bench $(BUILD_FLAGS)
	$(WITH_TEST_ENV) .build/release/courier-bench $(BENCH_ARGS)

services-down:
	$(SERVICES) down

services-status:
	$(SERVICES) status

clean:
	rm -rf .build
