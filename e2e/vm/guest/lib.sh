# shellcheck shell=sh
# Sourced by every guest scenario: check reporting and the real tools.
#
# Scenarios run under dash (init links /bin/sh to it), so `ip`, `ping`, `tc`
# and `tcpdump` are the real binaries found in PATH. (Debian's busybox sh
# would run its own limited applets of the same names whatever PATH says, and
# shell-function wrappers around them would make `$!` of a background job the
# pid of a subshell instead of the program.)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# Where vm_run.sh puts --bin and --data files.
# shellcheck disable=SC2034
BIN=/opt/kmesh/bin
# shellcheck disable=SC2034
DATA=/opt/kmesh/data
: "${E2E_SCENARIO:=adhoc}"
: "${E2E_RESULTS:=/tmp/results.txt}"
: "${E2E_OUT:=/tmp}"

# One line per check, in results.txt and (prefixed) on the console.
record() {
  echo "$1" >>"$E2E_RESULTS"
  echo "E2E-RESULT $1"
}
pass() { record "PASS: $E2E_SCENARIO: $*"; }
fail() { record "FAIL: $E2E_SCENARIO: $*"; }
info() { record "INFO: $E2E_SCENARIO: $*"; }
# check "what" command...: PASS when the command succeeds.
check() {
  what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Keeps an artifact (capture, listing) next to the results on the host.
keep() { cp "$1" "$E2E_OUT/$E2E_SCENARIO-$(basename "$1")" 2>/dev/null; }

# Every error counter of /proc/net/xfrm_stat (all but the In/Out totals).
XFRM_ERRORS="XfrmInError XfrmInBufferError XfrmInHdrError XfrmInNoStates XfrmInStateProtoError
XfrmInStateModeError XfrmInStateSeqError XfrmInStateExpired XfrmInStateMismatch XfrmInStateInvalid
XfrmInTmplMismatch XfrmInNoPols XfrmInPolBlock XfrmInPolError XfrmOutError XfrmOutBundleGenError
XfrmOutBundleCheckError XfrmOutNoStates XfrmOutStateProtoError XfrmOutStateModeError
XfrmOutStateSeqError XfrmOutStateExpired XfrmOutPolBlock XfrmOutPolDead XfrmOutPolError
XfrmFwdHdrError XfrmOutStateInvalid XfrmAcquireError"

# Sum of the named /proc/net/xfrm_stat counters in namespace $1.
xfrm_stat_sum() {
  ns=$1
  shift
  pattern=$(echo "$*" | tr ' ' '|')
  ip netns exec "$ns" cat /proc/net/xfrm_stat | awk -v p="^($pattern)\$" '$1 ~ p {s += $2} END {print s + 0}'
}

# xfrm_error_sum NS...: the sum of every XFRM_ERRORS counter over the
# namespaces.
xfrm_error_sum() {
  total=0
  for ns in "$@"; do
    total=$((total + $(xfrm_stat_sum "$ns" "$XFRM_ERRORS")))
  done
  echo "$total"
}

# node_ns NAME: a "node" namespace that forwards IPv4 and IPv6.
node_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward; echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
}

# pod_ns NODE POD HOST_IF IP [IP6]: a pod namespace behind NODE, routed
# (Calico style: a /32 on the pod's eth0, its default gateway 169.254.1.1 on
# the node's side of the veth, HOST_IF, and a host route to the pod on the
# node).
pod_ns() {
  node=$1 pod=$2 host_if=$3 addr=$4 addr6=${5:-}
  ip netns add "$pod"
  ip link add "$host_if" netns "$node" type veth peer name eth0 netns "$pod"
  # One `ip -batch` per namespace: under TCG every process start counts.
  {
    echo "link set lo up"
    echo "addr add $addr/32 dev eth0"
    [ -n "$addr6" ] && echo "addr add $addr6/128 dev eth0 nodad"
    echo "link set eth0 up"
    echo "route add 169.254.1.1 dev eth0"
    echo "route add default via 169.254.1.1 dev eth0"
    [ -n "$addr6" ] && echo "route add ::/0 via fe80::1 dev eth0"
  } | ip -n "$pod" -batch -
  {
    echo "addr add 169.254.1.1/32 dev $host_if"
    [ -n "$addr6" ] && echo "addr add fe80::1/64 dev $host_if nodad"
    echo "link set $host_if up"
    echo "route add $addr/32 dev $host_if"
    [ -n "$addr6" ] && echo "route add $addr6/128 dev $host_if"
  } | ip -n "$node" -batch -
}

# ping_answered FILE: for the output of a `ping -i ...` stopped with SIGINT,
# prints "ANSWERED SENT": how many distinct packets sent before the last one
# were answered, and how many were sent. (The last one may still have been in
# flight when the flow was stopped.)
ping_answered() {
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$1")
  answered=$(sed -n 's/.*icmp_seq=\([0-9]*\) .*/\1/p' "$1" |
    awk -v last="${sent:-0}" '$1 < last && !seen[$1]++ { n++ } END { print n + 0 }')
  echo "$answered ${sent:-0}"
}

# Starts tcpdump in namespace $1 with the remaining arguments, writing to
# $CAPTURE_FILE; waits until it listens. Stop it with stop_capture.
start_capture() {
  ns=$1
  shift
  ip netns exec "$ns" tcpdump -Z root -l -n "$@" >"$CAPTURE_FILE" 2>&1 &
  CAPTURE_PID=$!
  i=0
  while [ $i -lt 100 ] && ! grep -q 'listening on' "$CAPTURE_FILE" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
}
stop_capture() {
  sleep 0.5
  stop_process "$CAPTURE_PID" TERM
}

# stop_process PID SIGNAL: sends SIGNAL, waits up to 5 s for the process to
# end, then kills it; never blocks longer.
stop_process() {
  kill "-$2" "$1" 2>/dev/null
  i=0
  while [ $i -lt 50 ] && kill -0 "$1" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  if kill -0 "$1" 2>/dev/null; then
    echo "E2E step: pid $1 ignored SIG$2, killing it"
    kill -KILL "$1" 2>/dev/null
  fi
  wait "$1" 2>/dev/null
}

# wait_until SECONDS COMMAND...: runs COMMAND every 0.5 s until it succeeds
# (returns 0) or SECONDS have passed (returns 1).
wait_until() {
  deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# A progress line on the console (for reading console.log after a hang).
step() { echo "E2E step: $E2E_SCENARIO: $* (uptime $(uptime_s)s)"; }

# sample_progress NS STOP_FILE: "uptime rx_bytes" of NS's eth0 every 0.25 s
# until STOP_FILE exists, sampled inside NS with shell builtins only (under
# TCG every process start steals the one CPU).
sample_progress() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  ip netns exec "$1" sh -c '
    while [ ! -e "$1" ]; do
      read -r up _ </proc/uptime
      while read -r dev rx _; do [ "$dev" = eth0: ] && echo "$up $rx"; done </proc/net/dev
      sleep 0.25
    done' sh "$2"
}
# longest_stall FILE: the longest time in seconds, between the first and the
# last progress in sample_progress's output, without progress: rx_bytes
# growing by at least 16 KiB since the last progress (so the pings a pod
# also receives, about 1 KB a second, do not count as a stream's progress).
longest_stall() {
  awk 'NR == 1 { b = $2; t = $1; next }
       $2 >= b + 16384 { if (started && $1 - t > m) m = $1 - t; started = 1; b = $2; t = $1 }
       END { printf "%.2f", m + 0 }' "$1"
}
