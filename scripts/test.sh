#!/usr/bin/env bash
# The whole test suite: set-up, type-check, lint, format check, then every
# unit and integration test against the real libvirtd, QEMU and qemu-img.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-guest.sh
bash scripts/build-helper.sh

echo "== type-check"
npx tsc -p tsconfig.json --noEmit
# The dashboard's client on its own: the only project with the DOM's types.
npx tsc -p src/web/client/tsconfig.json --noEmit
echo "== lint"
npx eslint .
echo "== format"
npx prettier --check . >/dev/null || { npx prettier --list-different .; exit 1; }
echo "== tests"
# Node 20 does not expand globs itself: bash does (globstar).
shopt -s globstar nullglob
node --test --test-concurrency=1 --test-timeout=600000 \
  dist/src/**/*.test.js dist/test/**/*.test.js
