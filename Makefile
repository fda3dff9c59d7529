# Orchestrates the four services; each service's own Makefile does that service's work.
#   make run    set up the machine, build, start all four services behind the local proxy
#               (http://127.0.0.1:8080), wait until ready; REPLICAS="cart-service=3
#               payment-service=2" runs more than one replica of a service; OBSERVE=1 then
#               runs `make observe` (a local Prometheus on http://127.0.0.1:9090)
#   make test   set up the machine, run the contracts check, the repo checks, every service's tests,
#               the end-to-end and compose suites; ends with a table of each phase's seconds
#   make clean  remove everything the repository built: target folders, .local/, its images,
#               containers, volumes and build caches
SERVICES := auth-service product-service cart-service payment-service
# Crates beside the services that are tested and linted with them (loadgen: `make bench`;
# auditor: `make audit`).
CRATES := $(SERVICES) loadgen auditor

# One target folder for the four crates: identical dependency versions compile once.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PROFILE ?= debug
export PROFILE
# `make observe`'s Prometheus: its port on 127.0.0.1, how often it scrapes and evaluates the rules,
# and its state folder (configuration, TSDB, log, pid) beside the platform's.
OBSERVE_PORT ?= 9090
OBSERVE_INTERVAL ?= 5s
OBSERVE_DIR = $${SHOP_STATE_DIR:-$(CURDIR)/.local}/observe

.PHONY: help setup infra-stop build binaries e2e-binaries run observe clean stop status test test-services contracts-check repo-check deploy-check e2e compose-e2e demo lint bench audit chaos chaos-check up down logs

help:
	@echo "make run | observe | stop | status | test | lint | bench | audit | chaos | chaos-check | build | setup | contracts-check | repo-check | deploy-check | e2e | demo | infra-stop | up | down | logs | clean"

setup:
	@bash infra/local/setup.sh

infra-stop:
	@bash infra/local/stop.sh

build: setup binaries

# The four services' binaries, without the set-up. Every crate's Makefile first claims a target
# folder shared with other clones (CARGO_TARGET_DIR, as .ci/run sets it): tools/claim-target.sh.
binaries:
	@set -e; for s in $(SERVICES); do echo "==> build $$s"; $(MAKE) --no-print-directory -C $$s build; done

# What the e2e suite runs: the services and the auditor.
e2e-binaries: binaries
	@$(MAKE) --no-print-directory -C auditor build

run: build
	@$(MAKE) --no-print-directory -C product-service seed
	@bash infra/local/services.sh start
	@if [ "$(OBSERVE)" = 1 ]; then $(MAKE) --no-print-directory observe; fi

# Debian's Prometheus over the running platform (infra/local/observe.py): a job per service named
# as the charts' alert rules select it (job="cart-service"), every replica's /metrics scraped
# every $(OBSERVE_INTERVAL), each chart's alerts/rules.yaml evaluated; http://127.0.0.1:9090. Run
# again, it reloads its configuration (after a `make run REPLICAS=…`); `make stop` stops it.
observe:
	@.venv/bin/python infra/local/observe.py start --dir "$(OBSERVE_DIR)" --port $(OBSERVE_PORT) \
	  --offset "$${SHOP_PORT_OFFSET:-0}" --interval $(OBSERVE_INTERVAL) \
	  --replicas-file "$${SHOP_STATE_DIR:-$(CURDIR)/.local}/run/replicas"

stop:
	@.venv/bin/python infra/local/observe.py stop --dir "$(OBSERVE_DIR)"
	@bash infra/local/services.sh stop

status:
	@bash infra/local/services.sh status

# Each phase timed: tools/test/phases.sh (the table lands in .local/test-phases.md).
test:
	@CRATES="$(CRATES)" bash tools/test/phases.sh

# One service at a time: the build is the bottleneck on two cores.
test-services:
	@set -e; for s in $(CRATES); do echo "==> test $$s"; $(MAKE) --no-print-directory -C $$s test; done

lint:
	@set -e; for s in $(CRATES); do echo "==> lint $$s"; $(MAKE) --no-print-directory -C $$s lint; done

contracts-check:
	@bash contracts/check.sh

repo-check:
	@.venv/bin/python -m pytest -q tests/repo

# The four real services started together (ports 1908x, fresh databases and topics of their own),
# driven through REST: the demo journey, failures, concurrency, traces. tests/e2e/README.md.
e2e: setup e2e-binaries
	@.venv/bin/python -m pytest -q --durations=10 tests/e2e

# The platform as users run it: the four images built, `make up` (project shop-e2e, entry on
# 28080), the journey, one trace in the collector, a killed container coming back, then two cart
# and two payment containers (SCALE) with one cart container killed, `make down`.
# infra/compose/README.md.
compose-e2e: setup
	@.venv/bin/python -m pytest -q --durations=10 tests/compose

# A scripted customer journey against `make run`, printed step by step.
demo:
	@.venv/bin/python tests/e2e/demo.py

# Charts rendered with Helm's engine and validated against Kubernetes 1.29 and 1.31, the compose
# file and the Dockerfiles checked against the crates: no cluster or Docker engine needed.
deploy-check:
	@.venv/bin/python -m pytest -q tests/deploy

# Benchmarks need release builds: the platform is restarted in release mode and left running,
# then loadgen measures the ceilings, every scenario and the mixed journey, and writes
# bench/results/<date>.{json,md} with PNG plots (bench/results/latest.md is the newest).
bench:
	@$(MAKE) --no-print-directory stop
	@PROFILE=release $(MAKE) --no-print-directory run
	@$(MAKE) --no-print-directory -C loadgen bench
	@python3 tools/bench/containers.py

# Reads every store of `make run` and reports broken promises (stock vs reservations and its
# ledger, paid vs committed, events, orders, stuck outboxes); exit 1 on any. auditor/.
audit:
	@$(MAKE) --no-print-directory -C auditor build
	@$(CARGO_TARGET_DIR)/$(PROFILE)/auditor

# Faults under load (kill -9 of each service and of the broker, store crashes, a slow then
# failing gateway, replayed events), each followed by the auditor, on the release binaries
# running on throwaway stores (tools/chaos/); CHAOS_ARGS=--short for the quick version,
# CHAOS_ARGS="--only redis" for one fault. Leaves the platform stopped.
chaos:
	@$(MAKE) --no-print-directory stop
	@PROFILE=release $(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory -C loadgen build
	@PROFILE=release $(MAKE) --no-print-directory -C auditor build
	@PROFILE=release python3 tools/chaos/chaos.py $(CHAOS_ARGS)

# `make test`'s run of the replicated chaos (two replicas of each service behind the proxy:
# replica kills, rolling restarts, a scale-up; not one failed shopper request) on the debug
# builds, at a rate they keep up with, on ports and a state folder of its own so that a running
# `make run` is left alone. About 6.5 minutes. The offset keeps every port out of the kernel's
# ephemeral range (32768-60999), where an outgoing connection could hold one first: REST
# 21080-21484, gRPC 63051-63454 (the e2e suite's replicas use 12000).
chaos-check: e2e-binaries
	@$(MAKE) --no-print-directory -C loadgen build-debug
	@PROFILE=debug SHOP_PORT_OFFSET=13000 SHOP_STATE_DIR=$(CURDIR)/.local/chaos-check \
	  .venv/bin/python tools/chaos/chaos.py --replicated --short --rate 50

# The whole platform in Docker: infra/compose/ (README there). Starts a Docker engine if none
# answers, builds the four images, runs stores, broker, topic job and services, returns once all
# are healthy and prints the URLs. PROFILES=observability adds the trace collector (and Jaeger,
# http://127.0.0.1:16686). Where Docker Hub cannot be reached, the stores and the broker are
# stand-ins built from Debian's mirror (infra/compose/offline/). `make down` removes it all.
up:
	@PROFILES="$(PROFILES)" SCALE="$(SCALE)" bash infra/compose/up.sh

down:
	@PROFILES="$(PROFILES)" bash infra/compose/down.sh

logs:
	@bash -c 'source infra/compose/compose.sh; SHOP_COMPOSE_OFFLINE=1 PROFILES="observability" compose logs -f --tail=100'

# Everything the repository built, so the disk is as before it: the shared target folder (and
# any crate's own), .local/ (broker log, compose key, image logs), the compose projects'
# containers and volumes, the shop/* and offline stand-in images and BuildKit's cargo caches.
# The machine's stores and the installed packages stay. tools/clean.sh.
clean:
	@bash tools/clean.sh
