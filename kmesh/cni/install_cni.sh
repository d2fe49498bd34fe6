#!/bin/bash
# Installs kmesh-cni on the node, as the kmesh DaemonSet's init container
# runs it (e2e/kind/manifests/20-daemonset.yaml): copies the plugin binary
# into the host's CNI bin directory, writes a kubeconfig for it (the
# kmesh-cni ServiceAccount's token and the cluster CA, from TOKEN_DIR), and
# appends {"type": "kmesh-cni", ...} to the plugins of the node's primary CNI
# configuration (the first *.conflist or *.conf in CNI_NET_DIR in name
# order: the one the runtime uses; a single-plugin .conf is turned into a
# .conflist). Idempotent: run again, it replaces its own entry and binary.
# `install_cni.sh --uninstall` removes the entry, the kubeconfig and the
# binary. Every file is written beside its target and renamed over it, so
# the runtime never reads half a file.
set -euo pipefail

CNI_BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CNI_NET_DIR=${CNI_NET_DIR:-/host/etc/cni/net.d}
# CNI_NET_DIR as the host (and so the plugin) sees it.
HOST_CNI_NET_DIR=${HOST_CNI_NET_DIR:-/etc/cni/net.d}
KMESH_CNI_BINARY=${KMESH_CNI_BINARY:-/kmesh/kmesh-cni}
TOKEN_DIR=${TOKEN_DIR:-/var/run/kmesh-cni}
BPF_PIN_DIR=${BPF_PIN_DIR:-/sys/fs/bpf/kmesh-ipsec}
KUBECONFIG_NAME=kmesh-cni-kubeconfig

die() { echo "install_cni.sh: $*" >&2; exit 1; }
command -v jq >/dev/null || die "needs jq"

# The runtime's configuration: the first .conflist/.conf by name.
primary_config() {
  local f
  for f in "$CNI_NET_DIR"/*; do
    case "$f" in
      *.conflist|*.conf) echo "$f"; return 0 ;;
    esac
  done
  return 1
}

# write FILE: stdin to FILE, atomically.
write() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "${2:-644}" "$tmp"
  mv -f "$tmp" "$1"
}

uninstall() {
  local conf
  if conf=$(primary_config); then
    jq '.plugins |= map(select(.type != "kmesh-cni"))' "$conf" | write "$conf"
  fi
  rm -f "$CNI_NET_DIR/$KUBECONFIG_NAME" "$CNI_BIN_DIR/kmesh-cni"
  echo "install_cni.sh: kmesh-cni removed"
}

if [ "${1:-}" = "--uninstall" ]; then uninstall; exit 0; fi
[ -x "$KMESH_CNI_BINARY" ] || die "no plugin binary at $KMESH_CNI_BINARY"
[ -d "$CNI_BIN_DIR" ] || die "no CNI bin directory $CNI_BIN_DIR (mount the host's /opt/cni/bin)"
conf=$(primary_config) ||
  die "no CNI configuration in $CNI_NET_DIR yet: the primary CNI plugin must be installed first"

# 1. The binary.
tmp=$(mktemp "$CNI_BIN_DIR/.kmesh-cni.XXXXXX")
cp "$KMESH_CNI_BINARY" "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$CNI_BIN_DIR/kmesh-cni"

# 2. Its kubeconfig: the API server as the host reaches it (the service IP,
#    which kube-proxy serves in the host's network namespace).
host=${KUBERNETES_SERVICE_HOST:?not set: run in a pod}
port=${KUBERNETES_SERVICE_PORT:-443}
case "$host" in *:*) host="[$host]" ;; esac
[ -s "$TOKEN_DIR/token" ] || die "no token in $TOKEN_DIR"
[ -s "$TOKEN_DIR/ca.crt" ] || die "no ca.crt in $TOKEN_DIR"
write "$CNI_NET_DIR/$KUBECONFIG_NAME" 600 <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$host:$port
    certificate-authority-data: $(base64 -w0 <"$TOKEN_DIR/ca.crt")
users:
- name: kmesh-cni
  user:
    token: $(cat "$TOKEN_DIR/token")
contexts:
- name: kmesh-cni
  context:
    cluster: local
    user: kmesh-cni
current-context: kmesh-cni
KUBECONFIG

# 3. The chained entry, last in the plugin list (after the plugin that
#    creates the veth), replacing an earlier one of ours.
entry=$(jq -n --arg kc "$HOST_CNI_NET_DIR/$KUBECONFIG_NAME" --arg pin "$BPF_PIN_DIR" \
  '{type: "kmesh-cni", kubeconfig: $kc, bpfPinDir: $pin}')
case "$conf" in
  *.conflist)
    jq --argjson e "$entry" \
      '.plugins |= (map(select(.type != "kmesh-cni")) + [$e])' "$conf" | write "$conf"
    ;;
  *.conf)
    jq --argjson e "$entry" \
      '{cniVersion: .cniVersion, name: .name, plugins: [del(.cniVersion, .name), $e]}' \
      "$conf" | write "${conf}list"
    rm -f "$conf"
    conf="${conf}list"
    ;;
esac
echo "install_cni.sh: kmesh-cni chained in $conf"
