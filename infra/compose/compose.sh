# Sourced by up.sh, down.sh and the compose e2e test's helpers: which compose command, which
# files. Never run.
#   COMPOSE_PROJECT  the project name (default shop; the e2e test uses its own)
#   SHOP_OFFLINE     auto (default): use the offline stand-ins when Docker Hub does not answer;
#                    1 always; 0 never
#   PROFILES         extra compose profiles, e.g. observability
COMPOSE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPOSE_PROJECT=${COMPOSE_PROJECT:-shop}

# auth signs tokens with a key of this checkout's own, made on the first `make up` and kept in
# .local (not committed): the development key in the repository is public, and compose
# publishes auth's port. Delete the file to rotate it (every token issued before is refused).
AUTH_KEY_FILE=${SHOP_AUTH_KEY_FILE:-$COMPOSE_DIR/../../.local/compose/auth-signing-keys}
if [ ! -s "$AUTH_KEY_FILE" ]; then
  mkdir -p "$(dirname "$AUTH_KEY_FILE")"
  (umask 077 && printf 'compose-%s:%s\n' "$(date +%Y%m%d)" \
    "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" >"$AUTH_KEY_FILE")
fi
SHOP_AUTH_JWT_SIGNING_KEYS=$(cat "$AUTH_KEY_FILE")
export SHOP_AUTH_JWT_SIGNING_KEYS

# The platform CA and each service's workload certificate for the mutual TLS of internal gRPC,
# made by infra/local/pki.sh and kept while valid; docker-compose.yml mounts each service's
# folder read-only at /etc/shop/tls (the images run as user 10001, who must read the key).
SHOP_PKI_DIR=${SHOP_PKI_DIR:-$COMPOSE_DIR/../../.local/compose/pki}
bash "$COMPOSE_DIR/../local/pki.sh" "$SHOP_PKI_DIR" >/dev/null
export SHOP_PKI_DIR

# The broker's schema registry, which docker-compose.yml mounts read-only into the broker: one
# <topic>.proto per catalogue topic, generated from contracts/ (infra/local/registry.py; ADR 22).
# Written whenever this file is sourced, so it always follows the contracts; readable by the
# broker's user 10001.
SHOP_SCHEMA_DIR=${SHOP_SCHEMA_DIR:-$COMPOSE_DIR/../../.local/compose/schema}
compose_python=$COMPOSE_DIR/../../.venv/bin/python
[ -x "$compose_python" ] || compose_python=python3
(umask 022 && "$compose_python" "$COMPOSE_DIR/../local/registry.py" "$SHOP_SCHEMA_DIR" >/dev/null)
export SHOP_SCHEMA_DIR

# The entry proxy's configuration, which docker-compose.yml mounts: infra/local/proxy.sh's
# routing (the one `make run` uses), each service's containers found through Docker's DNS, up to
# 10 a service. Written whenever this file is sourced, so it always follows proxy.sh.
SHOP_PROXY_CONFIG=${SHOP_PROXY_CONFIG:-$COMPOSE_DIR/../../.local/compose/haproxy.cfg}
mkdir -p "$(dirname "$SHOP_PROXY_CONFIG")"
PROXY_DNS_SLOTS=10 PROXY_AUTH_SOURCE='' \
  PROXY_BIND=0.0.0.0:8080 PROXY_AUTH_BIND=0.0.0.0:8090 PROXY_STATS_BIND=0.0.0.0:8404 PROXY_ADMIN_BIND=127.0.0.1:8405 \
  PROXY_AUTH=auth-service:8081 PROXY_PRODUCT=product-service:8082 PROXY_CART=cart-service:8083 \
  PROXY_PAYMENT=payment-service:8084 bash "$COMPOSE_DIR/../local/proxy.sh" config >"$SHOP_PROXY_CONFIG.new"
# Readable by the proxy's own user whatever the caller's umask (nothing secret in it).
chmod 644 "$SHOP_PROXY_CONFIG.new"
mv "$SHOP_PROXY_CONFIG.new" "$SHOP_PROXY_CONFIG"
# HAProxy reads its configuration at start, and the mount holds the file it started with: the
# hash is in the proxy's environment, so `make up` recreates the proxy when the file changed.
SHOP_PROXY_CONFIG_HASH=$(sha256sum "$SHOP_PROXY_CONFIG" | cut -c1-16)
export SHOP_PROXY_CONFIG SHOP_PROXY_CONFIG_HASH

offline() {
  case "${SHOP_OFFLINE:-auto}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  # The registry answers 401 to an anonymous /v2/ when it can be reached at all.
  local code
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/ || true)
  [ "$code" != 401 ] && [ "$code" != 200 ]
}

compose() {
  local files=(-f "$COMPOSE_DIR/docker-compose.yml")
  [ "${SHOP_COMPOSE_OFFLINE:-0}" = 1 ] && files+=(-f "$COMPOSE_DIR/offline/docker-compose.offline.yml")
  local profiles=()
  for profile in ${PROFILES:-}; do profiles+=(--profile "$profile"); done
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$COMPOSE_PROJECT" "${files[@]}" "${profiles[@]}" "$@"
  else
    docker-compose -p "$COMPOSE_PROJECT" "${files[@]}" "${profiles[@]}" "$@"
  fi
}
