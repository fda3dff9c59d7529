#!/usr/bin/env bash
# Runs the four services in the background from their built binaries.
#   services.sh start   start those not running, wait until every /readyz answers 200
#   services.sh stop    SIGTERM each, wait for a clean exit
#   services.sh status  what runs, and whether it is ready
# Logs: .local/logs/<service>.log (JSON lines). PIDs: .local/run/<service>.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
PROFILE=${PROFILE:-debug}
LOG_DIR=$STATE_DIR/logs
PID_DIR=$STATE_DIR/run
READY_SECONDS=${READY_SECONDS:-120}

# service  http-port  grpc-port (- for none)
SERVICES="auth-service 8081 50051
product-service 8082 50052
cart-service 8083 -
payment-service 8084 50054"

pid_of() {
  local file=$PID_DIR/$1.pid pid
  [ -f "$file" ] && pid=$(cat "$file") && kill -0 "$pid" 2>/dev/null || return 1
  # A killed process nobody reaped yet (a zombie) still answers kill -0: it is not running.
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}

ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }

start() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  while read -r service http grpc; do
    if pid=$(pid_of "$service"); then
      ok "$service already running (pid $pid)"
      continue
    fi
    binary=$TARGET_DIR/$PROFILE/$service
    [ -x "$binary" ] || fail "$service" "no binary at $binary: run 'make build' first"
    # Static group membership for the event consumers: started again after a crash, a service
    # takes its partitions back within seconds instead of waiting out its dead predecessor's
    # session (on tansu a new member could wait minutes). The session outlasts tansu's static
    # join (two 3 s pauses counted against it) and a restart that comes late.
    identity=()
    case $service in
      auth-service | cart-service | payment-service)
        prefix=${service%%-*}
        id_var=${prefix^^}_KAFKA_GROUP_INSTANCE_ID session_var=${prefix^^}_KAFKA_SESSION_TIMEOUT_MS
        identity=("$id_var=${!id_var:-$service-local}" "$session_var=${!session_var:-30000}")
        ;;
    esac
    nohup env "${identity[@]}" "$binary" >>"$LOG_DIR/$service.log" 2>&1 &
    echo $! >"$PID_DIR/$service.pid"
    ok "$service started (pid $!), log $LOG_DIR/$service.log"
  done <<<"$SERVICES"

  step "waiting until every service is ready (at most ${READY_SECONDS}s)"
  while read -r service http grpc; do
    if ! WAIT_SECONDS=$READY_SECONDS wait_for ready "$http"; then
      tail -n 5 "$LOG_DIR/$service.log" >&2 || true
      fail "$service readiness" "curl http://127.0.0.1:$http/readyz names the failing dependency; log: $LOG_DIR/$service.log"
    fi
    ok "$service ready"
  done <<<"$SERVICES"

  echo
  echo "The shop platform is running:"
  while read -r service http grpc; do
    line="  $(printf '%-16s' "$service") REST http://127.0.0.1:$http"
    [ "$grpc" != - ] && line="$line   gRPC 127.0.0.1:$grpc"
    echo "$line   (/healthz /readyz /metrics)"
  done <<<"$SERVICES"
  echo "Logs in $LOG_DIR. Stop with 'make stop'."
}

stop() {
  while read -r service http grpc; do
    if pid=$(pid_of "$service"); then
      kill -TERM "$pid"
      WAIT_SECONDS=30 wait_for bash -c "! kill -0 $pid" || kill -KILL "$pid"
      ok "$service stopped"
    else
      ok "$service not running"
    fi
    rm -f "$PID_DIR/$service.pid"
  done <<<"$SERVICES"
}

status() {
  while read -r service http grpc; do
    if pid=$(pid_of "$service"); then
      state="running (pid $pid), $(ready "$http" && echo ready || echo 'NOT ready')"
    else
      state="stopped"
    fi
    printf '  %-16s %s\n' "$service" "$state"
  done <<<"$SERVICES"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
