#include "sim/kernel/kmesh_original_layout/kmesh_original_layout.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh {
namespace sim {
namespace {

KmeshOriginalNode Node(const std::string& name, const std::string& ip,
                       const std::string& cidr, uint32_t spi = 1) {
  return KmeshOriginalNode{
      name, IpAddress::Parse(ip).value(), {IpPrefix::Parse(cidr).value()}, spi};
}

const KmeshOriginalNode kA = Node("a", "172.18.0.2", "10.244.0.0/24");
const KmeshOriginalNode kB = Node("b", "172.18.0.3", "10.244.1.0/24");
const KmeshOriginalNode kC = Node("c", "172.18.0.4", "10.244.2.0/24");

std::vector<XfrmPolicy> PoliciesOfDir(SimXfrm& x, XfrmDir dir) {
  std::vector<XfrmPolicy> out;
  const std::vector<XfrmPolicy> all = x.DumpPolicies().value();
  for (const XfrmPolicy& p : all) {
    if (p.dir == dir) out.push_back(p);
  }
  return out;
}

TEST(KmeshOriginalLayoutTest, TwoNodesProgramCleanly) {
  SimXfrm x;
  const KmeshLayoutReport report = ProgramKmeshOriginalLayout(x, kA, {kB});
  EXPECT_TRUE(report.first_error.ok()) << report.first_error;
  for (const KmeshLayoutCall& call : report.calls) {
    EXPECT_TRUE(call.status.ok()) << call.what << ": " << call.status;
  }
  EXPECT_EQ(x.sa_count(), 2u);      // In and out.
  EXPECT_EQ(x.policy_count(), 3u);  // In, fwd, out.
}

TEST(KmeshOriginalLayoutTest, ThreeNodesSecondInboundSaIsAlreadyExists) {
  SimXfrm x;
  const KmeshLayoutReport report = ProgramKmeshOriginalLayout(x, kA, {kB, kC});
  ASSERT_EQ(report.inbound_sa_adds.size(), 2u);
  EXPECT_TRUE(report.inbound_sa_adds[0].ok()) << report.inbound_sa_adds[0];
  EXPECT_TRUE(absl::IsAlreadyExists(report.inbound_sa_adds[1]))
      << report.inbound_sa_adds[1];
  // Kmesh ignores that error: the daemon would report success.
  EXPECT_TRUE(report.first_error.ok()) << report.first_error;
  // So ESP from C to A (spi 1, no mark) finds B's SA, whose key is wrong.
  auto sa = x.LookupInboundSa(kA.ip, 1, kIpProtoEsp, 0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(sa->sa.src, kB.ip);
  // Inbound B->A, outbound A->B and A->C: C->A is missing.
  EXPECT_EQ(x.sa_count(), 3u);
}

TEST(KmeshOriginalLayoutTest, ThreeNodesInAndFwdPoliciesOverwriteEachOther) {
  SimXfrm x;
  const KmeshLayoutReport report = ProgramKmeshOriginalLayout(x, kA, {kB, kC});
  // C's in policy had B's identity: Add was EEXIST, Kmesh updated instead.
  int updates = 0;
  for (const KmeshLayoutCall& call : report.calls) {
    if (call.what.rfind("UpdatePolicy", 0) == 0) {
      ++updates;
      EXPECT_TRUE(call.status.ok()) << call.what;
    }
  }
  EXPECT_EQ(updates, 2);  // in and fwd.
  for (XfrmDir dir : {XfrmDir::kIn, XfrmDir::kFwd}) {
    const std::vector<XfrmPolicy> policies = PoliciesOfDir(x, dir);
    ASSERT_EQ(policies.size(), 1u) << XfrmDirName(dir);
    ASSERT_EQ(policies[0].templates.size(), 1u);
    // Only C's template is left: decrypted traffic from B now fails the
    // template check (XfrmInTmplMismatch).
    EXPECT_EQ(policies[0].templates[0].src, kC.ip) << XfrmDirName(dir);
  }
  // Out policies have distinct selectors (the peers' pod CIDRs): both stay.
  EXPECT_EQ(PoliciesOfDir(x, XfrmDir::kOut).size(), 2u);
}

TEST(KmeshOriginalLayoutTest, PeerWithNewerSpiGetsNoOutboundState) {
  SimXfrm x;
  const KmeshOriginalNode b2 = Node("b", "172.18.0.3", "10.244.1.0/24", 2);
  const KmeshLayoutReport report = ProgramKmeshOriginalLayout(x, kA, {b2});
  EXPECT_TRUE(report.first_error.ok());
  EXPECT_EQ(x.sa_count(), 1u);
  EXPECT_TRUE(PoliciesOfDir(x, XfrmDir::kOut).empty());
}

TEST(KmeshOriginalLayoutTest, DescriptionsMatchKmeshHandler) {
  const XfrmSa in = KmeshInboundSa(kA, kB);
  EXPECT_EQ(in.src, kB.ip);
  EXPECT_EQ(in.dst, kA.ip);
  EXPECT_EQ(in.spi, kA.spi);
  EXPECT_EQ(in.reqid, 1u);
  EXPECT_EQ(in.mark, (XfrmMark{0, 0}));
  EXPECT_EQ(in.output_mark, (XfrmMark{0xd0, 0xffffffff}));
  EXPECT_EQ(in.aead_key.size(), 36u);
  const std::vector<XfrmPolicy> out = KmeshOutboundPolicies(kA, kB);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].mark, (XfrmMark{0xe0, 0xffffffff}));
  EXPECT_EQ(out[0].selector.dst, kB.pod_cidrs[0]);
  EXPECT_EQ(out[0].templates[0].spi, kB.spi);
}

}  // namespace
}  // namespace sim
}  // namespace kmesh
