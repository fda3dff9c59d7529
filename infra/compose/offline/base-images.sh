#!/usr/bin/env bash
# Builds, from Debian's package mirror, the images `make up` needs where Docker Hub cannot be
# reached (this test harness's machines). It never runs where Docker Hub answers: there
# `make up` pulls the real images. What each one stands in for: infra/compose/README.md.
#   shop-offline/bookworm:minbase  debootstrap --variant=minbase bookworm + this machine's CAs
#   rust:1.95-bookworm             the services' build stage: minbase + build tools + the
#                                  machine's own Rust toolchain (the tag the Dockerfiles name)
#   shop-offline/{postgres,mariadb,redis,otlp-receiver,haproxy}  the stores, a trace sink, the
#                                  entry proxy (the broker is the platform's own image in both
#                                  modes: images.sh, broker.Dockerfile)
# Idempotent: an image that exists is kept (SHOP_OFFLINE_REBUILD=1 rebuilds them all).
set -euo pipefail
source "$(dirname "$0")/../../local/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$REPO_ROOT/.local/offline-images
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$WORK"

have_image() { [ "${SHOP_OFFLINE_REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
# The classic builder: Debian's docker has no buildx, and these images need no BuildKit feature.
build() { DOCKER_BUILDKIT=0 docker build -q "$@" >/dev/null; }

step "offline base image shop-offline/bookworm:minbase (debootstrap from $MIRROR)"
if have_image shop-offline/bookworm:minbase; then
  ok "present"
else
  command -v debootstrap >/dev/null || fail "debootstrap" "run 'make up' again: setup installs it"
  rootfs=$WORK/rootfs
  as_root rm -rf "$rootfs" && mkdir -p "$rootfs"
  as_root debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK.debootstrap.log" 2>&1 \
    || fail "debootstrap" "read $WORK.debootstrap.log"
  # The machine's CA bundle, both where TLS clients read it and where update-ca-certificates
  # (run by any later ca-certificates install) keeps local CAs, so it survives that install.
  as_root mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/share/ca-certificates"
  as_root cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  as_root cp "$CA_BUNDLE" "$rootfs/usr/local/share/ca-certificates/machine-bundle.crt"
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | docker import - shop-offline/bookworm:minbase >/dev/null
  as_root rm -rf "$rootfs"
  ok "imported"
fi

step "build stage image rust:1.95-bookworm (this machine's toolchain)"
if have_image rust:1.95-bookworm; then
  ok "present"
else
  sysroot=$(rustc --print sysroot)
  rustc --version | grep -q '^rustc 1\.95\.' || fail "rustc 1.95" "the Dockerfiles build with Rust 1.95; this machine has $(rustc --version)"
  context=$WORK/rust
  rm -rf "$context" && mkdir -p "$context"
  # bin and lib only: the toolchain's docs (share/) are 800 MB no build reads.
  tar -C "$sysroot" -cf "$context/toolchain.tar" bin lib libexec etc
  cp "$HERE/rust.Dockerfile" "$context/Dockerfile"
  build -t rust:1.95-bookworm "$context" || fail "building rust:1.95-bookworm" "rerun: DOCKER_BUILDKIT=0 docker build $context"
  rm -rf "$context"
  ok "built"
fi

for name in postgres mariadb redis otlp-receiver haproxy; do
  step "stand-in shop-offline/$name"
  if have_image "shop-offline/$name:local"; then ok "present"; continue; fi
  build -t "shop-offline/$name:local" -f "$HERE/$name.Dockerfile" "$HERE" \
    || fail "building shop-offline/$name" "rerun: DOCKER_BUILDKIT=0 docker build -f $HERE/$name.Dockerfile $HERE"
  ok "built"
done

