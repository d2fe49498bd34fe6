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
 * destination address lies in an encrypt CIDR (a pod CIDR of a peer this
 * node has an out policy and SA for) and is not a known-unmanaged pod (an
 * entry of the unmanaged-pod map) gets mark 0xe0; every other packet keeps
 * its mark. Fail-closed: a pod in a peer's CIDR that this node has not heard
 * of yet is encrypted; only pods known to be unmanaged are left in clear.
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
 *   KMESH_MARKER_IN_ENCRYPT_CIDR(ctx, key)    nonzero when `key` lies in an
 *                                              encrypt CIDR
 *   KMESH_MARKER_IS_UNMANAGED(ctx, key)       nonzero when `key` is a known
 *                                              unmanaged pod (only asked for
 *                                              an address in an encrypt CIDR)
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
 * The peer map, the encrypt-CIDR map and the unmanaged-pod map are BPF hash
 * maps keyed by struct kmesh_marker_ip_key. The encrypt-CIDR map is keyed by
 * a CIDR's network address (host bits zero) and holds its prefix length as
 * the value: pod CIDRs are disjoint, so no two CIDRs share a network address.
 * A lookup masks the destination with each prefix length in use (the
 * kmesh_cidr_lens array, below) and asks for an entry with that length. */
#define KMESH_MARKER_FAMILY_V4 4 /* same values as kmesh::IpFamily */
#define KMESH_MARKER_FAMILY_V6 6

struct kmesh_marker_ip_key {
  __u8 family; /* KMESH_MARKER_FAMILY_V4 or _V6 */
  __u8 pad[3]; /* always zero */
  /* The address bytes in network order, as they sit in the packet, held in
   * four 32-bit words; IPv4 fills addr[0] and leaves the rest zero. */
  __u32 addr[4];
};

/* Unmanaged-pod map value: presence is what counts; written as 1. */
typedef __u32 kmesh_unmanaged_value;
/* Encrypt-CIDR map value: the prefix length (1..32 or 1..128). */
typedef __u32 kmesh_encrypt_cidr_value;
/* Peer map value: the peer index (1..65535); anything else means "unknown". */
typedef __u32 kmesh_peer_value;

/* Map sizes (max_entries), matching kmesh::MemoryMarkerMaps: one peer entry
 * per possible peer index, 1M unmanaged pod IPs, 256K encrypt CIDRs. The
 * hash maps are BPF_F_NO_PREALLOC: the kernel holds a bucket array (16 bytes
 * per power-of-two slot: 1 MiB for the peers, 16 MiB for the unmanaged pods,
 * 4 MiB for the CIDRs) plus about 80 bytes per entry actually present; the
 * indexes below are preallocated (see their sizes). (BPF map names are cut
 * to 15 characters in the kernel: bpftool shows kmesh_unmanaged,
 * kmesh_encrypt_c, kmesh_idx_unman, ...) */
#define KMESH_PEER_MAP_MAX_ENTRIES 65535
#define KMESH_UNMANAGED_MAP_MAX_ENTRIES (1 << 20)
/* Pod CIDRs of peers: a few per peer. */
#define KMESH_ENCRYPT_CIDR_MAP_MAX_ENTRIES (1 << 18)

/* ---- Prefix lengths in use -------------------------------------------------
 * The single element of kmesh_cidr_lens: per family one 64-bit word listing
 * the prefix lengths of the encrypt CIDRs, one per byte from the lowest, each
 * stored as length + 1 (0 ends the list). User space replaces a word with
 * one atomic store through an mmap (BPF_F_MMAPABLE), adding a length after
 * its first CIDR is in the map and removing it after its last one is gone.
 * At most KMESH_CIDR_LENGTHS lengths per family (clusters use one or two). */
#define KMESH_CIDR_LENGTHS 4
struct kmesh_marker_cidr_lengths {
  __u64 v4;
  __u64 v6;
};

/* The mask word `i` (0..3) of a prefix of `length` bits, in network order as
 * the key's addr[i] holds it. */
KMESH_MARKER_INLINE __u32 kmesh_marker_prefix_mask(__u32 length, int i) {
  int bits = (int)length - 32 * i;
  if (bits <= 0) return 0;
  __u32 host = bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return __builtin_bswap32(host);
#else
  return host;
#endif
}

/* ---- IPv4 fast index ------------------------------------------------------
 * A BPF hash-map lookup costs 40-50 ns per packet here (jhash, bucket walk,
 * key compare), an array-map lookup a few ns (the verifier inlines it). So
 * each hash map above has a companion array of 64-byte buckets that indexes
 * its IPv4 entries: bucket kmesh_marker_index_bucket_of(address) holds up to
 * seven 64-bit tags (family 4, value, address) and a metadata word. The hash
 * map stays authoritative; the invariant user space keeps is: every IPv4 key
 * of the hash map has its tag in its bucket, or its bucket has the overflow
 * bit set. A lookup that finds the tag is answered from the tag; a miss in a
 * bucket without overflow is a miss; otherwise the hash map is asked. (IPv6
 * keys have an index of their own, below.) Tags are single 64-bit words written
 * with atomic stores through an mmap of the array (BPF_F_MMAPABLE), so a
 * program never sees half a tag. The index changes how a lookup is answered,
 * never the answer: the C++ executor (sim/kernel/marker_decision_host.h) asks
 * MemoryMarkerMaps directly. */
#define KMESH_INDEX_SLOTS 7
#define KMESH_INDEX_OVERFLOW 1ull /* in the metadata word */
struct kmesh_marker_index_bucket {
  __u64 slot[KMESH_INDEX_SLOTS]; /* 0: empty */
  __u64 meta;
};
/* Bucket counts (array max_entries), powers of two: about 1.8 slots per
 * entry at full capacity. 16 MiB, 1 MiB and 1 MiB, preallocated. */
#define KMESH_UNMANAGED_INDEX_BUCKETS (1 << 18)
#define KMESH_PEER_INDEX_BUCKETS (1 << 14)
#define KMESH_ENCRYPT_CIDR_INDEX_BUCKETS (1 << 14)

#define KMESH_INDEX_TAG_V4 (4ull << 56)
#define KMESH_INDEX_VALUE_SHIFT 32
#define KMESH_INDEX_VALUE_MASK (0xffffull << KMESH_INDEX_VALUE_SHIFT)

/* `address` is the address word as it sits in the key (addr[0]). */
KMESH_MARKER_INLINE __u32 kmesh_marker_mix32(__u32 h) {
  /* A 32-bit integer mixer (lowbias32): every input bit moves every output
   * bit. */
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

KMESH_MARKER_INLINE __u32 kmesh_marker_index_bucket_of(__u32 address,
                                                       __u32 buckets) {
  return kmesh_marker_mix32(address) & (buckets - 1);
}

/* The tag of an IPv4 address with a 16-bit value (the peer index; 0 for
 * unmanaged pods, the prefix length for encrypt CIDRs). Never 0. */
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

/* ---- IPv6 fast index ------------------------------------------------------
 * The same scheme for IPv6 keys, in a second array per hash map: 128-byte
 * buckets (kmesh_marker_index6_bucket_of of the four address words) of five
 * entries, three 64-bit words each, and a metadata word (the overflow bit).
 * An IPv6 key does not fit one atomic word, so each word of an entry carries
 * the entry's 8-bit generation in its top byte and 56 bits of the entry:
 *   w0 = gen | addr[0] | (addr[1] & 0xffffff) << 32
 *   w1 = gen | addr[1] >> 24 | addr[2] << 8 | (addr[3] & 0xffff) << 40
 *   w2 = gen | addr[3] >> 16 | value << 16
 * An entry counts only when its three words carry the same nonzero
 * generation. User space writes an entry with three atomic stores, gives a
 * slot's new entry a generation different from the slot's previous one, and
 * clears w0 first when deleting; a program that reads a slot while it
 * changes therefore sees an empty word or two generations and skips the
 * slot: the lookup is answered as before or as after the change, never from
 * a mix of two entries (unless one slot were rewritten 255 times during one
 * lookup). A value change rewrites w2 alone. The invariant is the IPv4
 * index's: every IPv6 key of the hash map is an entry of its bucket, or the
 * bucket's overflow bit is set. */
#define KMESH_INDEX6_ENTRIES 5
struct kmesh_marker_index6_bucket {
  __u64 word[3 * KMESH_INDEX6_ENTRIES]; /* entry i: words 3i..3i+2 */
  __u64 meta;
};
/* 512 KiB for the peers and the CIDRs, 8 MiB for the unmanaged pods. */
#define KMESH_PEER_INDEX6_BUCKETS (1 << 12)
#define KMESH_UNMANAGED_INDEX6_BUCKETS (1 << 16)
#define KMESH_ENCRYPT_CIDR_INDEX6_BUCKETS (1 << 12)

#define KMESH_INDEX6_GEN_SHIFT 56
#define KMESH_INDEX6_GEN_MASK (0xffull << KMESH_INDEX6_GEN_SHIFT)
#define KMESH_INDEX6_DATA_MASK (~KMESH_INDEX6_GEN_MASK)
#define KMESH_INDEX6_VALUE_SHIFT 16
#define KMESH_INDEX6_VALUE_MASK (0xffffull << KMESH_INDEX6_VALUE_SHIFT)

KMESH_MARKER_INLINE __u32 kmesh_marker_index6_bucket_of(const __u32 *addr,
                                                        __u32 buckets) {
  /* One mix of the folded words; rotating addr[2] keeps the two low words,
   * where pod addresses differ, from cancelling each other out. */
  const __u32 folded =
      addr[0] ^ addr[1] ^ ((addr[2] << 16) | (addr[2] >> 16)) ^ addr[3];
  return kmesh_marker_mix32(folded) & (buckets - 1);
}

/* The three words of an entry for `addr` with `value` (16 bits) and
 * generation `gen` (1..255; 0 gives the words without their generation). */
KMESH_MARKER_INLINE void kmesh_marker_index6_words(const __u32 *addr,
                                                   __u32 value, __u32 gen,
                                                   __u64 *words) {
  const __u64 g = (__u64)(gen & 0xff) << KMESH_INDEX6_GEN_SHIFT;
  words[0] = g | addr[0] | ((__u64)(addr[1] & 0xffffffu) << 32);
  words[1] = g | (addr[1] >> 24) | ((__u64)addr[2] << 8) |
             ((__u64)(addr[3] & 0xffffu) << 40);
  words[2] = g | (addr[3] >> 16) |
             ((__u64)(value & 0xffffu) << KMESH_INDEX6_VALUE_SHIFT);
}

/* What an IPv6 index bucket says about `addr` (the key's four words). */
KMESH_MARKER_INLINE int kmesh_marker_index6_find(
    const struct kmesh_marker_index6_bucket *bucket, const __u32 *addr,
    __u32 *value) {
  __u64 want[3];
  kmesh_marker_index6_words(addr, 0, 0, want);
  for (int i = 0; i < KMESH_INDEX6_ENTRIES; ++i) {
    /* One load per word (user space rewrites them concurrently). */
    const __u64 w0 = *(const volatile __u64 *)&bucket->word[3 * i];
    const __u64 gen = w0 & KMESH_INDEX6_GEN_MASK;
    if (gen == 0 || (w0 & KMESH_INDEX6_DATA_MASK) != want[0]) continue;
    const __u64 w1 = *(const volatile __u64 *)&bucket->word[3 * i + 1];
    if (w1 != (gen | want[1])) continue;
    const __u64 w2 = *(const volatile __u64 *)&bucket->word[3 * i + 2];
    if ((w2 & ~KMESH_INDEX6_VALUE_MASK) != (gen | want[2])) continue;
    *value =
        (__u32)((w2 & KMESH_INDEX6_VALUE_MASK) >> KMESH_INDEX6_VALUE_SHIFT);
    return KMESH_INDEX_FOUND;
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

/* The mark a packet from a managed pod gets, given whether its destination
 * is to be encrypted (in an encrypt CIDR and not a known unmanaged pod). */
KMESH_MARKER_INLINE __u32 kmesh_encrypt_mark(__u32 mark, int encrypt) {
  return encrypt ? KMESH_MARK_ENCRYPT : mark;
}

/* The network address of `key` under a prefix of `length` bits. */
KMESH_MARKER_INLINE void kmesh_marker_mask_key(
    const struct kmesh_marker_ip_key *key, __u32 length,
    struct kmesh_marker_ip_key *network) {
  __builtin_memset(network, 0, sizeof(*network));
  network->family = key->family;
  network->addr[0] = key->addr[0] & kmesh_marker_prefix_mask(length, 0);
  network->addr[1] = key->addr[1] & kmesh_marker_prefix_mask(length, 1);
  network->addr[2] = key->addr[2] & kmesh_marker_prefix_mask(length, 2);
  network->addr[3] = key->addr[3] & kmesh_marker_prefix_mask(length, 3);
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
#if defined(KMESH_MARKER_IN_ENCRYPT_CIDR) &&                                  \
    defined(KMESH_MARKER_IS_UNMANAGED) && defined(KMESH_MARKER_PEER_INDEX) && \
    !defined(KMESH_BPF_MARKER_DECISION_RUN_)
#define KMESH_BPF_MARKER_DECISION_RUN_

KMESH_MARKER_INLINE __u32
kmesh_encrypt_marker_l3(const void *ctx, unsigned long data,
                        const struct kmesh_marker_l3 *l3, __u32 mark) {
  if (l3->family == 0) return mark;
  struct kmesh_marker_ip_key key;
  kmesh_marker_address_key(data, l3, 0, &key);
  int encrypt = KMESH_MARKER_IN_ENCRYPT_CIDR(ctx, &key) &&
                !KMESH_MARKER_IS_UNMANAGED(ctx, &key);
  return kmesh_encrypt_mark(mark, encrypt);
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

#endif /* KMESH_MARKER_IN_ENCRYPT_CIDR && ... && KMESH_MARKER_PEER_INDEX */
