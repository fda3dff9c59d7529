# Orchestrates the four services; each service's own Makefile does that service's work.
#   make run    set up the machine, build, start all four services, wait until ready
#   make test   set up the machine, run the contracts check, the repo checks, every service's tests
SERVICES := auth-service product-service cart-service payment-service

# One target folder for the four crates: identical dependency versions compile once.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PROFILE ?= debug
export PROFILE

.PHONY: help setup infra-stop build run stop status test test-services contracts-check repo-check lint bench

help:
	@echo "make run | stop | status | test | lint | bench | build | setup | contracts-check | repo-check | infra-stop"

setup:
	@bash infra/local/setup.sh

infra-stop:
	@bash infra/local/stop.sh

build: setup
	@set -e; for s in $(SERVICES); do echo "==> build $$s"; $(MAKE) --no-print-directory -C $$s build; done

run: build
	@$(MAKE) --no-print-directory -C product-service seed
	@bash infra/local/services.sh start

stop:
	@bash infra/local/services.sh stop

status:
	@bash infra/local/services.sh status

test: setup contracts-check repo-check test-services

# One service at a time: the build is the bottleneck on two cores.
test-services:
	@set -e; for s in $(SERVICES); do echo "==> test $$s"; $(MAKE) --no-print-directory -C $$s test; done

lint:
	@set -e; for s in $(SERVICES); do echo "==> lint $$s"; $(MAKE) --no-print-directory -C $$s lint; done

contracts-check:
	@bash contracts/check.sh

repo-check:
	@.venv/bin/python -m pytest -q tests/repo

# Benchmarks need release builds: the platform is restarted in release mode and left running.
bench:
	@$(MAKE) --no-print-directory stop
	@PROFILE=release $(MAKE) --no-print-directory run
	@$(MAKE) --no-print-directory -C auth-service bench
	@$(MAKE) --no-print-directory -C product-service bench
	@$(MAKE) --no-print-directory -C payment-service bench
