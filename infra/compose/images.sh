#!/usr/bin/env bash
# The broker's image (shop/broker) and the four service images, shop/<service>:${SHOP_IMAGE_TAG:-local}, built from their Dockerfiles
# with BuildKit, one at a time (each is a cargo build; the cores are the bottleneck). The
# Dockerfiles share one cargo registry and one release target folder as BuildKit cache mounts,
# so the dependencies compile once for the four (docs/adr/0016-image-builds-share-one-cargo-cache.md).
# Starts an engine if none answers and, where Docker Hub cannot be reached, builds the offline
# base images first. Run by `make up` and by `make test` (its "compose: images" phase).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../local/lib.sh"
source "$HERE/compose.sh"

bash "$HERE/engine.sh"
broker_base=debian:bookworm-slim
if offline; then
  bash "$HERE/offline/base-images.sh"
  broker_base=shop-offline/bookworm:minbase
fi

# BuildKit without buildx: Debian's own client (/usr/bin/docker, docker.io 20.10) builds with
# DOCKER_BUILDKIT=1; a newer client first on PATH refuses to without the buildx plugin, which
# Debian does not ship. So: buildx where it is installed, else Debian's client.
if docker buildx version >/dev/null 2>&1; then
  build() { docker buildx build --load "$@"; }
elif [ -x /usr/bin/docker ]; then
  build() { DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"; }
else
  build() { DOCKER_BUILDKIT=1 docker build "$@"; }
fi

mkdir -p "$STATE_DIR"
# The broker: tansu, the binary `make setup` built for `make run` (one build of it on the
# machine, the same version everywhere), on Debian's slim image or the offline minbase.
step "broker image shop/broker:${SHOP_IMAGE_TAG:-local} (tansu $TANSU_VERSION and its schema registry)"
tansu_bin=$(command -v tansu || echo "$HOME/.cargo/bin/tansu")
"$tansu_bin" --version 2>/dev/null | grep -q "$TANSU_VERSION" \
  || fail "tansu $TANSU_VERSION" "run 'make setup' first: it builds the broker that make run and compose both use"
context=$STATE_DIR/broker-image
rm -rf "$context" && mkdir -p "$context"
cp "$tansu_bin" "$context/tansu"
build --build-arg "BASE=$broker_base" -f "$HERE/broker.Dockerfile" -t "shop/broker:${SHOP_IMAGE_TAG:-local}" "$context" \
  >"$STATE_DIR/image-broker.log" 2>&1 \
  || { tail -n 20 "$STATE_DIR/image-broker.log" >&2; fail "building the broker's image" "read $STATE_DIR/image-broker.log"; }
rm -rf "$context"
ok "built"

step "images (BuildKit, shared cargo caches)"
for service in ${SHOP_IMAGES:-auth-service product-service cart-service payment-service}; do
  started=$SECONDS
  image=shop/$service:${SHOP_IMAGE_TAG:-local}
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  build --progress=plain -f "$REPO_ROOT/$service/Dockerfile" -t "$image" "$REPO_ROOT" \
    >"$STATE_DIR/image-$service.log" 2>&1 \
    || { tail -n 40 "$STATE_DIR/image-$service.log" >&2; fail "building $service's image" "read $STATE_DIR/image-$service.log"; }
  # The tag moved: its previous image would be left dangling, a few dozen MiB a build.
  # (Still in use by a container, it stays; `make clean` takes it later.)
  current=$(docker image inspect --format '{{.Id}}' "$image")
  if [ -n "$previous" ] && [ "$previous" != "$current" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
  ok "$service built in $((SECONDS - started)) s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MiB", $1 / 1048576}'))"
done
