#!/usr/bin/env bash
# The main job, end to end: set up this machine, show what brankas sees on the
# local libvirt host, then perform the tutorial's Experiment 1 (the snapshot
# life cycle) on a throwaway tiny guest. Extra arguments (e.g. --lang id) go
# to both commands. (It grows into `brankas demo`, the whole tutorial.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
node dist/src/cli/main.js inventory "$@"
echo
bash scripts/build-guest.sh >/dev/null
node dist/src/cli/main.js lab snapshot-lifecycle "$@"
