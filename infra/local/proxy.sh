#!/usr/bin/env bash
# Writes the configuration of the platform's single public entry: an HAProxy that routes the
# public REST paths to every replica of their service, as the Ingress does in infra/k8s
# (infra/k8s/ingress.yaml), a second, internal entry for auth's service-to-service REST route
# (JWKS), and a third for auth's gRPC port (TCP: the mutual TLS runs from the calling service to
# the auth replica, the proxy never sees inside it), as auth's ClusterIP Service does both.
#
#   proxy.sh config   print the configuration to standard output
#
# Read from the environment:
#   PROXY_BIND, PROXY_AUTH_BIND, PROXY_STATS_BIND, PROXY_ADMIN_BIND  listen addresses (defaults
#     below); the last is HAProxy's runtime API (`set server cart/cart-2 state drain`), loopback only
#   PROXY_AUTH, PROXY_PRODUCT, PROXY_CART, PROXY_PAYMENT  each a space-separated list of the
#     service's replicas as host:port (their REST ports)
#   PROXY_AUTH_GRPC, PROXY_AUTH_GRPC_BIND  auth's replicas as grpc-host:port/rest-port (checked on
#     their REST /readyz), and where the gRPC entry listens; no entry when unset (compose, whose
#     services reach auth's gRPC by its name)
#   PROXY_DNS_SLOTS  when set (compose), each of those is instead one name:port that DNS resolves
#     to every replica (Docker's resolver, re-read every second): up to this many per service
#   PROXY_AUTH_SOURCE  the address the proxy calls auth from (default 127.0.0.2; empty: any)
# Used by services.sh (make run), the end-to-end replica tests and compose (compose.sh), so all
# run one routing.
set -euo pipefail

PROXY_BIND=${PROXY_BIND:-127.0.0.1:8080}
PROXY_AUTH_BIND=${PROXY_AUTH_BIND:-127.0.0.1:8090}
PROXY_STATS_BIND=${PROXY_STATS_BIND:-127.0.0.1:8404}
PROXY_ADMIN_BIND=${PROXY_ADMIN_BIND:-127.0.0.1:8405}
PROXY_DNS_SLOTS=${PROXY_DNS_SLOTS:-}
PROXY_AUTH_SOURCE=${PROXY_AUTH_SOURCE-127.0.0.2}

# One backend per service. A replica is taken out after two failed /readyz checks a second
# apart and back in after one good one. A request whose connection fails goes to another replica
# (`retries`, `redispatch`): it never reached a server. One that reached a replica and got no
# answer (the replica died on it) is repeated only when a repeat is known to change nothing: an
# read (GET, HEAD, OPTIONS), a checkout,
# which cart keys by its required Idempotency-Key, or an add to the cart that carries one (cart
# adds a keyed line once). Any other write (DELETE included:
# its repeat would answer 404 for a delete that was done) answers 502 instead of maybe running
# twice; the client, which knows, may send it again.
# Auth is reached from 127.0.0.2: auth trusts X-Forwarded-For from that address only (services.sh
# sets AUTH_TRUSTED_PROXIES), so a local client calling auth directly cannot pick the address its
# login throttle counts, and through the proxy the header's last hop is the real client.
backend() {
  local name=$1 replicas=$2 i=0 source=
  [ "$name" = auth ] && [ -n "$PROXY_AUTH_SOURCE" ] && source="
  source $PROXY_AUTH_SOURCE"
  cat <<EOF

backend $name
  balance leastconn$source
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 1
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
  acl repeatable method GET HEAD OPTIONS
  acl repeatable path /v1/cart/checkout
  acl add_item path /v1/cart/items
  acl keyed req.hdr(idempotency-key) -m found
  http-request disable-l7-retry if !repeatable !add_item || !repeatable !keyed
EOF
  if [ -n "$PROXY_DNS_SLOTS" ]; then
    # Slots filled from DNS as replicas come and go; one not yet resolved waits, unchecked.
    echo "  server-template $name- $PROXY_DNS_SLOTS $replicas check resolvers docker init-addr none"
    return
  fi
  for replica in $replicas; do
    i=$((i + 1))
    echo "  server $name-$i $replica check"
  done
}

# Docker's embedded DNS: a scaled service's name answers every running container. Each answer
# is held a second, so a container that left is out within a second or two (its health checks
# fail first anyway). A newly resolved container is taken as up until its first check, a second
# later: a request it cannot serve yet is refused (connection) and sent on, or answered 503
# with Retry-After by the service itself.
resolvers() {
  cat <<EOF

resolvers docker
  nameserver dns 127.0.0.11:53
  accepted_payload_size 8192
  resolve_retries 3
  timeout resolve 1s
  timeout retry 1s
  hold valid 1s
  hold other 1s
  hold refused 1s
  hold nx 1s
  hold timeout 1s
  hold obsolete 1s
EOF
}

# auth's gRPC port for product and payment, balanced by connection. A connection stays with its
# replica (HTTP/2 carries many calls): when that replica stops, its GOAWAY or closed connection
# sends the client's next call through here again, to another one; one the health checks take
# out (hung, not answering /readyz) has its connections cut (`shutdown-sessions`). The callers
# ask once more a call that reached no replica (VerifyToken only reads) and ping their
# connection, so an idle one is kept open.
auth_grpc() {
  local replica i=0
  cat <<EOF

defaults tcp
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h

frontend auth-grpc
  bind ${PROXY_AUTH_GRPC_BIND:-127.0.0.1:8091}
  default_backend auth-grpc

backend auth-grpc
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
  retries 3
  option redispatch 1
EOF
  for replica in $PROXY_AUTH_GRPC; do
    i=$((i + 1))
    echo "  server auth-grpc-$i ${replica%/*} check port ${replica##*/}"
  done
}

config() {
  [ -n "${PROXY_AUTH:-}" ] && [ -n "${PROXY_PRODUCT:-}" ] && [ -n "${PROXY_CART:-}" ] && [ -n "${PROXY_PAYMENT:-}" ] || {
    echo "proxy.sh: set PROXY_AUTH, PROXY_PRODUCT, PROXY_CART and PROXY_PAYMENT (host:port lists)" >&2
    exit 2
  }
  cat <<EOF
# Written by infra/local/proxy.sh; edits are lost on the next start.
global
  maxconn 8192
  # The runtime API: services.sh drains a replica here before a rolling restart stops it.
  stats socket ipv4@$PROXY_ADMIN_BIND level admin

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  # A checkout may wait on the payment gateway; cart answers 202 before 15 s.
  timeout server 20s
  timeout http-request 10s
  timeout http-keep-alive 30s
  option http-keep-alive
  # The client's address for auth's login throttle (services.sh makes auth trust 127.0.0.1).
  option forwardfor

frontend public
  bind $PROXY_BIND
  # auth's public routes one by one: nothing else of auth's is public.
  acl auth_public path /v1/auth/signup /v1/auth/login /v1/auth/refresh /v1/auth/logout /v1/auth/me /v1/auth/me/orders /.well-known/jwks.json
  acl product_public path /v1/products
  acl product_public path_beg /v1/products/
  acl product_public path /v1/categories
  acl cart_public path /v1/cart
  acl cart_public path_beg /v1/cart/
  acl payment_public path /v1/webhooks/stripe
  http-request return status 404 content-type application/json string '{"error":{"code":"not_found","message":"no such route"}}' if !auth_public !product_public !cart_public !payment_public
  use_backend auth if auth_public
  use_backend product if product_public
  use_backend cart if cart_public
  use_backend payment if payment_public

frontend auth-internal
  bind $PROXY_AUTH_BIND
  # What the services call over REST: auth's public keys, nothing else.
  http-request return status 404 content-type application/json string '{"error":{"code":"not_found","message":"no such route"}}' if !{ path /.well-known/jwks.json }
  default_backend auth

frontend stats
  bind $PROXY_STATS_BIND
  stats enable
  stats uri /
  stats refresh 2s
EOF
  if [ -n "$PROXY_DNS_SLOTS" ]; then resolvers; fi
  backend auth "$PROXY_AUTH"
  backend product "$PROXY_PRODUCT"
  backend cart "$PROXY_CART"
  backend payment "$PROXY_PAYMENT"
  # Last: its TCP defaults apply to the sections after them.
  if [ -n "${PROXY_AUTH_GRPC:-}" ]; then auth_grpc; fi
}

case "${1:-}" in
  config) config ;;
  *) echo "usage: $0 config" >&2; exit 2 ;;
esac
