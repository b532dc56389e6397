#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running, and waits for the
# daemon's socket. With systemd it asks systemd; without it (containers, this
# project's CI) it starts the daemons directly.
set -euo pipefail

SOCKET=/run/libvirt/libvirt-sock
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Without udev (containers, microVMs) /dev/kvm can be left root-only. QEMU,
# run by libvirt as libvirt-qemu, then cannot open it while libvirt's capability
# probe can, and libvirt re-probes QEMU on every call that needs capabilities:
# defining a domain then takes from seconds to minutes. Give the node udev's
# usual ownership (group kvm, 0660), as on any Debian host.
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
  $SUDO chgrp kvm /dev/kvm && $SUDO chmod 0660 /dev/kvm
fi

if [ -d /run/systemd/system ]; then
  $SUDO systemctl start virtlogd.socket libvirtd.socket libvirtd.service
else
  pgrep -x virtlogd >/dev/null || $SUDO virtlogd -d
  pgrep -x libvirtd >/dev/null || $SUDO libvirtd -d
fi

for _ in $(seq 1 100); do
  if [ -S "$SOCKET" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.2
done
echo "start-libvirt: libvirtd did not come up (no answer on $SOCKET)" >&2
exit 1
