#!/usr/bin/env bash
# Everything the platform needs on this machine, idempotent: install, start, provision.
set -euo pipefail
here=$(dirname "$0")
bash "$here/install.sh"
bash "$here/start.sh"
bash "$here/provision.sh"
bash "$here/pki.sh"
