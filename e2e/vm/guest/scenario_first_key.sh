#!/bin/sh
# Scenario first_key: the first key, created under traffic, on a real kernel
# with the real binaries (the cluster of cluster.sh). The daemons run and the
# namespace is labelled before any key exists, so managed traffic flows in
# clear (nothing can be encrypted yet); three ping flows (one per node pair)
# and a TCP bulk transfer of full-size segments run; then `kmeshctl secret
# create`, projected into the nodes 0, 1 and 2 s apart. Counted from the
# first packet: nothing lost; in each of the six directions between nodes,
# no managed packet in clear on the wire after that direction's first ESP
# packet; every pair ends up encrypted with spi 1; xfrm_stat error counters
# unchanged; the TCP stream never stalls (the switch to ESP lowers the path
# MTU: pa1 learns 1446 from an ICMP need-to-frag and goes on). Then
# `kmeshctl secret status` through the API server's pod proxy: the kernel's
# own sequence numbers and xfrm_stat, exit 0; and exit 2 naming node-c once
# its daemon is killed.
# pass/fail always succeed, so "cond && pass .. || fail .." is an if-else.
# shellcheck disable=SC2015,SC2086
# shellcheck source=SCRIPTDIR/lib.sh
. /opt/e2e/lib.sh
# shellcheck source=SCRIPTDIR/cluster.sh
. /opt/e2e/cluster.sh

start_cluster

step "daemons, before any key"
RUNNING=$NODES
for n in $NODES; do start_daemon "$n"; done
no_key() { for n in $NODES; do grep -q 'No IPsec key file' "$LOGS/first_key-$n.daemon.log" || return 1; done; }
running() { for n in $NODES; do grep -q 'IPsec running on node' "$LOGS/first_key-$n.daemon.log" || return 1; done; }
wait_until 300 running && no_key && pass "three daemons run with no key file yet" ||
  fail "the daemons did not start without a key: $(tail -n 2 "$LOGS/first_key-node-a.daemon.log" | tr '\n' ' ')"
kubectl label namespace default istio.io/dataplane-mode=Kmesh >/tmp/label.txt 2>&1 &&
  pass "kubectl label namespace default istio.io/dataplane-mode=Kmesh" || fail "label: $(cat /tmp/label.txt)"
errors_before=$(xfrm_error_sum $NODES)

step "traffic, then kmeshctl secret create"
start_projector
capture_all firstkey 'net 10.244.0.0/16 or esp'
start_flow ab pa1 $PB1
start_flow bc pb1 $PC1
start_flow ca pc1 $PA1
tcp_start firstkey pa1 $PA1 pb1
sleep 2
kmeshctl secret create >/tmp/kmeshctl-1.txt 2>&1
rc=$?
grep -q 'created, spi 1' /tmp/kmeshctl-1.txt && [ $rc = 0 ] &&
  pass "kmeshctl secret create under traffic: $(cat /tmp/kmeshctl-1.txt)" ||
  fail "kmeshctl secret create (exit $rc): $(tr '\n' ' ' </tmp/kmeshctl-1.txt)"
wait_until 300 infos_are "node-a:1 node-b:1 node-c:1 " && pass "every KmeshNodeInfo at spi 1: $(node_infos)" ||
  fail "KmeshNodeInfo objects: '$(node_infos)'"
all_encrypted() {
  encrypted_both_ways pa1 $PB1 node-a node-b && encrypted_both_ways pb1 $PC1 node-b node-c &&
    encrypted_both_ways pc1 $PA1 node-c node-a
}
wait_until 120 all_encrypted && pass "every managed pair now goes through both nodes' SAs" ||
  fail "managed traffic does not go through the SAs on every pair"
sleep 2
tcp_stop firstkey "first key"
stop_flow ab "first key"
stop_flow bc "first key"
stop_flow ca "first key"
stop_captures

bad="" before=0
for from in $NODES; do
  for to in $NODES; do
    [ "$from" = "$to" ] && continue
    n=$(plain_after_esp firstkey "$from" "$to")
    [ "$n" = 0 ] || bad="$bad $from->$to:$n"
    i=$(node_idx "$from") j=$(node_idx "$to")
    c=$(grep -E -c "und-${from#node-} +P +IP 10\.244\.$i\.1[02][.0-9]* > 10\.244\.$j\.1[02][.:]" /tmp/cap-firstkey-wire.txt)
    before=$((before + c))
  done
done
info "managed packets in clear on the wire before the key reached them: $before"
[ -z "$bad" ] && [ "$before" -gt 0 ] &&
  pass "first key: every direction between the nodes carried ESP, and no managed packet was in clear after its first ESP" ||
  fail "first key: plaintext after the first ESP (none: no ESP at all):$bad; in clear before: $before"
xfrm_stat_report after
expect_xfrm_errors_unchanged "$errors_before" "first key" $NODES
layout_check "first key" node-a 1 1 node-b node-c

step "kmeshctl secret status: every daemon through the API server's pod proxy"
# The traffic has stopped: what kmeshctl reports must be exactly what the
# kernel holds now.
kmeshctl secret status >/tmp/status.txt 2>&1
rc=$?
keep /tmp/status.txt
[ $rc = 0 ] && grep -q 'Rollout of spi 1: complete, every node (3) advertises it' /tmp/status.txt &&
  pass "kmeshctl secret status exits 0: spi 1 complete on every node" ||
  fail "kmeshctl secret status (exit $rc): $(tr '\n' ' ' </tmp/status.txt)"
kmeshctl secret status -o json >/tmp/status.json 2>&1
keep /tmp/status.json
seq_bad="" seqs=""
for n in $NODES; do
  # kmeshctl's MAX OUT SEQ column against the highest oseq the kernel shows.
  said=$(awk -v n="$n" '$1 == n { for (i = 1; i <= NF; i++) if ($i ~ /^\(/) print $(i - 1) }' /tmp/status.txt)
  max=0
  for h in $(ip -n "$n" -s xfrm state | sed -n 's/.*oseq 0x\([0-9a-f]*\).*/\1/p'); do
    v=$(printf '%d' "0x$h")
    [ "$v" -gt "$max" ] && max=$v
  done
  seqs="$seqs $n:$said/$max"
  { [ -n "$said" ] && [ "$said" -gt 0 ] && [ "$said" = "$max" ]; } || seq_bad="$seq_bad $n:$said/$max"
  row=$(awk -v n="$n" '$1 == n' /tmp/status.txt)
  case $row in *" none") ;; *) seq_bad="$seq_bad $n:xfrm-errors" ;; esac
done
stats=$(grep -c '"XfrmInNoStates": [0-9]' /tmp/status.json)
[ -z "$seq_bad" ] && [ "$stats" = 3 ] &&
  pass "kmeshctl shows the kernel's real ESP sequence numbers (kmeshctl/ip -s xfrm state:$seqs) and each node's real xfrm_stat, unchanged since its daemon started" ||
  fail "kmeshctl's sequence numbers or xfrm_stat differ from the kernel's:$seq_bad (xfrm_stat on $stats nodes)"
# The real kubectl through the same pod proxy.
metrics=$(kubectl get --raw /api/v1/namespaces/kmesh-system/pods/kmesh-node-a:15200/proxy/metrics 2>&1)
echo "$metrics" | grep -q '^kmesh_ipsec_advertised_spi 1$' && echo "$metrics" | grep -q '^kmesh_ipsec_xfrm_stat_total{stat="XfrmInNoStates"} 0$' &&
  pass "kubectl get --raw .../pods/kmesh-node-a:15200/proxy/metrics: $(echo "$metrics" | grep -c '^kmesh_ipsec_') samples, kmesh_ipsec_advertised_spi 1, the kernel's xfrm_stat" ||
  fail "node-a's /metrics through the pod proxy: $(echo "$metrics" | head -n 3 | tr '\n' ' ')"

step "kmeshctl secret status with node-c's daemon killed"
kill -KILL "$(daemon_pid node-c)" 2>/dev/null
wait "$(daemon_pid node-c)" 2>/dev/null
RUNNING="node-a node-b"
kmeshctl secret status >/tmp/status-down.txt 2>&1
rc=$?
keep /tmp/status-down.txt
[ $rc = 2 ] && grep -q 'node-c: daemon kmesh-node-c not reachable' /tmp/status-down.txt &&
  pass "kmeshctl secret status exits 2 and names node-c: $(grep 'node-c: daemon' /tmp/status-down.txt | cut -c1-160)" ||
  fail "kmeshctl secret status with node-c down (exit $rc): $(tr '\n' ' ' </tmp/status-down.txt)"

cleanup
