#include "sim/kernel/xfrm/sa_table.h"

#include <cerrno>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/kernel_error_assertions.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::Sa;
using ::kmesh::testing::Tmpl;
using testing::IsKernelError;

// The table's SAs, newest first.
std::vector<XfrmSa> Listed(const SaTable& t) {
  std::vector<XfrmSa> sas;
  t.VisitNewestFirst([&sas](const SaTable::Entry& e) { sas.push_back(e.sa); });
  return sas;
}

// --- Identity ------------------------------------------------------------

TEST(SaTableTest, DuplicateUnmarkedSaIsAlreadyExists) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  // A different source does not make it a different SA.
  EXPECT_TRUE(IsKernelError(t.Add(Sa("10.0.0.3", "10.0.0.1", 1)), EEXIST));
  EXPECT_EQ(t.size(), 1u);
}

TEST(SaTableTest, MarkedSaAfterUnmarkedOneCollides) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  // (0x1d0 & 0xffffffff) & 0 == 0: the unmarked SA matches any mark.
  EXPECT_TRUE(IsKernelError(
      t.Add(Sa("10.0.0.3", "10.0.0.1", 1, {0x1d0, 0xffffffff})), EEXIST));
}

TEST(SaTableTest, UnmarkedSaAfterMarkedOneIsAcceptedAsOnLinux) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 2, {0x1d0, 0xffffffff})).ok());
  // (0 & 0) & 0xffffffff != 0x1d0: Linux's check is one-sided.
  EXPECT_TRUE(t.Add(Sa("10.0.0.3", "10.0.0.1", 2)).ok());
  EXPECT_EQ(t.size(), 2u);
}

TEST(SaTableTest, DistinctMarksUnderOneMaskCoexist) {
  SaTable t;
  EXPECT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 3, {0x1d0, 0xffff})).ok());
  EXPECT_TRUE(t.Add(Sa("10.0.0.3", "10.0.0.1", 3, {0x2d0, 0xffff})).ok());
  EXPECT_TRUE(IsKernelError(
      t.Add(Sa("10.0.0.4", "10.0.0.1", 3, {0x2d0, 0xffff})), EEXIST));
  EXPECT_EQ(t.size(), 2u);
}

TEST(SaTableTest, SameSpiToDifferentDestinationsCoexist) {
  SaTable t;
  EXPECT_TRUE(t.Add(Sa("10.0.0.1", "10.0.0.2", 1)).ok());
  EXPECT_TRUE(t.Add(Sa("10.0.0.1", "10.0.0.3", 1)).ok());
  EXPECT_TRUE(t.Add(Sa("fd00::1", "fd00::2", 1)).ok());
}

// Linux keeps an SA's mark value ANDed with its mask: bits outside the mask
// are dropped when the SA is added, as a real dump shows (checked in the VM,
// e2e/vm/netlink_esp_sa_test.cc).
TEST(SaTableTest, MarkValueIsStoredUnderItsMask) {
  SaTable t;
  const XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1, {0x10d0, 0xffff00ff});
  ASSERT_TRUE(t.Add(sa).ok());
  ASSERT_EQ(Listed(t).size(), 1u);
  EXPECT_EQ(Listed(t)[0].mark, (XfrmMark{0xd0, 0xffff00ff}));
  EXPECT_NE(t.Lookup(sa.dst, 1, kIpProtoEsp, 0xd0), nullptr);
}

// --- Inbound lookup ------------------------------------------------------

TEST(SaTableTest, InboundLookupPicksTheSaByPacketMark) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  ASSERT_TRUE(t.Add(Sa("10.0.0.3", "10.0.0.1", 1, {0x2d0, 0xffff})).ok());
  const SaTable::Entry* b = t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  const SaTable::Entry* c =
      t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0xabcd02d0);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(b->sa.src, Ip("10.0.0.2"));
  EXPECT_EQ(c->sa.src, Ip("10.0.0.3"));
  EXPECT_NE(b->handle, c->handle);
  EXPECT_EQ(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x3d0), nullptr);
  EXPECT_EQ(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0), nullptr);
  EXPECT_EQ(t.Lookup(Ip("10.0.0.1"), 2, kIpProtoEsp, 0x1d0), nullptr);
  EXPECT_EQ(t.Lookup(Ip("10.0.0.9"), 1, kIpProtoEsp, 0x1d0), nullptr);
}

TEST(SaTableTest, UnmarkedSaMatchesAnyPacketMark) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  EXPECT_NE(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0), nullptr);
  EXPECT_NE(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x12345678), nullptr);
}

TEST(SaTableTest, NewestSaWinsWhenSeveralMatch) {
  SaTable t;
  XfrmSa older = Sa("10.0.0.2", "10.0.0.1", 4, {0x10, 0xf0});
  older.reqid = 11;
  XfrmSa newer = Sa("10.0.0.3", "10.0.0.1", 4, {0x1, 0x0f});
  newer.reqid = 22;
  ASSERT_TRUE(t.Add(older).ok());
  ASSERT_TRUE(t.Add(newer).ok());
  // Linux 6.1: `ip xfrm state get ... mark 0x11` returns reqid 22.
  const SaTable::Entry* both = t.Lookup(Ip("10.0.0.1"), 4, kIpProtoEsp, 0x11);
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->sa.reqid, 22u);
  const SaTable::Entry* only_older =
      t.Lookup(Ip("10.0.0.1"), 4, kIpProtoEsp, 0x10);
  ASSERT_NE(only_older, nullptr);
  EXPECT_EQ(only_older->sa.reqid, 11u);
}

// --- Update and delete ---------------------------------------------------

TEST(SaTableTest, UpdateOfAbsentSaIsNotFound) {
  SaTable t;
  EXPECT_TRUE(IsKernelError(t.Update(Sa("10.0.0.2", "10.0.0.9", 7)), ESRCH));
}

TEST(SaTableTest, DeleteOfAbsentSaIsNotFound) {
  SaTable t;
  EXPECT_TRUE(
      IsKernelError(t.Delete(XfrmSaId{Ip("10.0.0.9"), 7, kIpProtoEsp}), ESRCH));
}

TEST(SaTableTest, DeleteWithoutMarkDoesNotFindMarkedSa) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 3, {0x1d0, 0xffff})).ok());
  EXPECT_TRUE(IsKernelError(t.Delete(XfrmSaId{Ip("10.0.0.1"), 3, kIpProtoEsp,
                                              ::kmesh::testing::kNoMark}),
                            ESRCH));
  EXPECT_TRUE(
      t.Delete(XfrmSaId{Ip("10.0.0.1"), 3, kIpProtoEsp, {0x1d0, 0xffff}}).ok());
  EXPECT_EQ(t.size(), 0u);
}

TEST(SaTableTest, DeleteRemovesOnlyTheMatchingSaAndKillsItsHandle) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  ASSERT_TRUE(t.Add(Sa("10.0.0.3", "10.0.0.1", 1, {0x2d0, 0xffff})).ok());
  const SaTable::Entry* b = t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  ASSERT_NE(b, nullptr);
  const SaHandle handle{b->handle};
  ASSERT_TRUE(t.Find(handle).ok());
  ASSERT_TRUE(t.Delete(b->sa.id()).ok());
  EXPECT_EQ(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0), nullptr);
  EXPECT_NE(t.Lookup(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x2d0), nullptr);
  EXPECT_TRUE(absl::IsNotFound(t.Find(handle).status()));
}

TEST(SaTableTest, UpdateChangesOnlyTheOutputMarkAsLinuxDoes) {
  SaTable t;
  XfrmSa original = Sa("10.0.0.2", "10.0.0.5", 8);
  original.output_mark = {0xd0, 0xffffffff};
  ASSERT_TRUE(t.Add(original).ok());
  XfrmSa update = original;
  update.src = Ip("10.0.0.7");
  update.reqid = 5;
  update.aead_key = ::kmesh::testing::KeyOfSize(36, 0x77);
  update.icv_bits = 96;
  update.replay_window = 32;
  update.output_mark = {0xe0, 0xffffffff};
  ASSERT_TRUE(t.Update(update).ok());
  ASSERT_EQ(Listed(t).size(), 1u);
  const XfrmSa now = Listed(t)[0];
  EXPECT_EQ(now.output_mark, (XfrmMark{0xe0, 0xffffffff}));
  EXPECT_TRUE(now.aead_key == original.aead_key);
  EXPECT_EQ(now.src, original.src);
  EXPECT_EQ(now.reqid, 1u);
  EXPECT_EQ(now.icv_bits, 128u);
  EXPECT_EQ(now.replay_window, 0u);
  // An update without an output mark leaves the current one.
  update.output_mark = {};
  ASSERT_TRUE(t.Update(update).ok());
  EXPECT_EQ(Listed(t)[0].output_mark, (XfrmMark{0xe0, 0xffffffff}));
}

// --- Outbound selection ---------------------------------------------------

TEST(SaTableTest, OutboundSaIsSelectedByTemplateAndMark) {
  SaTable t;
  ASSERT_TRUE(t.Add(Sa("10.0.0.1", "10.0.0.2", 1, {0xe0, 0xff})).ok());
  ASSERT_TRUE(t.Add(Sa("10.0.0.1", "10.0.0.2", 2, {0xe0, 0xff})).ok());
  ASSERT_TRUE(t.Add(Sa("10.0.0.1", "10.0.0.3", 1, {0xe0, 0xff})).ok());
  const IpAddress pod_a = Ip("10.244.0.5");
  const IpAddress pod_b = Ip("10.244.1.5");
  auto find = [&](const XfrmTemplate& tmpl, uint32_t mark) {
    return t.FindOutbound(tmpl, pod_a, pod_b, mark, kIpProtoAny);
  };
  // SPI pinned by the template.
  const SaTable::Entry* spi1 = find(Tmpl("10.0.0.1", "10.0.0.2", 1, 1), 0xe0);
  ASSERT_NE(spi1, nullptr);
  EXPECT_EQ(spi1->sa.spi, 1u);
  // Any SPI: the newest SA.
  const SaTable::Entry* any = find(Tmpl("10.0.0.1", "10.0.0.2"), 0xe0);
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(any->sa.spi, 2u);
  // Wildcard template source.
  const SaTable::Entry* wild = find(Tmpl("0.0.0.0", "10.0.0.3"), 0xe0);
  ASSERT_NE(wild, nullptr);
  EXPECT_EQ(wild->sa.dst, Ip("10.0.0.3"));
  // Mark, reqid (compared exactly, 0 included) and addresses all count.
  EXPECT_EQ(find(Tmpl("10.0.0.1", "10.0.0.2"), 0), nullptr);
  EXPECT_EQ(find(Tmpl("10.0.0.1", "10.0.0.2", 0), 0xe0), nullptr);
  EXPECT_EQ(find(Tmpl("10.0.0.9", "10.0.0.2"), 0xe0), nullptr);
  EXPECT_EQ(find(Tmpl("10.0.0.1", "10.0.0.2", 1, 3), 0xe0), nullptr);
  XfrmTemplate transport = Tmpl("10.0.0.1", "10.0.0.2");
  transport.mode = XfrmMode::kTransport;
  EXPECT_EQ(find(transport, 0xe0), nullptr);
}

TEST(SaTableTest, OutboundSaSelectorMustMatchThePacket) {
  SaTable t;
  XfrmSa sa = Sa("10.0.0.1", "10.0.0.2", 1);
  sa.selector.src = ::kmesh::testing::Cidr("10.244.0.0/24");
  sa.selector.dst = ::kmesh::testing::Cidr("10.244.1.0/24");
  ASSERT_TRUE(t.Add(sa).ok());
  const XfrmTemplate tmpl = Tmpl("10.0.0.1", "10.0.0.2");
  EXPECT_NE(
      t.FindOutbound(tmpl, Ip("10.244.0.5"), Ip("10.244.1.5"), 0, kIpProtoAny),
      nullptr);
  EXPECT_EQ(
      t.FindOutbound(tmpl, Ip("10.244.0.5"), Ip("10.244.2.5"), 0, kIpProtoAny),
      nullptr);
}

}  // namespace
}  // namespace kmesh::sim
