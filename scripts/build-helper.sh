#!/usr/bin/env bash
# Builds the initramfs of the file-restore helper VM (docs/file-restore.md):
#
#   .cache/helper/initrd.img  a busybox-static initramfs whose /init answers one `brankas files`
#                             request on the virtio-serial port org.brankas.files.0: it mounts
#                             the read-only disk's filesystem (ext4, vfat, xfs, btrfs, loading
#                             only that filesystem's modules) and streams a listing or a tar
#                             archive back, then powers off
#   .cache/helper/STAMP       what was built, by which version of this script, for which kernel
#
# It boots the tiny guest's kernel (scripts/build-guest.sh, run first), so it takes the modules
# from that very kernel package version. The tiny guest's own initramfs is left as it is.
# Idempotent: when the cache matches this script and the guest's kernel, it does nothing.
#
# Needs (Debian): what build-guest.sh needs.
set -euo pipefail

FORMAT_VERSION=1
PORT_NAME='org.brankas.files.0'
BASE_MODULES=(virtio virtio_ring virtio_pci virtio_blk virtio_console)
# Per filesystem type (the kernel's name): the modules to load before mounting it.
declare -A FS_MODULES=(
  [ext4]='crc32c_generic ext4'
  [vfat]='vfat nls_cp437 nls_iso8859_1 nls_utf8'
  [xfs]='crc32c_generic xfs'
  [btrfs]='crc32c_generic btrfs'
)

log() { printf '[build-helper] %s\n' "$*" >&2; }
die() {
  printf '[build-helper] error: %s\n' "$*" >&2
  exit 1
}

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd -P)"
CACHE_DIR="$REPO_ROOT/.cache"
GUEST_STAMP="$CACHE_DIR/guest/STAMP"
HELPER_DIR="$CACHE_DIR/helper"
STAMP="$HELPER_DIR/STAMP"
SCRIPT_SHA="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"

bash "$REPO_ROOT/scripts/build-guest.sh" >/dev/null
KPKG="$(sed -n 's/^kernel_package=//p' "$GUEST_STAMP")"
KPKG_VERSION="$(sed -n 's/^kernel_package_version=//p' "$GUEST_STAMP")"
KVER="$(sed -n 's/^kernel_release=//p' "$GUEST_STAMP")"
[[ -n $KPKG && -n $KPKG_VERSION && -n $KVER ]] || die "$GUEST_STAMP names no kernel package"
WANT_STAMP_HEAD="format=$FORMAT_VERSION script_sha256=$SCRIPT_SHA kernel_release=$KVER"

cache_complete() {
  [[ -s $HELPER_DIR/initrd.img && -f $STAMP && "$(head -n1 "$STAMP")" == "$WANT_STAMP_HEAD" ]]
}
up_to_date() {
  chmod 0755 "$HELPER_DIR"
  echo "brankas file-restore helper up to date in $HELPER_DIR ($KVER)"
  exit 0
}

mkdir -p "$HELPER_DIR"
cache_complete && up_to_date
exec 9>"$CACHE_DIR/.build-helper.lock"
flock 9
cache_complete && up_to_date

BUSYBOX="$(command -v busybox)" || die "missing tool: busybox"
if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install busybox-static"
fi

WORK="$(mktemp -d -t brankas-build-helper.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
chmod 0755 "$WORK"

# --- 1. the guest's kernel package, for its modules ------------------------------------------
mkdir -p "$WORK/deb" "$WORK/kernel"
if ! (cd "$WORK/deb" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KPKG_VERSION" >&2); then
  log "download failed: running apt-get update and retrying"
  apt-get update -q >&2 || die "apt-get update failed"
  (cd "$WORK/deb" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KPKG_VERSION" >&2) ||
    die "cannot download $KPKG $KPKG_VERSION"
fi
debs=("$WORK"/deb/*.deb)
dpkg-deb -x "${debs[0]}" "$WORK/kernel"
rm -f "${debs[0]}"
MODDIR="$WORK/kernel/lib/modules/$KVER"
[[ -d $MODDIR ]] || MODDIR="$WORK/kernel/usr/lib/modules/$KVER"
[[ -d $MODDIR ]] || die "no modules directory for $KVER in $KPKG"
[[ -s $MODDIR/modules.dep ]] || depmod -b "${MODDIR%/lib/modules/"$KVER"}" "$KVER"
[[ -s $MODDIR/modules.dep ]] || die "depmod produced no modules.dep"

# --- 2. modules (resolved as in build-guest.sh: modules.dep, soft pre-dependencies, built-ins) --
norm() { local n="${1##*/}"; n="${n%%.ko*}"; printf '%s\n' "${n//-/_}"; }
declare -A MOD_PATH=() MOD_DEPS=() BUILTIN=() SOFTPRE=() ALIAS=() COPIED=()
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
    SOFTPRE[$(norm "$mod")]="$(sed -n 's/^pre: *\([^:]*\)\( post:.*\)\?$/\1/p' <<<"$rest")"
  done <"$MODDIR/modules.softdep"
fi
if [[ -f $MODDIR/modules.alias ]]; then
  while read -r kw al mod; do
    [[ $kw == alias ]] || continue
    ALIAS[$al]+=" $mod"
  done <"$MODDIR/modules.alias"
fi
resolve_name() {
  local n cands c
  n="$(norm "$1")"
  if [[ -n ${MOD_PATH[$n]:-} || -n ${BUILTIN[$n]:-} ]]; then
    printf '%s\n' "$n"
    return
  fi
  read -ra cands <<<"${ALIAS[$1]:-}"
  ((${#cands[@]})) || return 0
  for c in "${cands[@]}"; do
    [[ $(norm "$c") == *_generic ]] && { norm "$c"; return; }
  done
  norm "${cands[0]}"
}
declare -A SEEN=()
ORDER=()
# Missing modules are skipped (a filesystem the kernel lacks is then refused by the helper).
visit() {
  local n="$1" d s
  [[ -n ${SEEN[$n]:-} ]] && return 0
  SEEN[$n]=1
  [[ -n ${BUILTIN[$n]:-} ]] && return 0
  if [[ -z ${MOD_PATH[$n]:-} ]]; then
    log "module $n not in $KPKG: skipped"
    return 0
  fi
  for s in ${SOFTPRE[$n]:-}; do
    s="$(resolve_name "$s")"
    [[ -n $s ]] && visit "$s"
  done
  for d in ${MOD_DEPS[$n]}; do visit "$d"; done
  ORDER+=("$n")
}

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,mnt,etc/fs,lib/modules}
copy_module() {
  local n="$1" src dst
  [[ -n ${COPIED[$n]:-} ]] && return 0
  COPIED[$n]=1
  src="$MODDIR/${MOD_PATH[$n]}"
  dst="$ROOT/lib/modules/$n.ko"
  case "$src" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
}
for m in "${BASE_MODULES[@]}"; do visit "$(norm "$m")"; done
BASE_SEEN="$(declare -p SEEN)"
for n in "${ORDER[@]}"; do
  copy_module "$n"
  printf '%s\n' "$n" >>"$ROOT/etc/modules"
done
FS_LIST=()
for fs in "${!FS_MODULES[@]}"; do
  eval "${BASE_SEEN/declare -A/declare -gA}"
  ORDER=()
  for m in ${FS_MODULES[$fs]}; do visit "$(norm "$m")"; done
  # The filesystem's own module (the last one named) must be there, or the type is left out.
  last="${FS_MODULES[$fs]##* }"
  if [[ -z ${MOD_PATH[$(norm "$last")]:-} && -z ${BUILTIN[$(norm "$last")]:-} ]]; then
    log "no $fs in this kernel: the helper will not read $fs"
    continue
  fi
  : >"$ROOT/etc/fs/$fs"
  for n in "${ORDER[@]}"; do
    copy_module "$n"
    printf '%s\n' "$n" >>"$ROOT/etc/fs/$fs"
  done
  FS_LIST+=("$fs")
done

# --- 3. the initramfs --------------------------------------------------------------------------
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] && continue
  ln -sf busybox "$ROOT/bin/$applet"
done
for applet in poweroff insmod; do ln -sf ../bin/busybox "$ROOT/sbin/$applet"; done

cat >"$ROOT/init" <<EOF
#!/bin/sh
# brankas file-restore helper, format $FORMAT_VERSION. Built by scripts/build-helper.sh; the
# protocol is docs/file-restore.md's. Everything but the reply goes to the console (ttyS0).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/ttyS0 2>&1
say() { echo "brankas-helper: \$*"; }
stop() { sync; poweroff -f; sleep 60; }
for m in \$(cat /etc/modules); do insmod /lib/modules/\$m.ko || say "insmod \$m failed"; done

# The port, found by its name (up to 60 s; the host's deadline is longer).
port=
i=0
while [ -z "\$port" ] && [ \$i -lt 600 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "\$(cat "\$p/name" 2>/dev/null)" = $PORT_NAME ] && port=/dev/\${p##*/}
  done
  [ -n "\$port" ] || sleep 0.1
  i=\$((i + 1))
done
[ -n "\$port" ] || { say "no port $PORT_NAME"; stop; }
while [ ! -c "\$port" ]; do sleep 0.1; done
exec 3<>"\$port"
say "waiting for a request on \$port"

# One request line; reading gives end-of-file while the host is not connected yet. A host
# that never comes (it died between start and connect) must not leave the VM running: a
# watchdog powers it off after 10 minutes without a request.
( sleep 600; say "no request: powering off"; stop ) &
watchdog=\$!
req=
while [ -z "\$req" ]; do
  IFS= read -r req <&3 || true
  [ -n "\$req" ] || sleep 0.1
done
kill \$watchdog
say "request received"
set -- \$req
[ \$# -ge 7 ] && [ "\$1" = BRANKAS-FILES ] && [ "\$2" = 1 ] || { say "bad request"; stop; }
end=\$3 sep=\$4 op=\$5 dev=\$6 fs=\$7
shift 7
hexpaths="\$*"

# The status ends the reply; the host's ACK tells that it has all of it.
reply() {
  printf '%s%s\n' "\$end" "\$*" >&3
  IFS= read -r ack <&3 || true
  stop
}
hex() { printf '%s' "\$1" | xxd -p | tr -d '\n'; }
unhex() { printf '%bX' "\$(printf '%s' "\$1" | sed 's/../\\\\x&/g')"; }
inside() { case "\$1/" in /mnt/v/*) return 0 ;; esac; return 1; }

case "\$dev" in *[!a-z0-9]* | '') reply ERR REQUEST ;; esac
i=0
while [ ! -b "/dev/\$dev" ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
[ -f "/etc/fs/\$fs" ] || reply ERR MOUNT "\$(hex "\$fs")"
for m in \$(cat "/etc/fs/\$fs"); do insmod /lib/modules/\$m.ko 2>/dev/null; done
case "\$fs" in
  ext4) opts=ro,noload ;;
  xfs) opts=ro,norecovery ;;
  btrfs) opts=ro,rescue=nologreplay ;;
  vfat) opts=ro,iocharset=utf8 ;;
  *) opts=ro ;;
esac
mkdir -p /mnt/v
mount -t "\$fs" -o "\$opts" "/dev/\$dev" /mnt/v || mount -t "\$fs" -o ro "/dev/\$dev" /mnt/v ||
  reply ERR MOUNT "\$(hex "\$fs")"
cd /mnt/v || reply ERR MOUNT "\$(hex "\$fs")"

entry() {
  stat -c "\${sep}E %f %u %g %s %Y %n" -- "\$1"
  if [ -L "\$1" ]; then
    printf '%sL ' "\$sep"
    readlink "./\$1"
  fi
}

case "\$op" in
  ls)
    h=\${hexpaths%% *}
    p=\$(unhex "\$h")
    p=\${p%X}
    r=\$(realpath "/mnt/v/\$p" && echo X) || reply ERR NOT_FOUND "\$h"
    r=\${r%X}
    r=\${r%?}
    inside "\$r" || reply ERR OUTSIDE "\$h"
    [ -e "\$r" ] || reply ERR NOT_FOUND "\$h"
    if [ -d "\$r" ]; then
      cd "\$r" || reply ERR NOT_FOUND "\$h"
      for f in * .[!.]* ..?*; do
        [ -e "\$f" ] || [ -L "\$f" ] || continue
        entry "\$f" >&3
      done
    else
      cd "\${r%/*}/" && entry "\${r##*/}" >&3
    fi
    reply OK
    ;;
  get)
    set --
    for h in \$hexpaths; do
      p=\$(unhex "\$h")
      p=\${p%X}
      case "\$p" in */*) parent=\${p%/*} ;; *) parent=. ;; esac
      r=\$(realpath "/mnt/v/\$parent" && echo X) || reply ERR NOT_FOUND "\$h"
      r=\${r%X}
      r=\${r%?}
      inside "\$r" || reply ERR OUTSIDE "\$h"
      [ -e "./\$p" ] || [ -L "./\$p" ] || reply ERR NOT_FOUND "\$h"
      set -- "\$@" "./\$p"
    done
    if tar cf - "\$@" >&3; then reply OK; else reply ERR TAR; fi
    ;;
  *) reply ERR REQUEST ;;
esac
EOF
chmod 0755 "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  gzip -9n >"$WORK/initrd.img"

rm -f "$STAMP"
install -m 0644 "$WORK/initrd.img" "$HELPER_DIR/initrd.img"
{
  echo "$WANT_STAMP_HEAD"
  echo "kernel_package=$KPKG"
  echo "kernel_package_version=$KPKG_VERSION"
  echo "filesystems=${FS_LIST[*]}"
  echo "port=$PORT_NAME"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
chmod 0755 "$HELPER_DIR"
echo "brankas file-restore helper built in $HELPER_DIR"
echo "  kernel:      $KPKG $KPKG_VERSION ($KVER)"
echo "  filesystems: ${FS_LIST[*]}"
echo "  initrd:      $(du -h "$HELPER_DIR/initrd.img" | cut -f1)"
