#!/usr/bin/env bash
# Makes this machine ready for brankas: installs the Debian packages and npm
# dependencies it needs, builds it, and starts libvirt's daemons when they are
# not running (through systemd where the host has it, directly otherwise).
# Idempotent: safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
  busybox-static cpio e2fsprogs kmod zstd xz-utils
  openssh-client openssh-server netcat-openbsd
  b3sum libnbd-bin
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  # Daemons must not be started by package scripts on machines without systemd.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null; then
  echo "setup: Node.js 20 or newer is required" >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
npm run --silent build

bash scripts/start-libvirt.sh
