#!/usr/bin/env bash
# `make down`: removes the compose platform's containers, network and volumes (its data).
# Harmless when nothing runs, or when no engine does.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../local/lib.sh"
source "$HERE/compose.sh"
docker info >/dev/null 2>&1 || { ok "no Docker engine answers: nothing to remove"; exit 0; }
# Both files: whichever `make up` used, every service it can have started is named. The data
# goes with the volumes, so nothing is gained by giving a container that ignores SIGTERM (the
# stand-ins' shell entrypoints) the default 10 s: 2 s, then SIGKILL.
SHOP_COMPOSE_OFFLINE=1 PROFILES="observability ${PROFILES:-}" compose down --volumes --remove-orphans --timeout 2
