#!/usr/bin/env bash
# The four service images, shop/<service>:${SHOP_IMAGE_TAG:-local}, built from their Dockerfiles
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
if offline; then
  bash "$HERE/offline/base-images.sh"
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

step "images (BuildKit, shared cargo caches)"
mkdir -p "$STATE_DIR"
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
