# Sourced by phases.sh (and tests/repo/test_phases.py): `phase` runs one step of `make test`
# under a time limit and records it; `report`, on exit, prints the table of where the time went.
#   table  the file the table is written to (phases.sh sets .local/test-phases.md)
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
running=
trap '[ -n "$running" ] && kill -TERM "$running" 2>/dev/null; exit 130' INT TERM

# phase NAME LIMIT COMMAND...: runs it for at most LIMIT seconds, records its seconds; exits
# (with the table) when it fails. timeout puts the command in a process group of its own and
# signals the whole group, so a test binary under make and cargo stops too; that group is out of
# the terminal's reach, so an interrupt of this script is passed on to it.
phase() {
  local name=$1 limit=$2 started=$SECONDS status
  shift 2
  echo "==> $name"
  timeout --kill-after=20 "$limit" "$@" &
  running=$!
  wait "$running"
  status=$?
  names+=("$name") seconds+=($((SECONDS - started)))
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "make test: phase '$name' did not end within its $limit s; stopped" >&2
    results+=("FAILED: no end within $limit s")
    exit 1
  elif [ "$status" -ne 0 ]; then
    results+=("FAILED ($status)")
    exit "$status"
  fi
  results+=(ok)
}

