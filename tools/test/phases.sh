#!/usr/bin/env bash
# `make test`: every phase in order, stopping at the first that fails, then a table of where the
# time went (also written to .local/test-phases.md), whether it passed or not. The slowest ten
# tests of the e2e and compose suites are in pytest's own "slowest durations" lists above it.
#   CRATES  the crates whose own tests run (the Makefile passes its list)
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .local
table=.local/test-phases.md
PY=.venv/bin/python
names=() seconds=() results=()
started_all=$SECONDS

report() {
  {
    echo "| phase | seconds | result |"
    echo "|---|---:|---|"
    for i in "${!names[@]}"; do echo "| ${names[$i]} | ${seconds[$i]} | ${results[$i]} |"; done
    echo "| **total** | $((SECONDS - started_all)) | |"
  } >"$table"
  echo
  echo "make test: where the time went ($table)"
  cat "$table"
}
trap report EXIT

# phase NAME COMMAND...: runs it, records its seconds; exits (with the table) when it fails.
phase() {
  local name=$1 started=$SECONDS status
  shift
  echo "==> $name"
  "$@"
  status=$?
  names+=("$name") seconds+=($((SECONDS - started)))
  if [ "$status" -ne 0 ]; then
    results+=("FAILED ($status)")
    exit "$status"
  fi
  results+=(ok)
}

phase "setup" make --no-print-directory setup
phase "contracts" make --no-print-directory contracts-check
phase "repo" make --no-print-directory repo-check
phase "deploy" make --no-print-directory deploy-check
for crate in ${CRATES:?the Makefile passes CRATES}; do
  phase "test $crate" make --no-print-directory -C "$crate" test
done
phase "e2e: binaries" make --no-print-directory e2e-binaries
phase "e2e: tests" "$PY" -m pytest -q --durations=10 tests/e2e
phase "compose: images" bash infra/compose/images.sh
phase "compose: tests" "$PY" -m pytest -q --durations=10 tests/compose
