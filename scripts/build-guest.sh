#!/usr/bin/env bash
# Builds the tiny test guest that brankas' integration tests boot under libvirt:
#
#   .cache/guest/vmlinuz     the Debian kernel (from the package linux-image-amd64 points to)
#   .cache/guest/vmlinux     the same, uncompressed, for PVH direct boot (much faster under TCG);
#                            absent if the kernel can't boot that way (see kernel_file in STAMP)
#   .cache/guest/initrd.img  a busybox-static initramfs (gzip'd newc cpio) whose /init loads a
#                            few modules, mounts /dev/vda (ext4) at /data, powers off on the
#                            ACPI power button, serves a shell on ttyS0 and, when the VM has
#                            the channel org.qemu.guest_agent.0, answers guest-sync and
#                            guest-ping on it (a stand-in for qemu-guest-agent)
#   .cache/guest/base.qcow2  a 64 MiB qcow2 holding a bare ext4 filesystem (no partition table)
#   .cache/guest/STAMP       what was built, by which version of this script; its kernel_file=
#                            line names the kernel file to boot
#
# Idempotent: when the cache is complete and matches this script, it does nothing. Nothing is
# installed into the host: the kernel package is only downloaded and unpacked in a temp dir.
#
# Needs (Debian): apt, dpkg, busybox-static, cpio, e2fsprogs, kmod, qemu-utils, xz/zstd/gzip.
# The guest console protocol (readiness marker, raw tty, no echo) is relied upon by
# test/support/guest.ts: change both together and bump FORMAT_VERSION.
set -euo pipefail

FORMAT_VERSION=4
READY_MARKER='BRANKAS-GUEST-READY'
DISK_SIZE_MIB=64
KERNEL_META_PACKAGE='linux-image-amd64'
# Modules wanted in the guest; their dependencies (modules.dep) and soft pre-dependencies
# (modules.softdep) are added, and built-in ones are skipped.
WANTED_MODULES=(virtio virtio_ring virtio_pci virtio_blk virtio_console crc32c_generic ext4 button evdev)

log() { printf '[build-guest] %s\n' "$*" >&2; }
die() {
  printf '[build-guest] error: %s\n' "$*" >&2
  exit 1
}

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd -P)"
CACHE_DIR="$REPO_ROOT/.cache"
GUEST_DIR="$CACHE_DIR/guest"
STAMP="$GUEST_DIR/STAMP"
SCRIPT_SHA="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"
WANT_STAMP_HEAD="format=$FORMAT_VERSION script_sha256=$SCRIPT_SHA"

# The user QEMU runs as under libvirt (qemu:///system): qemu.conf's "user", else the distro's.
qemu_user() {
  local conf=/etc/libvirt/qemu.conf user=''
  if [[ -r $conf ]]; then
    user="$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$conf" | tail -n1)"
  fi
  if [[ -n $user ]]; then
    printf '%s\n' "${user#+}"
  elif getent passwd libvirt-qemu >/dev/null; then
    echo libvirt-qemu
  elif getent passwd qemu >/dev/null; then
    echo qemu
  else
    echo root
  fi
}

# QEMU must be able to reach the cache: every directory above it must be traversable by the
# QEMU user (libvirt's dynamic_ownership chowns the disk images and kernel/initrd at start, but
# cannot fix the directories above them). Fresh clones may live under a 0700 home (e.g. /root):
# add only the search bit (o+x, no listing) where the QEMU user can't traverse.
ensure_qemu_access() {
  local user ancestors=() dir f
  user="$(qemu_user)"
  chmod 0755 "$CACHE_DIR" "$GUEST_DIR"
  [[ -d $CACHE_DIR/scratch ]] && chmod 0755 "$CACHE_DIR/scratch"
  [[ $user == root || $(id -u) != 0 ]] && return 0
  # From / downwards, so that each test sees its parents already fixed.
  dir="$CACHE_DIR"
  while [[ $dir != / ]]; do
    dir="$(dirname "$dir")"
    ancestors=("$dir" "${ancestors[@]}")
  done
  for dir in "${ancestors[@]}"; do
    if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
      log "directory $dir is not traversable by QEMU's user $user: chmod o+x $dir"
      chmod o+x "$dir"
    fi
  done
  for f in vmlinuz vmlinux initrd.img base.qcow2; do
    if [[ -e $GUEST_DIR/$f ]] && ! runuser -u "$user" -- test -r "$GUEST_DIR/$f"; then
      die "$GUEST_DIR/$f is still not readable by $user"
    fi
  done
}

cache_complete() {
  [[ -s $GUEST_DIR/vmlinuz && -s $GUEST_DIR/initrd.img && -s $GUEST_DIR/base.qcow2 && -f $STAMP ]] &&
    [[ "$(head -n1 "$STAMP")" == "$WANT_STAMP_HEAD" ]] &&
    [[ -s $GUEST_DIR/$(sed -n 's/^kernel_file=//p' "$STAMP") ]]
}

mkdir -p "$GUEST_DIR"

up_to_date() {
  ensure_qemu_access
  echo "brankas test guest up to date in $GUEST_DIR ($(sed -n 's/^kernel_release=//p' "$STAMP"), $(sed -n 's/^kernel_file=//p' "$STAMP"))"
  exit 0
}

# Fast path without the lock: nothing to do.
cache_complete && up_to_date

# Serialize concurrent builders (e.g. two test processes).
exec 9>"$CACHE_DIR/.build-guest.lock"
flock 9
cache_complete && up_to_date

for tool in apt-get apt-cache dpkg-deb depmod cpio gzip mkfs.ext4 qemu-img busybox runuser flock; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
BUSYBOX="$(command -v busybox)"
# The initramfs has no libc: busybox must be the static build (ldd fails on static binaries).
if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install busybox-static"
fi

WORK="$(mktemp -d -t brankas-build-guest.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
chmod 0755 "$WORK"

# --- 1. the kernel package -------------------------------------------------------------------
resolve_kernel_package() {
  apt-cache depends "$KERNEL_META_PACKAGE" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

download_kernel_package() {
  local pkg
  pkg="$(resolve_kernel_package)"
  [[ -n $pkg ]] || return 1
  (cd "$WORK/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || return 1
  printf '%s\n' "$pkg"
}

mkdir -p "$WORK/deb" "$WORK/kernel"
if ! KPKG="$(download_kernel_package)"; then
  log "kernel package download failed: running apt-get update and retrying"
  apt-get update -q >&2 || die "apt-get update failed"
  KPKG="$(download_kernel_package)" || die "cannot download the package $KERNEL_META_PACKAGE depends on"
fi
debs=("$WORK"/deb/*.deb)
DEB="${debs[0]}"
[[ -f $DEB ]] || die "apt-get download left no .deb"
KPKG_VERSION="$(dpkg-deb -f "$DEB" Version)"
log "kernel package: $KPKG $KPKG_VERSION"
dpkg-deb -x "$DEB" "$WORK/kernel"
rm -f "$DEB"

KROOT="$WORK/kernel"
vmlinuz_files=("$KROOT"/boot/vmlinuz-*)
VMLINUZ="${vmlinuz_files[0]}"
[[ -f $VMLINUZ ]] || die "no vmlinuz in $KPKG"
KVER="${VMLINUZ##*/vmlinuz-}"

# Under TCG the bzImage's own decompressor needs ~7 s. Kernels with CONFIG_PVH boot straight
# from the uncompressed ELF vmlinux (QEMU's PVH entry), so unpack it once here when possible.
extract_vmlinux() {
  local img="$1" out="$2" magic cmd off
  for magic in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08' 'lz4:\x02\x21\x4c\x18'; do
    cmd="${magic%%:*}"
    command -v "$cmd" >/dev/null || continue
    while IFS=: read -r off _; do
      tail -c "+$((off + 1))" "$img" | "$cmd" -dc >"$out" 2>/dev/null || true
      if [[ "$(head -c4 "$out" | od -An -c | tr -d ' ')" == '177ELF' ]]; then
        return 0
      fi
    done < <(LC_ALL=C grep -obUaP "${magic#*:}" "$img" || true)
  done
  rm -f "$out"
  return 1
}
KERNEL_FILE=vmlinuz
if grep -qx 'CONFIG_PVH=y' "$KROOT/boot/config-$KVER" 2>/dev/null &&
  extract_vmlinux "$VMLINUZ" "$WORK/vmlinux"; then
  KERNEL_FILE=vmlinux
else
  log "no PVH-bootable vmlinux: the guest boots the bzImage (slower under TCG)"
fi
MODDIR="$KROOT/lib/modules/$KVER"
[[ -d $MODDIR ]] || MODDIR="$KROOT/usr/lib/modules/$KVER"
[[ -d $MODDIR ]] || die "no modules directory for $KVER in $KPKG"
if [[ ! -s $MODDIR/modules.dep ]]; then
  # Packages ship no modules.dep (postinst makes it): build it in the temp tree.
  depmod -b "${MODDIR%/lib/modules/"$KVER"}" "$KVER"
fi
[[ -s $MODDIR/modules.dep ]] || die "depmod produced no modules.dep"

# --- 2. modules --------------------------------------------------------------------------------
norm() { local n="${1##*/}"; n="${n%%.ko*}"; printf '%s\n' "${n//-/_}"; }

declare -A MOD_PATH=() MOD_DEPS=() BUILTIN=() SOFTPRE=() ALIAS=()
while IFS= read -r line; do
  path="${line%%:*}"
  name="$(norm "$path")"
  MOD_PATH[$name]="$path"
  deps=""
  for d in ${line#*:}; do deps+=" $(norm "$d")"; done
  MOD_DEPS[$name]="$deps"
done <"$MODDIR/modules.dep"
if [[ -f $MODDIR/modules.builtin ]]; then
  while IFS= read -r path; do BUILTIN[$(norm "$path")]=1; done <"$MODDIR/modules.builtin"
fi
if [[ -f $MODDIR/modules.softdep ]]; then
  while read -r kw mod rest; do
    [[ $kw == softdep ]] || continue
    pre="$(sed -n 's/^pre: *\([^:]*\)\( post:.*\)\?$/\1/p' <<<"$rest")"
    SOFTPRE[$(norm "$mod")]="$pre"
  done <"$MODDIR/modules.softdep"
fi
if [[ -f $MODDIR/modules.alias ]]; then
  while read -r kw al mod; do
    [[ $kw == alias ]] || continue
    ALIAS[$al]+=" $mod"
  done <"$MODDIR/modules.alias"
fi

# A soft dependency may be an alias with several providers (crypto-crc32c: crc32c_intel,
# crc32c_generic): take the generic one (TCG's CPU lacks the SSE4.2 the others need).
resolve_name() {
  local n
  n="$(norm "$1")"
  if [[ -n ${MOD_PATH[$n]:-} || -n ${BUILTIN[$n]:-} ]]; then
    printf '%s\n' "$n"
    return
  fi
  local cands c
  read -ra cands <<<"${ALIAS[$1]:-}"
  ((${#cands[@]})) || return 0
  for c in "${cands[@]}"; do
    [[ $(norm "$c") == *_generic ]] && { norm "$c"; return; }
  done
  norm "${cands[0]}"
}

declare -A SEEN=()
ORDER=()
visit() {
  local n="$1" d s
  [[ -n ${SEEN[$n]:-} ]] && return 0
  SEEN[$n]=1
  if [[ -n ${BUILTIN[$n]:-} ]]; then
    log "module $n is built in"
    return 0
  fi
  [[ -n ${MOD_PATH[$n]:-} ]] || die "module $n not found in $KPKG"
  for s in ${SOFTPRE[$n]:-}; do
    s="$(resolve_name "$s")"
    [[ -n $s ]] && visit "$s"
  done
  for d in ${MOD_DEPS[$n]}; do visit "$d"; done
  ORDER+=("$n")
}
for m in "${WANTED_MODULES[@]}"; do visit "$(norm "$m")"; done

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,data,etc/acpi,lib/modules,var/log,var/run,root}
for n in "${ORDER[@]}"; do
  src="$MODDIR/${MOD_PATH[$n]}"
  dst="$ROOT/lib/modules/$n.ko"
  case "$src" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  printf '%s\n' "$n" >>"$ROOT/etc/modules"
done

# --- 3. the initramfs --------------------------------------------------------------------------
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] && continue
  ln -sf busybox "$ROOT/bin/$applet"
done
for applet in poweroff reboot halt acpid insmod modprobe mdev; do ln -sf ../bin/busybox "$ROOT/sbin/$applet"; done

# Power button -> acpid -> this script. Busybox acpid maps KEY_POWER to "PWRF", and
# /etc/acpid.conf maps PWRF to a file under its config dir (/etc/acpi).
printf 'PWRF poweroff.sh\n' >"$ROOT/etc/acpid.conf"
cat >"$ROOT/etc/acpi/poweroff.sh" <<'EOF'
#!/bin/sh
# ACPI power button: flush and power off at once (the guest has nothing else to stop).
sync
umount /data 2>/dev/null || mount -o remount,ro /data 2>/dev/null
sync
poweroff -f
EOF
chmod 0755 "$ROOT/etc/acpi/poweroff.sh"

# A stand-in for qemu-guest-agent, enough for libvirt's agent commands and brankas' verify
# probe: on the virtio-serial port named org.qemu.guest_agent.0 it answers guest-sync (and
# guest-sync-delimited) with the id it was given, guest-ping with an empty return, anything
# else with an error. It waits up to 10 s for the port and gives up quietly without one.
cat >"$ROOT/etc/agent.sh" <<'EOF'
#!/bin/sh
dev=
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && dev=/dev/${p##*/}
  done
  [ -n "$dev" ] || sleep 0.1
  i=$((i + 1))
done
[ -n "$dev" ] || exit 0
while [ ! -c "$dev" ]; do sleep 0.1; done
while true; do
  # Reading gives end-of-file while no host side is connected: then wait and open again.
  while IFS= read -r line; do
    # The id without a fork (a sed per request took seconds under TCG on a loaded host, past
    # libvirt's 5 s guest-sync wait): what follows "id", from its first digit, digits only.
    id=${line#*\"id\"}; id=${id#"${id%%[0-9]*}"}; id=${id%%[!0-9]*}
    case "$line" in
      *guest-sync-delimited*) printf '\377{"return": %s}\n' "$id" ;;
      *guest-sync*) printf '{"return": %s}\n' "$id" ;;
      *guest-ping*) printf '{"return": {}}\n' ;;
      *) printf '{"error": {"class": "CommandNotFound", "desc": "not in the brankas test guest"}}\n' ;;
    esac
  done <>"$dev" >&0
  sleep 0.2
done
EOF
chmod 0755 "$ROOT/etc/agent.sh"

cat >"$ROOT/init" <<EOF
#!/bin/sh
# brankas test guest, format $FORMAT_VERSION. Built by scripts/build-guest.sh.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /data /tmp
for m in \$(cat /etc/modules); do
  insmod /lib/modules/\$m.ko || echo "brankas-guest: insmod \$m failed" >/dev/console
done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
if [ -b /dev/vda ]; then
  mount -t ext4 /dev/vda /data || echo "brankas-guest: cannot mount /dev/vda" >/dev/console
else
  echo "brankas-guest: no /dev/vda" >/dev/console
fi
acpid -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log
sh /etc/agent.sh </dev/null >/dev/null 2>&1 &
cd /
# The shell runs ttyS0 as its script: it is non-interactive (no prompt, no line editing) and
# executes each line as soon as it arrives. (Not "cat /dev/ttyS0 | sh": busybox cat holds the
# last line back until more input comes.) The tty is raw and without echo, so what the host
# sends reaches the shell byte for byte, and only what commands print comes back. Commands get
# /dev/null as stdin, so none can swallow the lines that follow. PID 1 keeps ttyS0 open (fd 1),
# so nothing sent between the marker and the shell's start is lost; if the shell exits (exit,
# syntax error), a new one takes over.
exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty raw -echo
exec </dev/null
echo
echo $READY_MARKER
while true; do sh /dev/ttyS0; done
EOF
chmod 0755 "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  gzip -9n >"$WORK/initrd.img"

# --- 4. the base disk --------------------------------------------------------------------------
# Inode tables and journal written now, not lazily by the guest (which would change the disk
# behind the tests' backs).
truncate -s "${DISK_SIZE_MIB}M" "$WORK/base.raw"
mkfs.ext4 -q -F -L brankas-test -m 0 -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/base.raw"
qemu-img convert -q -f raw -O qcow2 "$WORK/base.raw" "$WORK/base.qcow2"
rm -f "$WORK/base.raw"

# --- 5. install into the cache ----------------------------------------------------------------
rm -f "$STAMP"
install -m 0644 "$VMLINUZ" "$GUEST_DIR/vmlinuz"
if [[ $KERNEL_FILE == vmlinux ]]; then
  install -m 0644 "$WORK/vmlinux" "$GUEST_DIR/vmlinux"
else
  rm -f "$GUEST_DIR/vmlinux"
fi
install -m 0644 "$WORK/initrd.img" "$GUEST_DIR/initrd.img"
install -m 0644 "$WORK/base.qcow2" "$GUEST_DIR/base.qcow2"
{
  echo "$WANT_STAMP_HEAD"
  echo "kernel_package=$KPKG"
  echo "kernel_package_version=$KPKG_VERSION"
  echo "kernel_release=$KVER"
  echo "kernel_file=$KERNEL_FILE"
  echo "modules=${ORDER[*]}"
  echo "ready_marker=$READY_MARKER"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
ensure_qemu_access

echo "brankas test guest built in $GUEST_DIR"
echo "  kernel:  $KPKG $KPKG_VERSION ($KVER), boots $KERNEL_FILE"
echo "  modules: ${ORDER[*]}"
echo "  initrd:  $(du -h "$GUEST_DIR/initrd.img" | cut -f1)"
echo "  disk:    base.qcow2, ${DISK_SIZE_MIB} MiB ext4 ($(du -h "$GUEST_DIR/base.qcow2" | cut -f1) on disk)"
echo "  ready marker on ttyS0: $READY_MARKER"
