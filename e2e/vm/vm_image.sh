#!/usr/bin/env bash
# vm_image.sh (sourced by vm_prepare.sh and vm_run.sh): the e2e VM's
# initramfs. copy_elf puts a binary and the libraries ldd resolves for it
# into a root; vm_base_key names the base archive for a kernel and the host's
# tools; vm_base_image builds that base (busybox, iproute2, tc, tcpdump,
# ping, bpftool, dash, and the kernel modules ESP, tc/BPF, veth, a bridge and
# virtio-9p need) unless it is there, and prints its path. Nothing here uses
# the network.

# An ELF at HOST_PATH goes to ROOT/GUEST_PATH with its ldd-resolved libraries.
copy_elf() {
  local src=$1 root=$2 dst=$3 name path
  mkdir -p "$root$(dirname "$dst")" "$root/lib/x86_64-linux-gnu" "$root/lib64"
  cp -L "$src" "$root$dst" || return 1
  # "libfoo.so.1 => /path/libfoo.so.1 (0x...)" and the loader's own line.
  while read -r name path; do
    case $name in
      */ld-linux-x86-64.so.2) cp -L "$name" "$root/lib64/ld-linux-x86-64.so.2" ;;
      *)
        [[ $path == /* ]] || continue
        # Bazel links cc_import'ed libraries through _solib symlinks; the
        # guest finds them by soname in the standard directory.
        [[ -e $root/lib/x86_64-linux-gnu/$name ]] || cp -L "$path" "$root/lib/x86_64-linux-gnu/$name"
        ;;
    esac
  done < <(ldd "$src" 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => \([^ ]*\) .*/\1 \2/p; s/^[[:space:]]*\(\/[^ ]*ld-linux[^ ]*\) .*/\1 -/p')
}

# Modules: what ESP in tunnel mode with rfc4106(gcm(aes)) needs (with the
# default RNG: without drbg + jitterentropy_rng every ESP SA add fails with
# "Kernel was unable to initialize cryptographic operations"), veth, tc with
# BPF and flower/skbedit, a bridge (the walkthrough's underlay), fq (the
# cluster scenarios pace their TCP streams with it), and virtio-9p for the
# results. Whole crypto and xfrm directories are shipped so
# that autoloaded helpers are always there.
VM_MODULES="esp4 esp6 xfrm_user xfrm_algo gcm ghash-generic ghash-clmulni-intel aesni-intel
  ctr seqiv echainiv authenc authencesn tunnel4 xfrm4_tunnel tunnel6 xfrm6_tunnel veth
  sch_ingress cls_bpf act_bpf cls_flower act_skbedit act_gact 9p 9pnet_virtio virtio_pci
  drbg jitterentropy_rng sha512_generic sha256_generic bridge sch_fq"
VM_MODULE_DIRS="kernel/crypto kernel/arch/x86/crypto kernel/lib/crypto kernel/net/xfrm"
VM_TOOLS="/bin/busybox /bin/dash ip tc tcpdump ping bpftool"

# vm_base_key KVER: a name for the base of kernel KVER with this host's tools.
vm_base_key() {
  local t
  {
    echo "$1 v4 $VM_MODULES $VM_MODULE_DIRS"
    for t in $VM_TOOLS; do
      [[ $t == /* ]] || t=$(command -v "$t")
      stat -L -c '%n %s %Y' "$t"
    done
  } | sha256sum | cut -c1-16
}

# vm_base_image KDIR KVER OUTDIR: prints the base archive's path, building it
# in OUTDIR first if it is not there. Messages go to stderr.
vm_base_image() {
  local kdir=$1 kver=$2 outdir=$3 base moddir root t
  base=$outdir/base-$(vm_base_key "$kver").cpio
  if [[ -s $base ]]; then
    echo "$base"
    return 0
  fi
  moddir=$kdir/lib/modules/$kver
  [[ -f $moddir/modules.dep ]] || { echo "vm_image: no modules in $kdir" >&2; return 1; }
  for t in $VM_TOOLS cpio; do
    [[ $t == /* ]] && [[ -x $t ]] && continue
    command -v "$t" >/dev/null 2>&1 || { echo "vm_image: $t is missing (run tools/setup)" >&2; return 1; }
  done
  if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
    echo "vm_image: /bin/busybox is not the static one (run tools/setup: busybox-static)" >&2
    return 1
  fi
  echo "vm_image: building the initramfs base (busybox, tools, modules of $kver)" >&2
  mkdir -p "$outdir" || return 1
  root=$(mktemp -d "$outdir/root.XXXXXX") || return 1
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,etc,proc,sys,dev,tmp,run,mnt/host,bpf,var/run/netns,root}
  cp /bin/busybox "$root/bin/busybox"
  # dash becomes /bin/sh: busybox's sh runs its own applets (a limited `ip`)
  # even for popen("ip ...") from the tests, whatever PATH says.
  local tool
  for tool in ip:/usr/sbin/ip tc:/usr/sbin/tc tcpdump:/usr/bin/tcpdump \
    ping:/usr/bin/ping bpftool:/usr/sbin/bpftool /bin/dash:/bin/dash; do
    if ! copy_elf "$(command -v "${tool%%:*}")" "$root" "${tool#*:}"; then
      echo "vm_image: copying ${tool%%:*} failed" >&2
      rm -rf "$root"
      return 1
    fi
  done
  # tcpdump drops privileges to a user it looks up (we run it with -Z root).
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"

  local -A seen=()
  local w pat rel d m
  add_module() { # path relative to moddir, with its dependencies
    local m=$1 d
    [[ -n ${seen[$m]:-} ]] && return
    seen[$m]=1
    while read -r d; do
      add_module "$d"
    done < <(awk -v m="$m:" '$1==m{for(i=2;i<=NF;i++)print $i}' "$moddir/modules.dep")
  }
  for w in $VM_MODULES; do
    pat=${w//[-_]/[-_]}
    rel=$(grep -E "(^|/)${pat}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n 1 | cut -d: -f1)
    [[ -n $rel ]] && add_module "$rel"
  done
  for d in $VM_MODULE_DIRS; do
    while read -r rel; do
      add_module "$rel"
    done < <(awk -F: -v d="$d/" 'index($1,d)==1{print $1}' "$moddir/modules.dep")
  done
  local rm_dir=$root/lib/modules/$kver
  mkdir -p "$rm_dir"
  for m in "${!seen[@]}"; do
    mkdir -p "$rm_dir/$(dirname "$m")"
    cp "$moddir/$m" "$rm_dir/$m"
  done
  cp "$moddir"/modules.builtin* "$moddir/modules.order" "$rm_dir/" 2>/dev/null
  /bin/busybox depmod -b "$root" "$kver" || { echo "vm_image: depmod failed" >&2; rm -rf "$root"; return 1; }
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet >"$base.tmp") || {
    echo "vm_image: cpio failed" >&2
    rm -rf "$root"
    return 1
  }
  rm -rf "$root"
  [[ -s $base.tmp ]] || { echo "vm_image: cpio wrote an empty archive" >&2; return 1; }
  mv "$base.tmp" "$base"
  # Bases for older kernels or tools are never used again.
  find "$outdir" -maxdepth 1 -name 'base-*.cpio*' ! -name "$(basename "$base")" -delete
  echo "vm_image: base: ${#seen[@]} modules, $(du -h "$base" | cut -f1)" >&2
  echo "$base"
}
