#!/bin/busybox sh
# shellcheck shell=sh
# PID 1 of the e2e VM (installed as /init): mounts the basics, loads the
# modules every scenario needs, mounts the host's 9p share for results, runs
# the scenarios named in /opt/e2e/scenarios, records "DONE" and powers off.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
/bin/busybox ln -s /bin/busybox /sbin/modprobe
# dash as /bin/sh: busybox sh would run its own applets (e.g. a limited `ip`)
# for every popen("ip ...") and script line, whatever PATH says.
/bin/busybox ln -sf /bin/dash /bin/sh
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /run/netns
mount -t bpf bpf /bpf
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
echo "E2E init: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"

modprobe virtio_pci && modprobe 9pnet_virtio && modprobe 9p
E2E_OUT=/tmp/e2e-out
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host0 /mnt/host; then
  E2E_OUT=/mnt/host
else
  echo "E2E init: no 9p share; results on the console only"
  mkdir -p "$E2E_OUT"
fi
export E2E_OUT
export E2E_RESULTS="$E2E_OUT/results.txt"
: >"$E2E_RESULTS"

# ESP needs the default RNG (drbg + jitterentropy_rng) for its IV generators.
for m in drbg jitterentropy_rng veth xfrm_user esp4 esp6 aesni_intel \
  ghash_clmulni_intel gcm ctr seqiv echainiv authenc xfrm4_tunnel xfrm6_tunnel \
  sch_ingress cls_bpf cls_flower act_skbedit; do
  modprobe "$m" 2>/dev/null || echo "E2E init: modprobe $m failed"
done

for s in $(tr '\n' ' ' </opt/e2e/scenarios); do
  echo "E2E init: scenario $s at uptime $(cut -d' ' -f1 /proc/uptime)s"
  E2E_SCENARIO=$s /bin/dash "/opt/e2e/scenario_$s.sh" 2>&1
done
echo "INFO: guest uptime at end $(cut -d' ' -f1 /proc/uptime)s" >>"$E2E_RESULTS"
echo "DONE" >>"$E2E_RESULTS"
echo "E2E-RESULT DONE"
sync
umount /mnt/host 2>/dev/null
poweroff -f
