#!/usr/bin/env bash
# Runs the four services in the background from their built binaries, each as one or more
# replicas, behind an HAProxy that is the platform's single public entry (proxy.sh).
#   services.sh start   start what is not running, wait until every /readyz answers 200
#   services.sh stop    SIGTERM every replica and the proxy, wait for a clean exit
#   services.sh status  every replica with its ports, whether it is ready, and the proxy's view
#   services.sh restart SERVICE   a rolling restart, as `kubectl rollout restart` does it: one
#                       replica at a time is drained at the proxy, stopped (SIGTERM: it finishes
#                       what it serves), started again and waited for, then put back
# REPLICAS="cart-service=3 payment-service=2" sets how many replicas `start` runs (default 1,
# at most 5 each). Replica i listens on the service's ports + 100 x (i - 1): cart's second
# replica on 8183, payment's second gRPC port 50154. Replica 1 of every service is ready before
# any other starts.
# Logs: .local/logs/<service>[-<i>].log (JSON lines). PIDs: .local/run/<service>[-<i>].pid
# (replica 1 keeps the plain names, which `make bench` and `make chaos` read).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
PROFILE=${PROFILE:-debug}
LOG_DIR=$STATE_DIR/logs
PID_DIR=$STATE_DIR/run
PROXY_DIR=$STATE_DIR/proxy
PKI_DIR=$STATE_DIR/pki
READY_SECONDS=${READY_SECONDS:-120}
# SHOP_PORT_OFFSET moves every port (a second platform beside `make run`: the e2e suite's).
OFFSET=${SHOP_PORT_OFFSET:-0}
# The wiring is platform.yaml's (ports, environment prefixes, who consumes events), as the e2e
# suite and `make chaos` read it.
PLATFORM=("$REPO_ROOT/.venv/bin/python" "$REPO_ROOT/infra/local/wiring.py")
wiring() { "${PLATFORM[@]}" "$@" || fail "infra/local/platform.yaml" "cannot be read ('make setup' makes .venv)"; }
read -r PORT_STEP MAX_REPLICAS <<<"$(wiring step)"
read -r entry auth_internal stats admin auth_grpc <<<"$(wiring proxy "$OFFSET")"
PUBLIC=127.0.0.1:$entry
AUTH_INTERNAL=127.0.0.1:$auth_internal
AUTH_GRPC=127.0.0.1:$auth_grpc
STATS=127.0.0.1:$stats
ADMIN=127.0.0.1:$admin

# service  http-port  grpc-port (- for none)  environment prefix  consumes events (or -)
SERVICES=$(wiring services "$OFFSET")

# How many replicas each service runs: written by `start` from REPLICAS, read by stop/status.
COUNTS=$PID_DIR/replicas

name_of() { if [ "$2" -eq 1 ]; then echo "$1"; else echo "$1-$2"; fi; }
port_of() { echo $(($1 + PORT_STEP * ($2 - 1))); }
ports_of() { awk -v s="$1" '$1 == s { print $2, $3 }' <<<"$SERVICES"; }
is_service() { [ -n "$1" ] && awk -v s="$1" '$1 == s { found = 1 } END { exit !found }' <<<"$SERVICES"; }

pid_of() {
  local file=$PID_DIR/$1.pid pid
  [ -f "$file" ] && pid=$(cat "$file") && kill -0 "$pid" 2>/dev/null || return 1
  # A killed process nobody reaped yet (a zombie) still answers kill -0: it is not running.
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}

ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }

count_of() {
  local asked
  asked=$(awk -F= -v s="$1" '$1 == s { print $2 }' "$COUNTS" 2>/dev/null || true)
  echo "${asked:-1}"
}

# Checks REPLICAS and writes the count of every service to $COUNTS.
record_counts() {
  local entry service n counts=""
  for entry in ${REPLICAS:-}; do
    service=${entry%%=*} n=${entry#*=}
    is_service "$service" \
      || fail "REPLICAS ($entry)" "name one of: auth-service product-service cart-service payment-service"
    [[ "$n" =~ ^[1-9][0-9]*$ ]] && [ "$n" -le "$MAX_REPLICAS" ] \
      || fail "REPLICAS ($entry)" "give a service 1 to $MAX_REPLICAS replicas, e.g. REPLICAS=\"cart-service=3 payment-service=2\""
  done
  while read -r service _; do
    n=1
    for entry in ${REPLICAS:-}; do [ "${entry%%=*}" = "$service" ] && n=${entry#*=}; done
    counts="$counts$service=$n"$'\n'
  done <<<"$SERVICES"
  printf '%s' "$counts" >"$COUNTS"
}

# Every replica slot of a gRPC port, as cart takes it: cart probes each and balances over those
# that accept, so the list does not change with the counts.
grpc_slots() {
  local grpc=$1 i list=""
  for i in $(seq 1 "$MAX_REPLICAS"); do list="$list,https://127.0.0.1:$(port_of "$grpc" "$i")"; done
  echo "${list#,}"
}

# The environment of replica $2 of service $1, one NAME=value a line: its ports, its consumer's
# static identity, and where what it calls is: auth's JWKS through the proxy's internal entry,
# auth's gRPC session check through the proxy's TCP entry (product, payment) or by its replica
# slots (cart), so one auth replica's death fails no token check; product and payment gRPC by
# their replica slots.
replica_env() {
  local service=$1 i=$2 http grpc prefix consumes
  read -r _ http grpc prefix consumes < <(awk -v s="$service" '$1 == s' <<<"$SERVICES")
  echo "${prefix}_HTTP_PORT=$(port_of "$http" "$i")"
  [ "$grpc" = - ] || echo "${prefix}_GRPC_PORT=$(port_of "$grpc" "$i")"
  # Static group membership for the event consumers: started again after a crash, a replica
  # takes its partitions back within seconds instead of waiting out its dead predecessor's
  # session (on tansu a new member could wait minutes). The session outlasts tansu's static
  # join (two 3 s pauses counted against it) and a restart that comes late.
  if [ "$consumes" = consumes ]; then
    local id_var=${prefix}_KAFKA_GROUP_INSTANCE_ID session_var=${prefix}_KAFKA_SESSION_TIMEOUT_MS
    echo "$id_var=${!id_var:-$service-local}$([ "$i" -eq 1 ] || echo "-$i")"
    echo "$session_var=${!session_var:-30000}"
  fi
  # Internal gRPC is mutual TLS: each service's workload certificate from the local CA (pki.sh).
  echo "${prefix}_TLS_DIR=$PKI_DIR/$service"
  case $service in
    # Logins arrive through the proxy, which reaches auth from 127.0.0.2 (proxy.sh): the
    # throttle keys on the client address it forwards, and on no header from anyone else.
    auth-service) echo "AUTH_TRUSTED_PROXIES=127.0.0.2" ;;
    product-service | payment-service)
      echo "${prefix}_AUTH_JWKS_URL=http://$AUTH_INTERNAL/.well-known/jwks.json"
      echo "${prefix}_AUTH_GRPC_URL=https://$AUTH_GRPC"
      # The sweeper's few questions go to product's first replica; one it cannot reach is
      # asked again on its next round.
      [ "$service" = product-service ] ||
        echo "PAYMENT_PRODUCT_GRPC_URL=https://127.0.0.1:$(port_of "$(ports_of product-service | cut -d' ' -f2)" 1)"
      ;;
    cart-service)
      echo "CART_AUTH_URL=http://$AUTH_INTERNAL"
      echo "CART_PRODUCT_GRPC_URL=$(grpc_slots "$(ports_of product-service | cut -d' ' -f2)")"
      echo "CART_PAYMENT_GRPC_URL=$(grpc_slots "$(ports_of payment-service | cut -d' ' -f2)")"
      echo "CART_AUTH_GRPC_URL=$(grpc_slots "$(ports_of auth-service | cut -d' ' -f2)")"
      echo "CART_UPSTREAM_RESOLVE_INTERVAL_MS=1000"
      ;;
  esac
}

start_replica() {
  local service=$1 i=$2 name binary
  name=$(name_of "$service" "$i")
  if pid=$(pid_of "$name"); then
    ok "$name already running (pid $pid)"
    return
  fi
  binary=$TARGET_DIR/$PROFILE/$service
  [ -x "$binary" ] || fail "$service" "no binary at $binary: run 'make build' first"
  local env=()
  mapfile -t env < <(replica_env "$service" "$i")
  nohup env "${env[@]}" "$binary" >>"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$PID_DIR/$name.pid"
  ok "$name started (pid $!), log $LOG_DIR/$name.log"
}

wait_ready() {
  local service=$1 i=$2 http name
  read -r http _ < <(ports_of "$service")
  name=$(name_of "$service" "$i")
  if ! WAIT_SECONDS=$READY_SECONDS wait_for ready "$(port_of "$http" "$i")"; then
    tail -n 5 "$LOG_DIR/$name.log" >&2 || true
    fail "$name readiness" "curl http://127.0.0.1:$(port_of "$http" "$i")/readyz names the failing dependency; log: $LOG_DIR/$name.log"
  fi
  ok "$name ready"
}

# The REST addresses of a service's replicas, space-separated.
rest_replicas() {
  local service=$1 http i list=""
  read -r http _ < <(ports_of "$service")
  for i in $(seq 1 "$(count_of "$service")"); do list="$list 127.0.0.1:$(port_of "$http" "$i")"; done
  echo "${list# }"
}

# auth's gRPC addresses with their REST ports (grpc-host:port/rest-port), space-separated.
auth_grpc_replicas() {
  local http grpc i list=""
  read -r http grpc < <(ports_of auth-service)
  for i in $(seq 1 "$(count_of auth-service)"); do
    list="$list 127.0.0.1:$(port_of "$grpc" "$i")/$(port_of "$http" "$i")"
  done
  echo "${list# }"
}

# Writes the proxy's configuration from the counts and starts it, or reloads it without
# dropping a connection (-sf: the old process finishes what it serves, then exits).
start_proxy() {
  command -v haproxy >/dev/null || fail "haproxy" "run 'make setup' (it installs Debian's haproxy)"
  mkdir -p "$PROXY_DIR"
  PROXY_BIND=$PUBLIC PROXY_AUTH_BIND=$AUTH_INTERNAL PROXY_STATS_BIND=$STATS PROXY_ADMIN_BIND=$ADMIN \
    PROXY_AUTH_GRPC_BIND=$AUTH_GRPC PROXY_AUTH_GRPC=$(auth_grpc_replicas) \
    PROXY_AUTH=$(rest_replicas auth-service) PROXY_PRODUCT=$(rest_replicas product-service) \
    PROXY_CART=$(rest_replicas cart-service) PROXY_PAYMENT=$(rest_replicas payment-service) \
    bash "$REPO_ROOT/infra/local/proxy.sh" config >"$PROXY_DIR/haproxy.cfg.new"
  haproxy -c -q -f "$PROXY_DIR/haproxy.cfg.new" || fail "haproxy configuration" "read $PROXY_DIR/haproxy.cfg.new"
  if pid=$(pid_of proxy) && cmp -s "$PROXY_DIR/haproxy.cfg.new" "$PROXY_DIR/haproxy.cfg"; then
    rm -f "$PROXY_DIR/haproxy.cfg.new"
    ok "proxy already running with this configuration (pid $pid)"
    return
  fi
  mv "$PROXY_DIR/haproxy.cfg.new" "$PROXY_DIR/haproxy.cfg"
  if pid=$(pid_of proxy); then
    haproxy -D -f "$PROXY_DIR/haproxy.cfg" -p "$PID_DIR/proxy.pid" -sf "$pid"
    ok "proxy reloaded: http://$PUBLIC"
  else
    haproxy -D -f "$PROXY_DIR/haproxy.cfg" -p "$PID_DIR/proxy.pid"
    ok "proxy started: http://$PUBLIC (statistics http://$STATS)"
  fi
}

start() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  record_counts
  # The workload certificates (kept while valid; a state folder of its own gets its own CA).
  bash "$REPO_ROOT/infra/local/pki.sh" "$PKI_DIR" >/dev/null
  # The proxy first on a new start: product and payment fetch auth's keys through it, and cart
  # calls auth by it. On a running platform its new configuration waits until the replicas it
  # adds are ready: HAProxy takes a new server as up before its first check, and a replica that
  # is still starting answers 503, which is not retried (a scale-up's chaos run met one).
  local proxy_running=0
  if pid_of proxy >/dev/null; then proxy_running=1; else start_proxy; fi
  while read -r service _; do start_replica "$service" 1; done <<<"$SERVICES"
  step "waiting until replica 1 of every service is ready (at most ${READY_SECONDS}s)"
  while read -r service _; do wait_ready "$service" 1; done <<<"$SERVICES"
  local more=0 i
  while read -r service _; do
    for i in $(seq 2 "$(count_of "$service")"); do start_replica "$service" "$i" && more=1; done
  done <<<"$SERVICES"
  if [ "$more" = 1 ]; then
    step "waiting until the other replicas are ready"
    while read -r service _; do
      for i in $(seq 2 "$(count_of "$service")"); do wait_ready "$service" "$i"; done
    done <<<"$SERVICES"
  fi
  [ "$proxy_running" = 0 ] || start_proxy
  WAIT_SECONDS=15 wait_for all_up_in_proxy \
    || fail "proxy" "a replica is not UP in http://$STATS; its configuration: $PROXY_DIR/haproxy.cfg"

  echo
  echo "The shop platform is running. Public entry (the routes of the Ingress): http://$PUBLIC"
  status
  echo "Proxy statistics: http://$STATS. Logs in $LOG_DIR. Stop with 'make stop'."
}

# Whether a process has exited (a zombie nobody reaped yet counts as exited).
exited() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

stop_pid() {
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || true
  WAIT_SECONDS=30 wait_for exited "$pid" || kill -KILL "$pid" 2>/dev/null || true
  ok "$name stopped"
}

stop() {
  local file name
  if pid=$(pid_of proxy); then stop_pid proxy "$pid"; fi
  rm -f "$PID_DIR/proxy.pid"
  # A proxy replaced by a reload (-sf) finishes its connections before it exits: not waited for.
  pkill -TERM -f "haproxy .*-f $PROXY_DIR/haproxy.cfg" 2>/dev/null || true
  # Every replica with a pid file, whatever the counts say now.
  while read -r service _; do
    for file in "$PID_DIR/$service.pid" "$PID_DIR/$service"-[0-9]*.pid; do
      [ -e "$file" ] || continue
      name=$(basename "$file" .pid)
      if pid=$(pid_of "$name"); then stop_pid "$name" "$pid"; else ok "$name not running"; fi
      rm -f "$file"
    done
  done <<<"$SERVICES"
  rm -f "$COUNTS"
}

# The proxy's view of one server ("UP", "DOWN", …) from its CSV statistics (field 18: status).
proxy_view() {
  curl -fsS --max-time 2 "http://$STATS/;csv" 2>/dev/null \
    | awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18; found = 1 } END { if (!found) print "-" }'
}

# Sends one command to HAProxy's runtime API (bash's /dev/tcp: no socat needed); prints the answer.
proxy_command() {
  local answer
  exec 3<>"/dev/tcp/${ADMIN%:*}/${ADMIN##*:}" || return 1
  printf '%s\n' "$1" >&3
  answer=$(timeout 5 cat <&3 || true)
  exec 3<&-
  printf '%s' "$answer"
}

# Requests a replica is serving through the proxy now (CSV field 5: current sessions).
proxy_sessions() {
  curl -fsS --max-time 2 "http://$STATS/;csv" 2>/dev/null \
    | awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $5; found = 1 } END { if (!found) print 0 }'
}

drained() { [ "$(proxy_sessions "$1" "$2")" = 0 ]; }
up_in_proxy() { [ "$(proxy_view "$1" "$2")" = UP ]; }

restart() {
  local service=${1:-} i name backend pid
  is_service "$service" \
    || fail "restart '$service'" "name one of: auth-service product-service cart-service payment-service"
  pid_of proxy >/dev/null || fail "restart $service" "the platform is not running: make run"
  backend=${service%%-*}
  for i in $(seq 1 "$(count_of "$service")"); do
    name=$(name_of "$service" "$i")
    # No new requests, those under way finish; the health checks go on but cannot undo a drain.
    proxy_command "set server $backend/$backend-$i state drain" >/dev/null || fail "draining $name" "is the proxy up? make status"
    # auth's gRPC entry too: no new connection goes to it. Those open stay until it stops (they
    # carry many calls); its GOAWAY then moves their callers to another replica.
    [ "$service" != auth-service ] || proxy_command "set server auth-grpc/auth-grpc-$i state drain" >/dev/null
    WAIT_SECONDS=15 wait_for drained "$backend" "$backend-$i" || true
    if pid=$(pid_of "$name"); then stop_pid "$name" "$pid"; fi
    start_replica "$service" "$i"
    wait_ready "$service" "$i"
    proxy_command "set server $backend/$backend-$i state ready" >/dev/null
    [ "$service" != auth-service ] || proxy_command "set server auth-grpc/auth-grpc-$i state ready" >/dev/null
    WAIT_SECONDS=15 wait_for up_in_proxy "$backend" "$backend-$i" || fail "$name back in the proxy" "see http://$STATS"
    ok "$name restarted and back in the rotation"
  done
}

# Whether the proxy's health checks found every replica of every service ready.
all_up_in_proxy() {
  local service i
  while read -r service _; do
    for i in $(seq 1 "$(count_of "$service")"); do
      up_in_proxy "${service%%-*}" "${service%%-*}-$i" || return 1
    done
  done <<<"$SERVICES"
}

status() {
  local service http grpc i name state ports
  while read -r service http grpc _; do
    for i in $(seq 1 "$(count_of "$service")"); do
      name=$(name_of "$service" "$i")
      if pid=$(pid_of "$name"); then
        state="running (pid $pid), $(ready "$(port_of "$http" "$i")" && echo ready || echo 'NOT ready')"
      else
        state="stopped"
      fi
      ports="REST :$(port_of "$http" "$i")"
      [ "$grpc" = - ] || ports="$ports gRPC :$(port_of "$grpc" "$i")"
      printf '  %-18s %-24s %s; proxy: %s\n' "$name" "$ports" "$state" \
        "$(proxy_view "${service%%-*}" "${service%%-*}-$i")"
    done
  done <<<"$SERVICES"
  if pid=$(pid_of proxy); then
    printf '  %-18s %-24s running (pid %s)\n' proxy "http :${PUBLIC##*:}" "$pid"
  else
    printf '  %-18s %-24s stopped\n' proxy "http :${PUBLIC##*:}"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|restart SERVICE" >&2; exit 2 ;;
esac
