#include "kmesh/ipsec/marker_sync.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/kernel/memory_marker_maps.h"

namespace kmesh::ipsec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const IpAddress kB4 = *IpAddress::Parse("10.0.0.2");
const IpAddress kB6 = *IpAddress::Parse("fd00::2");
const IpAddress kBMoved = *IpAddress::Parse("10.0.0.9");
const IpAddress kC4 = *IpAddress::Parse("10.0.0.3");
const IpAddress kGone = *IpAddress::Parse("10.0.0.4");

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
  EXPECT_EQ(sync.Sync(&peer, {kB4, kB6}), 0u);
  EXPECT_EQ(maps.LookupPeer(kB4), 7);
  EXPECT_EQ(maps.LookupPeer(kB6), 7);
  EXPECT_THAT(peer.marked_addresses, ElementsAre(kB4, kB6));

  EXPECT_EQ(sync.Sync(&peer, {kBMoved}), 0u);  // A new address.
  EXPECT_THAT(*maps.DumpPeers(), ElementsAre(PeerMarkerEntry{kBMoved, 7}));
  EXPECT_EQ(sync.Sync(&peer, {}), 0u);  // Its SAs are gone.
  EXPECT_THAT(*maps.DumpPeers(), IsEmpty());
  EXPECT_THAT(peer.marked_addresses, IsEmpty());
}

TEST(MarkerSyncTest, AFailedEntryIsCountedAndRetriedOnTheNextSync) {
  MemoryMarkerMaps maps(/*max_peers=*/1);
  MarkerSync sync(&maps);
  PeerState b = Peer("node-b", 1);
  PeerState c = Peer("node-c", 2);
  ASSERT_EQ(sync.Sync(&b, {kB4}), 0u);
  EXPECT_EQ(sync.Sync(&c, {kC4}), 1u) << "the map is full";
  EXPECT_THAT(c.marked_addresses, IsEmpty());
  ASSERT_EQ(sync.Sync(&b, {}), 0u);
  EXPECT_EQ(sync.Sync(&c, {kC4}), 0u);
  EXPECT_EQ(maps.LookupPeer(kC4), 2);
}

TEST(MarkerSyncTest, EncryptCidrsFollowThePeersOutPolicies) {
  MemoryMarkerMaps maps(65535, 1 << 20, /*max_encrypt_cidrs=*/2);
  MarkerSync sync(&maps);
  const IpPrefix b4 = *IpPrefix::Parse("10.244.2.0/24");
  const IpPrefix b6 = *IpPrefix::Parse("fd00:244:2::/64");
  const IpPrefix c4 = *IpPrefix::Parse("10.244.3.0/24");
  PeerState b = Peer("node-b", 1);
  PeerState c = Peer("node-c", 2);
  EXPECT_EQ(sync.SyncEncryptCidrs(&b, {b4, b6}), 0u);
  EXPECT_TRUE(maps.InEncryptCidr(*IpAddress::Parse("10.244.2.77")));
  EXPECT_TRUE(maps.InEncryptCidr(*IpAddress::Parse("fd00:244:2::77")));
  EXPECT_THAT(b.encrypt_cidrs, ElementsAre(b4, b6));
  // The map is full: counted, not remembered, and retried.
  EXPECT_EQ(sync.SyncEncryptCidrs(&c, {c4}), 1u);
  EXPECT_THAT(c.encrypt_cidrs, IsEmpty());
  // B loses its IPv6 out policy (e.g. no IPv6 address any more).
  EXPECT_EQ(sync.SyncEncryptCidrs(&b, {b4}), 0u);
  EXPECT_FALSE(maps.InEncryptCidr(*IpAddress::Parse("fd00:244:2::77")));
  EXPECT_EQ(sync.SyncEncryptCidrs(&c, {c4}), 0u);
  EXPECT_THAT(c.encrypt_cidrs, ElementsAre(c4));
  // C's SAs go; an entry no peer accounts for (a previous run's) goes with
  // RemoveStrayEncryptCidrs.
  EXPECT_EQ(sync.SyncEncryptCidrs(&c, {}), 0u);
  ASSERT_TRUE(maps.UpsertEncryptCidr(b6).ok());
  EXPECT_EQ(sync.RemoveStrayEncryptCidrs({b4}), 0u);
  EXPECT_THAT(*maps.DumpEncryptCidrs(), ElementsAre(b4));
}

TEST(MarkerSyncTest, WithoutADecryptMarkerOnlyTheBooksAreKept) {
  MarkerSync sync(nullptr);
  PeerState peer = Peer("node-b", 7);
  EXPECT_EQ(sync.Sync(&peer, {kB4}), 0u);
  EXPECT_THAT(peer.marked_addresses, ElementsAre(kB4));
  EXPECT_EQ(sync.Sync(&peer, {}), 0u);
  EXPECT_THAT(peer.marked_addresses, IsEmpty());
  EXPECT_THAT(sync.Unmark({kB4}), IsEmpty());
  EXPECT_EQ(sync.RemoveStrays({}), 0u);
}

TEST(MarkerSyncTest, UnmarkRemovesADepartedPeersEntriesAndIgnoresAbsentOnes) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertPeer(kB4, 3).ok());
  MarkerSync sync(&maps);
  EXPECT_THAT(sync.Unmark({kB4, kGone}), IsEmpty());
  EXPECT_FALSE(maps.LookupPeer(kB4).has_value());
}

TEST(MarkerSyncTest, StraysAreEntriesNoPeerAccountsFor) {
  MemoryMarkerMaps maps;
  ASSERT_TRUE(maps.UpsertPeer(kB4, 1).ok());
  ASSERT_TRUE(maps.UpsertPeer(kC4, 2).ok());
  ASSERT_TRUE(maps.UpsertPeer(kGone, 3).ok());  // A previous run's.
  MarkerSync sync(&maps);
  EXPECT_EQ(sync.RemoveStrays({kB4, kC4}), 0u);
  EXPECT_THAT(*maps.DumpPeers(),
              ::testing::UnorderedElementsAre(PeerMarkerEntry{kB4, 1},
                                              PeerMarkerEntry{kC4, 2}));
}

}  // namespace
}  // namespace kmesh::ipsec
