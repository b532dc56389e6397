#!/usr/bin/env bash
# The main job, end to end: set up this machine, show what brankas sees on the
# local libvirt host, then `brankas demo`: the whole tutorial performed on a
# throwaway tiny guest (snapshot life cycle, thin provisioning, cold backup,
# the disaster and the restore, the restore test), cleaned up afterwards.
# Extra arguments (e.g. --lang id) go to both commands.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
node dist/cli/brankas.js inventory "$@"
echo
bash scripts/build-guest.sh >/dev/null
node dist/cli/brankas.js demo "$@"
