#include "sim/net/ip_fragments.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;

std::vector<uint8_t> Packet(size_t total, bool df = false) {
  std::vector<uint8_t> payload(total - 20);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = i * 7;
  auto p = BuildIpPacket(Ip("172.18.0.2"), Ip("172.18.0.3"), 50, payload, 77);
  SetDontFragment(p, df);
  return p;
}

TEST(IpFragmentsTest, FragmentsFitTheMtuOnEightByteBoundariesAsLinuxCutsThem) {
  // A 1,574-byte ESP packet on a 1,500 link: 1,480 + 74 bytes of data.
  auto fragments = FragmentIpv4(Packet(1574), 1500);
  ASSERT_TRUE(fragments.ok()) << fragments.status();
  ASSERT_EQ(fragments->size(), 2u);
  auto first = ParseIpHeader((*fragments)[0]);
  auto last = ParseIpHeader((*fragments)[1]);
  ASSERT_TRUE(first.ok() && last.ok());
  EXPECT_EQ((*fragments)[0].size(), 1500u);
  EXPECT_TRUE(first->more_fragments);
  EXPECT_EQ(first->fragment_offset, 0u);
  EXPECT_EQ(last->fragment_offset, 1480u);
  EXPECT_FALSE(last->more_fragments);
  EXPECT_EQ((*fragments)[1].size(), 20u + 74);
  EXPECT_EQ(first->id, 77);
  EXPECT_EQ(last->id, 77);
  EXPECT_EQ(last->proto, 50);
  // An MTU that is not 20 + a multiple of 8: data still cut at multiples.
  auto odd = FragmentIpv4(Packet(1000), 503);
  ASSERT_TRUE(odd.ok());
  for (size_t i = 0; i + 1 < odd->size(); ++i) {
    EXPECT_EQ(((*odd)[i].size() - 20) % 8, 0u);
    EXPECT_LE((*odd)[i].size(), 503u);
  }
}

TEST(IpFragmentsTest, DontFragmentAndImpossibleMtusAreRefused) {
  EXPECT_TRUE(absl::IsFailedPrecondition(
      FragmentIpv4(Packet(1574, true), 1500).status()));
  EXPECT_TRUE(
      absl::IsFailedPrecondition(FragmentIpv4(Packet(1574), 27).status()));
  auto whole = FragmentIpv4(Packet(1500, true), 1500);  // Fits: untouched.
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, std::vector<std::vector<uint8_t>>{Packet(1500, true)});
}

TEST(IpFragmentsTest, ReassemblesInAnyOrderAndOnlyWhenWhole) {
  const auto original = Packet(4000);
  auto fragments = FragmentIpv4(original, 1000);
  ASSERT_TRUE(fragments.ok());
  ASSERT_EQ(fragments->size(), 5u);
  std::mt19937 rng(1);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(fragments->begin(), fragments->end(), rng);
    Ipv4Reassembler r;
    for (size_t i = 0; i < fragments->size(); ++i) {
      auto result = r.Add((*fragments)[i]);
      ASSERT_TRUE(result.ok()) << result.status();
      if (i + 1 < fragments->size()) {
        EXPECT_FALSE(result->packet.has_value());
      } else {
        ASSERT_TRUE(result->packet.has_value());
        EXPECT_EQ(*result->packet, original);
        EXPECT_EQ(r.pending(), 0u);
      }
    }
  }
}

TEST(IpFragmentsTest, IncompletePacketsTimeOutAndAreCountedAsFailures) {
  auto fragments = FragmentIpv4(Packet(3000), 1500);
  ASSERT_TRUE(fragments.ok());
  Ipv4Reassembler r;
  const auto t0 = Ipv4Reassembler::Clock::now();
  auto first = r.Add((*fragments)[0], t0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(r.pending(), 1u);
  // The rest arrives too late: the old queue is dropped, a new one starts.
  auto late = r.Add((*fragments)[1], t0 + std::chrono::seconds(31));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->failed, 1u);
  EXPECT_FALSE(late->packet.has_value());
  // Not a fragment at all.
  EXPECT_FALSE(r.Add(Packet(100)).ok());
}

}  // namespace
}  // namespace kmesh::sim
