#!/bin/sh
# Scenario netlink_sa: the project's netlink XFRM backend against a kernel
# that has ESP. Runs //kmesh/linux:netlink_xfrm_test (whose ESP SA case takes
# its "SA added" branch on this kernel) and //e2e/vm:netlink_esp_sa_test
# (every SA and policy shape the daemon's layout emits: add, dump, compare
# with `ip -s xfrm state`, duplicate, update, delete, and the programmer's
# reconcile), each in its own private network namespace.
# shellcheck source=SCRIPTDIR/lib.sh
. /opt/e2e/lib.sh

run_gtest() { # name: runs $BIN/name, keeps its log, PASS when all cases pass
  name=$1
  if [ ! -x "$BIN/$name" ]; then
    fail "$name was not shipped into the VM"
    return
  fi
  log=/tmp/$name.log
  KMESH_VM_EXPECT_ESP=1 "$BIN/$name" >"$log" 2>&1
  rc=$?
  keep "$log"
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]' "$log" | sed 's/ ([0-9]* ms)$//' |
    while read -r line; do info "$name $line"; done
  ran=$(grep -c -E '^\[ +OK +\]' "$log")
  skipped=$(grep -c -E '^\[ +SKIPPED +\] [A-Za-z]' "$log")
  if [ $rc -eq 0 ] && [ "$ran" -gt 0 ] && [ "$skipped" -eq 0 ]; then
    pass "$name: $ran test cases passed, none skipped"
  else
    fail "$name: exit $rc, $ran passed, $skipped skipped (see $E2E_SCENARIO-$name.log)"
    grep -E 'Failure|error|FAILED' "$log" | head -n 20
  fi
}

# A kernel that accepts ESP at all (the precondition of everything below).
ip netns add esp-probe
if ip -n esp-probe xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 \
  mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324 128 \
  2>/tmp/probe.err; then
  pass "kernel $(uname -r) accepts an rfc4106(gcm(aes)) ESP tunnel SA"
else
  fail "kernel refused an ESP SA: $(cat /tmp/probe.err)"
fi
ip netns del esp-probe

run_gtest netlink_xfrm_test
run_gtest netlink_esp_sa_test
