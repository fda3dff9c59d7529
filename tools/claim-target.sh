#!/usr/bin/env bash
# Makes a target folder shared by several clones (CARGO_TARGET_DIR, as .ci/run sets it) safe to
# build into from this clone. Cargo hashes a path crate by its path relative to its own
# workspace, so every clone's cart-service is the same unit to it: same fingerprint, same
# artifacts, same uplifted binary. It then judges the crate fresh by mtimes, and this clone's
# files, if older than the other clone's last build, would pass for built: this clone would
# test the other clone's code (seen: a clone's edits were not in the binary its e2e ran).
# So when the folder was last built from another clone, this clone's crate and contract files
# are touched once: its own crates recompile, the shared dependencies stay. Run by every
# crate's Makefile before cargo (build, test, lint, run); plain `cargo` in a shared folder from
# two clones by hand needs the same (or a folder per clone).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
mkdir -p "$target"
owner=$target/.checkout
if [ "$(cat "$owner" 2>/dev/null)" != "$REPO_ROOT" ]; then
  # Every crate folder (build output, node_modules and the venv excluded) and contracts/, which
  # the build scripts read.
  (cd "$REPO_ROOT" && find contracts ./*/Cargo.toml ./*/Cargo.lock ./*/src ./*/tests ./*/build.rs ./*/migrations ./*/benches \
    -path contracts/node_modules -prune -o -type f -exec touch {} + 2>/dev/null) || true
  echo "$REPO_ROOT" >"$owner"
  echo "==> $target was last built from another checkout: this checkout's crates will recompile"
fi
