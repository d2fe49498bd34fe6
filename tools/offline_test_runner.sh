#!/usr/bin/env bash
# Bazel's --run_under wrapper for every test (.bazelrc): runs the test with
# the network cut off and with nothing of the machine's it could leave
# behind. The test gets a new network namespace with only loopback up, and a
# private mount namespace with its own /run/netns (so `ip netns` names,
# mounts and network namespaces are the test's alone and vanish with it,
# also when it is killed) and, unless the work tree, Bazel's output base or
# the test's own directories lie under /tmp, its own /tmp too. Two copies of
# one test can run at once. Inside Bazel's sandbox (a user namespace) the
# same works. Where no namespace can be made it runs the test as it is and
# says so on stderr.
#
# Usage: offline_test_runner.sh TEST_BINARY [ARGS...]
set -u

# Whether a private tmpfs on /tmp would hide something the test needs.
tmp_in_use() {
  local p
  for p in "$(readlink -f "$0")" "$(readlink -f "${TEST_SRCDIR:-.}")" "$PWD" \
    "${TEST_TMPDIR:-}" "${TEST_UNDECLARED_OUTPUTS_DIR:-}" "${XML_OUTPUT_FILE:-}"; do
    case "$p" in /tmp | /tmp/*) return 0 ;; esac
  done
  return 1
}

if [[ ${1:-} == --inside ]]; then
  shift
  ip link set lo up 2>/dev/null
  if ! tmp_in_use; then
    mount -t tmpfs -o mode=1777 kmesh-test-tmp /tmp 2>/dev/null
  fi
  if mkdir -p /run/netns 2>/dev/null; then
    mount -t tmpfs -o mode=0755 kmesh-test-netns /run/netns 2>/dev/null
  fi
  exec "$@"
fi
if unshare --net --mount --propagation private true 2>/dev/null; then
  exec unshare --net --mount --propagation private -- "$0" --inside "$@"
fi
echo "offline_test_runner: cannot make namespaces here; running the test with the machine's network" >&2
exec "$@"
