// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Decrypt marker: tc ingress on every node interface that carries one of the
 * node's addresses. ESP from a known peer (an entry of kmesh_peers) gets the
 * mark its inbound SAs match, (peer_index << 16) | 0xd0; a decapsulated packet
 * (mark exactly 0xd0, the SAs' output mark) keeps its mark; any other packet
 * loses a decrypt-kind mark, so plaintext cannot pass as decrypted. The
 * decision is marker_decision.h's, shared with the simulated kernel. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
/* After linux/bpf.h, whose types it uses. */
#include <bpf/bpf_helpers.h>

#include "bpf/marker_decision.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, KMESH_PEER_MAP_MAX_ENTRIES);
  __type(key, struct kmesh_marker_ip_key);
  __type(value, kmesh_peer_value);
} kmesh_peers SEC(".maps");

/* The IPv4 fast index of kmesh_peers (see marker_decision.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_PEER_INDEX_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index_bucket);
} kmesh_idx_peers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, KMESH_PEER_INDEX6_BUCKETS);
  __type(key, __u32);
  __type(value, struct kmesh_marker_index6_bucket);
} kmesh_idx6_peers SEC(".maps");

/* One lookup site per map: the verifier inlines the array lookup and calls
 * the hash map's lookup directly. */
static __always_inline __u32
peer_index_of(const struct kmesh_marker_ip_key *key) {
  __u32 value = 0;
  int found;
  if (key->family == KMESH_MARKER_FAMILY_V4) {
    __u32 bucket_index =
        kmesh_marker_index_bucket_of(key->addr[0], KMESH_PEER_INDEX_BUCKETS);
    const struct kmesh_marker_index_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx_peers, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index_find(bucket, key->addr[0], &value);
  } else {
    __u32 bucket_index =
        kmesh_marker_index6_bucket_of(key->addr, KMESH_PEER_INDEX6_BUCKETS);
    const struct kmesh_marker_index6_bucket *bucket =
        bpf_map_lookup_elem(&kmesh_idx6_peers, &bucket_index);
    if (!bucket) return 0;
    found = kmesh_marker_index6_find(bucket, key->addr, &value);
  }
  if (found == KMESH_INDEX_FOUND) return value;
  if (found == KMESH_INDEX_ABSENT) return 0;
  const kmesh_peer_value *index = bpf_map_lookup_elem(&kmesh_peers, key);
  return index ? *index : 0;
}

/* The decrypt program never consults the encrypt maps. */
#define KMESH_MARKER_IN_ENCRYPT_CIDR(ctx, key) 0
#define KMESH_MARKER_IS_UNMANAGED(ctx, key) 0
#define KMESH_MARKER_PEER_INDEX(ctx, key) peer_index_of(key)
#include "bpf/marker_decision.h"

SEC("tc")
int kmesh_decrypt_marker(struct __sk_buff *skb) {
  __u32 mark = kmesh_decrypt_marker_frame(
      0, (unsigned long)skb->data, (unsigned long)skb->data_end, skb->mark);
  if (mark != skb->mark) skb->mark = mark;
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
