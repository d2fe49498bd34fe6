#!/bin/sh
# Scenario kmesh_original: Kmesh's own XFRM layout (kmesh-net/kmesh,
# pkg/controller/encryption/ipsec/ipsec_handler.go) on node A for peers B and
# C, written as the `ip xfrm` commands it amounts to, fails on the real kernel
# as it fails in the simulator (//sim/kernel/kmesh_original_layout):
#  - every peer's inbound SA has the same (dst, SPI 1, esp) and no mark, so
#    the second add is refused with "File exists";
#  - the in/fwd policies share one selector (src 0.0.0.0/0 dst <local pod
#    CIDR>, mark 0xd0), so Kmesh's add-or-update leaves only C's template.
# Then //e2e/vm:kmesh_original_layout_vm_test replays the simulator's fixture
# onto this kernel and onto the simulator and compares them call by call.
# pass/fail always succeed, so "cond && pass .. || fail .." is an if-else.
# shellcheck disable=SC2015
# shellcheck source=SCRIPTDIR/lib.sh
. /opt/e2e/lib.sh

A=172.18.0.2
B=172.18.0.3
C=172.18.0.4
LOCAL_CIDR=10.244.0.0/24
KEY_BA=0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324
KEY_CA=0x4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f6061626364

ip netns add kmesh-a
xa() { ip -n kmesh-a xfrm "$@"; }

# createXfrmRuleIngress for a peer: inbound SA (spi = A's SPI 1, reqid 1, no
# mark, output mark 0xd0), then in and fwd policies, add or else update.
ingress() {
  peer=$1 key=$2
  xa state add src "$peer" dst $A proto esp spi 1 reqid 1 mode tunnel \
    aead 'rfc4106(gcm(aes))' "$key" 128 output-mark 0xd0 mask 0xffffffff \
    2>"/tmp/sa-$peer.err"
  sa_rc=$?
  for dir in in fwd; do
    tmpl="tmpl src $peer dst $A proto esp reqid 1 mode tunnel"
    # shellcheck disable=SC2086
    xa policy add src 0.0.0.0/0 dst $LOCAL_CIDR dir $dir $tmpl mark 0xd0 mask 0xffffffff 2>/dev/null ||
      xa policy update src 0.0.0.0/0 dst $LOCAL_CIDR dir $dir $tmpl mark 0xd0 mask 0xffffffff
  done
  return $sa_rc
}

ingress $B $KEY_BA && pass "B's inbound SA (src $B dst $A spi 1, no mark) is accepted" ||
  fail "B's inbound SA refused: $(cat /tmp/sa-$B.err)"
if ingress $C $KEY_CA; then
  fail "C's inbound SA was accepted: the kernel should refuse a second (dst $A, spi 1, esp) SA without a mark"
else
  err=$(cat /tmp/sa-$C.err)
  case $err in
    *"File exists"*) pass "C's inbound SA (same dst $A, spi 1, no mark) is refused: $err" ;;
    *) fail "C's inbound SA refused for another reason: $err" ;;
  esac
fi
xa state >/tmp/kmesh-a.state.txt
xa policy >/tmp/kmesh-a.policy.txt
keep /tmp/kmesh-a.state.txt
keep /tmp/kmesh-a.policy.txt
n=$(grep -c 'proto esp' /tmp/kmesh-a.state.txt)
src_ok=$(grep -c "^src $B dst $A" /tmp/kmesh-a.state.txt)
[ "$n" -eq 1 ] && [ "$src_ok" -eq 1 ] &&
  pass "node A holds one inbound SA, B's: ESP from C to A (spi 1) would be checked with B's key" ||
  fail "node A holds $n SAs: $(tr '\n\t' '  ' </tmp/kmesh-a.state.txt)"
for dir in in fwd; do
  # One policy per block: a "src ..." line and its indented continuation.
  block=$(awk -v d="dir $dir " '/^src/ { if (index(b, d)) print b; b = $0; next }
    { b = b "\n" $0 } END { if (index(b, d)) print b }' /tmp/kmesh-a.policy.txt)
  npol=$(echo "$block" | grep -c '^src 0.0.0.0/0 dst 10.244.0.0/24')
  if [ "$npol" -eq 1 ] && echo "$block" | grep -q "tmpl src $C dst $A" &&
    ! echo "$block" | grep -q "tmpl src $B"; then
    pass "the single $dir policy (src 0.0.0.0/0 dst $LOCAL_CIDR mark 0xd0) carries only C's template: B's was overwritten"
  else
    fail "$dir policy: $(echo "$block" | tr '\n\t' '  ')"
  fi
done
ip netns del kmesh-a

# The simulator's fixture, replayed on Linux and on SimXfrm side by side.
if [ -x "$BIN/kmesh_original_layout_vm_test" ]; then
  log=/tmp/kmesh_original_layout_vm_test.log
  KMESH_VM_EXPECT_ESP=1 "$BIN/kmesh_original_layout_vm_test" >"$log" 2>&1
  rc=$?
  keep "$log"
  if [ $rc -eq 0 ] && grep -q '^\[  PASSED  \] 1 test' "$log"; then
    pass "kmesh_original_layout_vm_test: Linux and the simulator give the same answer to every call and end with the same tables"
  else
    fail "kmesh_original_layout_vm_test (exit $rc): $(grep -A3 Failure "$log" | head -n 8 | tr '\n' ' ')"
  fi
else
  fail "kmesh_original_layout_vm_test was not shipped into the VM"
fi
