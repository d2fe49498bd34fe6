#!/bin/sh
# Scenario xfrm_differential: the simulator's XFRM tables against this
# kernel's on random operation sequences (//e2e/vm:xfrm_differential_test:
# policies, then SAs and policies, each sequence in a fresh network
# namespace on Linux and a fresh SimXfrm). Every answer and every dump must
# be equal; each case reports "N sequences, M operations, K differences".
# Budget per case: KMESH_XFRM_DIFF_SEQUENCES (1500) or
# KMESH_XFRM_DIFF_SECONDS (150), whichever ends first.
# shellcheck source=SCRIPTDIR/lib.sh
. /opt/e2e/lib.sh

# Budget and seed given to the Bazel test (vm_scenario_test.sh), if any.
if [ -f /opt/kmesh/data/xfrm_differential.env ]; then
  # shellcheck disable=SC1091
  . /opt/kmesh/data/xfrm_differential.env
fi
name=xfrm_differential_test
if [ ! -x "$BIN/$name" ]; then
  fail "$name was not shipped into the VM"
  exit 0
fi
log=/tmp/$name.log
KMESH_VM_EXPECT_ESP=1 KMESH_XFRM_DIFF_SECONDS=${KMESH_XFRM_DIFF_SECONDS:-150} \
  "$BIN/$name" >"$log" 2>&1
rc=$?
keep "$log"
grep '^xfrm differential' "$log" | while read -r line; do info "$line"; done
for case in PolicyProbesMatchLinux SaProbesMatchLinux PolicySequencesMatchLinux APlantedSimulatorBugIsCaught APlantedDuplicateSaIsCaught OutboundLookupsMatchLinux InboundPacketsMatchLinux InboundPacketsForPodsMatchLinux ForwardedPacketsLeaveAsOnLinux SaAndPolicySequencesMatchLinux; do
  summary=$(grep -A1 "RUN .*\.$case\$" "$log" | grep -E '^(xfrm differential|planted bug)')
  [ -n "$summary" ] || summary="Linux gave the recorded answer to every step, the simulator the same"
  if [ -n "${GTEST_FILTER:-}" ] && ! grep -q "RUN .*\.$case\$" "$log"; then
    continue  # Not asked for this run.
  elif grep -q "^\[ *OK *\] XfrmDifferentialOnLinuxTest\.$case" "$log"; then
    pass "$case: ${summary#xfrm differential }"
  else
    fail "$case (exit $rc): ${summary:-no summary}; $(grep -A12 'differ (seed' "$log" | head -n 14 | tr '\n' ' ')"
  fi
done
