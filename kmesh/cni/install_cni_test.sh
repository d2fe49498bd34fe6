#!/bin/bash
# install_cni.sh against a node's directories under $TEST_TMPDIR: a kindnet
# conflist gets exactly one kmesh-cni entry, last, also when run twice; a
# single-plugin .conf becomes a .conflist; the kubeconfig carries the token
# and CA; --uninstall leaves the conflist as it was; a missing primary
# configuration is refused.
set -u
fail() { echo "FAIL: $*"; exit 1; }
script=kmesh/cni/install_cni.sh
root=$TEST_TMPDIR/node
rm -rf "$root"
mkdir -p "$root/bin" "$root/net.d" "$root/token"
printf 'token-123' >"$root/token/token"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$root/token/ca.crt"
printf '#!/bin/sh\n' >"$root/kmesh-cni"
chmod +x "$root/kmesh-cni"
export CNI_BIN_DIR=$root/bin CNI_NET_DIR=$root/net.d TOKEN_DIR=$root/token \
  KMESH_CNI_BINARY=$root/kmesh-cni KUBERNETES_SERVICE_HOST=10.96.0.1 \
  KUBERNETES_SERVICE_PORT=443

out=$($script 2>&1) && fail "no primary configuration accepted: $out"
echo "$out" | grep -q "no CNI configuration" || fail "message: $out"

kindnet='{"cniVersion":"0.3.1","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local"}},{"type":"portmap","capabilities":{"portMappings":true}}]}'
echo "$kindnet" >"$root/net.d/10-kindnet.conflist"
$script >/dev/null || fail "install"
$script >/dev/null || fail "install again"
conf=$root/net.d/10-kindnet.conflist
[ "$(jq -r '[.plugins[].type] | join(",")' "$conf")" = "ptp,portmap,kmesh-cni" ] ||
  fail "plugins: $(cat "$conf")"
[ "$(jq -r '.plugins[2].kubeconfig' "$conf")" = "/etc/cni/net.d/kmesh-cni-kubeconfig" ] ||
  fail "kubeconfig path: $(cat "$conf")"
[ "$(jq -r '.plugins[2].bpfPinDir' "$conf")" = "/sys/fs/bpf/kmesh-ipsec" ] || fail "pin dir"
[ -x "$root/bin/kmesh-cni" ] || fail "binary not installed"
kc=$root/net.d/kmesh-cni-kubeconfig
grep -q "server: https://10.96.0.1:443" "$kc" || fail "server: $(cat "$kc")"
grep -q "token: token-123" "$kc" || fail "token"
grep -q "certificate-authority-data: $(base64 -w0 <"$root/token/ca.crt")" "$kc" || fail "ca"
[ "$(stat -c %a "$kc")" = 600 ] || fail "kubeconfig mode"
files=("$root"/net.d/*)
[ ${#files[@]} -eq 2 ] || fail "temporary files left: ${files[*]}"

$script --uninstall >/dev/null || fail "uninstall"
[ "$(jq -c . "$conf")" = "$(echo "$kindnet" | jq -c .)" ] || fail "uninstall left: $(cat "$conf")"
if [ -e "$kc" ] || [ -e "$root/bin/kmesh-cni" ]; then fail "uninstall left files"; fi

rm -f "$conf"
echo '{"cniVersion":"1.0.0","name":"net","type":"bridge","bridge":"cni0"}' >"$root/net.d/10-bridge.conf"
$script >/dev/null || fail "install over .conf"
[ ! -e "$root/net.d/10-bridge.conf" ] || fail ".conf left"
[ "$(jq -r '[.plugins[].type] | join(",")' "$root/net.d/10-bridge.conflist")" = "bridge,kmesh-cni" ] ||
  fail "conflist from conf: $(cat "$root/net.d/10-bridge.conflist")"
[ "$(jq -r '.plugins[0].bridge' "$root/net.d/10-bridge.conflist")" = "cni0" ] || fail "bridge fields"
echo PASS
