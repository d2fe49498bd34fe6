#!/bin/sh
# The Kmesh container's entry point: runs kmesh-daemon with every argument
# given, e.g.
#   ./start_kmesh.sh --mode=dual-engine --enable-bypass=false --enable-ipsec=true
# The daemon is found in $KMESH_DAEMON, next to this script, in Bazel's
# runfiles, or on $PATH, in that order.
set -eu
here=$(dirname "$0")
if [ -n "${KMESH_DAEMON:-}" ]; then
  daemon=$KMESH_DAEMON
elif [ -x "$here/kmesh-daemon" ]; then
  daemon=$here/kmesh-daemon
elif [ -x "$0.runfiles/kmesh_ipsec/kmesh/daemon/kmesh-daemon" ]; then
  daemon=$0.runfiles/kmesh_ipsec/kmesh/daemon/kmesh-daemon
elif [ -n "${RUNFILES_DIR:-}" ] && [ -x "$RUNFILES_DIR/kmesh_ipsec/kmesh/daemon/kmesh-daemon" ]; then
  daemon=$RUNFILES_DIR/kmesh_ipsec/kmesh/daemon/kmesh-daemon
else
  daemon=kmesh-daemon
fi
exec "$daemon" "$@"
