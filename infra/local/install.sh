#!/usr/bin/env bash
# Installs what building and running the platform locally needs and is missing:
# Debian packages, the tansu Kafka-protocol broker, buf, and the Python tools of the repo checks.
# Idempotent: a warm machine spends no time here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The stores and their command-line clients (pgbench comes with postgresql).
STORE_PACKAGES=(postgresql postgresql-client mariadb-server mariadb-client redis-server redis-tools)
APT_PACKAGES=(
  "${STORE_PACKAGES[@]}"
  build-essential pkg-config cmake curl ca-certificates
  # librdkafka (rdkafka's cmake-build) needs these headers
  libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev libsasl2-dev
  # tonic-build needs protoc and the well-known types (diesel-async talks to the stores in pure Rust)
  protobuf-compiler libprotobuf-dev
  python3 python3-venv
  # start.sh adds an index to the broker's SQLite log (docs/adr/0009-broker-header-index.md)
  sqlite3
  # the deployment checks: `docker-compose config` validates the compose file without an engine
  docker-compose
  # the local platform's single public entry, balancing over each service's replicas (proxy.sh)
  haproxy
  # `make bench` draws its plots' text with this TrueType font (and uses pgbench, redis-benchmark)
  fonts-dejavu-core
  # promtool checks and unit-tests each chart's alert rules (tests/deploy/test_alerts.py)
  prometheus
)

# SHOP_SETUP_STORES_ONLY=1: the stores and nothing else. The bare-Debian check
# (tests/compose/test_bare_debian_setup.py) runs the store set-up in a container with it.
if [ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ]; then APT_PACKAGES=("${STORE_PACKAGES[@]}"); fi

step "Debian packages"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# npm ships inside NodeSource's nodejs package, so ask for the commands, not Debian's names.
[ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ] || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  as_root apt-get update -qq || fail "apt-get update" "check the network and /etc/apt/sources.list"
  # Do not let package scripts start services through systemd: start.sh starts what is missing.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || fail "apt-get install ${missing[*]}" "run 'apt-get install ${missing[*]}' by hand and read its error"
fi
ok "all ${#APT_PACKAGES[@]} packages present"
[ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ] && exit 0

step "tansu $TANSU_VERSION (Kafka-protocol broker)"
if tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  ok "already installed: $(command -v tansu)"
else
  command -v cargo >/dev/null || fail "cargo" "install Rust with rustup (https://rustup.rs)"
  echo "    building from crates.io with durable SQLite storage (about 15 minutes the first time)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql \
    || fail "cargo install tansu" "read the build error above; it needs cmake and a C compiler"
  ok "installed: $(command -v tansu)"
fi

step "buf $BUF_VERSION and the repository checks' Python tools"
if [ ! -x "$REPO_ROOT/contracts/node_modules/.bin/buf" ]; then
  (cd "$REPO_ROOT/contracts" && npm ci --silent --no-audit --no-fund) \
    || fail "npm ci in contracts/" "check that the npm registry is reachable"
fi
ok "buf $("$REPO_ROOT/contracts/node_modules/.bin/buf" --version)"
# Reinstalled whenever tests/requirements.txt changes (its hash is kept beside the venv).
requirements_hash=$(sha256sum "$REPO_ROOT/tests/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$REPO_ROOT/.venv/bin/pytest" ] || [ "$(cat "$REPO_ROOT/.venv/.requirements" 2>/dev/null)" != "$requirements_hash" ]; then
  [ -x "$REPO_ROOT/.venv/bin/pip" ] || python3 -m venv "$REPO_ROOT/.venv" || fail "python3 -m venv" "apt-get install python3-venv"
  "$REPO_ROOT/.venv/bin/pip" install -q -r "$REPO_ROOT/tests/requirements.txt" \
    || fail "pip install -r tests/requirements.txt" "check that PyPI is reachable"
  echo "$requirements_hash" >"$REPO_ROOT/.venv/.requirements"
fi
ok "python tools in .venv"
