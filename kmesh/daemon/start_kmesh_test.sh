#!/bin/bash
# start_kmesh.sh passes its arguments to kmesh-daemon, the daemon rejects bad
# flags with a clear message and exit code 1, and a SIGTERM stops it cleanly.
set -u
dir=kmesh/daemon
export KMESH_DAEMON=$dir/kmesh-daemon
fail() { echo "FAIL: $*"; exit 1; }

out=$($dir/start_kmesh.sh --mode=bogus 2>&1); rc=$?
[ $rc -eq 1 ] || fail "bad mode: exit $rc"
echo "$out" | grep -q "expected dual-engine or kernel-native" || fail "bad mode: $out"

out=$(env -u NODE_NAME $dir/start_kmesh.sh --enable-ipsec=true 2>&1); rc=$?
[ $rc -eq 1 ] || fail "no node name: exit $rc"
echo "$out" | grep -q "NODE_NAME" || fail "no node name: $out"

out=$(NODE_NAME=n1 $dir/start_kmesh.sh --enable-ipsec=true --bpf-object-dir= 2>&1); rc=$?
[ $rc -eq 1 ] || fail "empty bpf object dir: exit $rc"
echo "$out" | grep -q "bpf-object-dir" || fail "empty bpf object dir: $out"

out=$(NODE_NAME=n1 $dir/start_kmesh.sh --enable-ipsec=true --bpf-object-dir=/nonexistent --bpf-pin-dir= 2>&1); rc=$?
[ $rc -eq 1 ] || fail "missing eBPF objects: exit $rc"
echo "$out" | grep -q "/nonexistent" || fail "missing eBPF objects: $out"


# IPsec off: runs until SIGTERM, then exits 0.
$dir/start_kmesh.sh --mode=dual-engine --enable-bypass=false --enable-ipsec=false 2>"$TEST_TMPDIR/err" &
pid=$!
for _ in $(seq 50); do grep -q "waiting for SIGTERM" "$TEST_TMPDIR/err" && break; sleep 0.1; done
grep -q "mode dual-engine, bypass off, IPsec off" "$TEST_TMPDIR/err" || fail "startup: $(cat "$TEST_TMPDIR/err")"
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
echo PASS
