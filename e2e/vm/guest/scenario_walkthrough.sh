#!/bin/sh
# Scenario walkthrough: the user's walk-through (docs/user-guide.md) on a real
# kernel, with the real binaries and nothing stubbed:
#  - the simulated API server (sim_apiserver) in its own namespace on the
#    underlay, a bridge in the VM's root namespace; the "operator" (kubectl,
#    kmeshctl) sits on the same bridge;
#  - three nodes, each a namespace on the underlay, registered as kubelet
#    would (Node with InternalIP, bootID, podCIDRs; Pods with nodeName and
#    podIP), each running `kmesh-daemon --enable-ipsec=true` with the Linux
#    backends (XFRM over netlink, eBPF markers through libbpf);
#  - pods as namespaces behind veths (managed ones in namespace default,
#    unmanaged ones in namespace legacy);
#  - a kubelet-like projection of the kmesh-ipsec Secret into each node's
#    kmesh-ipsec/ipSec (timestamped directory + atomic ..data symlink swap),
#    with a different delay per node.
# Then: `kmeshctl secret create`; label namespace default; ESP spi 1 both
# ways between managed pods on every node pair and no plaintext between them
# on the wire; unmanaged and mixed traffic plaintext; `kmeshctl secret
# create` again under two continuous flows (nothing lost, spi 2 afterwards);
# the XFRM tables exactly as docs/xfrm-layout.md; spi 1 reclaimed after the
# grace period; kill -9 of a daemon mid-flow and a restart (nothing lost or
# leaked, same tables); a rolling SIGTERM restart of every daemon under
# three flows and a TCP bulk stream (nothing lost or in clear, same tables,
# the stream never stalls); new managed pods on every node through
# kmesh-cni, sending at once (nothing in clear from their first packet);
# SIGTERM leaves the node's XFRM objects, markers, pins and KmeshNodeInfo in
# place under traffic (nothing lost, nothing in clear), and `kmesh-daemon
# uninstall` removes them (twice: idempotent); a fourth node joins under
# traffic (nothing lost from the first packet, nothing in clear once a
# direction has used ESP); xfrm_stat error counters unchanged; no key in
# any log.
# pass/fail always succeed, so "cond && pass .. || fail .." is an if-else;
# $NODES and $RUNNING are word lists, split on purpose.
# shellcheck disable=SC2015,SC2086
# shellcheck source=SCRIPTDIR/lib.sh
. /opt/e2e/lib.sh
# shellcheck source=SCRIPTDIR/cluster.sh
. /opt/e2e/cluster.sh

# New managed pods p<x>3, through kmesh-cni; node-d joins at the end, with
# managed pod pd1.
PA3=10.244.1.12 PB3=10.244.2.12 PC3=10.244.3.12
PD1=10.244.4.10

# ============================================================ run
start_cluster

step "kmeshctl secret create"
start_projector
kmeshctl secret create >/tmp/kmeshctl-1.txt 2>&1
rc=$?
grep -q 'created, spi 1' /tmp/kmeshctl-1.txt && [ $rc = 0 ] &&
  pass "kmeshctl secret create: $(cat /tmp/kmeshctl-1.txt)" ||
  fail "kmeshctl secret create (exit $rc): $(tr '\n' ' ' </tmp/kmeshctl-1.txt)"
projected() { for n in $NODES; do grep -q '"spi":1,' "$W/$n/kmesh-ipsec/ipSec" 2>/dev/null || return 1; done; }
wait_until 120 projected && pass "the secret is projected into each node's kmesh-ipsec/ipSec (symlink ..data swap, per-node delay)" ||
  fail "the secret was not projected into every node: $(find $W/node-* | tr '\n' ' ')"

step "daemons"
RUNNING=$NODES
for n in $NODES; do start_daemon "$n"; done
if wait_until 300 infos_are "node-a:1 node-b:1 node-c:1 "; then
  pass "all three KmeshNodeInfo objects appear with spi 1: $(node_infos)"
else
  fail "KmeshNodeInfo objects: '$(node_infos)' (expected node-a:1 node-b:1 node-c:1)"
  for n in $NODES; do tail -n 5 "$LOGS/walkthrough-$n.daemon.log" | while read -r l; do info "$n daemon: $l"; done; done
fi
kubectl get kmeshnodeinfos -n kmesh-system -o yaml >/tmp/kmeshnodeinfos.yaml 2>&1
keep /tmp/kmeshnodeinfos.yaml

step "label namespace default"
kubectl label namespace default istio.io/dataplane-mode=Kmesh >/tmp/label.txt 2>&1 &&
  pass "kubectl label namespace default istio.io/dataplane-mode=Kmesh" || fail "label: $(cat /tmp/label.txt)"
ready=1
wait_until 180 encrypted_both_ways pa1 $PB1 node-a node-b || ready=0
wait_until 90 encrypted_both_ways pb1 $PC1 node-b node-c || ready=0
wait_until 90 encrypted_both_ways pc1 $PA1 node-c node-a || ready=0
[ $ready = 1 ] && pass "the daemons attached the encrypt markers and filled their maps: every managed pair goes through the SAs" ||
  fail "managed pod traffic did not go through both nodes' SAs within the deadline"
for n in $NODES; do
  ip netns exec "$n" tc filter show dev "veth-p$(echo "$n" | cut -c6)1" ingress >"/tmp/$n.tc.txt" 2>&1
  ip netns exec "$n" tc filter show dev eth0 ingress >>"/tmp/$n.tc.txt" 2>&1
  keep "/tmp/$n.tc.txt"
done
grep -q kmesh_encrypt /tmp/node-a.tc.txt && grep -q kmesh_decrypt /tmp/node-a.tc.txt &&
  pass "node-a: encrypt marker on veth-pa1 (tc ingress), decrypt marker on eth0 (tc ingress)" ||
  fail "node-a tc filters: $(tr '\n' ' ' </tmp/node-a.tc.txt)"

# managed_traffic N: pings between managed pods on all three node pairs while
# every node and the bridge capture; then checks that each node's `tcpdump -i
# any` shows ESP with spi N out to and in from both peers, no ESP with any
# other SPI, and no plaintext between managed pods on the wire.
managed_traffic() {
  # (dash has no local variables: these names are used by no helper)
  mt_n=$1 mt_spi=$(printf '0x%08x' "$1") mt_phase=spi$1
  step "spi $mt_n traffic"
  capture_all "$mt_phase" 'net 10.244.0.0/16' $NODES
  pings_ok=1
  pings pa1 $PB1 $PC1 || pings_ok=0
  pings pb1 $PC1 || pings_ok=0
  stop_captures
  [ $pings_ok = 1 ] && pass "spi $mt_n phase: ping between managed pods on all three node pairs" ||
    fail "spi $mt_n phase: a ping between managed pods failed"
  show_esp_lines "$mt_phase" "$mt_spi"
  missing=$(esp_all_pairs "$mt_phase" "$mt_spi" 4)
  other=$(cat /tmp/cap-"$mt_phase"-node-*.txt | grep 'ESP(spi=' | grep -vc "ESP(spi=$mt_spi")
  [ -z "$missing" ] && [ "$other" -eq 0 ] &&
    pass "tcpdump -i any in every node: ESP(spi=$mt_spi) out to and in from both peers, no other SPI" ||
    fail "spi $mt_n phase: ESP(spi=$mt_spi) missing between: $missing; $other packets with another SPI"
  expect_no_plaintext "$mt_phase" "spi $mt_n phase"
}

errors_before=$(xfrm_error_sum $NODES)
xfrm_stat_report before

managed_traffic 1

step "unmanaged and mixed"
capture_all plain 'net 10.244.0.0/16 or esp'
plain_ok=1
pings pa2 $PB2 || plain_ok=0 # unmanaged <-> unmanaged
pings pa1 $PB2 || plain_ok=0 # managed -> unmanaged
pings pa2 $PB1 || plain_ok=0 # unmanaged -> managed
stop_captures
[ $plain_ok = 1 ] && pass "unmanaged<->unmanaged and managed<->unmanaged pings are delivered" || fail "an unmanaged or mixed ping failed"
for pair in "$PA2 $PB2" "$PA1 $PB2" "$PA2 $PB1"; do
  # shellcheck disable=SC2086
  set -- $pair
  # Bridge ports see the frames a node sends as In or P (other host).
  req=$(grep -E -c "und-a +(In|P) +IP $1 > $2: ICMP echo request" /tmp/cap-plain-wire.txt)
  rep=$(grep -E -c "und-b +(In|P) +IP $2 > $1: ICMP echo reply" /tmp/cap-plain-wire.txt)
  [ "$req" -ge 4 ] && [ "$rep" -ge 4 ] && pass "plaintext on the wire for $1 <-> $2 (not both managed): $req requests, $rep replies" ||
    fail "$1 <-> $2: $req plaintext requests, $rep replies on the wire"
done
esp=$(grep -c 'ESP(' /tmp/cap-plain-wire.txt)
[ "$esp" -eq 0 ] && pass "no ESP on the wire while only unmanaged or mixed pairs talk" || fail "$esp ESP packets during the plaintext-only phase"

step "layout spi 1"
layout_check "spi 1" node-a 1 1 node-b node-c
idx_b=$(peer_index node-a 192.168.100.2)
idx_c=$(peer_index node-a 192.168.100.3)
[ -n "$idx_b" ] && [ -n "$idx_c" ] && [ "$idx_b" != "$idx_c" ] &&
  pass "node-a's peer indices are distinct: node-b 0x$idx_b, node-c 0x$idx_c (inbound marks 0x${idx_b}00d0, 0x${idx_c}00d0)" ||
  fail "node-a's peer indices: node-b '$idx_b', node-c '$idx_c'"
ip -n node-a xfrm state | sed -E 's/(aead [^ ]+) 0x[0-9a-f]+/\1 <key>/' >/tmp/node-a.xfrm-state-spi1.txt
ip -n node-a xfrm policy >/tmp/node-a.xfrm-policy-spi1.txt
keep /tmp/node-a.xfrm-state-spi1.txt
keep /tmp/node-a.xfrm-policy-spi1.txt

step "rotation"
capture_all rotation 'net 10.244.0.0/16' $NODES
start_flow ab pa1 $PB1
start_flow cb pc1 $PB1
tcp_start rotation pc1 $PC1 pa1
sleep 2
t0=$(uptime_s)
kmeshctl secret create >/tmp/kmeshctl-2.txt 2>&1
rc=$?
grep -q 'rotated, spi 1 -> 2' /tmp/kmeshctl-2.txt && [ $rc = 0 ] &&
  pass "kmeshctl secret create again: $(cat /tmp/kmeshctl-2.txt)" ||
  fail "second kmeshctl secret create (exit $rc): $(tr '\n' ' ' </tmp/kmeshctl-2.txt)"
# Polled on the kernel (cheap): node-a receives with spi 1 and 2 and sends
# with 2 once both peers advertise 2; the old SAs (inbound, and outbound
# without a policy) stay for the grace period.
if wait_until 240 layout_is node-a "1 2" "2 1" node-b node-c; then
  t_converged=$(uptime_s)
  pass "rotation: node-a receives with spi 1 and 2 and sends with spi 2 $(awk -v a="$t0" -v b="$t_converged" 'BEGIN { printf "%.1f", b - a }')s after kmeshctl ($(grep -c . $W/node-a.have-state) SAs, as docs/xfrm-layout.md)"
else
  t_converged=$(uptime_s)
  fail "rotation: node-a never held spi 1 and 2 inbound with spi 2 outbound: $(diff "$W/node-a.want-state" "$W/node-a.have-state" | grep '^[-+][^-+]' | tr '\n' ' ')"
fi
wait_until 90 outbound_spis_are 2 && wait_until 90 infos_are "node-a:2 node-b:2 node-c:2 " &&
  pass "rotation converged: every KmeshNodeInfo at spi 2 ($(node_infos)), every out policy on every node spi 2" ||
  fail "rotation did not converge: KmeshNodeInfo '$(node_infos)'"
sleep 2
tcp_stop rotation "rotation"
stop_flow ab "rotation"
stop_flow cb "rotation"
stop_captures
expect_no_plaintext rotation "rotation"
for n in node-a node-b node-c; do
  r1=$(grep -E -c 'eth0 +Out .*ESP\(spi=0x00000001' "/tmp/cap-rotation-$n.txt")
  r2=$(grep -E -c 'eth0 +Out .*ESP\(spi=0x00000002' "/tmp/cap-rotation-$n.txt")
  info "during the rotation $n sent $r1 ESP packets with spi 1, then $r2 with spi 2"
done

managed_traffic 2

step "grace period"
if wait_until $((GRACE_S + 120)) no_spi_on 1 $NODES; then
  pass "spi 1 SAs reclaimed on every node $(awk -v a="$t_converged" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')s after node-a was first seen holding both (--ipsec-grace-period=${GRACE_S}s)"
else
  fail "spi 1 SAs still present $((GRACE_S + 120))s after the rotation converged"
fi
layout_check "spi 2" node-a 2 2 node-b node-c
layout_check "spi 2" node-b 2 2 node-a node-c
layout_check "spi 2" node-c 2 2 node-a node-b
ip -n node-a xfrm state | sed -E 's/(aead [^ ]+) 0x[0-9a-f]+/\1 <key>/' >/tmp/node-a.xfrm-state-spi2.txt
ip -n node-a xfrm policy >/tmp/node-a.xfrm-policy-spi2.txt
keep /tmp/node-a.xfrm-state-spi2.txt
keep /tmp/node-a.xfrm-policy-spi2.txt

step "daemon restart"
norm_state node-a >$W/restart-before-state
norm_policy node-a >$W/restart-before-policy
capture_all restart 'net 10.244.0.0/16'
start_flow ab2 pa1 $PB1
start_flow ca pc1 $PA1
tcp_start restart pa1 $PA1 pb1
sleep 1
kill -KILL "$(daemon_pid node-a)"
wait "$(daemon_pid node-a)" 2>/dev/null
echo "E2E step: killed node-a's daemon" >>"$LOGS/walkthrough-node-a.daemon.log"
sleep 1
running_lines=$(grep -c 'IPsec running on node' "$LOGS/walkthrough-node-a.daemon.log")
start_daemon node-a
restarted() { [ "$(grep -c 'IPsec running on node' "$LOGS/walkthrough-node-a.daemon.log")" -gt "$running_lines" ]; }
wait_until 300 restarted && pass "node-a's daemon killed with SIGKILL mid-flow and started again" ||
  fail "node-a's daemon did not come back: $(tail -n 3 "$LOGS/walkthrough-node-a.daemon.log" | tr '\n' ' ')"
sleep 3 # a few ticks of the new daemon
same() {
  norm_state node-a | cmp -s - $W/restart-before-state && norm_policy node-a | cmp -s - $W/restart-before-policy
}
wait_until 60 same && infos_are "node-a:2 node-b:2 node-c:2 " &&
  pass "after the restart node-a converged to the same XFRM tables, KmeshNodeInfo node-a at spi 2" ||
  fail "after the restart node-a's tables differ: $(norm_state node-a | diff $W/restart-before-state - | grep '^[-+][^-+]' | tr '\n' ' ')"
sleep 1
tcp_stop restart "daemon restart (kill -9)"
stop_flow ab2 "daemon restart"
stop_flow ca "daemon restart"
stop_captures
expect_no_plaintext restart "daemon restart (kill -9)"

xfrm_stat_report after
expect_xfrm_errors_unchanged "$errors_before" "from the first key to here" $NODES

step "rolling restart of every daemon (SIGTERM), under flows and a TCP stream"
# A DaemonSet rolling update: one node after the other, SIGTERM, then the
# new daemon. Nothing may change in the datapath, so nothing is lost or sent
# in clear, the XFRM tables come back identical, and a TCP bulk transfer of
# full-size segments (pb1 fetching from pa1's httpd) never stalls.
for n in $NODES; do
  norm_state "$n" >"$W/rolling-before-$n-state"
  norm_policy "$n" >"$W/rolling-before-$n-policy"
done
errors_rolling=$(xfrm_error_sum $NODES)
capture_all rolling 'net 10.244.0.0/16'
start_flow ab3 pa1 $PB1
start_flow bc3 pb1 $PC1
start_flow ca3 pc1 $PA1
tcp_start rolling pa1 $PA1 pb1
sleep 2
rolled=""
for n in $NODES; do
  log="$LOGS/walkthrough-$n.daemon.log"
  lines=$(grep -c 'IPsec running on node' "$log")
  stop_daemon "$n"
  rc=$?
  echo "E2E step: rolling restart: $n's daemon exited $rc on SIGTERM" >>"$log"
  sleep 0.5
  start_daemon "$n"
  back() { [ "$(grep -c 'IPsec running on node' "$2")" -gt "$1" ]; }
  if [ $rc -eq 0 ] && wait_until 300 back "$lines" "$log"; then
    rolled="$rolled $n"
  else
    fail "rolling restart: $n's daemon exited $rc or did not come back: $(tail -n 3 "$log" | tr '\n' ' ')"
  fi
done
[ "$rolled" = " $NODES" ] && pass "rolling restart: every daemon ($NODES) stopped with SIGTERM (exit 0) and replaced, one after the other"
sleep 2
tcp_stop rolling "rolling restart"
stop_flow ab3 "rolling restart"
stop_flow bc3 "rolling restart"
stop_flow ca3 "rolling restart"
stop_captures
expect_no_plaintext rolling "rolling restart"
same_all=1
for n in $NODES; do
  unchanged() {
    norm_state "$1" | cmp -s - "$W/rolling-before-$1-state" && norm_policy "$1" | cmp -s - "$W/rolling-before-$1-policy"
  }
  wait_until 60 unchanged "$n" || {
    same_all=0
    info "rolling restart changed $n's tables: $(norm_state "$n" | diff "$W/rolling-before-$n-state" - | grep '^[-+][^-+]' | tr '\n' ' ')"
  }
done
[ $same_all -eq 1 ] && pass "rolling restart: every node's XFRM tables are the same as before" ||
  fail "rolling restart: a node's XFRM tables changed"
expect_xfrm_errors_unchanged "$errors_rolling" "rolling restart" $NODES

step "new managed pods on every node, through kmesh-cni, sending at once"
# What kubelet does for a new pod: the Pod object, then the CNI chain in the
# node's namespace (the primary plugin's veth, as pod_ns makes it, then
# kmesh-cni with that plugin's result as prevResult), then the pod's status.
# kmesh-cni attaches the encrypt marker the daemon pinned before the pod
# runs, so its first packet, to old pods and to the other new ones, is ESP.
new_pod_yaml() { # POD NODE [IP]: the Pod as created; with IP, its status
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: default
spec:
  nodeName: $2
  containers:
  - {name: app, image: busybox}
EOF
  [ -n "${3:-}" ] && cat <<EOF
status:
  phase: Running
  hostIP: "$(node_ip "$(node_idx "$2")")"
  podIP: "$3"
  podIPs:
  - {ip: "$3"}
EOF
  echo ---
}
cni_add() { # NODE POD HOST_IF IP
  cat >"$W/cni-$2.json" <<EOF
{"cniVersion": "1.0.0", "name": "kind", "type": "kmesh-cni",
 "kubeconfig": "$KCFG", "bpfPinDir": "/bpf/$1",
 "prevResult": {"cniVersion": "1.0.0",
   "interfaces": [{"name": "$3"}, {"name": "eth0", "sandbox": "/run/netns/$2"}],
   "ips": [{"address": "$4/32", "interface": 1}]}}
EOF
  ip netns exec "$1" env CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$2" CNI_NETNS="/run/netns/$2" \
    CNI_IFNAME=eth0 CNI_PATH="$BIN" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" \
    "$BIN/kmesh-cni" <"$W/cni-$2.json" >"/tmp/cni-$2.txt" 2>&1
}
errors_pods=$(xfrm_error_sum $NODES)
: >$W/new-pods.yaml
: >$W/new-pods-status.yaml
for spec in pa3:node-a:$PA3 pb3:node-b:$PB3 pc3:node-c:$PC3; do
  IFS=: read -r pod node ip <<EOF
$spec
EOF
  new_pod_yaml "$pod" "$node" >>$W/new-pods.yaml
  new_pod_yaml "$pod" "$node" "$ip" >>$W/new-pods-status.yaml
done
capture_all newpods 'net 10.244.0.0/16'
# Created without an IP, as the scheduler leaves them: the daemons cannot
# know these pods' addresses before their status says so.
kubectl apply -f $W/new-pods.yaml >/tmp/kubectl-new-pods.txt 2>&1 || fail "kubectl apply of the new pods: $(cat /tmp/kubectl-new-pods.txt)"
cni_ok=1
for spec in node-a:pa3:veth-pa3:$PA3 node-b:pb3:veth-pb3:$PB3 node-c:pc3:veth-pc3:$PC3; do
  IFS=: read -r node pod host_if ip <<EOF
$spec
EOF
  pod_ns "$node" "$pod" "$host_if" "$ip"
  pace_pod "$pod"
  cni_add "$node" "$pod" "$host_if" "$ip" || {
    cni_ok=0
    info "kmesh-cni ADD for $pod: $(tr '\n' ' ' <"/tmp/cni-$pod.txt")"
  }
  keep "/tmp/cni-$pod.txt"
done
attached=0
for spec in node-a:veth-pa3 node-b:veth-pb3 node-c:veth-pc3; do
  ip netns exec "${spec%%:*}" tc filter show dev "${spec#*:}" ingress | grep -q kmesh_encrypt && attached=$((attached + 1))
done
[ $attached -eq 3 ] && pass "kmesh-cni attached the encrypt marker to veth-pa3, veth-pb3 and veth-pc3 (tc ingress) before any pod IP was known to the daemons" ||
  fail "the encrypt marker is on $attached of the 3 new veths"
# They send at once, before their status reaches the API server: each new
# pod to an old managed pod and to a new one on another node.
start_flow n_ab pa3 $PB1
start_flow n_ac pa3 $PC3
start_flow n_bc pb3 $PC1
start_flow n_ba pb3 $PA3
start_flow n_ca pc3 $PA1
start_flow n_cb pc3 $PB3
tcp_start newpods pa3 $PA3 pb3
kubectl replace --subresource=status -f $W/new-pods-status.yaml >>/tmp/kubectl-new-pods.txt 2>&1 ||
  fail "kubectl replace --subresource=status of the new pods: $(tail -n 2 /tmp/kubectl-new-pods.txt)"
[ $cni_ok -eq 1 ] && pass "kmesh-cni ADD for pa3, pb3 and pc3 (chained after their veth, prevResult passed on): exit 0" ||
  fail "kmesh-cni ADD failed for a new pod"
sleep 4
tcp_stop newpods "new pods"
for f in n_ab n_ac n_bc n_ba n_ca n_cb; do stop_flow "$f" "new pods"; done
stop_captures
# From the first packet: no ICMP between managed pods on the wire in clear.
expect_no_plaintext newpods "new pods, from their first packet"
expect_xfrm_errors_unchanged "$errors_pods" "new pods" $NODES

step "SIGTERM keeps node-c's datapath"
norm_state node-c >$W/sigterm-before-state
norm_policy node-c >$W/sigterm-before-policy
tc_before=$(ip netns exec node-c tc filter show dev eth0 ingress | grep -c kmesh)
pins_before=$(find /bpf/node-c -mindepth 1 | wc -l)
capture_all sigterm 'net 10.244.0.0/16'
start_flow ca2 pc1 $PA1
start_flow bc pb1 $PC1
tcp_start sigterm pa1 $PA1 pc1
sleep 1
stop_daemon node-c
rc=$?
RUNNING="node-a node-b"
[ $rc -eq 0 ] && pass "SIGTERM: node-c's daemon exited 0" || fail "node-c's daemon exited $rc on SIGTERM"
sleep 2 # traffic keeps flowing with no daemon on node-c
norm_state node-c | cmp -s - $W/sigterm-before-state && norm_policy node-c | cmp -s - $W/sigterm-before-policy &&
  pass "SIGTERM: node-c's XFRM SAs and policies (block policies included) are unchanged" ||
  fail "SIGTERM changed node-c's tables: $(norm_state node-c | diff $W/sigterm-before-state - | grep '^[-+][^-+]' | tr '\n' ' ')"
tc_after=$(ip netns exec node-c tc filter show dev eth0 ingress | grep -c kmesh)
pins_after=$(find /bpf/node-c -mindepth 1 | wc -l)
[ "$tc_before" -gt 0 ] && [ "$tc_after" -eq "$tc_before" ] && [ "$pins_after" -eq "$pins_before" ] && [ "$pins_before" -gt 0 ] &&
  pass "SIGTERM: node-c's decrypt marker ($tc_after filter) and pinned maps ($pins_after pins) stay" ||
  fail "SIGTERM: markers $tc_before -> $tc_after, pins $pins_before -> $pins_after"
infos_are "node-a:2 node-b:2 node-c:2 " && pass "SIGTERM: KmeshNodeInfo node-c stays ($(node_infos))" ||
  fail "KmeshNodeInfo after node-c's daemon stopped: $(node_infos)"
tcp_stop sigterm "SIGTERM of node-c's daemon"
stop_flow ca2 "SIGTERM of node-c's daemon"
stop_flow bc "SIGTERM of node-c's daemon"
stop_captures
expect_no_plaintext sigterm "SIGTERM of node-c's daemon"

step "kmesh-daemon uninstall on node-c"
uninstall_c() {
  ip netns exec node-c "$BIN/kmesh-daemon" uninstall --node-name=node-c --kubeconfig="$KCFG" \
    --bpf-object-dir="$DATA" --bpf-pin-dir=/bpf/node-c >>"$LOGS/walkthrough-node-c.uninstall.log" 2>&1
}
uninstall_c
rc=$?
[ $rc -eq 0 ] && pass "kmesh-daemon uninstall on node-c exited 0: $(tail -n 1 "$LOGS/walkthrough-node-c.uninstall.log")" ||
  fail "kmesh-daemon uninstall on node-c exited $rc: $(tail -n 3 "$LOGS/walkthrough-node-c.uninstall.log" | tr '\n' ' ')"
owned=$(ip -n node-c xfrm state | grep -c "reqid $REQID")
owned_pol=$(ip -n node-c xfrm policy | grep -c -E "reqid $REQID|mark 0xe0/0xff")
tc_left=0
for dev in $(ip -n node-c -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
  c=$(ip netns exec node-c tc filter show dev "$dev" ingress 2>/dev/null | grep -c kmesh)
  tc_left=$((tc_left + c))
done
pins_left=$(find /bpf/node-c -mindepth 1 2>/dev/null | wc -l)
[ "$owned" -eq 0 ] && [ "$owned_pol" -eq 0 ] && [ "$tc_left" -eq 0 ] && [ "$pins_left" -eq 0 ] &&
  pass "uninstall: node-c holds no Kmesh SA, policy, marker or pin" ||
  fail "after uninstall node-c still holds $owned SAs, $owned_pol policies, $tc_left markers, $pins_left pins"
wait_until 90 infos_are "node-a:2 node-b:2 " && pass "uninstall: KmeshNodeInfo node-c deleted ($(node_infos))" ||
  fail "KmeshNodeInfo after uninstall: $(node_infos)"
uninstall_c && pass "kmesh-daemon uninstall again on node-c: exit 0 (nothing left to remove)" ||
  fail "a second uninstall on node-c failed: $(tail -n 3 "$LOGS/walkthrough-node-c.uninstall.log" | tr '\n' ' ')"
# node-c's record is gone but its Node object stays (docs/decisions.md,
# "First contact"): node-a stops sending to it, keeping only what receiving
# from it needs, until the node itself leaves the cluster.
ic=$(node_ip "$(node_idx node-c)")
no_out_sa_to_c() { ! norm_state node-a | grep " dst $ic " | grep -q ' mark 0xe0/0xff '; }
wait_until 60 no_out_sa_to_c && pass "uninstall: node-a no longer encrypts to node-c (no outbound SA to $ic)" ||
  fail "node-a still has an outbound SA to node-c after its record was deleted"
kubectl delete node node-c >/tmp/delete-node.txt 2>&1 && pass "kubectl delete node node-c" ||
  fail "kubectl delete node node-c: $(cat /tmp/delete-node.txt)"
layout_check "node-c left" node-a 2 2 node-b

step "a node joins (node-d) under traffic"
# kubelet registers node-d (Node with InternalIP, bootID, podCIDRs) and its
# pod pd1; the kmesh-ipsec Secret is projected into it; then its daemon
# starts while pa1 -> pd1 and pd1 -> pb1 already flow. Counted from the
# first packet: nothing lost, and once a direction between two nodes has
# carried ESP, no managed packet in that direction is in clear.
node_ns node-d
ip link add und-d type veth peer name eth0 netns node-d
ip link set und-d master br-und up
ip -n node-d addr add 192.168.100.4/24 dev eth0
ip -n node-d link set eth0 up
for n in node-a node-b; do
  j=$(node_idx "$n")
  ip -n node-d route add "$(node_cidr "$j")" via "$(node_ip "$j")" dev eth0
  ip -n "$n" route add "$(node_cidr 4)" via "$(node_ip 4)" dev eth0
done
pod_ns node-d pd1 veth-pd1 $PD1
pace_pod pd1
cat >$W/node-d.yaml <<EOF
apiVersion: v1
kind: Node
metadata:
  name: node-d
spec:
  podCIDR: $(node_cidr 4)
  podCIDRs: ["$(node_cidr 4)"]
status:
  addresses:
  - {type: InternalIP, address: "$(node_ip 4)"}
  - {type: Hostname, address: node-d}
  nodeInfo:
    bootID: 04040404-0000-4000-8000-000000000004
---
apiVersion: v1
kind: Pod
metadata:
  name: pd1
  namespace: default
spec:
  nodeName: node-d
  containers:
  - {name: app, image: busybox}
status:
  phase: Running
  hostIP: "$(node_ip 4)"
  podIP: "$PD1"
  podIPs:
  - {ip: "$PD1"}
EOF
if kubectl apply -f $W/node-d.yaml >/tmp/kubectl-node-d.txt 2>&1 &&
  kubectl replace --subresource=status -f $W/node-d.yaml >>/tmp/kubectl-node-d.txt 2>&1; then
  pass "node-d registered as kubelet would: Node (InternalIP, bootID, podCIDR) and managed pod pd1"
else
  fail "registering node-d: $(tail -n 3 /tmp/kubectl-node-d.txt | tr '\n' ' ')"
fi
latest=$(find $W -maxdepth 1 -name 'secret.*' | sort -t. -k2 -n | tail -n 1)
project node-d "$latest"
errors_join=$(xfrm_error_sum node-a node-b node-d)
capture_all join 'net 10.244.0.0/16 or esp'
drops_join="$(tx_dropped node-d eth0) $(tx_dropped node-d veth-pd1)"
start_flow j_ad pa1 $PD1
start_flow j_db pd1 $PB1
tcp_start join pa1 $PA1 pd1
sleep 2
RUNNING="$RUNNING node-d"
start_daemon node-d
if wait_until 300 infos_are "node-a:2 node-b:2 node-d:2 "; then
  pass "node-d's daemon started and published: $(node_infos)"
else
  fail "node-d did not join: KmeshNodeInfo '$(node_infos)': $(tail -n 3 "$LOGS/walkthrough-node-d.daemon.log" | tr '\n' ' ')"
fi
d_encrypted() { encrypted_both_ways pa1 $PD1 node-a node-d && encrypted_both_ways pd1 $PB1 node-d node-b; }
wait_until 120 d_encrypted && pass "node-d: pa1 <-> pd1 and pd1 <-> pb1 go through both nodes' SAs" ||
  fail "node-d: traffic with pd1 does not go through the SAs"
sleep 2
tcp_stop join "node-d joins"
read -r eth0_0 veth_0 <<EOF
$drops_join
EOF
graft_drops="tx drops over the step: node-d eth0 $(($(tx_dropped node-d eth0) - eth0_0)), veth-pd1 $(($(tx_dropped node-d veth-pd1) - veth_0))"
stop_flow_first_attach j_ad "node-d joins" "$graft_drops"
stop_flow_first_attach j_db "node-d joins" "$graft_drops"
stop_captures
pa=$(plain_after_esp join node-a node-d)
pd=$(plain_after_esp join node-d node-a)
pdb=$(plain_after_esp join node-d node-b)
pbd=$(plain_after_esp join node-b node-d)
[ "$pa" = 0 ] && [ "$pd" = 0 ] && [ "$pdb" = 0 ] && [ "$pbd" = 0 ] &&
  pass "node-d joins: every direction a<->d, d<->b carried ESP, and no managed packet in clear after its first ESP" ||
  fail "node-d joins: plaintext after the first ESP: a->d $pa, d->a $pd, d->b $pdb, b->d $pbd (none: no ESP at all)"
expect_xfrm_errors_unchanged "$errors_join" "node-d joins" node-a node-b node-d
layout_check "node-d joined" node-a 2 2 node-b node-d

step "key material"
leaks=0
for f in /tmp/kmeshctl-1.txt /tmp/kmeshctl-2.txt /tmp/kubectl.txt "$E2E_RESULTS" "$LOGS"/walkthrough-*.log; do
  for v in "$W"/secret.*; do
    b64=$(sed -n 's/.*"aeadKey":"\([^"]*\)".*/\1/p' "$v")
    hex=$(echo "$b64" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    [ ${#hex} -eq 72 ] || { leaks=$((leaks + 1)) && echo "E2E step: cannot read the PSK of $v"; }
    grep -q -i -F -e "$hex" -e "$b64" "$f" 2>/dev/null && leaks=$((leaks + 1)) && echo "E2E step: PSK found in $f"
  done
done
[ $leaks -eq 0 ] && pass "neither PSK (hex or base64) appears in any daemon, API server, kubectl or kmeshctl output" ||
  fail "PSK material found $leaks times in logs"

cleanup
