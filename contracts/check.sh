#!/usr/bin/env bash
# Lints the protos and checks wire compatibility against the previous commit's contracts
# (or $BUF_AGAINST, any buf input such as '.git#branch=main,subdir=contracts').
set -euo pipefail
cd "$(dirname "$0")"
buf=./node_modules/.bin/buf
[ -x "$buf" ] || npm ci --silent --no-audit --no-fund

echo "==> buf lint"
"$buf" lint

echo "==> buf breaking"
if [ -n "${BUF_AGAINST:-}" ]; then
  against=$BUF_AGAINST
elif git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:contracts/buf.yaml 2>/dev/null; then
  against="$(git rev-parse --show-toplevel)/.git#ref=HEAD~1,subdir=contracts"
else
  echo "    skipped: no previous commit has contracts to compare with"
  exit 0
fi
"$buf" breaking --against "$against"
echo "    ok: no breaking change against $against"
