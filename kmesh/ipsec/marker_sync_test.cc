#include "kmesh/ipsec/marker_sync.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/memory_marker_maps.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

IpAddress Ip(const std::string& text) { return *IpAddress::Parse(text); }

PeerState Peer(const std::string& name, uint16_t index) {
  PeerState peer;
  peer.view.name = name;
  peer.index = index;
  return peer;
}

TEST(MarkerSyncTest, EntriesFollowThePeersAddresses) {
  MemoryMarkerMaps maps;
  MarkerSync sync(&maps);
  PeerState peer = Peer("node-b", 7);
  EXPECT_EQ(sync.Sync(&peer, {Ip("10.0.0.2"), Ip("fd00::2")}), 0u);
  EXPECT_EQ(maps.LookupPeer(Ip("10.0.0.2")), 7);
  EXPECT_EQ(maps.LookupPeer(Ip("fd00::2")), 7);
  EXPECT_THAT(peer.marked_addresses,
              ElementsAre(Ip("10.0.0.2"), Ip("fd00::2")));

  EXPECT_EQ(sync.Sync(&peer, {Ip("10.0.0.9")}), 0u);  // A new address.
  EXPECT_THAT(*maps.DumpPeers(),
              ElementsAre(PeerMarkerEntry{Ip("10.0.0.9"), 7}));
  EXPECT_EQ(sync.Sync(&peer, {}), 0u);  // Its SAs are gone.
  EXPECT_THAT(*maps.DumpPeers(), IsEmpty());
  EXPECT_THAT(peer.marked_addresses, IsEmpty());
}

TEST(MarkerSyncTest, AFailedEntryIsCountedAndRetriedOnTheNextSync) {
  MemoryMarkerMaps maps(/*max_peers=*/1);
  MarkerSync sync(&maps);
  PeerState b = Peer("node-b", 1);
  PeerState c = Peer("node-c", 2);
  ASSERT_EQ(sync.Sync(&b, {Ip("10.0.0.2")}), 0u);
  EXPECT_EQ(sync.Sync(&c, {Ip("10.0.0.3")}), 1u) << "the map is full";
  EXPECT_THAT(c.marked_addresses, IsEmpty());
  ASSERT_EQ(sync.Sync(&b, {}), 0u);
  EXPECT_EQ(sync.Sync(&c, {Ip("10.0.0.3")}), 0u);
  EXPECT_EQ(maps.LookupPeer(Ip("10.0.0.3")), 2);
}

TEST(MarkerSyncTest, WithoutADecryptMarkerOnlyTheBooksAreKept) {
  MarkerSync sync(nullptr);
  PeerState peer = Peer("node-b", 7);
  EXPECT_EQ(sync.Sync(&peer, {Ip("10.0.0.2")}), 0u);
  EXPECT_THAT(peer.marked_addresses, ElementsAre(Ip("10.0.0.2")));
  EXPECT_EQ(sync.Sync(&peer, {}), 0u);
  EXPECT_THAT(peer.marked_addresses, IsEmpty());
  EXPECT_THAT(sync.Unmark({Ip("10.0.0.2")}), IsEmpty());
  EXPECT_EQ(sync.RemoveStrays({}), 0u);
}

TEST(MarkerSyncTest, UnmarkRemovesADepartedPeersEntriesAndIgnoresAbsentOnes) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 3).ok());
  MarkerSync sync(&maps);
  EXPECT_THAT(sync.Unmark({Ip("10.0.0.2"), Ip("10.0.0.99")}), IsEmpty());
  EXPECT_FALSE(maps.LookupPeer(Ip("10.0.0.2")).has_value());
}

TEST(MarkerSyncTest, StraysAreEntriesNoPeerAccountsFor) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.2"), 1).ok());
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.3"), 2).ok());
  ASSERT_TRUE(maps.UpsertPeer(Ip("10.0.0.4"), 3).ok());  // A previous run's.
  MarkerSync sync(&maps);
  EXPECT_EQ(sync.RemoveStrays({Ip("10.0.0.2"), Ip("10.0.0.3")}), 0u);
  EXPECT_THAT(*maps.DumpPeers(),
              UnorderedElementsAre(PeerMarkerEntry{Ip("10.0.0.2"), 1},
                                   PeerMarkerEntry{Ip("10.0.0.3"), 2}));
}

}  // namespace
}  // namespace kmesh::ipsec
