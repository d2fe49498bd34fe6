#!/usr/bin/env bash
# vm_prepare.sh: everything the real-kernel tests (e2e/vm) need from outside,
# fetched once at setup time so that the tests themselves never reach the
# network: Debian's kernel package (the one with ESP, GCM and modules this
# machine's kernel lacks) is downloaded with `apt-get download` and unpacked
# with `dpkg -x` into a cache (the machine's /boot and /lib/modules are never
# touched), its modules get a modules.dep, the uncompressed vmlinux is
# extracted for a faster boot under TCG, and the initramfs base (busybox,
# iproute2, tcpdump, bpftool and the modules) is built. Finally it writes
# e2e/vm/kernel/kernel.stamp in the work tree (git ignores it): the cache's
# path and what is in it, which the VM test targets take as an input, so
# Bazel re-runs them when the kernel or the base changes.
#
# Idempotent and quiet when everything is in place. tools/setup runs it after
# installing the packages (qemu, busybox-static, cpio, ...).
#
# Environment:
#   KMESH_VM_CACHE  cache dir (default /var/cache/kmesh-ipsec-vm as root,
#                   else ${XDG_CACHE_HOME:-~/.cache}/kmesh-ipsec-vm)
#   KMESH_VM_KPKG   pin a kernel package (default: what linux-image-amd64
#                   depends on)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=e2e/vm/vm_image.sh
. "$HERE/vm_image.sh"

if [[ $(id -u) -eq 0 ]]; then
  CACHE=${KMESH_VM_CACHE:-/var/cache/kmesh-ipsec-vm}
else
  CACHE=${KMESH_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kmesh-ipsec-vm}
fi
mkdir -p "$CACHE" || { echo "vm_prepare: cannot create $CACHE" >&2; exit 1; }
stamp=$HERE/kernel/kernel.stamp

kpkg=${KMESH_VM_KPKG:-}
resolve_kpkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
if [[ -z $kpkg ]]; then
  kpkg=$(resolve_kpkg)
  if [[ -z $kpkg ]]; then
    apt-get update -q >"$CACHE/apt-update.log" 2>&1 || true
    kpkg=$(resolve_kpkg)
  fi
fi
if [[ -z $kpkg ]]; then
  echo "vm_prepare: apt cannot resolve the kernel package behind linux-image-amd64" \
    "(is Debian's archive reachable? see $CACHE/apt-update.log)" >&2
  exit 1
fi
kver=${kpkg#linux-image-}
kdir=$CACHE/kernel-$kver
if [[ ! -f $kdir/.unpacked ]]; then
  echo "vm_prepare: fetching $kpkg for the e2e VM (apt-get download + dpkg -x; the host's /boot is untouched)"
  mkdir -p "$CACHE/debs"
  if ! compgen -G "$CACHE/debs/${kpkg}_*.deb" >/dev/null; then
    (cd "$CACHE/debs" && apt-get download -q "$kpkg" >"$CACHE/apt-download.log" 2>&1) || {
      apt-get update -q >"$CACHE/apt-update.log" 2>&1 || true
      (cd "$CACHE/debs" && apt-get download -q "$kpkg" >"$CACHE/apt-download.log" 2>&1)
    } || {
      echo "vm_prepare: apt-get download $kpkg failed (see $CACHE/apt-download.log)" >&2
      exit 1
    }
  fi
  rm -rf "$kdir" && mkdir -p "$kdir"
  deb=$(compgen -G "$CACHE/debs/${kpkg}_*.deb" | tail -n 1)
  dpkg -x "$deb" "$kdir" || { echo "vm_prepare: dpkg -x $deb failed" >&2; exit 1; }
  # The package ships no modules.dep (depmod runs when it is installed).
  /bin/busybox depmod -b "$kdir" "$kver" || { echo "vm_prepare: depmod failed" >&2; exit 1; }
  # Boot the uncompressed ELF through qemu's PVH entry: under TCG this saves
  # the guest's XZ decompression (about 4 s per boot).
  vmlinuz=$kdir/boot/vmlinuz-$kver
  off=$(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$vmlinuz" | head -n 1 | cut -d: -f1)
  if [[ -n $off ]]; then
    tail -c +$((off + 1)) "$vmlinuz" | xz -dc >"$kdir/vmlinux.tmp" 2>/dev/null
    if file "$kdir/vmlinux.tmp" | grep -q 'ELF 64-bit'; then
      mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
    fi
    rm -f "$kdir/vmlinux.tmp"
  fi
  sha256sum "$deb" | cut -d' ' -f1 >"$kdir/deb.sha256"
  touch "$kdir/.unpacked"
fi

base=$(vm_base_image "$kdir" "$kver" "$CACHE") || exit 1

new_stamp=$(
  printf 'kernel_dir=%s\nkernel_version=%s\nkernel_deb_sha256=%s\nbase=%s\n' \
    "$kdir" "$kver" "$(cat "$kdir/deb.sha256" 2>/dev/null)" "$base"
)
mkdir -p "$(dirname "$stamp")"
if [[ ! -f $stamp || $(cat "$stamp") != "$new_stamp" ]]; then
  printf '%s\n' "$new_stamp" >"$stamp"
  echo "vm_prepare: e2e VM kernel $kver ready ($stamp)"
fi
