#!/usr/bin/env bash
# One real-kernel scenario as a Bazel test (//e2e/vm:<scenario>_vm_test):
# boots Debian's kernel under qemu with vm_run.sh, runs guest/scenario_<name>.sh
# inside, and reports every check the guest made as a test case of its own in
# the JUnit XML Bazel reads (so tools/test counts them). The kernel and the
# initramfs base come from tools/setup (vm_prepare.sh; the stamp is an input
# of this test): nothing is downloaded here. Without qemu or a prepared
# kernel it reports one skipped case with the reason. Results, the console
# log and captures land in the test's undeclared outputs.
#
# Usage (from the BUILD rule): vm_scenario_test.sh SCENARIO
set -uo pipefail
scenario=${1:?usage: vm_scenario_test.sh SCENARIO}
r=${TEST_SRCDIR:?run me with bazel test}/${TEST_WORKSPACE:-kmesh_ipsec}
xml=${XML_OUTPUT_FILE:-${TEST_TMPDIR:-/tmp}/vm-test.xml}
out=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/vm
export TMPDIR=${TEST_TMPDIR:-${TMPDIR:-/tmp}}

xml_escape() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g'; }

# write_xml RESULTS_FILE: one <testcase> per PASS/FAIL/SKIPPED line.
write_xml() {
  local results=$1 tests failures skipped
  tests=$(grep -c -E '^(PASS|FAIL|SKIPPED): ' "$results")
  failures=$(grep -c '^FAIL: ' "$results")
  skipped=$(grep -c '^SKIPPED: ' "$results")
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites><testsuite name=\"e2e_vm_$scenario\" tests=\"$tests\" failures=\"$failures\" skipped=\"$skipped\">"
    while IFS= read -r line; do
      local kind=${line%%: *} text name
      text=$(printf '%s' "${line#*: }" | xml_escape)
      name=$(printf '%s' "${line#*: }" | cut -c1-200 | xml_escape)
      case $kind in
        PASS) echo "<testcase classname=\"e2e.vm.$scenario\" name=\"$name\"/>" ;;
        FAIL) echo "<testcase classname=\"e2e.vm.$scenario\" name=\"$name\"><failure message=\"$text\"/></testcase>" ;;
        SKIPPED) echo "<testcase classname=\"e2e.vm.$scenario\" name=\"$name\"><skipped message=\"$text\"/></testcase>" ;;
      esac
    done < <(grep -E '^(PASS|FAIL|SKIPPED): ' "$results")
    echo '</testsuite></testsuites>'
  } >"$xml"
}

skip() {
  echo "SKIPPED: e2e/vm: $scenario: $*"
  printf 'SKIPPED: %s: %s\n' "$scenario" "$*" >"$TMPDIR/skip.txt"
  write_xml "$TMPDIR/skip.txt"
  exit 0
}

stamp=$r/e2e/vm/kernel/kernel.stamp
[[ -f $stamp ]] || skip "no VM kernel prepared (run tools/setup: e2e/vm/vm_prepare.sh fetches it)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 is missing (run tools/setup)"

args=(--stamp "$stamp" --out "$out")
case $scenario in
  netlink_sa)
    args+=(--bin "$r/kmesh/linux/netlink_xfrm_test" --bin "$r/e2e/vm/netlink_esp_sa_test") ;;
  esp_traffic)
    args+=(--bin "$r/e2e/vm/static_node_datapath"
      --data "$r/bpf/encrypt_marker.bpf.o" --data "$r/bpf/decrypt_marker.bpf.o") ;;
  kmesh_original)
    args+=(--bin "$r/e2e/vm/kmesh_original_layout_vm_test") ;;
  xfrm_differential)
    # Two budgets of 150 s of sequences and the planted-bug checks, under TCG.
    # KMESH_XFRM_DIFF_{SEED,SEQUENCES,SECONDS} (bazel test --test_env=...)
    # travel into the guest: a long run by hand with another seed.
    env_file=$TMPDIR/xfrm_differential.env
    : >"$env_file"
    for v in KMESH_XFRM_DIFF_SEED KMESH_XFRM_DIFF_SEQUENCES KMESH_XFRM_DIFF_SECONDS; do
      [[ -n ${!v:-} ]] && printf 'export %s=%d\n' "$v" "${!v}" >>"$env_file"
    done
    # KMESH_XFRM_DIFF_CASES: a gtest filter (e.g. '*Inbound*'), to run some.
    if [[ -n ${KMESH_XFRM_DIFF_CASES:-} ]]; then
      [[ $KMESH_XFRM_DIFF_CASES =~ ^[A-Za-z0-9*:.?-]+$ ]] || { echo "KMESH_XFRM_DIFF_CASES: not a gtest filter" >&2; exit 2; }
      printf 'export GTEST_FILTER=%s\n' "$KMESH_XFRM_DIFF_CASES" >>"$env_file"
    fi
    args+=(--bin "$r/e2e/vm/xfrm_differential_test" --data "$env_file")
    export KMESH_VM_TIMEOUT=${KMESH_VM_TIMEOUT:-900} ;;
  walkthrough | first_key)
    # A real kubectl drives the simulated API server inside the VM.
    kubectl=$("$r/e2e/vm/kubectl_elf.sh" "$TMPDIR/kubectl") || skip "no kubectl on PATH (set KMESH_VM_KUBECTL)"
    args+=(--bin "$kubectl" --bin "$r/kmesh/daemon/kmesh-daemon"
      --bin "$r/kmesh/kmeshctl/kmeshctl" --bin "$r/sim/kube/sim_apiserver"
      --bin "$r/kmesh/cni/kmesh-cni"
      --data "$r/kmesh/daemon/crd/kmeshnodeinfo_crd.yaml"
      --data "$r/bpf/encrypt_marker.bpf.o" --data "$r/bpf/decrypt_marker.bpf.o")
    # kubectl alone is 57 MB, held twice (initrd and rootfs) in guest memory;
    # three daemons under TCG on one CPU take minutes.
    export KMESH_VM_MEM=${KMESH_VM_MEM:-1024} KMESH_VM_TIMEOUT=${KMESH_VM_TIMEOUT:-1800}
    ;;
  *) echo "unknown scenario $scenario" >&2; exit 1 ;;
esac

"$r/e2e/vm/vm_run.sh" "${args[@]}" "$scenario"
rc=$?
[[ $rc -eq 2 ]] && skip "cannot run a VM here (see the vm_run line above)"
results=$out/results.txt
[[ -f $results ]] || : >"$results"
if ! grep -q '^DONE$' "$results"; then
  echo "FAIL: vm: the guest did not finish its scenarios (see console.log in the test outputs)" >>"$results"
fi
if ! grep -q -E '^(PASS|FAIL): ' "$results"; then
  echo "FAIL: vm: the guest reported no check" >>"$results"
fi
write_xml "$results"
exit $rc
