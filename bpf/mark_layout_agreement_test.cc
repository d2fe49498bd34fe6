// The marks the eBPF markers set (bpf/marker_decision.h) against the marks
// the XFRM layout matches (kmesh/ipsec/xfrm_layout.h): the two are written in
// different components, and a disagreement would silently send traffic in
// clear or drop it, so this checks every peer index end to end: ESP from peer
// i gets a mark only inbound SA i matches; the SA's output mark turns it into
// the decrypted mark, which the decrypt marker keeps on the inner packet and
// the in/fwd policies match; forged marks the marker clears match nothing;
// the encrypt mark matches the out and block policies.
#include "bpf/marker_decision.h"
#include "gtest/gtest.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh {
namespace {

using ::kmesh::ipsec::InboundSaMark;
using ::kmesh::ipsec::kDecryptedMark;
using ::kmesh::ipsec::kEncryptMark;
using ::kmesh::ipsec::kInboundOutputMark;
using ::kmesh::ipsec::PeerIndexFromInboundMark;

static_assert(ipsec::kEncryptMarkValue == KMESH_MARK_ENCRYPT);
static_assert(ipsec::kDecryptMarkValue == KMESH_MARK_DECRYPT);
static_assert(ipsec::kMarkTypeMask == KMESH_MARK_KIND_MASK);
static_assert(ipsec::kPeerIndexShift == KMESH_MARK_PEER_INDEX_SHIFT);
static_assert(ipsec::kMaxPeerIndex == KMESH_PEER_INDEX_MAX);

// What the kernel does with an SA's output mark (xfrm_smark_get).
uint32_t ApplyOutputMark(uint32_t mark, const XfrmMark& output) {
  return (mark & ~output.mask) | (output.value & output.mask);
}

TEST(MarkLayoutAgreementTest, EveryPeerIndexRoundTripsThroughItsInboundSa) {
  for (uint32_t index = KMESH_PEER_INDEX_MIN; index <= KMESH_PEER_INDEX_MAX;
       ++index) {
    const uint32_t esp_mark = kmesh_decrypt_mark(0, /*is_esp=*/1, index);
    const XfrmMark sa = InboundSaMark(static_cast<uint16_t>(index));
    ASSERT_TRUE(sa.Matches(esp_mark)) << index;
    ASSERT_EQ(PeerIndexFromInboundMark(sa), index);
    // Neighbouring peers' SAs do not match.
    if (index > KMESH_PEER_INDEX_MIN) {
      ASSERT_FALSE(InboundSaMark(index - 1).Matches(esp_mark)) << index;
    }
    // After decryption: exactly the decrypted mark, kept by the marker on
    // the inner packet, matched by the in/fwd policies.
    const uint32_t decrypted = ApplyOutputMark(esp_mark, kInboundOutputMark);
    ASSERT_EQ(decrypted, KMESH_MARK_DECRYPT) << index;
    ASSERT_EQ(kmesh_decrypt_mark(decrypted, /*is_esp=*/0, 0), decrypted);
    ASSERT_TRUE(kDecryptedMark.Matches(decrypted));
    // The same indexed mark on a non-ESP packet is cleared: it then matches
    // neither the SA nor the decrypted-traffic policies.
    const uint32_t forged = kmesh_decrypt_mark(esp_mark, /*is_esp=*/0, 0);
    ASSERT_FALSE(sa.Matches(forged));
    ASSERT_FALSE(kDecryptedMark.Matches(forged));
  }
}

TEST(MarkLayoutAgreementTest, EncryptMarkMatchesTheOutPoliciesOnly) {
  const uint32_t marked = kmesh_encrypt_mark(0x1234, /*encrypt=*/1);
  EXPECT_TRUE(kEncryptMark.Matches(marked));
  EXPECT_FALSE(kDecryptedMark.Matches(marked));
  EXPECT_FALSE(InboundSaMark(1).Matches(marked));
  EXPECT_FALSE(kEncryptMark.Matches(kmesh_encrypt_mark(0, 0)));
}

}  // namespace
}  // namespace kmesh
