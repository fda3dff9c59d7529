#!/usr/bin/env bash
# Stops the tansu broker this repository started (the shared stores are left alone: other
# projects and test runs on the machine use them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
pid_file=$STATE_DIR/broker/tansu.pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  kill -TERM "$(cat "$pid_file")"
  ok "tansu stopped"
else
  ok "no tansu started from this repository is running"
fi
rm -f "$pid_file"
