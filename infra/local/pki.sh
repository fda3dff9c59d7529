#!/usr/bin/env bash
# The platform's local certificate authority and one workload certificate per service, for the
# mutual TLS of every internal gRPC call (docs/SECURITY.md "Service identity"). Idempotent:
# what exists and is not close to expiry is kept.
#   pki.sh [DIR]   DIR defaults to $STATE_DIR/pki
# Layout, each service's folder shaped like a cert-manager Secret mounted as files:
#   DIR/ca.crt, DIR/ca.key                the CA (10 years; its key never leaves DIR)
#   DIR/<service>/tls.crt, tls.key, ca.crt  the service's certificate (SAN DNS:<service>,
#                                         serverAuth + clientAuth, 90 days), its key, the CA
# A certificate with fewer than 30 days left is issued again; the services reload changed
# files on their own (no restart). Rotating the CA: move DIR away and run `make setup` (or
# this script) again, then restart the services: see README "Service identity".
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DIR=${1:-$STATE_DIR/pki}
SERVICES=(auth-service product-service cart-service payment-service)
CA_DAYS=3650
CERT_DAYS=90
RENEW_SECONDS=$((30 * 24 * 3600))

command -v openssl >/dev/null || fail "openssl" "install Debian's openssl package (make setup does)"
mkdir -p "$DIR"

step "Platform CA and service certificates in $DIR"
if [ ! -s "$DIR/ca.key" ] || ! openssl x509 -in "$DIR/ca.crt" -noout -checkend "$RENEW_SECONDS" >/dev/null 2>&1; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" -days "$CA_DAYS" -subj "/O=shop/CN=shop platform CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
    || fail "creating the platform CA" "check that $DIR is writable"
  chmod 600 "$DIR/ca.key"
  # A new CA: every certificate it did not sign is issued again below.
  rm -rf "${SERVICES[@]/#/$DIR/}"
  ok "CA created"
else
  ok "CA kept"
fi

issue() {
  local service=$1 out=$DIR/$1
  if [ -s "$out/tls.crt" ] && openssl verify -CAfile "$DIR/ca.crt" "$out/tls.crt" >/dev/null 2>&1 \
    && openssl x509 -in "$out/tls.crt" -noout -checkend "$RENEW_SECONDS" >/dev/null 2>&1; then
    ok "$service kept"
    return
  fi
  mkdir -p "$out"
  local csr ext
  csr=$(mktemp) ext=$(mktemp)
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$service" >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/tls.key.new" \
    -out "$csr" -subj "/O=shop/CN=$service" 2>/dev/null \
    && openssl x509 -req -in "$csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
      -out "$out/tls.crt.new" -days "$CERT_DAYS" -extfile "$ext" 2>/dev/null \
    || fail "issuing the certificate of $service" "check that $DIR is writable"
  rm -f "$csr" "$ext"
  cp "$DIR/ca.crt" "$out/ca.crt"
  # The key first, then the certificate: a service that reloads in between sees a pair that
  # does not match, refuses it and keeps the old one until the next look.
  mv "$out/tls.key.new" "$out/tls.key"
  mv "$out/tls.crt.new" "$out/tls.crt"
  # Readable by whoever runs the services: the compose containers run as a non-root user and
  # read the key from a read-only mount.
  chmod 755 "$DIR" "$out"
  chmod 644 "$out"/*
  ok "$service issued (valid $CERT_DAYS days)"
}

for service in "${SERVICES[@]}"; do issue "$service"; done
