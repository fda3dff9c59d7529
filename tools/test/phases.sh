#!/usr/bin/env bash
# `make test`: every phase in order, stopping at the first that fails, then a table of where the
# time went (also written to .local/test-phases.md), whether it passed or not. The slowest ten
# tests of the e2e and compose suites are in pytest's own "slowest durations" lists above it.
#   CRATES  the crates whose own tests run (the Makefile passes its list)
# Each phase has a time limit, well above its cold time on a 2-core machine (docs/TEST-TIMINGS.md):
# a hung test fails its phase, named, instead of holding the run until CI's own limit ends it
# with no table.
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .local
table=.local/test-phases.md
PY=.venv/bin/python
# shellcheck source=tools/test/phase.sh
source tools/test/phase.sh

phase "setup" 2400 make --no-print-directory setup
phase "contracts" 300 make --no-print-directory contracts-check
phase "repo" 300 make --no-print-directory repo-check
phase "deploy" 600 make --no-print-directory deploy-check
for crate in ${CRATES:?the Makefile passes CRATES}; do
  phase "test $crate" 1200 make --no-print-directory -C "$crate" test
done
phase "e2e: binaries" 1200 make --no-print-directory e2e-binaries
phase "e2e: tests" 1200 "$PY" -m pytest -q --durations=10 tests/e2e
phase "chaos: replicated" 900 make --no-print-directory chaos-check
phase "compose: images" 1800 bash infra/compose/images.sh
phase "compose: tests" 1200 "$PY" -m pytest -q --durations=10 tests/compose
