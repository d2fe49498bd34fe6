#!/usr/bin/env bash
# kubectl_elf.sh DIR: makes DIR/kubectl a symlink to a real kubectl ELF that
# the VM can carry (the walkthrough scenario drives the API server with it)
# and prints that path. The kubectl is $KMESH_VM_KUBECTL, else the one on
# PATH; gcloud's kubectl is a dispatcher that execs the kubectl.1.NN next to
# it (NN: the minor version it reports), so that binary is linked instead.
# Exit 1, with the reason on stderr, when there is no kubectl.
set -uo pipefail
dir=${1:?usage: kubectl_elf.sh DIR}
kubectl=${KMESH_VM_KUBECTL:-$(command -v kubectl)}
if [[ -z $kubectl || ! -x $kubectl ]]; then
  echo "kubectl_elf.sh: no kubectl (set KMESH_VM_KUBECTL)" >&2
  exit 1
fi
kubectl=$(readlink -f "$kubectl")
version=$("$kubectl" version --client 2>/dev/null |
  sed -n 's/^Client Version: v\([0-9]*\.[0-9]*\).*dispatcher.*/\1/p')
if [[ -n $version && -x $(dirname "$kubectl")/kubectl.$version ]]; then
  kubectl=$(dirname "$kubectl")/kubectl.$version
fi
mkdir -p "$dir" && ln -sf "$kubectl" "$dir/kubectl" || exit 1
echo "$dir/kubectl"
