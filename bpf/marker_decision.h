/* Marker decisions: what the two tc ingress programs do to a packet's mark,
 * written once as plain C so that the eBPF programs (encrypt_marker.bpf.c,
 * decrypt_marker.bpf.c, compiled with clang -target bpf) and the simulated
 * kernel's tc hooks (C++, through sim/kernel/marker_decision_host.h) run the
 * same code.
 * It also holds the mark layout constants that the XFRM layout uses: this is
 * the one place where 0xe0 and 0xd0 are spelled.
 *
 * Input: a frame exactly as tc ingress sees it on an Ethernet-like device
 * (veth, NIC): the 14-byte Ethernet header first (`*_frame` functions), or a
 * bare IP packet on an L2-less device (`*_ip` functions, family from the
 * version nibble). IPv4 and IPv6 are parsed; VLAN-tagged frames (tags not
 * stripped by the device), ARP and every other ethertype are "not IP".
 * Only the fixed IP header is read: the IPv4 protocol field and the IPv6 Next
 * Header field say whether a packet is ESP (no extension-header walk, no
 * ESP-in-UDP); fragments are classified like any other packet.
 *
 * Encrypt marker (tc ingress on a managed pod's host-side veth): a packet whose
 * destination address is in the encrypt-target map gets mark 0xe0; every
 * other packet keeps its mark.
 * Decrypt marker (tc ingress on node interfaces):
 *   1. ESP from a source in the peer map with index i (1..65535):
 *      mark = (i << 16) | 0xd0, the mark that peer's inbound SAs match.
 *   2. A non-ESP packet whose mark is exactly 0xd0 (the SAs' output mark: the
 *      decapsulated inner packet re-enters tc ingress) keeps it.
 *   3. Any other packet whose mark's low byte is 0xd0 (forged, or an indexed
 *      mark on something that is not ESP) gets mark 0.
 *   4. Every other mark is left untouched.
 * Both programs always pass the packet on (TC_ACT_OK).
 *
 * Maps: lookups are the includer's. Before including this header, define
 *   KMESH_MARKER_IS_ENCRYPT_TARGET(ctx, key)  nonzero when `key` is an
 *                                              encrypt target
 *   KMESH_MARKER_PEER_INDEX(ctx, key)         the peer index (__u32), 0 when
 *                                              unknown
 * and include this header (again, if it was included before) to get the
 * complete kmesh_encrypt_marker_... and kmesh_decrypt_marker_... functions
 * (eBPF has no function pointers; `ctx` is passed through untouched). Without
 * them only the parsers and the pure mark functions are available.
 *
 * Bounds checks compare integer addresses (`data + n <= data_end` on
 * unsigned longs): the verifier tracks them as packet pointers, and in C++
 * integer arithmetic never forms an out-of-range pointer. Only the constant
 * offsets below are read, always after such a check.
 */
#ifndef KMESH_BPF_MARKER_DECISION_H_
#define KMESH_BPF_MARKER_DECISION_H_

#include <linux/types.h>

/* Everything here is inlined into the caller (eBPF: no calls, and one map
 * lookup site per program). */
#define KMESH_MARKER_INLINE static inline __attribute__((always_inline))

/* ---- Mark layout (shared with the XFRM layout) ---------------------------
 * Bits 0-7: the kind (0xe0 encrypt, 0xd0 decrypt). Bits 16-31 of a decrypt
 * mark: the peer index that ESP came from. Bits 8-15 are always 0. */
#define KMESH_MARK_ENCRYPT 0xe0u
/* The SAs' output mark: a decrypted packet carries exactly this value. */
#define KMESH_MARK_DECRYPT 0xd0u
#define KMESH_MARK_KIND_MASK 0xffu
#define KMESH_MARK_PEER_INDEX_SHIFT 16
#define KMESH_MARK_PEER_INDEX_MASK 0xffff0000u
#define KMESH_PEER_INDEX_MIN 1u
#define KMESH_PEER_INDEX_MAX 0xffffu

/* ---- Maps ----------------------------------------------------------------
 * Both maps are BPF hash maps keyed by struct kmesh_marker_ip_key. */
#define KMESH_MARKER_FAMILY_V4 4 /* same values as kmesh::IpFamily */
#define KMESH_MARKER_FAMILY_V6 6

struct kmesh_marker_ip_key {
  __u8 family; /* KMESH_MARKER_FAMILY_V4 or _V6 */
  __u8 pad[3]; /* always zero */
  /* The address bytes in network order, as they sit in the packet, held in
   * four 32-bit words; IPv4 fills addr[0] and leaves the rest zero. */
  __u32 addr[4];
};

/* Encrypt-target map value: presence is what counts; written as 1. */
typedef __u32 kmesh_encrypt_target_value;
/* Peer map value: the peer index (1..65535); anything else means "unknown". */
typedef __u32 kmesh_peer_value;

/* Map sizes (max_entries), matching kmesh::MemoryMarkerMaps: one peer entry
 * per possible peer index, 1M pod IPs. Both maps are BPF_F_NO_PREALLOC: the
 * kernel holds a bucket array (16 bytes per power-of-two slot: 1 MiB for the
 * peers, 16 MiB for the encrypt targets) plus about 80 bytes per entry
 * actually present. With the IPv4 indexes below (16 MiB and 1 MiB,
 * preallocated) that is 34 MiB fixed plus about 80 bytes per entry, e.g.
 * 42 MiB with 100,000 pod IPs. (BPF map names are cut to 15 characters in
 * the kernel: bpftool shows kmesh_encrypt_t and kmesh_idx_encry.) */
#define KMESH_PEER_MAP_MAX_ENTRIES 65535
#define KMESH_ENCRYPT_TARGET_MAP_MAX_ENTRIES (1 << 20)

/* ---- IPv4 fast index ------------------------------------------------------
 * A BPF hash-map lookup costs 40-50 ns per packet here (jhash, bucket walk,
 * key compare), an array-map lookup a few ns (the verifier inlines it). So
 * each hash map above has a companion array of 64-byte buckets that indexes
 * its IPv4 entries: bucket kmesh_marker_index_bucket_of(address) holds up to
 * seven 64-bit tags (family 4, value, address) and a metadata word. The hash
 * map stays authoritative; the invariant user space keeps is: every IPv4 key
 * of the hash map has its tag in its bucket, or its bucket has the overflow
 * bit set. A lookup that finds the tag is answered from the tag; a miss in a
 * bucket without overflow is a miss; otherwise (and for IPv6) the hash map is
 * asked. Tags are single 64-bit words written with atomic stores through an
 * mmap of the array (BPF_F_MMAPABLE), so a program never sees half a tag.
 * The index changes how a lookup is answered, never the answer: the C++
 * executor (sim/kernel/marker_decision_host.h) asks MemoryMarkerMaps
 * directly. */
#define KMESH_INDEX_SLOTS 7
#define KMESH_INDEX_OVERFLOW 1ull /* in the metadata word */
struct kmesh_marker_index_bucket {
  __u64 slot[KMESH_INDEX_SLOTS]; /* 0: empty */
  __u64 meta;
};
/* Bucket counts (array max_entries), powers of two: about 1.8 slots per
 * entry at full capacity. 16 MiB and 1 MiB, preallocated. */
#define KMESH_ENCRYPT_TARGET_INDEX_BUCKETS (1 << 18)
#define KMESH_PEER_INDEX_BUCKETS (1 << 14)

#define KMESH_INDEX_TAG_V4 (4ull << 56)
#define KMESH_INDEX_VALUE_SHIFT 32
#define KMESH_INDEX_VALUE_MASK (0xffffull << KMESH_INDEX_VALUE_SHIFT)

/* `address` is the address word as it sits in the key (addr[0]). */
KMESH_MARKER_INLINE __u32 kmesh_marker_index_bucket_of(__u32 address,
                                                       __u32 buckets) {
  /* A 32-bit integer mixer (lowbias32): every address bit moves the bucket. */
  __u32 h = address;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h & (buckets - 1);
}

/* The tag of an IPv4 address with a 16-bit value (the peer index; 0 for
 * encrypt targets). Never 0. */
KMESH_MARKER_INLINE __u64 kmesh_marker_index_tag(__u32 address, __u32 value) {
  return KMESH_INDEX_TAG_V4 |
         ((__u64)(value & 0xffffu) << KMESH_INDEX_VALUE_SHIFT) | address;
}

/* Whether `slot` holds `address`, whatever its value. */
KMESH_MARKER_INLINE int kmesh_marker_index_holds(__u64 slot, __u32 address) {
  return (slot & ~KMESH_INDEX_VALUE_MASK) == kmesh_marker_index_tag(address, 0);
}

KMESH_MARKER_INLINE __u32 kmesh_marker_index_value(__u64 slot) {
  return (__u32)((slot & KMESH_INDEX_VALUE_MASK) >> KMESH_INDEX_VALUE_SHIFT);
}

/* What an index bucket says about `address`. */
#define KMESH_INDEX_ABSENT 0  /* not in the hash map either */
#define KMESH_INDEX_FOUND 1   /* *value holds the value */
#define KMESH_INDEX_ASK_MAP 2 /* overflow: the hash map knows */
KMESH_MARKER_INLINE int kmesh_marker_index_find(
    const struct kmesh_marker_index_bucket *bucket, __u32 address,
    __u32 *value) {
  for (int i = 0; i < KMESH_INDEX_SLOTS; ++i) {
    /* One load per slot (user space rewrites slots concurrently). */
    const __u64 slot = *(const volatile __u64 *)&bucket->slot[i];
    if (kmesh_marker_index_holds(slot, address)) {
      *value = kmesh_marker_index_value(slot);
      return KMESH_INDEX_FOUND;
    }
  }
  return (*(const volatile __u64 *)&bucket->meta & KMESH_INDEX_OVERFLOW)
             ? KMESH_INDEX_ASK_MAP
             : KMESH_INDEX_ABSENT;
}

/* ---- Protocol constants --------------------------------------------------*/
#define KMESH_ETH_HLEN 14
#define KMESH_IPV4_HLEN 20
#define KMESH_IPV6_HLEN 40
#define KMESH_IPPROTO_ESP 50

/* Where the IP header of a frame starts and what it is. */
struct kmesh_marker_l3 {
  __u8 family;  /* 0: not IP, or too short for its fixed header */
  __u8 proto;   /* IPv4 protocol / IPv6 Next Header */
  __u16 offset; /* of the IP header from the start of the data */
};

/* ---- Parsing ------------------------------------------------------------*/

/* Four packet bytes at `p`, unchanged in order. eBPF: one load (the verifier
 * accepts it: behind an Ethernet header every address field is 4-byte aligned
 * with NET_IP_ALIGN, and x86-64/arm64 allow unaligned packet loads anyway).
 * C++: memcpy, as the host buffer may have any alignment. */
KMESH_MARKER_INLINE __u32 kmesh_marker_load32(unsigned long p) {
#ifdef __bpf__
  return *(const __u32 *)p;
#else
  __u32 value;
  __builtin_memcpy(&value, (const void *)p, sizeof(value));
  return value;
#endif
}

/* Classifies the IP header that starts `offset` bytes into the data, taking
 * the family from its version nibble (`expect` 0) or requiring `expect`. */
KMESH_MARKER_INLINE struct kmesh_marker_l3 kmesh_marker_parse_ip(
    unsigned long data, unsigned long data_end, __u16 offset, __u8 expect) {
  struct kmesh_marker_l3 l3 = {0, 0, offset};
  if (data + offset + KMESH_IPV4_HLEN > data_end) return l3;
  __u8 version = *(const __u8 *)(data + offset) >> 4;
  if (version == 4 && (expect == 0 || expect == KMESH_MARKER_FAMILY_V4)) {
    /* IHL below 5 is not a valid header. */
    if ((*(const __u8 *)(data + offset) & 0x0f) < 5) return l3;
    l3.family = KMESH_MARKER_FAMILY_V4;
    l3.proto = *(const __u8 *)(data + offset + 9);
    return l3;
  }
  if (version == 6 && (expect == 0 || expect == KMESH_MARKER_FAMILY_V6)) {
    if (data + offset + KMESH_IPV6_HLEN > data_end) return l3;
    l3.family = KMESH_MARKER_FAMILY_V6;
    l3.proto = *(const __u8 *)(data + offset + 6);
  }
  return l3;
}

/* An Ethernet frame: the ethertype selects the family. */
KMESH_MARKER_INLINE struct kmesh_marker_l3 kmesh_marker_parse_frame(
    unsigned long data, unsigned long data_end) {
  struct kmesh_marker_l3 l3 = {0, 0, KMESH_ETH_HLEN};
  if (data + KMESH_ETH_HLEN > data_end) return l3;
  const __u8 *eth = (const __u8 *)data;
  if (eth[12] == 0x08 && eth[13] == 0x00)
    return kmesh_marker_parse_ip(data, data_end, KMESH_ETH_HLEN,
                                 KMESH_MARKER_FAMILY_V4);
  if (eth[12] == 0x86 && eth[13] == 0xdd)
    return kmesh_marker_parse_ip(data, data_end, KMESH_ETH_HLEN,
                                 KMESH_MARKER_FAMILY_V6);
  return l3;
}

/* The map key of the source (`source` nonzero) or destination address of a
 * parsed IP header (l3->family nonzero). */
KMESH_MARKER_INLINE void kmesh_marker_address_key(
    unsigned long data, const struct kmesh_marker_l3 *l3, int source,
    struct kmesh_marker_ip_key *key) {
  __builtin_memset(key, 0, sizeof(*key));
  key->family = l3->family;
  if (l3->family == KMESH_MARKER_FAMILY_V4) {
    key->addr[0] = kmesh_marker_load32(data + l3->offset + (source ? 12 : 16));
  } else {
    unsigned long a = data + l3->offset + (source ? 8 : 24);
    key->addr[0] = kmesh_marker_load32(a);
    key->addr[1] = kmesh_marker_load32(a + 4);
    key->addr[2] = kmesh_marker_load32(a + 8);
    key->addr[3] = kmesh_marker_load32(a + 12);
  }
}

/* ---- Pure mark decisions ------------------------------------------------*/

/* The mark an encrypt-marked packet gets, given whether its destination is
 * an encrypt target. */
KMESH_MARKER_INLINE __u32 kmesh_encrypt_mark(__u32 mark,
                                             int is_encrypt_target) {
  return is_encrypt_target ? KMESH_MARK_ENCRYPT : mark;
}

/* The mark for ESP from the peer with index `peer_index` (1..65535). */
KMESH_MARKER_INLINE __u32 kmesh_decrypt_mark_for_peer(__u32 peer_index) {
  return (peer_index << KMESH_MARK_PEER_INDEX_SHIFT) | KMESH_MARK_DECRYPT;
}

/* The decrypt marker's rules 1-4 (see the top of this file); `peer_index` is
 * what the peer map holds for an ESP packet's source (0 when unknown or not
 * ESP). */
KMESH_MARKER_INLINE __u32 kmesh_decrypt_mark(__u32 mark, int is_esp,
                                             __u32 peer_index) {
  if (is_esp && peer_index >= KMESH_PEER_INDEX_MIN &&
      peer_index <= KMESH_PEER_INDEX_MAX)
    return kmesh_decrypt_mark_for_peer(peer_index);
  if (!is_esp && mark == KMESH_MARK_DECRYPT) return mark;
  if ((mark & KMESH_MARK_KIND_MASK) == KMESH_MARK_DECRYPT) return 0;
  return mark;
}

#endif /* KMESH_BPF_MARKER_DECISION_H_ */

/* ---- Complete markers (the includer supplies the lookups) ---------------
 * Outside the main include guard: a file that included this header for its
 * types may define the lookup macros and include it again. */
#if defined(KMESH_MARKER_IS_ENCRYPT_TARGET) && \
    defined(KMESH_MARKER_PEER_INDEX) &&        \
    !defined(KMESH_BPF_MARKER_DECISION_RUN_)
#define KMESH_BPF_MARKER_DECISION_RUN_

KMESH_MARKER_INLINE __u32
kmesh_encrypt_marker_l3(const void *ctx, unsigned long data,
                        const struct kmesh_marker_l3 *l3, __u32 mark) {
  if (l3->family == 0) return mark;
  struct kmesh_marker_ip_key key;
  kmesh_marker_address_key(data, l3, 0, &key);
  return kmesh_encrypt_mark(mark, KMESH_MARKER_IS_ENCRYPT_TARGET(ctx, &key));
}

KMESH_MARKER_INLINE __u32
kmesh_decrypt_marker_l3(const void *ctx, unsigned long data,
                        const struct kmesh_marker_l3 *l3, __u32 mark) {
  int is_esp = l3->family != 0 && l3->proto == KMESH_IPPROTO_ESP;
  __u32 peer_index = 0;
  if (is_esp) {
    struct kmesh_marker_ip_key key;
    kmesh_marker_address_key(data, l3, 1, &key);
    peer_index = KMESH_MARKER_PEER_INDEX(ctx, &key);
  }
  return kmesh_decrypt_mark(mark, is_esp, peer_index);
}

/* The new mark of an Ethernet frame [data, data_end) that arrived with
 * `mark`. */
KMESH_MARKER_INLINE __u32 kmesh_encrypt_marker_frame(const void *ctx,
                                                     unsigned long data,
                                                     unsigned long data_end,
                                                     __u32 mark) {
  struct kmesh_marker_l3 l3 = kmesh_marker_parse_frame(data, data_end);
  return kmesh_encrypt_marker_l3(ctx, data, &l3, mark);
}

KMESH_MARKER_INLINE __u32 kmesh_decrypt_marker_frame(const void *ctx,
                                                     unsigned long data,
                                                     unsigned long data_end,
                                                     __u32 mark) {
  struct kmesh_marker_l3 l3 = kmesh_marker_parse_frame(data, data_end);
  return kmesh_decrypt_marker_l3(ctx, data, &l3, mark);
}

/* The same for a bare IP packet (no Ethernet header). */
KMESH_MARKER_INLINE __u32 kmesh_encrypt_marker_ip(const void *ctx,
                                                  unsigned long data,
                                                  unsigned long data_end,
                                                  __u32 mark) {
  struct kmesh_marker_l3 l3 = kmesh_marker_parse_ip(data, data_end, 0, 0);
  return kmesh_encrypt_marker_l3(ctx, data, &l3, mark);
}

KMESH_MARKER_INLINE __u32 kmesh_decrypt_marker_ip(const void *ctx,
                                                  unsigned long data,
                                                  unsigned long data_end,
                                                  __u32 mark) {
  struct kmesh_marker_l3 l3 = kmesh_marker_parse_ip(data, data_end, 0, 0);
  return kmesh_decrypt_marker_l3(ctx, data, &l3, mark);
}

#endif /* KMESH_MARKER_IS_ENCRYPT_TARGET && KMESH_MARKER_PEER_INDEX */
