// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Encrypt marker: tc ingress on the host side of a managed pod's veth. A
 * packet whose destination lies in an encrypt CIDR (a pod CIDR of a peer this
 * node can encrypt to: kmesh_encrypt_cidrs) and is not a known unmanaged pod
 * (kmesh_unmanaged) gets mark 0xe0, which selects the XFRM out policies;
 * everything else passes untouched. The decision is marker_decision.h's,
 * shared with the simulated kernel. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
/* After linux/bpf.h, whose types it uses. */
#include <bpf/bpf_helpers.h>

#include "bpf/marker_decision.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, KMESH_UNMANAGED_MAP_MAX_ENTRIES);
  __type(key, struct kmesh_marker_ip_key);
  __type(value, kmesh_unmanaged_value);
} kmesh_unmanaged SEC(".maps");

/* The fast index of kmesh_unmanaged (see marker_decision.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_UNMANAGED_INDEX_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index_bucket);
} kmesh_idx_unmanaged SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_UNMANAGED_INDEX6_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index6_bucket);
} kmesh_idx6_unmanaged SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, KMESH_ENCRYPT_CIDR_MAP_MAX_ENTRIES);
  __type(key, struct kmesh_marker_ip_key);
  __type(value, kmesh_encrypt_cidr_value);
} kmesh_encrypt_cidrs SEC(".maps");

/* The fast index of kmesh_encrypt_cidrs. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_ENCRYPT_CIDR_INDEX_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index_bucket);
} kmesh_idx_encrypt_cidrs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_ENCRYPT_CIDR_INDEX6_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index6_bucket);
} kmesh_idx6_encrypt_cidrs SEC(".maps");

/* The prefix lengths of kmesh_encrypt_cidrs, per family. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct kmesh_marker_cidr_lengths);
} kmesh_cidr_lens SEC(".maps");

/* Whether `key` is a known unmanaged pod. The verifier inlines the array
 * lookups; the hash map is asked only for an overflowed bucket. */
static __always_inline int is_unmanaged(const struct kmesh_marker_ip_key *key) {
  __u32 value;
  int found;
  if (key->family == KMESH_MARKER_FAMILY_V4) {
    __u32 bucket_index = kmesh_marker_index_bucket_of(
        key->addr[0], KMESH_UNMANAGED_INDEX_BUCKETS);
    const struct kmesh_marker_index_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx_unmanaged, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index_find(bucket, key->addr[0], &value);
  } else {
    __u32 bucket_index = kmesh_marker_index6_bucket_of(
        key->addr, KMESH_UNMANAGED_INDEX6_BUCKETS);
    const struct kmesh_marker_index6_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx6_unmanaged, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index6_find(bucket, key->addr, &value);
  }
  if (found != KMESH_INDEX_ASK_MAP) return found == KMESH_INDEX_FOUND;
  return bpf_map_lookup_elem(&kmesh_unmanaged, key) != 0;
}

/* The prefix length stored for the network address `network`, 0 if none. */
static __always_inline __u32
encrypt_cidr_length(const struct kmesh_marker_ip_key *network) {
  __u32 value = 0;
  int found;
  if (network->family == KMESH_MARKER_FAMILY_V4) {
    __u32 bucket_index = kmesh_marker_index_bucket_of(
        network->addr[0], KMESH_ENCRYPT_CIDR_INDEX_BUCKETS);
    const struct kmesh_marker_index_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx_encrypt_cidrs, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index_find(bucket, network->addr[0], &value);
  } else {
    __u32 bucket_index = kmesh_marker_index6_bucket_of(
        network->addr, KMESH_ENCRYPT_CIDR_INDEX6_BUCKETS);
    const struct kmesh_marker_index6_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx6_encrypt_cidrs, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index6_find(bucket, network->addr, &value);
  }
  if (found == KMESH_INDEX_FOUND) return value;
  if (found == KMESH_INDEX_ABSENT) return 0;
  const kmesh_encrypt_cidr_value *length =
      bpf_map_lookup_elem(&kmesh_encrypt_cidrs, network);
  return length ? *length : 0;
}

/* Whether `key` lies in an encrypt CIDR: its network address under each
 * prefix length in use, looked up with that length. */
static __always_inline int in_encrypt_cidr(
    const struct kmesh_marker_ip_key *key) {
  __u32 zero = 0;
  const struct kmesh_marker_cidr_lengths *lengths =
      bpf_map_lookup_elem(&kmesh_cidr_lens, &zero);
  if (!lengths) return 0;
  __u64 list = key->family == KMESH_MARKER_FAMILY_V4
                   ? *(const volatile __u64 *)&lengths->v4
                   : *(const volatile __u64 *)&lengths->v6;
#pragma unroll
  for (int i = 0; i < KMESH_CIDR_LENGTHS; ++i) {
    __u32 length = (__u32)(list >> (8 * i)) & 0xff;
    if (length == 0) return 0;
    length -= 1;
    struct kmesh_marker_ip_key network;
    kmesh_marker_mask_key(key, length, &network);
    if (encrypt_cidr_length(&network) == length) return 1;
  }
  return 0;
}

/* The encrypt program never consults the peer map. */
#define KMESH_MARKER_IN_ENCRYPT_CIDR(ctx, key) in_encrypt_cidr(key)
#define KMESH_MARKER_IS_UNMANAGED(ctx, key) is_unmanaged(key)
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
