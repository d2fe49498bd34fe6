#!/usr/bin/env bash
# Bazel's way into the real-kernel e2e tests (//e2e/vm:vm_e2e_test; tagged
# manual, so `bazel test //...` leaves it out): runs vm_run.sh on the
# binaries Bazel built as this test's data. Needs root and either qemu or
# apt access; otherwise it prints "SKIPPED: ..." and passes. Results,
# console log and captures land in the test's undeclared outputs.
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}
r=${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-kmesh_ipsec}
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: e2e/vm: needs root"
  exit 0
fi
# Bazel points HOME at the test's scratch directory; keep the kernel cache
# in the user's real one so reruns are warm.
home=$(getent passwd "$(id -u)" | cut -d: -f6)
export KMESH_VM_CACHE=${KMESH_VM_CACHE:-${home:-/root}/.cache/kmesh-ipsec-vm}
# The walkthrough needs a real kubectl from the machine (kubectl_elf.sh);
# without one it is left out.
walkthrough=()
if kubectl=$("$r/e2e/vm/kubectl_elf.sh" "${TEST_TMPDIR:-/tmp}/kubectl"); then
  walkthrough=(--bin "$kubectl"
    --bin "$r/kmesh/daemon/kmesh-daemon"
    --bin "$r/kmesh/kmeshctl/kmeshctl"
    --bin "$r/sim/kube/sim_apiserver"
    --data "$r/kmesh/daemon/crd/kmeshnodeinfo_crd.yaml"
    walkthrough)
  export KMESH_VM_MEM=${KMESH_VM_MEM:-1024} KMESH_VM_TIMEOUT=${KMESH_VM_TIMEOUT:-1800}
else
  echo "e2e/vm: no kubectl, the walkthrough scenario is left out"
fi
"$r/e2e/vm/vm_run.sh" --out "${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/vm" \
  --bin "$r/kmesh/linux/netlink_xfrm_test" \
  --bin "$r/e2e/vm/netlink_esp_sa_test" \
  --bin "$r/e2e/vm/kmesh_original_layout_vm_test" \
  --bin "$r/e2e/vm/static_node_datapath" \
  --data "$r/bpf/encrypt_marker.bpf.o" \
  --data "$r/bpf/decrypt_marker.bpf.o" \
  netlink_sa esp_traffic kmesh_original "${walkthrough[@]}"
rc=$?
if [[ $rc -eq 2 ]]; then
  echo "SKIPPED: e2e/vm: cannot run a VM here"
  exit 0
fi
exit $rc
