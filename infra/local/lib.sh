# Shared helpers for the infra/local scripts: numbered steps, clear failures.
# Sourced, never run.

step() { printf '==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  # $1: the dependency that failed; $2: how to fix it.
  printf 'infra/local: %s failed.\n  fix: %s\n' "$1" "$2" >&2
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Waits until "$@" succeeds, at most $WAIT_SECONDS (default 30) seconds.
wait_for() {
  local deadline=$((SECONDS + ${WAIT_SECONDS:-30}))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Where the local broker keeps its durable log and its own log file (ignored by git).
STATE_DIR=${SHOP_STATE_DIR:-$REPO_ROOT/.local}
BROKER_ADDR=${SHOP_KAFKA_BROKERS:-127.0.0.1:9092}
TANSU_VERSION=0.6.0
BUF_VERSION=1.75.0
