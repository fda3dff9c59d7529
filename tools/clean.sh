#!/usr/bin/env bash
# `make clean`: removes everything this repository built, so the disk is as before it. Stops
# what it started first (the services of `make run`, its broker, the compose projects); the
# machine's PostgreSQL, MariaDB and Redis and the installed packages stay (other checkouts and
# CI runs use them). Prints the disk before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/local/lib.sh
source infra/compose/compose.sh
before=$(df -h --output=avail / | tail -n 1 | tr -d ' ')

step "services and broker of this checkout"
python3 infra/local/observe.py stop --dir "${SHOP_STATE_DIR:-.local}/observe" >/dev/null 2>&1 || true
bash infra/local/services.sh stop >/dev/null 2>&1 || true
bash infra/local/stop.sh

if docker info >/dev/null 2>&1; then
  step "compose projects, their volumes and images"
  # make up's project, the compose tests' and the container benchmark's.
  for project in shop shop-e2e shop-bench; do
    COMPOSE_PROJECT=$project SHOP_COMPOSE_OFFLINE=1 PROFILES=observability \
      compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  done
  images=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(shop/|shop-offline/|rust:1\.95-bookworm$)' || true)
  [ -z "$images" ] || docker rmi -f $images >/dev/null
  # The images' shared cargo caches (ADR 16) and the layers no image uses any more.
  docker builder prune -f --filter type=exec.cachemount >/dev/null || echo "    (BuildKit's cache mounts: 'docker builder prune -a' removes them)"
  docker builder prune -f >/dev/null || true
  docker image prune -f >/dev/null
  ok "removed"
fi

step "build output"
rm -rf ./target ./*/target .local .venv contracts/node_modules .hypothesis .pytest_cache .schemathesis
find . -name __pycache__ -type d -prune -exec rm -rf {} +
ok "removed target/, the crates' target folders, .local/, .venv/, contracts/node_modules and the test tools' caches"
# A target folder outside the checkout (CARGO_TARGET_DIR, e.g. CI's /var/tmp/shop-target) only
# when this repository's builds used it (tools/claim-target.sh's marker is in it): never a
# folder of the user's own. Other clones sharing it rebuild into it.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -f "$CARGO_TARGET_DIR/.checkout" ]; then
  rm -rf "$CARGO_TARGET_DIR"
  ok "removed $CARGO_TARGET_DIR (shared with other clones of this repository)"
fi
echo "    disk available on /: $before before, $(df -h --output=avail / | tail -n 1 | tr -d ' ') now"
