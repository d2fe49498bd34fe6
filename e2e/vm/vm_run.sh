#!/usr/bin/env bash
# vm_run.sh: boots Debian's own kernel (the one with ESP, GCM and modules that
# this machine's kernel lacks) under qemu with an initramfs holding busybox,
# iproute2, tcpdump, bpftool, the project's binaries and the guest scenario
# scripts of e2e/vm/guest/, runs the named scenarios inside, and brings their
# results back over virtio-9p (the serial console is the fallback).
#
# It never reaches the network: the kernel and the initramfs base were
# prepared by vm_prepare.sh (run by tools/setup), which left a stamp naming
# them. The VM has no network device; all traffic stays in namespaces inside
# the guest. It needs qemu, not root.
#
# Usage:
#   vm_run.sh --stamp FILE --out DIR [--bin PATH]... [--data PATH]... SCENARIO...
#     --stamp FILE  e2e/vm/kernel/kernel.stamp as vm_prepare.sh wrote it
#     --bin PATH    an ELF (with its ldd-resolved libraries) for /opt/kmesh/bin/
#     --data PATH   any other file (e.g. a BPF object) for /opt/kmesh/data/
#     --out DIR     where results.txt, console.log and the guest's artifacts go
#     SCENARIO      a guest/scenario_<name>.sh name, e.g. esp_traffic
#
# Every check inside prints "PASS: ..." or "FAIL: ..." into results.txt; this
# script prints them, then "N passed, N failed", and exits 0 only when every
# check passed and the guest finished. Exit 2: the environment cannot run a
# VM (no qemu, no prepared kernel); the caller decides whether that is a skip.
#
# Environment:
#   KMESH_VM_TIMEOUT  wall-clock limit for qemu in seconds (default 600)
#   KMESH_VM_MEM    guest memory in MiB (default 512)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=e2e/vm/vm_image.sh
. "$HERE/vm_image.sh"
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
stamp=""
scenarios=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) bins+=("$2"); shift 2 ;;
    --data) datas+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --stamp) stamp=$2; shift 2 ;;
    -h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
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
command -v qemu-system-x86_64 >/dev/null || cannot_run "qemu-system-x86_64 is missing (run tools/setup)"
[[ -n $stamp && -f $stamp ]] || cannot_run "no prepared VM kernel (run tools/setup, which runs e2e/vm/vm_prepare.sh)"
kdir=$(sed -n 's/^kernel_dir=//p' "$stamp")
kver=$(sed -n 's/^kernel_version=//p' "$stamp")
[[ -f $kdir/.unpacked ]] || cannot_run "the prepared kernel $kdir is gone (run tools/setup)"
moddir=$kdir/lib/modules/$kver
boot_image=$kdir/boot/vmlinuz-$kver
[[ -s $kdir/vmlinux ]] && boot_image=$kdir/vmlinux
[[ -f $boot_image && -f $moddir/modules.dep ]] || die "kernel tree in $kdir is incomplete"

# ------------------------------------------------------------ initramfs
# Two archives, concatenated (the kernel unpacks both): the base prepared
# with the kernel (busybox, the tools, their libraries and the modules) and
# a small per-run archive with the project's binaries and the guest scripts.
# If the host's tools changed since the base was made, a new one is built
# for this run (locally: it needs no network).
base=$(sed -n 's/^base=//p' "$stamp")
if [[ ! -s $base || $(basename "$base") != "base-$(vm_base_key "$kver").cpio" ]]; then
  base=$(vm_base_image "$kdir" "$kver" "$out/base") || die "cannot build the initramfs base"
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
