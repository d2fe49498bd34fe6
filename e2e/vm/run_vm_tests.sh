#!/usr/bin/env bash
# run_vm_tests.sh: the CI entry of the real-kernel end-to-end tests. Builds
# what the VM needs with Bazel, boots Debian's kernel under qemu (vm_run.sh)
# and runs every scenario of e2e/vm/guest/ inside:
#   netlink_sa      NetlinkXfrm and the daemon's XFRM layout/programmer
#                   against a kernel with ESP (gtest binaries)
#   esp_traffic     real ESP between two node namespaces, pods behind them,
#                   daemon layout + eBPF markers, SPI rotation 1 -> 2 under a
#                   continuous flow
#   kmesh_original  Kmesh's original three-node layout fails on Linux as in
#                   the simulator
#   walkthrough     the user's walk-through: sim_apiserver, three nodes each
#                   running kmesh-daemon --enable-ipsec=true, kmeshctl secret
#                   create, spi 1 then 2 on the wire, grace-period reclaim,
#                   daemon kill -9/restart and SIGTERM (docs/vm-e2e.md)
# Prints one PASS/FAIL line per check and a final "N passed, N failed";
# exits non-zero on any failure. Where a VM cannot run (not root, qemu not
# installable) it prints "SKIPPED: <reason>" and exits 0.
#
# Usage: e2e/vm/run_vm_tests.sh [SCENARIO...]   (default: all)
# Environment:
#   KMESH_VM_OUT            results, console log, captures (default /tmp/kmesh-vm-e2e)
#   KMESH_BAZEL_STARTUP     extra Bazel startup flags, e.g. --output_base=...
#   KMESH_VM_BAZEL_BIN      use binaries already built under this bazel-bin
#                           instead of running Bazel
#   KMESH_VM_KUBECTL        the kubectl for the walkthrough (default: the one
#                           on $PATH; see kubectl_elf.sh)
#   plus vm_run.sh's KMESH_VM_CACHE, KMESH_VM_KPKG, KMESH_VM_TIMEOUT, KMESH_VM_MEM
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

scenarios=("$@")
[[ ${#scenarios[@]} -eq 0 ]] && scenarios=(netlink_sa esp_traffic kmesh_original walkthrough)
out=${KMESH_VM_OUT:-/tmp/kmesh-vm-e2e}
t0=$(date +%s)

skip() {
  echo "SKIPPED: e2e/vm: $*"
  echo "0 passed, 0 failed"
  exit 0
}

[[ $(id -u) -eq 0 ]] || skip "needs root (apt-get for qemu and the kernel package, network namespaces in the VM)"

BIN_TARGETS=(
  //kmesh/linux:netlink_xfrm_test
  //e2e/vm:netlink_esp_sa_test
  //e2e/vm:kmesh_original_layout_vm_test
  //e2e/vm:static_node_datapath
  //kmesh/daemon:kmesh-daemon
  //kmesh/kmeshctl:kmeshctl
  //sim/kube:sim_apiserver
  //bpf:encrypt_marker.bpf.o
  //bpf:decrypt_marker.bpf.o
)
bazel_bin=${KMESH_VM_BAZEL_BIN:-}
if [[ -z $bazel_bin ]]; then
  # shellcheck disable=SC2086
  if ! bazel ${KMESH_BAZEL_STARTUP:-} build "${BIN_TARGETS[@]}"; then
    echo "FAIL: e2e/vm: bazel build of the VM's binaries failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  # shellcheck disable=SC2086
  bazel_bin=$(bazel ${KMESH_BAZEL_STARTUP:-} info bazel-bin 2>/dev/null)
fi

# The walkthrough drives the API server with a real kubectl ELF
# (kubectl_elf.sh) and runs the daemon, kmeshctl and the API server.
extra=()
if [[ " ${scenarios[*]} " == *" walkthrough "* ]]; then
  kdir=$(mktemp -d "${TMPDIR:-/tmp}/kmesh-vm-kubectl.XXXXXX")
  trap 'rm -rf "$kdir"' EXIT
  if kubectl=$(e2e/vm/kubectl_elf.sh "$kdir"); then
    extra+=(--bin "$kubectl"
      --bin "$bazel_bin/kmesh/daemon/kmesh-daemon"
      --bin "$bazel_bin/kmesh/kmeshctl/kmeshctl"
      --bin "$bazel_bin/sim/kube/sim_apiserver"
      --data kmesh/daemon/crd/kmeshnodeinfo_crd.yaml)
    # kubectl alone is 57 MB, held twice (initrd and rootfs) in guest memory.
    export KMESH_VM_MEM=${KMESH_VM_MEM:-1024}
    # Three daemons under TCG on one CPU: the walkthrough alone takes minutes.
    export KMESH_VM_TIMEOUT=${KMESH_VM_TIMEOUT:-1800}
  else
    echo "SKIPPED: e2e/vm: walkthrough: no kubectl (set KMESH_VM_KUBECTL)"
    kept=()
    for s in "${scenarios[@]}"; do [[ $s == walkthrough ]] || kept+=("$s"); done
    [[ ${#kept[@]} -gt 0 ]] || skip "no scenario left to run"
    scenarios=("${kept[@]}")
  fi
fi

e2e/vm/vm_run.sh --out "$out" \
  --bin "$bazel_bin/kmesh/linux/netlink_xfrm_test" \
  --bin "$bazel_bin/e2e/vm/netlink_esp_sa_test" \
  --bin "$bazel_bin/e2e/vm/kmesh_original_layout_vm_test" \
  --bin "$bazel_bin/e2e/vm/static_node_datapath" \
  --data "$bazel_bin/bpf/encrypt_marker.bpf.o" \
  --data "$bazel_bin/bpf/decrypt_marker.bpf.o" \
  "${extra[@]}" "${scenarios[@]}"
rc=$?
if [[ $rc -eq 2 ]]; then
  skip "cannot run a VM here (see the vm_run line above)"
fi
echo "e2e/vm: $(($(date +%s) - t0)) s in all; results, console log and captures in $out"
exit $rc
