#!/bin/sh
# linux_xfrm_probe.sh: the Linux XFRM behaviour SimXfrm copies, checked
# against a real kernel. Each probe runs one `ip xfrm` command in a private
# network namespace and compares the outcome with what sa_table.h,
# policy_table.h and xfrm_validation.h state.
#
#   SA and policy probes need a kernel with ESP and rfc4106(gcm(aes)); run
#   them as the hook of the shared qemu recipe (Debian kernel, ~90 s):
#     HOOK=$PWD/sim/kernel/xfrm/linux_xfrm_probe.sh ../shared/tools/vm-esp-smoke.sh
#     grep PROBE "$WORK/console.log"     # WORK as printed by the recipe
#   Policy probes alone work on any kernel with XFRM (as root):
#     PROBE_PARTS=policy sh sim/kernel/xfrm/linux_xfrm_probe.sh
# Exit status: 0 when every probe behaved as expected.
NS=xfrmprobe$$
IP=/usr/sbin/ip
failures=0
"$IP" netns add "$NS" || exit 2
trap '"$IP" netns del "$NS"' EXIT

# expect RESULT ARGS...: RESULT is "ok" or a substring of the error output.
expect() {
  want=$1
  shift
  out=$("$IP" netns exec "$NS" "$IP" "$@" 2>&1)
  rc=$?
  if [ "$want" = ok ]; then
    [ $rc -eq 0 ] && verdict=PASS || verdict=FAIL
  else
    case "$out" in *"$want"*) verdict=PASS ;; *) verdict=FAIL ;; esac
  fi
  [ "$verdict" = FAIL ] && failures=$((failures + 1))
  echo "PROBE $verdict: ip $* => ${out:-ok} (want $want)"
}

# show-contains SUBSTRING ARGS...: the command's output contains SUBSTRING.
show_contains() {
  want=$1
  shift
  out=$("$IP" netns exec "$NS" "$IP" "$@" 2>&1)
  case "$out" in *"$want"*) verdict=PASS ;; *) verdict=FAIL ;; esac
  [ "$verdict" = FAIL ] && failures=$((failures + 1))
  echo "PROBE $verdict: ip $* contains \"$want\""
}

K36=0x0102030405060708091011121314151617181920212223242526272829303132aabbccdd
K36B=0xff02030405060708091011121314151617181920212223242526272829303132aabbccdd
K20=0x0102030405060708091011121314151611223344
K30=0x010203040506070809101112131415161718192021222324252627282930
EXISTS="File exists"
ESRCH="No such process"
ENOENT="No such file or directory"

# $S, $A (and $P, $T below) are fragments of an `ip` command line, split
# into words on purpose (POSIX sh has no arrays); none holds a glob.
# shellcheck disable=SC2086
sa_probes() {
  A="aead rfc4106(gcm(aes))"
  S="xfrm state add src"
  # Identity: ((new.v & new.m) & old.m) == old.v on the same (dst, spi).
  expect ok $S 10.0.0.2 dst 10.0.0.1 proto esp spi 1 reqid 1 mode tunnel $A $K36 128
  expect "$EXISTS" $S 10.0.0.3 dst 10.0.0.1 proto esp spi 1 reqid 1 mode tunnel $A $K36 128
  expect "$EXISTS" $S 10.0.0.3 dst 10.0.0.1 proto esp spi 1 reqid 1 mode tunnel $A $K36 128 mark 0x1d0 mask 0xffffffff
  expect ok $S 10.0.0.2 dst 10.0.0.1 proto esp spi 2 reqid 1 mode tunnel $A $K36 128 mark 0x1d0 mask 0xffffffff
  expect ok $S 10.0.0.3 dst 10.0.0.1 proto esp spi 2 reqid 1 mode tunnel $A $K36 128
  expect ok $S 10.0.0.2 dst 10.0.0.1 proto esp spi 3 reqid 1 mode tunnel $A $K36 128 mark 0x1d0 mask 0xffff
  expect ok $S 10.0.0.3 dst 10.0.0.1 proto esp spi 3 reqid 1 mode tunnel $A $K36 128 mark 0x2d0 mask 0xffff
  expect "$EXISTS" $S 10.0.0.4 dst 10.0.0.1 proto esp spi 3 reqid 1 mode tunnel $A $K36 128 mark 0x2d0 mask 0xffff
  # Lookup walks newest first.
  expect ok $S 10.0.0.2 dst 10.0.0.1 proto esp spi 4 reqid 11 mode tunnel $A $K36 128 mark 0x10 mask 0xf0
  expect ok $S 10.0.0.3 dst 10.0.0.1 proto esp spi 4 reqid 22 mode tunnel $A $K36 128 mark 0x1 mask 0x0f
  show_contains "reqid 22" xfrm state get dst 10.0.0.1 proto esp spi 4 mark 0x11 mask 0xffffffff
  expect "$ESRCH" xfrm state get dst 10.0.0.1 proto esp spi 4
  # Missing SAs are ESRCH; a delete without mark misses marked SAs.
  expect "$ESRCH" xfrm state update src 10.0.0.2 dst 10.0.0.9 proto esp spi 7 reqid 1 mode tunnel $A $K36 128
  expect "$ESRCH" xfrm state delete dst 10.0.0.9 proto esp spi 7
  expect "$ESRCH" xfrm state delete dst 10.0.0.1 proto esp spi 3
  # Update keeps key, reqid, source; changes the output mark.
  expect ok $S 10.0.0.2 dst 10.0.0.5 proto esp spi 8 reqid 1 mode tunnel $A $K36 128 output-mark 0xd0 mask 0xffffffff
  expect ok xfrm state update src 10.0.0.7 dst 10.0.0.5 proto esp spi 8 reqid 5 mode tunnel $A $K36B 96 output-mark 0xe0 mask 0xffffffff
  show_contains "$K36 128" xfrm state get dst 10.0.0.5 proto esp spi 8
  show_contains "src 10.0.0.2" xfrm state get dst 10.0.0.5 proto esp spi 8
  show_contains "reqid 1 " xfrm state get dst 10.0.0.5 proto esp spi 8
  show_contains "output-mark 0xe0" xfrm state get dst 10.0.0.5 proto esp spi 8
  # Validation.
  expect ok $S 10.0.0.2 dst 10.0.0.6 proto esp spi 10 reqid 1 mode tunnel $A $K36 128 flag esn replay-window 1024
  expect ok $S 10.0.0.2 dst 10.0.0.6 proto esp spi 14 reqid 1 mode tunnel $A $K36 128 replay-window 100
  expect ok $S 10.0.0.2 dst 10.0.0.7 proto esp spi 20 reqid 1 mode tunnel $A $K20 128
  expect "unable to initialize cryptographic" $S 10.0.0.2 dst 10.0.0.7 proto esp spi 21 reqid 1 mode tunnel $A $K30 128
  expect "AEAD algorithm not found" $S 10.0.0.2 dst 10.0.0.7 proto esp spi 22 reqid 1 mode tunnel $A $K36 100
  expect ok $S 10.0.0.2 dst 10.0.0.7 proto esp spi 23 reqid 1 mode tunnel $A $K36 64
  expect "AEAD algorithm not found" $S 10.0.0.2 dst 10.0.0.7 proto esp spi 24 reqid 1 mode tunnel aead 'gcm(aes)' $K36 128
  expect "Only tunnel modes" $S 10.0.0.2 dst 10.0.0.7 proto esp spi 30 reqid 1 mode transport $A $K36 128 sel src fd00::/64 dst fd01::/64
  expect ok $S 10.0.0.2 dst 10.0.0.7 proto esp spi 31 reqid 1 mode tunnel $A $K36 128 sel src fd00::/64 dst fd01::/64
  # SPI 0: Linux stores it but never finds it (the simulator refuses it).
  expect ok $S 10.0.0.2 dst 10.0.0.1 proto esp spi 0 reqid 1 mode tunnel $A $K36 128
  expect "$ESRCH" xfrm state get dst 10.0.0.1 proto esp spi 0
}

# shellcheck disable=SC2086
policy_probes() {
  P="xfrm policy add src 0.0.0.0/0 dst 10.244.0.0/24"
  T="tmpl src 10.0.0.3 dst 10.0.0.1 proto esp reqid 1 mode tunnel"
  # Identity: dir, selector, mark value and mask exactly; not priority.
  expect ok $P dir in mark 0xd0 mask 0xffffffff $T
  expect "$EXISTS" $P dir in mark 0xd0 mask 0xffffffff priority 5 $T
  expect ok $P dir in mark 0xd0 mask 0xff $T
  expect ok $P dir in $T
  expect ok xfrm policy update src 0.0.0.0/0 dst 10.244.0.0/24 dir in mark 0xd0 mask 0xffffffff priority 7 $T
  show_contains "dir in priority 7" xfrm policy
  expect "$ENOENT" xfrm policy delete src 0.0.0.0/0 dst 10.244.9.0/24 dir in
  expect "$ENOENT" xfrm policy delete src 0.0.0.0/0 dst 10.244.0.0/24 dir in mark 0xd0 mask 0xfff
  # Templates.
  expect ok xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out tmpl src fd00::1 dst fd00::2 proto esp mode tunnel
  expect "family change" xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir fwd tmpl src fd00::1 dst fd00::2 proto esp mode transport
  expect "not allowed in outbound" xfrm policy add src 10.0.0.0/8 dst 0.0.0.0/0 dir out tmpl src 1.1.1.1 dst 2.2.2.2 proto esp mode tunnel level use
  expect ok xfrm policy add src 10.0.0.0/8 dst 0.0.0.0/0 dir in tmpl src 1.1.1.1 dst 2.2.2.2 proto esp mode tunnel level use
  expect ok xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir fwd priority 3 action block tmpl src 1.1.1.1 dst 2.2.2.2 proto esp mode tunnel
}

case "${PROBE_PARTS:-sa policy}" in *sa*) sa_probes ;; esac
case "${PROBE_PARTS:-sa policy}" in *policy*) policy_probes ;; esac
echo "PROBE SUMMARY: $failures unexpected"
[ $failures -eq 0 ]
