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

# Sum of the named /proc/net/xfrm_stat counters in namespace $1.
xfrm_stat_sum() {
  ns=$1
  shift
  pattern=$(echo "$*" | tr ' ' '|')
  ip netns exec "$ns" cat /proc/net/xfrm_stat | awk -v p="^($pattern)\$" '$1 ~ p {s += $2} END {print s + 0}'
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

# A progress line on the console (for reading console.log after a hang).
step() { echo "E2E step: $E2E_SCENARIO: $* (uptime $(uptime_s)s)"; }
