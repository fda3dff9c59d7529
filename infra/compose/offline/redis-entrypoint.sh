#!/bin/sh
# The offline redis stand-in's start, as the real image's: `redis-server ARGS` runs with
# protected mode off (clients come from other containers); any other command runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
