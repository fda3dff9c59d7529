#!/usr/bin/env bash
# `make up`: the whole platform in Docker. Starts an engine if none answers, builds the four
# service images from their Dockerfiles (images.sh), starts the stores, the broker, the topic job and the
# services behind the entry proxy, and returns once every container of every service reports
# healthy (its own /readyz) and is in the proxy's rotation, and the demo catalogue is loaded
# (product's image, `seed`, as a one-shot job), printing the entry's URL.
#   SCALE="cart-service=3 payment-service=2"   containers per service (compose --scale), 1 to 5
# Where Docker Hub cannot be reached, the stores and the broker come from locally built
# stand-ins (offline/, infra/compose/README.md). Running it again keeps what runs and data.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../local/lib.sh"
source "$HERE/compose.sh"

# Asked once (up to 5 s when Docker Hub does not answer); images.sh reads the answer.
if offline; then SHOP_OFFLINE=1; else SHOP_OFFLINE=0; fi
export SHOP_OFFLINE
bash "$HERE/images.sh"
if [ "$SHOP_OFFLINE" = 1 ]; then
  echo "==> Docker Hub does not answer: stores, broker and collector from the offline stand-ins"
  export SHOP_COMPOSE_OFFLINE=1
fi
tracing=0
case " ${PROFILES:-} " in *" observability "*) tracing=1 ;; esac
if [ "$tracing" = 1 ]; then
  export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://otel-collector:4318}
  if [ "${SHOP_COMPOSE_OFFLINE:-0}" = 1 ]; then
    traces="make logs (otel-collector's spans; no Jaeger UI offline)"
  else
    traces="http://127.0.0.1:16686 (Jaeger)"
  fi
fi

# SCALE="cart-service=3 payment-service=2": containers per service, 1 to 5 (default 1 each).
declare -A COUNT=([auth-service]=1 [product-service]=1 [cart-service]=1 [payment-service]=1)
read -ra entries <<<"${SCALE:-}"  # split on spaces, no file-name expansion
for entry in "${entries[@]}"; do
  service=${entry%%=*} n=${entry#*=}
  [ -n "$service" ] && [ -n "${COUNT[$service]:-}" ] \
    || fail "SCALE: '$service'" "name one of: auth-service product-service cart-service payment-service"
  [[ "$n" =~ ^[1-5]$ ]] || fail "SCALE: '$entry'" "give each service a count from 1 to 5: cart-service=3"
  COUNT[$service]=$n
done
SERVICES="auth-service product-service payment-service cart-service"
scale=()
for service in $SERVICES; do scale+=(--scale "$service=${COUNT[$service]}"); done

step "containers"
compose up -d --no-build --remove-orphans "${scale[@]}"
# Every container of the service reports healthy (the image's HEALTHCHECK: its own /readyz).
healthy() {
  local ids id n=0
  ids=$(compose ps -q "$1") || return 1
  for id in $ids; do
    [ "$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")" = healthy ] && n=$((n + 1))
  done
  [ "$n" = "${COUNT[$1]}" ] && [ "$(wc -w <<<"$ids")" = "${COUNT[$1]}" ]
}
# The entry's view: as many of the service's servers UP as it has containers (field 18: status).
STATS="127.0.0.1:${SHOP_PROXY_STATS_PORT:-8404}"
in_proxy() {
  local up
  up=$(curl -fsS --max-time 2 "http://$STATS/;csv" \
    | awk -F, -v b="${1%%-*}" '$1 == b && $2 != "BACKEND" && $2 != "FRONTEND" && $18 == "UP" { n++ } END { print n + 0 }')
  [ "$up" = "${COUNT[$1]}" ]
}
for service in $SERVICES; do
  WAIT_SECONDS=${SHOP_UP_TIMEOUT:-180} wait_for healthy "$service" \
    || { compose logs --tail=40 "$service" >&2; fail "$service did not become healthy" "read: make logs"; }
  WAIT_SECONDS=30 wait_for in_proxy "$service" \
    || fail "$service in the entry proxy" "read http://$STATS and: make logs (service proxy)"
  ok "$service: ${COUNT[$service]} healthy, in the entry's rotation"
done

# The demo catalogue's one-shot job (started once product was healthy): done, and done well.
seeded() {
  local id
  id=$(compose ps -a -q seed-catalogue) && [ -n "$id" ] \
    && [ "$(docker inspect --format '{{.State.Status}}' "$id")" = exited ]
}
WAIT_SECONDS=${SHOP_UP_TIMEOUT:-180} wait_for seeded \
  || { compose logs --tail=40 seed-catalogue >&2; fail "the demo catalogue was not loaded" "read: make logs"; }
seed_exit=$(docker inspect --format '{{.State.ExitCode}}' "$(compose ps -a -q seed-catalogue)")
[ "$seed_exit" = 0 ] \
  || { compose logs --tail=40 seed-catalogue >&2; fail "loading the demo catalogue failed (exit $seed_exit)" "read: make logs"; }
ok "demo catalogue loaded ($(compose logs --no-log-prefix seed-catalogue 2>/dev/null | grep -o '[0-9]* products created' | tail -1))"

port() { compose port "$1" "$2" | sed 's/^0\.0\.0\.0/127.0.0.1/'; }
echo
echo "The platform runs in Docker (project $COMPOSE_PROJECT), every public route at one entry:"
echo "  http://$(port proxy 8080)   (statistics: http://$(port proxy 8404))"
echo "  containers: auth-service ${COUNT[auth-service]}, product-service ${COUNT[product-service]}, cart-service ${COUNT[cart-service]}, payment-service ${COUNT[payment-service]}"
[ "$tracing" = 1 ] && echo "  traces   $traces"
echo "Logs: make logs   Stop and remove: make down"
