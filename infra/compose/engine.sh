#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io (and debootstrap, which the
# offline base images need) when dockerd is missing, and starts dockerd in the background when
# it is not running (a new machine has the client at most). Idempotent.
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"

step "Docker engine"
if docker info >/dev/null 2>&1; then
  ok "answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  as_root apt-get update -qq || fail "apt-get update" "check the network and /etc/apt/sources.list"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || fail "apt-get install ${missing[*]}" "run 'apt-get install ${missing[*]}' by hand and read its error"
fi
mkdir -p "$STATE_DIR"
# No systemd here: dockerd runs as a background process and logs beside the broker's state.
as_root nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
WAIT_SECONDS=60 wait_for docker info || fail "dockerd start" "read $STATE_DIR/dockerd.log"
ok "dockerd started (log: $STATE_DIR/dockerd.log)"
