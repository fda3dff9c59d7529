#!/usr/bin/env bash
# Everything the platform needs on this machine, idempotent: install, start, provision.
set -euo pipefail
here=$(dirname "$0")
bash "$here/install.sh"
bash "$here/start.sh"
bash "$here/provision.sh"
# The stores alone (a bare-machine check of the store set-up) need no certificates.
[ "${SHOP_SETUP_STORES_ONLY:-0}" = 1 ] || bash "$here/pki.sh"
