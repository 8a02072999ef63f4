# Shared helpers for skiff's guest image scripts (build-guest-kernel,
# build-initramfs, build-rootfs, fetch-debian-kernel, prepare-guest,
# qemu-boot). Sourced, not run:
#
#   source "$(dirname "$0")/guest-lib.sh"
#   guest_key "$0" guest/kernel/microvm-6.1.config -- "pkg=$(deb_version linux-source-6.1)"
#   dir=$(cache_dir kernel "$GUEST_KEY")
#   if cache_hit "$dir"; then ...; fi
#
# Cache layout (see guest/README.md):
#   $SKIFF_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/skiff)
#     <artifact>-<key>/       finished, immutable results; <key> is the first
#                             16 hex digits of a sha256 over every input
#     <artifact>-<key>/inputs.txt  what went into <key>, for humans
#     src/, build/            extracted sources, incremental build trees
#     default/                symlinks to the images `skiff run` boots
#     .lock-<artifact>        flock(1) files serializing concurrent builds

set -euo pipefail
export LC_ALL=C

GUEST_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST_CACHE=${SKIFF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skiff}

# Fixed metadata for reproducible outputs (kernel banner, cpio and ext4 times).
export SOURCE_DATE_EPOCH=1700000000
export KBUILD_BUILD_TIMESTAMP="@${SOURCE_DATE_EPOCH}"
export KBUILD_BUILD_USER=skiff KBUILD_BUILD_HOST=skiff KBUILD_BUILD_VERSION=1

log() { echo "${GUEST_LOG_PREFIX:-guest}: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Prints the installed version of Debian package $1, or fails with a hint.
deb_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || true
  [ -n "$v" ] || die "Debian package $1 is not installed (run scripts/setup)"
  echo "$v"
}

# Fails unless every command named is on PATH.
need_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t not found (run scripts/setup)"
  done
}

# guest_key FILE... [-- STRING...]: sets GUEST_KEY to a short hash of the
# named files (by content and repo-relative name) plus the extra strings, and
# GUEST_KEY_INPUTS to a file listing them. The caller passes its own script
# and every file it reads; guest-lib.sh is always in. Few processes: the
# cached path of every script must stay well under a second.
guest_key() {
  local files=("${GUEST_REPO_ROOT}/scripts/guest-lib.sh") f
  while (($#)); do
    if [ "$1" = -- ]; then
      shift
      break
    fi
    files+=("$1")
    shift
  done
  GUEST_KEY_INPUTS=$(mktemp)
  trap 'rm -f "$GUEST_KEY_INPUTS"' EXIT
  {
    (cd "$GUEST_REPO_ROOT" && sha256sum -- "${files[@]#"${GUEST_REPO_ROOT}/"}") ||
      die "cannot read the inputs ${files[*]}"
    for f in "$@"; do echo "arg $f"; done
  } >"$GUEST_KEY_INPUTS"
  GUEST_KEY=$(sha256sum <"$GUEST_KEY_INPUTS")
  GUEST_KEY=${GUEST_KEY:0:16}
}

# deb_versions PKG...: "PKG=VERSION" per package, one dpkg-query for all.
deb_versions() {
  local out
  out=$(dpkg-query -W -f='${Package}=${Version}\n' "$@" 2>/dev/null) || true
  local p
  for p in "$@"; do
    [[ $'\n'"$out" == *$'\n'"${p}="?* ]] || die "Debian package $p is not installed (run scripts/setup)"
  done
  echo "$out"
}

# The files directly in directory $1 (sorted: LC_ALL=C), for guest_key.
files_under() { printf '%s\n' "$1"/*; }

cache_dir() { echo "${GUEST_CACHE}/$1-$2"; }

# A finished entry has its .complete stamp (written last, after rename).
cache_hit() { [ -f "$1/.complete" ]; }

# with_lock NAME CMD...: runs CMD holding $GUEST_CACHE/.lock-NAME, so two
# builds of the same artifact never share a build tree.
with_lock() {
  local name=$1
  shift
  mkdir -p "$GUEST_CACHE"
  (
    flock 9
    "$@"
  ) 9>"${GUEST_CACHE}/.lock-${name}"
}

# publish STAGING FINAL: moves a fully built staging dir into place.
publish() {
  local staging=$1 final=$2
  cp "$GUEST_KEY_INPUTS" "$staging/inputs.txt"
  rm -rf "$final"
  chmod 0755 "$staging"
  mv -T "$staging" "$final"
  touch "$final/.complete"
}

# new_staging NAME: an empty directory next to the final entries (same file
# system, so publish's rename is atomic).
new_staging() {
  mkdir -p "$GUEST_CACHE"
  mktemp -d "${GUEST_CACHE}/.staging-$1.XXXXXX"
}

# Normalizes mtimes under $1 so archives and images do not depend on when
# they were built.
normalize_times() {
  find "$1" -exec touch -h -d "@${SOURCE_DATE_EPOCH}" {} +
}

# make_cpio DIR OUT: a newc cpio of DIR, entries sorted, owned by root, with
# fixed times; no root privileges needed. Device nodes are not included:
# /dev/console comes from the kernel's built-in initramfs and the rest from
# devtmpfs at boot.
make_cpio() {
  local dir=$1 out=$2
  normalize_times "$dir"
  (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc --owner=0:0 --reproducible) >"$out"
}

# stage_busybox DIR: busybox-static at DIR/bin/busybox plus a symlink per
# applet at the path busybox itself reports.
stage_busybox() {
  local dir=$1 bb=/bin/busybox applet
  [ -x "$bb" ] && "$bb" --list-full >/dev/null 2>&1 ||
    die "busybox-static is not installed (run scripts/setup)"
  ! readelf -l "$bb" 2>/dev/null | grep -q 'program interpreter' ||
    die "$bb is dynamically linked: install busybox-static"
  mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin"
  install -m 0755 "$bb" "$dir/bin/busybox"
  for applet in $("$bb" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$dir/$applet" ] && continue
    ln -s /bin/busybox "$dir/$applet"
  done
}

# build_outb DIR: the freestanding debug-exit helper at DIR/bin/skiff-outb.
build_outb() {
  mkdir -p "$1/bin"
  gcc -static -nostdlib -Os -fno-stack-protector -fno-asynchronous-unwind-tables \
    -fno-pie -no-pie -Wall -Wextra -Werror -Wl,--build-id=none -s \
    -o "$1/bin/skiff-outb" "${GUEST_REPO_ROOT}/guest/tools/skiff-outb.c"
}

# stage_init DIR: the skiff init, its checks and the usual directories.
stage_init() {
  local dir=$1
  mkdir -p "$dir"/{dev,proc,sys,tmp,run,mnt,root,etc/skiff/checks,lib/modules}
  chmod 1777 "$dir/tmp"
  install -m 0755 "${GUEST_REPO_ROOT}/guest/initramfs/init" "$dir/init"
  install -m 0644 "${GUEST_REPO_ROOT}"/guest/initramfs/checks/*.sh "$dir/etc/skiff/checks/"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
  printf 'root:x:0:\n' >"$dir/etc/group"
  printf 'PS1="skiff# "\n' >"$dir/etc/profile"
  build_outb "$dir"
}

# Inputs shared by every image holding the init: for guest_key.
init_inputs() {
  echo "${GUEST_REPO_ROOT}/guest/initramfs/init"
  echo "${GUEST_REPO_ROOT}/guest/tools/skiff-outb.c"
  files_under "${GUEST_REPO_ROOT}/guest/initramfs/checks"
}
init_args() { deb_versions busybox-static gcc-12 binutils; }
