#include "sim/datapath/esp_transform.h"

#include <set>
#include <tuple>

#include "gtest/gtest.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }

XfrmSa Sa(const char* src, const char* dst, uint8_t key_byte, bool esn) {
  XfrmSa sa;
  sa.src = Ip(src);
  sa.dst = Ip(dst);
  sa.spi = 1;
  std::vector<uint8_t> key(36, key_byte);
  sa.aead_key = XfrmKey(key.data(), key.size());
  sa.esn = esn;
  sa.replay_window = esn ? 1024 : 0;
  return sa;
}

std::vector<uint8_t> Inner(const char* src, const char* dst, size_t n) {
  std::vector<uint8_t> payload(n, 0x5a);
  return BuildUdpPacket(Ip(src), Ip(dst), 1000, 2000, payload);
}

TEST(EspTransformTest, RoundTripsBothFamiliesWithAndWithoutEsn) {
  for (bool esn : {false, true}) {
    for (auto [outer_src, outer_dst, in_src, in_dst] :
         {std::tuple{"10.0.0.1", "10.0.0.2", "10.244.1.2", "10.244.2.3"},
          std::tuple{"fd00::1", "fd00::2", "fd00:1::2", "fd00:2::3"},
          std::tuple{"10.0.0.1", "10.0.0.2", "fd00:1::2", "fd00:2::3"}}) {
      auto t = EspTransform::Create(Sa(outer_src, outer_dst, 7, esn));
      ASSERT_TRUE(t.ok()) << t.status();
      const auto inner = Inner(in_src, in_dst, 33);
      const uint64_t seq = esn ? (uint64_t{5} << 32) | 9 : 9;
      auto outer = t->Encapsulate(seq, inner);
      ASSERT_TRUE(outer.ok()) << outer.status();
      auto header = ParseEspHeader(*outer);
      ASSERT_TRUE(header.ok()) << header.status();
      EXPECT_EQ(header->spi, 1u);
      EXPECT_EQ(header->seq_low, 9u);
      EXPECT_EQ(header->outer_src, Ip(outer_src));
      auto back = t->Decapsulate(seq, *outer);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, inner);
      if (esn) {
        // The high bits are authenticated although they are not sent.
        auto wrong_high = t->Decapsulate(9, *outer);
        EXPECT_TRUE(absl::IsDataLoss(wrong_high.status()))
            << wrong_high.status();
      }
    }
  }
}

TEST(EspTransformTest, OverheadIsWhatRfc4303AndRfc4106Give) {
  // Over IPv4: 20 outer + 8 SPI/seq + 8 IV + 0..3 pad + 2 + 16 ICV = 54..57.
  auto v4 = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 1, false));
  auto v6 = EspTransform::Create(Sa("fd00::1", "fd00::2", 1, false));
  ASSERT_TRUE(v4.ok() && v6.ok());
  std::set<size_t> v4_overheads, v6_overheads;
  for (size_t n = 0; n < 4; ++n) {
    const auto inner = Inner("10.244.1.2", "10.244.2.3", 30 + n);
    v4_overheads.insert(v4->Encapsulate(1, inner)->size() - inner.size());
    v6_overheads.insert(v6->Encapsulate(1, inner)->size() - inner.size());
  }
  EXPECT_EQ(v4_overheads, (std::set<size_t>{54, 55, 56, 57}));
  EXPECT_EQ(v6_overheads, (std::set<size_t>{74, 75, 76, 77}));
}

TEST(EspTransformTest, TamperedWrongKeyAndWrongSequenceAreRejected) {
  auto t = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 7, false));
  auto other = EspTransform::Create(Sa("10.0.0.1", "10.0.0.2", 8, false));
  ASSERT_TRUE(t.ok() && other.ok());
  auto outer = *t->Encapsulate(3, Inner("10.244.1.2", "10.244.2.3", 10));
  EXPECT_TRUE(absl::IsDataLoss(other->Decapsulate(3, outer).status()));
  for (size_t i = 28; i < outer.size(); i += 7) {
    auto flipped = outer;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(t->Decapsulate(3, flipped).ok()) << "byte " << i;
  }
  EXPECT_FALSE(t->Decapsulate(4, outer).ok());  // Header says 3.
  auto truncated = outer;
  truncated.resize(40);
  EXPECT_FALSE(t->Decapsulate(3, truncated).ok());
}

TEST(EspTransformTest, RejectsSasItCannotRun) {
  XfrmSa sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  sa.mode = XfrmMode::kTransport;
  EXPECT_FALSE(EspTransform::Create(sa).ok());
  sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  std::vector<uint8_t> short_key(20, 1);
  sa.aead_key = XfrmKey(short_key.data(), short_key.size());
  EXPECT_FALSE(EspTransform::Create(sa).ok());
  sa = Sa("10.0.0.1", "10.0.0.2", 1, false);
  sa.icv_bits = 64;
  EXPECT_FALSE(EspTransform::Create(sa).ok());
}

}  // namespace
}  // namespace kmesh::sim
