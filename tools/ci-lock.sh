#!/usr/bin/env bash
# ci-lock.sh LOCKFILE COMMAND...: runs COMMAND while holding an exclusive lock on LOCKFILE,
# waiting for it first. The lock is held by flock itself, not by a descriptor COMMAND inherits:
# a daemon COMMAND starts on the way (dockerd for the compose suite, the stores on a new machine)
# would otherwise hold it for as long as it lives, and every later run would wait forever.
set -euo pipefail
lock=${1:?usage: ci-lock.sh LOCKFILE COMMAND...}
shift
exec flock --close "$lock" "$@"
