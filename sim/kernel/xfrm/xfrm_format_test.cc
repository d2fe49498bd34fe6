#include "sim/kernel/xfrm/xfrm_format.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/replay_window.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Cidr;
using ::kmesh::testing::kDecrypted;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Sa;

TEST(XfrmFormatTest, StatePrintsLikeIpXfrmStateWithoutItsKey) {
  XfrmSa sa = Sa("10.0.0.3", "10.0.0.1", 1, {0x1d0, 0xffff});
  sa.output_mark = {0xd0, 0xffffffff};
  sa.aead_key = ::kmesh::testing::KeyOfSize(36, 0xc3);
  EXPECT_EQ(FormatIpXfrmState(sa, ReplayWindow(0, false), 0),
            "src 10.0.0.3 dst 10.0.0.1\n"
            "\tproto esp spi 0x00000001 reqid 1 mode tunnel\n"
            "\treplay-window 0\n"
            "\tmark 0x1d0/0xffff\n"
            "\toutput-mark 0xd0/0xffffffff\n"
            "\taead rfc4106(gcm(aes)) <hidden> 128\n"
            "\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000\n"
            "\tsel src 0.0.0.0/0 dst 0.0.0.0/0\n");
}

TEST(XfrmFormatTest, EsnStatePrintsItsFlagAndBitmapWithoutItsKey) {
  XfrmSa esn = Sa("10.0.0.4", "10.0.0.1", 2);
  esn.esn = true;
  esn.replay_window = 64;
  esn.aead_key = ::kmesh::testing::KeyOfSize(36, 0xc3);
  const std::string text = FormatIpXfrmState(esn, ReplayWindow(64, true), 0);
  EXPECT_TRUE(absl::StrContains(text, "\treplay-window 0 flag esn\n\taead"))
      << text;
  EXPECT_FALSE(absl::StrContains(text, "c3c3")) << text;
  EXPECT_TRUE(absl::StrContains(text,
                                "\t replay_window 64, bitmap-length 2\n"
                                "\t 00000000 00000000\n"))
      << text;
}

TEST(XfrmFormatTest, PoliciesPrintLikeIpXfrmPolicy) {
  EXPECT_EQ(FormatIpXfrmPolicy(
                Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", kDecrypted,
                       7, {::kmesh::testing::Tmpl("10.0.0.3", "10.0.0.1")})),
            "src 0.0.0.0/0 dst 10.244.0.0/24\n"
            "\tdir in priority 7 ptype main\n"
            "\tmark 0xd0/0xffffffff\n"
            "\ttmpl src 10.0.0.3 dst 10.0.0.1\n"
            "\t\tproto esp reqid 1 mode tunnel\n");
  XfrmPolicy block = Policy(XfrmDir::kOut, "10.0.0.0/8", "10.244.0.0/24",
                            ::kmesh::testing::kNoMark);
  block.action = XfrmAction::kBlock;
  EXPECT_EQ(FormatIpXfrmPolicy(block),
            "src 10.0.0.0/8 dst 10.244.0.0/24\n"
            "\tdir out action block priority 0 ptype main\n");
}

TEST(XfrmFormatTest, IdentitiesNameWhatTheKernelComparesThemBy) {
  EXPECT_EQ(SaIdText(::kmesh::testing::Ip("10.0.0.1"), 1, kIpProtoEsp,
                     {0x1d0, 0xffff}),
            "dst 10.0.0.1 spi 0x00000001 proto esp mark 0x1d0/0xffff");
  XfrmPolicyId id{XfrmDir::kFwd,
                  {Cidr("10.244.1.0/24"), Cidr("10.244.0.0/24")},
                  kDecrypted};
  id.selector.proto = 6;
  EXPECT_EQ(PolicyIdText(id),
            "dir fwd src 10.244.1.0/24 dst 10.244.0.0/24 proto tcp mark "
            "0xd0/0xffffffff");
}

}  // namespace
}  // namespace kmesh::sim
