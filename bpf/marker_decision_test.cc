// The mark layout constants and the decrypt mark of marker_decision.h: the
// peer index and the mark kind never overlap, and a peer index the daemon
// never writes gives no mark that could collide with a real peer's.
#include "bpf/marker_decision.h"

#include "gtest/gtest.h"

namespace kmesh {
namespace {

TEST(MarkLayoutTest, PeerIndexAndKindDoNotOverlap) {
  EXPECT_EQ(KMESH_MARK_PEER_INDEX_MASK & KMESH_MARK_KIND_MASK, 0u);
  EXPECT_EQ(KMESH_MARK_ENCRYPT & ~KMESH_MARK_KIND_MASK, 0u);
  EXPECT_EQ(KMESH_MARK_DECRYPT & ~KMESH_MARK_KIND_MASK, 0u);
  EXPECT_NE(KMESH_MARK_ENCRYPT, KMESH_MARK_DECRYPT);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(1), 0x100d0u);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(KMESH_PEER_INDEX_MAX), 0xffff00d0u);
  EXPECT_EQ(kmesh_decrypt_mark_for_peer(KMESH_PEER_INDEX_MAX) &
                KMESH_MARK_PEER_INDEX_MASK,
            KMESH_PEER_INDEX_MAX << KMESH_MARK_PEER_INDEX_SHIFT);
}

TEST(MarkLayoutTest, PeerIndexOutsideItsRangeCountsAsUnknown) {
  // A map value the daemon never writes must not produce a colliding mark.
  EXPECT_EQ(kmesh_decrypt_mark(0x1234, /*is_esp=*/1, 0), 0x1234u);
  EXPECT_EQ(kmesh_decrypt_mark(0x1234, /*is_esp=*/1, 0x10000), 0x1234u);
  EXPECT_EQ(kmesh_decrypt_mark(0xd0, /*is_esp=*/1, 0x10000), 0u);
  EXPECT_EQ(kmesh_decrypt_mark(0, /*is_esp=*/1, 0x10001), 0u);
}

}  // namespace
}  // namespace kmesh
