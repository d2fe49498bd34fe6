#!/usr/bin/env bash
# vm_run.sh: boots Debian's own kernel (the one with ESP, GCM and modules that
# this machine's kernel lacks) under qemu with an initramfs holding busybox,
# iproute2, tcpdump, bpftool, the project's binaries and the guest scenario
# scripts of e2e/vm/guest/, runs the named scenarios inside, and brings their
# results back over virtio-9p (the serial console is the fallback).
#
# Nothing is installed as the host's kernel: the kernel package is fetched
# with `apt-get download` and unpacked with `dpkg -x` into the cache; the
# machine's /boot and /lib/modules are never touched. The VM has no network
# device; all traffic stays in namespaces inside the guest.
#
# Usage:
#   vm_run.sh --out DIR [--bin PATH]... [--data PATH]... SCENARIO...
#     --bin PATH    an ELF (with its ldd-resolved libraries) for /opt/kmesh/bin/
#     --data PATH   any other file (e.g. a BPF object) for /opt/kmesh/data/
#     --out DIR     where results.txt, console.log and the guest's artifacts go
#     SCENARIO      a guest/scenario_<name>.sh name, e.g. esp_traffic
#
# Every check inside prints "PASS: ..." or "FAIL: ..." into results.txt; this
# script prints them, then "N passed, N failed", and exits 0 only when every
# check passed and the guest finished. Exit 2: the environment cannot run a
# VM (not root, qemu or the kernel package not obtainable with apt); the
# caller decides whether that is a skip.
#
# Environment:
#   KMESH_VM_CACHE  cache dir (default ${XDG_CACHE_HOME:-~/.cache}/kmesh-ipsec-vm)
#   KMESH_VM_KPKG   pin a kernel package (default: what linux-image-amd64 depends on)
#   KMESH_VM_TIMEOUT  wall-clock limit for qemu in seconds (default 600)
#   KMESH_VM_MEM    guest memory in MiB (default 512)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KMESH_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/kmesh-ipsec-vm}
TIMEOUT=${KMESH_VM_TIMEOUT:-600}
MEM=${KMESH_VM_MEM:-512}

T0=$(date +%s.%N)
log() {
  echo "[vm_run $(awk -v t0="$T0" -v t="$(date +%s.%N)" 'BEGIN{printf "%6.1fs", t-t0}')] $*" >&2
}
die() { log "ERROR: $*"; exit 1; }
cannot_run() { log "cannot run a VM: $*"; exit 2; }

bins=()
datas=()
out=""
scenarios=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) bins+=("$2"); shift 2 ;;
    --data) datas+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[[ -n $out ]] || die "--out DIR is required"
[[ ${#scenarios[@]} -gt 0 ]] || die "name at least one scenario"
for s in "${scenarios[@]}"; do
  [[ -f $HERE/guest/scenario_$s.sh ]] || die "no scenario $s (guest/scenario_$s.sh)"
done
mkdir -p "$out" || die "cannot create --out $out"
out=$(cd "$out" && pwd)
[[ $(id -u) -eq 0 ]] || cannot_run "needs root (apt-get for qemu and the kernel package)"
mkdir -p "$CACHE" || die "cannot create cache dir $CACHE"

# ------------------------------------------------------------ host packages
apt_install() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
      >"$CACHE/apt.log" 2>&1; then
      return 0
    fi
    if grep -q -E 'Could not get lock|dpkg frontend lock' "$CACHE/apt.log"; then
      log "dpkg lock held by another process, waiting (attempt $attempt)"
      sleep 15
      continue
    fi
    if [[ $attempt -eq 1 ]]; then
      log "apt-get install failed; running apt-get update once"
      apt-get update -q >"$CACHE/apt-update.log" 2>&1 || true
      continue
    fi
    break
  done
  tail -n 20 "$CACHE/apt.log" >&2
  return 1
}
missing=()
for pair in qemu-system-x86_64:qemu-system-x86 cpio:cpio tcpdump:tcpdump ping:iputils-ping \
  bpftool:bpftool ip:iproute2 xz:xz-utils file:file; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# Debian's dynamic busybox also provides /bin/busybox; the initramfs needs the
# static one.
if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
  missing+=(busybox-static)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}" || cannot_run "apt-get install ${missing[*]} failed"
fi
command -v qemu-system-x86_64 >/dev/null || cannot_run "qemu-system-x86_64 missing"

# ------------------------------------------------------------ kernel
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
[[ -n $kpkg ]] || cannot_run "apt cannot resolve the kernel package behind linux-image-amd64"
kver=${kpkg#linux-image-}
kdir=$CACHE/kernel-$kver
if [[ ! -f $kdir/.unpacked ]]; then
  log "fetching $kpkg (apt-get download + dpkg -x; the host's /boot is untouched)"
  mkdir -p "$CACHE/debs"
  if ! compgen -G "$CACHE/debs/${kpkg}_*.deb" >/dev/null; then
    (cd "$CACHE/debs" && apt-get download -q "$kpkg" >"$CACHE/apt-download.log" 2>&1) || {
      apt-get update -q >"$CACHE/apt-update.log" 2>&1 || true
      (cd "$CACHE/debs" && apt-get download -q "$kpkg" >"$CACHE/apt-download.log" 2>&1)
    } || cannot_run "apt-get download $kpkg failed (see $CACHE/apt-download.log)"
  fi
  rm -rf "$kdir" && mkdir -p "$kdir"
  deb=$(compgen -G "$CACHE/debs/${kpkg}_*.deb" | tail -n 1)
  dpkg -x "$deb" "$kdir" || die "dpkg -x $deb failed"
  # The package ships no modules.dep (depmod runs when it is installed).
  /bin/busybox depmod -b "$kdir" "$kver" || die "depmod failed"
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
  touch "$kdir/.unpacked"
fi
moddir=$kdir/lib/modules/$kver
boot_image=$kdir/boot/vmlinuz-$kver
[[ -s $kdir/vmlinux ]] && boot_image=$kdir/vmlinux
[[ -f $boot_image && -f $moddir/modules.dep ]] || die "kernel tree in $kdir is incomplete"

# ------------------------------------------------------------ initramfs
# Two archives, concatenated (the kernel unpacks both): a cached base with
# busybox, the tools, their libraries and the kernel modules, and a small
# per-run archive with the project's binaries and the guest scripts.
copy_elf() { # HOST_PATH ROOT GUEST_PATH: an ELF and its ldd-resolved libraries
  local src=$1 root=$2 dst=$3 name path
  mkdir -p "$root$(dirname "$dst")" "$root/lib/x86_64-linux-gnu" "$root/lib64"
  cp -L "$src" "$root$dst" || return 1
  # "libfoo.so.1 => /path/libfoo.so.1 (0x...)" and the loader's own line.
  while read -r name path; do
    case $name in
      */ld-linux-x86-64.so.2) cp -L "$name" "$root/lib64/ld-linux-x86-64.so.2" ;;
      *)
        [[ $path == /* ]] || continue
        # Bazel links cc_import'ed libraries through _solib symlinks; the
        # guest finds them by soname in the standard directory.
        [[ -e $root/lib/x86_64-linux-gnu/$name ]] || cp -L "$path" "$root/lib/x86_64-linux-gnu/$name"
        ;;
    esac
  done < <(ldd "$src" 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => \([^ ]*\) .*/\1 \2/p; s/^[[:space:]]*\(\/[^ ]*ld-linux[^ ]*\) .*/\1 -/p')
}

# Modules: what ESP in tunnel mode with rfc4106(gcm(aes)) needs (with the
# default RNG: without drbg + jitterentropy_rng every ESP SA add fails with
# "Kernel was unable to initialize cryptographic operations"), veth, tc with
# BPF and flower/skbedit, a bridge (the walkthrough's underlay), and
# virtio-9p for the results. Whole crypto and xfrm directories are shipped so
# that autoloaded helpers are always there.
MODULES="esp4 esp6 xfrm_user xfrm_algo gcm ghash-generic ghash-clmulni-intel aesni-intel
  ctr seqiv echainiv authenc authencesn tunnel4 xfrm4_tunnel tunnel6 xfrm6_tunnel veth
  sch_ingress cls_bpf act_bpf cls_flower act_skbedit act_gact 9p 9pnet_virtio virtio_pci
  drbg jitterentropy_rng sha512_generic sha256_generic bridge"
MODULE_DIRS="kernel/crypto kernel/arch/x86/crypto kernel/lib/crypto kernel/net/xfrm"
base_key=$(
  {
    echo "$kver v4 $MODULES $MODULE_DIRS"
    for t in /bin/busybox /bin/dash ip tc tcpdump ping bpftool; do
      [[ $t == /* ]] || t=$(command -v "$t")
      stat -L -c '%n %s %Y' "$t"
    done
  } | sha256sum | cut -c1-16
)
base=$CACHE/base-$base_key.cpio
if [[ ! -s $base ]]; then
  log "building the initramfs base (busybox, tools, modules of $kver)"
  root=$(mktemp -d "$CACHE/root.XXXXXX")
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,etc,proc,sys,dev,tmp,run,mnt/host,bpf,var/run/netns,root}
  cp /bin/busybox "$root/bin/busybox"
  copy_elf "$(command -v ip)" "$root" /usr/sbin/ip || die "copy ip"
  copy_elf "$(command -v tc)" "$root" /usr/sbin/tc || die "copy tc"
  copy_elf "$(command -v tcpdump)" "$root" /usr/bin/tcpdump || die "copy tcpdump"
  copy_elf "$(command -v ping)" "$root" /usr/bin/ping || die "copy ping"
  copy_elf "$(command -v bpftool)" "$root" /usr/sbin/bpftool || die "copy bpftool"
  # dash becomes /bin/sh: busybox's sh runs its own applets (a limited `ip`)
  # even for popen("ip ...") from the tests, whatever PATH says.
  copy_elf /bin/dash "$root" /bin/dash || die "copy dash"
  # tcpdump drops privileges to a user it looks up (we run it with -Z root).
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"

  declare -A seen=()
  add_module() { # path relative to moddir, with its dependencies
    local m=$1 d
    [[ -n ${seen[$m]:-} ]] && return
    seen[$m]=1
    while read -r d; do
      add_module "$d"
    done < <(awk -v m="$m:" '$1==m{for(i=2;i<=NF;i++)print $i}' "$moddir/modules.dep")
  }
  for w in $MODULES; do
    pat=${w//[-_]/[-_]}
    rel=$(grep -E "(^|/)${pat}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n 1 | cut -d: -f1)
    [[ -n $rel ]] && add_module "$rel"
  done
  for d in $MODULE_DIRS; do
    while read -r rel; do
      add_module "$rel"
    done < <(awk -F: -v d="$d/" 'index($1,d)==1{print $1}' "$moddir/modules.dep")
  done
  rm_dir=$root/lib/modules/$kver
  mkdir -p "$rm_dir"
  for m in "${!seen[@]}"; do
    mkdir -p "$rm_dir/$(dirname "$m")"
    cp "$moddir/$m" "$rm_dir/$m"
  done
  cp "$moddir"/modules.builtin* "$moddir/modules.order" "$rm_dir/" 2>/dev/null
  /bin/busybox depmod -b "$root" "$kver" || die "depmod (initramfs) failed"
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet >"$base.tmp") ||
    die "cpio failed (is cpio installed?)"
  [[ -s $base.tmp ]] || die "cpio wrote an empty archive"
  mv "$base.tmp" "$base"
  rm -rf "$root"
  # Bases for older kernels or tools are never used again.
  find "$CACHE" -maxdepth 1 -name 'base-*.cpio*' ! -name "$(basename "$base")" -delete
  log "base: ${#seen[@]} modules, $(du -h "$base" | cut -f1)"
fi

run_root=$(mktemp -d "${TMPDIR:-/tmp}/kmesh-vm-run.XXXXXX")
trap 'rm -rf "$run_root"' EXIT
mkdir -p "$run_root/opt/kmesh/bin" "$run_root/opt/kmesh/data" "$run_root/opt/e2e"
cp "$HERE"/guest/*.sh "$run_root/opt/e2e/"
mv "$run_root/opt/e2e/init.sh" "$run_root/init"
chmod +x "$run_root/init" "$run_root"/opt/e2e/*.sh
for b in "${bins[@]}"; do
  [[ -f $b ]] || die "--bin $b: no such file"
  copy_elf "$b" "$run_root" "/opt/kmesh/bin/$(basename "$b")" || die "copy $b"
done
for d in "${datas[@]}"; do
  [[ -f $d ]] || die "--data $d: no such file"
  cp -L "$d" "$run_root/opt/kmesh/data/"
done
echo "${scenarios[*]}" >"$run_root/opt/e2e/scenarios"
# Uncompressed: under TCG the guest's gunzip costs more than copying the
# bytes (qemu loads the initrd straight into guest memory).
initrd=$run_root/initramfs.cpio
cp "$base" "$initrd"
(cd "$run_root" && find init opt lib lib64 -print0 2>/dev/null |
  cpio --null -o -H newc --quiet >>"$initrd") || die "cpio (run archive) failed"
log "initramfs: $(du -h "$base" | cut -f1) base + $(du -h --apparent-size "$initrd" | cut -f1) in all"

# ------------------------------------------------------------ boot
share=$out/share
rm -rf "$share" && mkdir -p "$share"
console=$out/console.log
log "booting $kver under TCG (-cpu max gives the guest AES-NI/PCLMUL), scenarios: ${scenarios[*]}"
tq0=$(date +%s)
# /dev/kvm on this kind of machine is PVM, which cannot boot a stock kernel:
# TCG always. -no-reboot + poweroff -f in the guest ends qemu.
timeout "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
  -accel tcg -cpu max -m "$MEM" -smp 1 \
  -serial "file:$console" \
  -virtfs "local,path=$share,mount_tag=host0,security_model=none,id=host0" \
  -kernel "$boot_image" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 loglevel=4 mitigations=off" </dev/null >"$out/qemu.log" 2>&1
qrc=$?
log "qemu exited $qrc after $(($(date +%s) - tq0)) s (console: $console)"
[[ $qrc -eq 124 ]] && log "qemu hit the ${TIMEOUT}s limit"

# ------------------------------------------------------------ results
results=$out/results.txt
if [[ -f $share/results.txt ]]; then
  cp "$share/results.txt" "$results"
else
  log "no results over 9p; reading the console"
  sed -n 's/\r$//; s/^E2E-RESULT //p' "$console" >"$results"
fi
for f in "$share"/*; do
  [[ -e $f && $(basename "$f") != results.txt ]] && cp -r "$f" "$out/"
done
passed=$(grep -c '^PASS: ' "$results")
failed=$(grep -c '^FAIL: ' "$results")
grep -E '^(PASS|FAIL|INFO): ' "$results"
if ! grep -q '^DONE$' "$results"; then
  echo "FAIL: vm: the guest did not finish its scenarios (see $console)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
