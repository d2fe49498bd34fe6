// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Encrypt marker: tc ingress on the host side of a managed pod's veth. A
 * packet whose destination is a managed pod on another IPsec node (an entry
 * of kmesh_encrypt_targets) gets mark 0xe0, which selects the XFRM out
 * policies; everything else passes untouched. The decision is
 * marker_decision.h's, shared with the simulated kernel. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
/* After linux/bpf.h, whose types it uses. */
#include <bpf/bpf_helpers.h>

#include "bpf/marker_decision.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, KMESH_ENCRYPT_TARGET_MAP_MAX_ENTRIES);
  __type(key, struct kmesh_marker_ip_key);
  __type(value, kmesh_encrypt_target_value);
} kmesh_encrypt_targets SEC(".maps");

/* The IPv4 fast index of kmesh_encrypt_targets (see marker_decision.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_ENCRYPT_TARGET_INDEX_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index_bucket);
} kmesh_idx_encrypt_targets SEC(".maps");

/* One lookup site per map: the verifier inlines the array lookup and calls
 * the hash map's lookup directly. */
static __always_inline int is_encrypt_target(
    const struct kmesh_marker_ip_key *key) {
  if (key->family == KMESH_MARKER_FAMILY_V4) {
    __u32 bucket_index = kmesh_marker_index_bucket_of(
        key->addr[0], KMESH_ENCRYPT_TARGET_INDEX_BUCKETS);
    const struct kmesh_marker_index_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx_encrypt_targets, &bucket_index);
    if (!bucket) return 0;
    __u32 value;
    int found = kmesh_marker_index_find(bucket, key->addr[0], &value);
    if (found != KMESH_INDEX_ASK_MAP) return found == KMESH_INDEX_FOUND;
  }
  return bpf_map_lookup_elem(&kmesh_encrypt_targets, key) != 0;
}

/* The encrypt program never consults the peer map. */
#define KMESH_MARKER_IS_ENCRYPT_TARGET(ctx, key) is_encrypt_target(key)
#define KMESH_MARKER_PEER_INDEX(ctx, key) 0
#include "bpf/marker_decision.h"

SEC("tc")
int kmesh_encrypt_marker(struct __sk_buff *skb) {
  __u32 mark = kmesh_encrypt_marker_frame(
      0, (unsigned long)skb->data, (unsigned long)skb->data_end, skb->mark);
  if (mark != skb->mark) skb->mark = mark;
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
