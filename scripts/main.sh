#!/usr/bin/env bash
# The main job, end to end: set up this machine, then show what brankas sees
# on the local libvirt host.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
node dist/src/cli/main.js inventory "$@"
