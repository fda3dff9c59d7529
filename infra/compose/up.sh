#!/usr/bin/env bash
# `make up`: the whole platform in Docker. Starts an engine if none answers, builds the four
# service images from their Dockerfiles (images.sh), starts the stores, the broker, the topic job and the
# services, and returns once every service reports healthy (its own /readyz) and the demo
# catalogue is loaded (product's image, `seed`, as a one-shot job), printing the URLs.
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

step "containers"
compose up -d --no-build --remove-orphans
healthy() {
  local id
  id=$(compose ps -q "$1") && [ -n "$id" ] \
    && [ "$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")" = healthy ]
}
for service in auth-service product-service payment-service cart-service; do
  WAIT_SECONDS=${SHOP_UP_TIMEOUT:-180} wait_for healthy "$service" \
    || { compose logs --tail=40 "$service" >&2; fail "$service did not become healthy" "read: make logs"; }
  ok "$service healthy"
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
echo "The platform runs in Docker (project $COMPOSE_PROJECT):"
echo "  auth     http://$(port auth-service 8081)     gRPC $(port auth-service 50051)"
echo "  product  http://$(port product-service 8082)  gRPC $(port product-service 50052)"
echo "  cart     http://$(port cart-service 8083)"
echo "  payment  http://$(port payment-service 8084)  gRPC $(port payment-service 50054)"
[ "$tracing" = 1 ] && echo "  traces   $traces"
echo "Logs: make logs   Stop and remove: make down"
