// The daemon's XFRM layout through NetlinkXfrm against a kernel that has ESP
// (Debian's kernel in the e2e VM; this machine's own kernel refuses ESP SAs).
// Every SA and policy shape that XfrmLayout emits for a peer (inbound SAs with
// the peer-index mark and output mark, the outbound SA with the encrypt mark,
// replay window 1024 with ESN, reqid kKmeshReqid, tunnel mode, in/fwd/out
// policies and the catch-all block policies, IPv4 and IPv6) is added, dumped
// back, compared field by field and with `ip -s xfrm state`, duplicated,
// updated and deleted; then XfrmProgrammer reconciles a full SPI rotation
// against the kernel and leaves a foreign SA alone.
//
// The whole process moves into a private network namespace first, so nothing
// touches the host's tables. Without ESP in the kernel the tests skip with
// the reason, unless KMESH_VM_EXPECT_ESP=1 (set inside the VM), where a
// refused ESP SA is a failure. Needs root.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "e2e/vm/kernel_test_env.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/ipsec/xfrm_programmer.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh {
namespace {

using ::kmesh::ipsec::KeyRing;
using ::kmesh::ipsec::NodeView;
using ::kmesh::ipsec::XfrmObjects;
using ::kmesh::linux_backend::NetlinkXfrm;

std::string Hex(const XfrmKey& key) {
  std::string s = "0x";
  for (size_t i = 0; i < key.size(); ++i) {
    absl::StrAppend(&s, absl::StrFormat("%02x", key.data()[i]));
  }
  return s;
}

class NetlinkEspSaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A fresh network namespace per test: nothing of another test's state.
    if (absl::Status s = linux_backend::testing::EnterNewNetworkNamespace();
        !s.ok()) {
      GTEST_SKIP() << s;
    }
    auto x = NetlinkXfrm::Open();
    ASSERT_TRUE(x.ok()) << x.status();
    xfrm_ = *std::move(x);

    self_ = ipsec::MakeNodeView("node-a", {"192.168.100.1", "fd00:100::1"},
                                ipsec::TestBootId(1),
                                {"10.244.1.0/24", "fd00:244:1::/64"});
    peer_ = ipsec::MakeNodeView("node-b", {"192.168.100.2", "fd00:100::2"},
                                ipsec::TestBootId(2),
                                {"10.244.2.0/24", "fd00:244:2::/64"});
    keys_.Install(1, ipsec::TestPsk(1));
    keys_.Install(2, ipsec::TestPsk(2));
    keys_.SetCurrent(1);

    // Does this kernel take an ESP SA at all?
    XfrmObjects probe = Layout({1}, 1);
    const absl::Status s = xfrm_->AddSa(probe.sas.front());
    if (!s.ok()) {
      if (e2e::EspRequired()) {
        FAIL() << "ESP SA refused on a kernel that must have ESP: " << s;
      }
      GTEST_SKIP() << "this kernel has no ESP (" << s
                   << "); e2e/vm runs this test under a Debian kernel";
    }
    ASSERT_TRUE(xfrm_->DeleteSa(probe.sas.front().id()).ok());
  }

  // The daemon's layout on node-a for peer node-b (peer index 3).
  XfrmObjects Layout(std::vector<int32_t> inbound_spis, int32_t outbound_spi) {
    return ipsec::PeerObjects(self_, peer_, kPeerIndex, keys_,
                              std::move(inbound_spis), outbound_spi);
  }

  static constexpr uint16_t kPeerIndex = 3;
  std::unique_ptr<NetlinkXfrm> xfrm_;
  NodeView self_;
  NodeView peer_;
  KeyRing keys_;
};

TEST_F(NetlinkEspSaTest, EveryLayoutShapeRoundTripsThroughTheKernel) {
  XfrmObjects want = Layout({1}, 1);
  const XfrmObjects block = ipsec::LayoutCatchAll();
  want.policies.insert(want.policies.end(), block.policies.begin(),
                       block.policies.end());
  // Two families: inbound + outbound SA each; in/fwd + out per family + 2
  // block policies.
  ASSERT_EQ(want.sas.size(), 4u);
  ASSERT_EQ(want.policies.size(), 8u);
  for (const XfrmSa& sa : want.sas) {
    ASSERT_TRUE(xfrm_->AddSa(sa).ok()) << ipsec::DescribeSa(sa);
  }
  for (const XfrmPolicy& p : want.policies) {
    ASSERT_TRUE(xfrm_->AddPolicy(p).ok()) << ipsec::DescribePolicy(p);
  }

  auto sas = xfrm_->DumpSas();
  ASSERT_TRUE(sas.ok()) << sas.status();
  ASSERT_EQ(sas->size(), want.sas.size());
  for (const XfrmSa& w : want.sas) {
    int found = 0;
    for (const XfrmSa& got : *sas) found += ipsec::SameSa(w, got) ? 1 : 0;
    EXPECT_EQ(found, 1) << "not dumped back identically: "
                        << ipsec::DescribeSa(w);
  }
  auto policies = xfrm_->DumpPolicies();
  ASSERT_TRUE(policies.ok()) << policies.status();
  ASSERT_EQ(policies->size(), want.policies.size());
  for (const XfrmPolicy& w : want.policies) {
    int found = 0;
    for (const XfrmPolicy& got : *policies) {
      found += ipsec::SamePolicy(w, got) ? 1 : 0;
    }
    EXPECT_EQ(found, 1) << "not dumped back identically: "
                        << ipsec::DescribePolicy(w);
  }

  // What iproute2 reads from the kernel agrees, shape by shape.
  const std::string states = e2e::RunIp("-s xfrm state");
  const std::string reqid = absl::StrCat("reqid ", ipsec::kKmeshReqid);
  for (const XfrmSa& sa : want.sas) {
    const std::string head = absl::StrCat(
        "src ", sa.src.ToString(), " dst ", sa.dst.ToString(),
        absl::StrFormat("\n\tproto esp spi 0x%08x(%u) ", sa.spi, sa.spi), reqid,
        absl::StrFormat("(0x%08x)", ipsec::kKmeshReqid), " mode tunnel");
    const size_t at = states.find(head);
    ASSERT_NE(at, std::string::npos) << head << "\nin:\n" << states;
    const size_t end = states.find("\nsrc ", at + 1);
    const std::string block_text = states.substr(at, end - at);
    EXPECT_NE(
        block_text.find(absl::StrCat("aead rfc4106(gcm(aes)) ",
                                     Hex(sa.aead_key), " (288 bits) 128")),
        std::string::npos)
        << block_text;
    EXPECT_NE(block_text.find("flag esn"), std::string::npos) << block_text;
    EXPECT_NE(block_text.find("replay_window 1024"), std::string::npos)
        << block_text;
    EXPECT_NE(block_text.find(absl::StrFormat("mark 0x%x/0x%x", sa.mark.value,
                                              sa.mark.mask)),
              std::string::npos)
        << block_text;
    if (ipsec::IsInboundSa(sa)) {
      EXPECT_EQ(sa.mark.value, (uint32_t{kPeerIndex} << 16) | 0xd0);
      EXPECT_EQ(sa.mark.mask, 0xffff00ffu);
      EXPECT_NE(block_text.find(absl::StrFormat("output-mark 0x%x/0x%x",
                                                sa.output_mark.value,
                                                sa.output_mark.mask)),
                std::string::npos)
          << block_text;
    } else {
      EXPECT_EQ(sa.mark, ipsec::kEncryptMark);
    }
  }
}

TEST_F(NetlinkEspSaTest, SaIdentityIncludesTheMarkAsOnLinux) {
  const XfrmSa inbound = Layout({1}, 0).sas.front();
  ASSERT_TRUE(xfrm_->AddSa(inbound).ok());
  const absl::Status again = xfrm_->AddSa(inbound);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_NE(again.message().find("EEXIST"), std::string::npos) << again;
  EXPECT_EQ(again.message().find(Hex(inbound.aead_key).substr(2)),
            std::string::npos)
      << "key bytes in an error message";

  // Another peer's inbound SA: same (dst, SPI, proto), another peer-index
  // mark: the kernel takes it (this is what makes three nodes work).
  XfrmSa other = inbound;
  other.src = *IpAddress::Parse("192.168.100.3");
  other.mark = ipsec::InboundSaMark(kPeerIndex + 1);
  EXPECT_TRUE(xfrm_->AddSa(other).ok());

  // Kmesh's unmarked inbound SAs: the second peer's is refused.
  XfrmSa kmesh_b = inbound;
  kmesh_b.mark = XfrmMark{};
  XfrmSa kmesh_c = other;
  kmesh_c.mark = XfrmMark{};
  EXPECT_TRUE(xfrm_->AddSa(kmesh_b).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(xfrm_->AddSa(kmesh_c)));
  EXPECT_EQ(xfrm_->DumpSas()->size(), 3u);
}

// A kernel fact the simulator and tests must share: Linux keeps an SA's mark
// value ANDed with its mask (xfrm_mark_get), so bits of the value outside the
// mask are dropped and the SA dumps back with the masked value.
TEST_F(NetlinkEspSaTest, LinuxStoresAnSaMarkValueUnderItsMask) {
  XfrmSa sa = Layout({1}, 0).sas.front();
  sa.mark = XfrmMark{0x10d0, 0xffff00ff};  // 0x1000 lies outside the mask.
  ASSERT_TRUE(xfrm_->AddSa(sa).ok());
  auto dumped = xfrm_->DumpSas();
  ASSERT_TRUE(dumped.ok());
  ASSERT_EQ(dumped->size(), 1u);
  EXPECT_EQ((*dumped)[0].mark, (XfrmMark{0xd0, 0xffff00ff}));
  // The daemon's peer-index marks never have such bits.
  const XfrmMark m = ipsec::InboundSaMark(0xffff);
  EXPECT_EQ(m.value & m.mask, m.value);
}

TEST_F(NetlinkEspSaTest, UpdateKeepsTheKeyAndDeleteRemoves) {
  XfrmSa sa = Layout({1}, 0).sas.front();
  ASSERT_TRUE(xfrm_->AddSa(sa).ok());
  XfrmSa changed = sa;
  changed.output_mark = XfrmMark{0xd0, 0xffffffff};
  changed.aead_key = ipsec::TestPsk(0x99);  // Linux keeps the live SA's key.
  ASSERT_TRUE(xfrm_->UpdateSa(changed).ok());
  auto dumped = xfrm_->DumpSas();
  ASSERT_TRUE(dumped.ok());
  ASSERT_EQ(dumped->size(), 1u);
  EXPECT_EQ((*dumped)[0].output_mark, changed.output_mark);
  EXPECT_TRUE((*dumped)[0].aead_key == sa.aead_key);

  ASSERT_TRUE(xfrm_->DeleteSa(sa.id()).ok());
  EXPECT_TRUE(xfrm_->DumpSas()->empty());
  EXPECT_TRUE(absl::IsNotFound(xfrm_->DeleteSa(sa.id())));
  EXPECT_TRUE(absl::IsNotFound(xfrm_->UpdateSa(sa)));
}

TEST_F(NetlinkEspSaTest, ProgrammerRotatesSpiAndLeavesForeignSasAlone) {
  // A foreign SA (another IPsec user on the host: no Kmesh mark or reqid).
  XfrmSa foreign = Layout({1}, 0).sas.front();
  foreign.reqid = 7;
  foreign.spi = 0x1234;
  foreign.mark = XfrmMark{};
  foreign.output_mark = XfrmMark{};
  ASSERT_TRUE(xfrm_->AddSa(foreign).ok());

  ipsec::XfrmProgrammer programmer(xfrm_.get());
  auto apply = [&](std::vector<int32_t> inbound, int32_t outbound) {
    std::map<std::string, XfrmObjects> desired = {
        {"catch-all", ipsec::LayoutCatchAll()},
        {"peer/node-b", Layout(std::move(inbound), outbound)}};
    return programmer.Reconcile(desired, /*delete_unclaimed=*/true);
  };
  auto spis_in_kernel = [&] {
    std::vector<std::string> out;
    // Held in a variable: `*xfrm_->DumpSas()` in the loop header would
    // dangle (the StatusOr temporary dies before the loop body runs).
    const absl::StatusOr<std::vector<XfrmSa>> sas = xfrm_->DumpSas();
    if (!sas.ok()) {
      ADD_FAILURE() << sas.status();
      return out;
    }
    for (const XfrmSa& sa : *sas) {
      if (!ipsec::IsOwnedSa(sa)) continue;
      out.push_back(absl::StrCat(ipsec::IsInboundSa(sa) ? "in" : "out", ":",
                                 sa.dst.is_v4() ? "4" : "6", ":", sa.spi));
    }
    std::sort(out.begin(), out.end());
    return out;
  };

  const ipsec::ApplyResult first = apply({1}, 1);
  ASSERT_TRUE(first.ok()) << first.ToStatus();
  // Reconciling the same state again finds everything equal in the dump.
  const uint64_t changes = programmer.counts().changes();
  ASSERT_TRUE(apply({1}, 1).ok());
  EXPECT_EQ(programmer.counts().changes(), changes)
      << "the kernel's dump differs from what was programmed";

  // Rotation as the controller does it: receive with both, move the sender,
  // reclaim the old inbound SAs.
  ASSERT_TRUE(apply({1, 2}, 1).ok());
  EXPECT_EQ(spis_in_kernel(),
            (std::vector<std::string>{"in:4:1", "in:4:2", "in:6:1", "in:6:2",
                                      "out:4:1", "out:6:1"}));
  ASSERT_TRUE(apply({1, 2}, 2).ok());
  ASSERT_TRUE(apply({2}, 2).ok());
  EXPECT_EQ(spis_in_kernel(), (std::vector<std::string>{"in:4:2", "in:6:2",
                                                        "out:4:2", "out:6:2"}));
  const std::string policies = e2e::RunIp("xfrm policy");
  EXPECT_NE(policies.find("spi 0x00000002"), std::string::npos) << policies;
  EXPECT_EQ(policies.find("spi 0x00000001"), std::string::npos) << policies;

  // Removing everything leaves exactly the foreign SA and no policies.
  ASSERT_TRUE(programmer.Reconcile({}, /*delete_unclaimed=*/true).ok());
  auto left = xfrm_->DumpSas();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_TRUE(ipsec::SameSa((*left)[0], foreign));
  EXPECT_TRUE(xfrm_->DumpPolicies()->empty());
}

}  // namespace
}  // namespace kmesh
