// Kmesh's original XFRM layout (//sim/kernel/kmesh_original_layout) on three
// nodes, replayed call for call onto the real kernel (NetlinkXfrm, in a
// private network namespace) and onto the simulator (SimXfrm): every call
// gets the same answer from both (the second peer's inbound SA is EEXIST on
// each), and both end with the same tables (the shared in/fwd policies carry
// only the last peer's template). This is the proof that the simulator is as
// strict as Linux where Kmesh's layout breaks. Needs a kernel with ESP (the
// e2e VM); elsewhere it skips with the reason.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "e2e/vm/kernel_test_env.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/private_namespaces.h"
#include "sim/kernel/kmesh_original_layout/kmesh_original_layout.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh {
namespace {

using ::kmesh::sim::KmeshLayoutReport;
using ::kmesh::sim::KmeshOriginalNode;

KmeshOriginalNode Node(const std::string& name, const std::string& ip,
                       const std::string& cidr) {
  return KmeshOriginalNode{
      name, IpAddress::Parse(ip).value(), {IpPrefix::Parse(cidr).value()}, 1};
}

// Objects in a stable order, so two dumps can be compared pairwise.
std::vector<XfrmSa> Sorted(std::vector<XfrmSa> sas) {
  std::sort(sas.begin(), sas.end(), [](const XfrmSa& a, const XfrmSa& b) {
    return a.src.ToString() + a.dst.ToString() <
           b.src.ToString() + b.dst.ToString();
  });
  return sas;
}
std::vector<XfrmPolicy> Sorted(std::vector<XfrmPolicy> ps) {
  std::sort(ps.begin(), ps.end(), [](const XfrmPolicy& a, const XfrmPolicy& b) {
    return std::make_pair(static_cast<int>(a.dir), a.selector.dst.ToString()) <
           std::make_pair(static_cast<int>(b.dir), b.selector.dst.ToString());
  });
  return ps;
}

TEST(KmeshOriginalLayoutOnLinuxTest, ThreeNodesFailOnLinuxAsInTheSimulator) {
  if (absl::Status s = linux_backend::testing::EnterNewNetworkNamespace();
      !s.ok()) {
    GTEST_SKIP() << s;
  }
  auto opened = linux_backend::NetlinkXfrm::Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  XfrmKernel& linux_xfrm = **opened;
  sim::SimXfrm sim_xfrm;

  const KmeshOriginalNode a = Node("a", "172.18.0.2", "10.244.0.0/24");
  const KmeshOriginalNode b = Node("b", "172.18.0.3", "10.244.1.0/24");
  const KmeshOriginalNode c = Node("c", "172.18.0.4", "10.244.2.0/24");

  const absl::Status probe = linux_xfrm.AddSa(sim::KmeshOutboundSa(a, b));
  if (!probe.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << probe;
    GTEST_SKIP() << "this kernel has no ESP (" << probe
                 << "); e2e/vm runs this test under a Debian kernel";
  }
  ASSERT_TRUE(linux_xfrm.DeleteSa(sim::KmeshOutboundSa(a, b).id()).ok());

  const KmeshLayoutReport on_linux =
      sim::ProgramKmeshOriginalLayout(linux_xfrm, a, {b, c});
  const KmeshLayoutReport on_sim =
      sim::ProgramKmeshOriginalLayout(sim_xfrm, a, {b, c});

  // Call by call, the same answers.
  ASSERT_EQ(on_linux.calls.size(), on_sim.calls.size());
  for (size_t i = 0; i < on_linux.calls.size(); ++i) {
    EXPECT_EQ(on_linux.calls[i].what, on_sim.calls[i].what);
    EXPECT_EQ(on_linux.calls[i].status.code(), on_sim.calls[i].status.code())
        << on_linux.calls[i].what << ": Linux said " << on_linux.calls[i].status
        << ", the simulator " << on_sim.calls[i].status;
  }
  // The breakage itself, on Linux: C's inbound SA is refused as a duplicate.
  ASSERT_EQ(on_linux.inbound_sa_adds.size(), 2u);
  EXPECT_TRUE(on_linux.inbound_sa_adds[0].ok()) << on_linux.inbound_sa_adds[0];
  EXPECT_TRUE(absl::IsAlreadyExists(on_linux.inbound_sa_adds[1]))
      << on_linux.inbound_sa_adds[1];

  // The same tables at the end.
  const std::vector<XfrmSa> linux_sas = Sorted(*linux_xfrm.DumpSas());
  const std::vector<XfrmSa> sim_sas = Sorted(*sim_xfrm.DumpSas());
  ASSERT_EQ(linux_sas.size(), sim_sas.size());
  for (size_t i = 0; i < linux_sas.size(); ++i) {
    EXPECT_TRUE(ipsec::SameSa(linux_sas[i], sim_sas[i]))
        << "Linux: " << ipsec::DescribeSa(linux_sas[i])
        << "\nsimulator: " << ipsec::DescribeSa(sim_sas[i]);
  }
  const std::vector<XfrmPolicy> linux_ps = Sorted(*linux_xfrm.DumpPolicies());
  const std::vector<XfrmPolicy> sim_ps = Sorted(*sim_xfrm.DumpPolicies());
  ASSERT_EQ(linux_ps.size(), sim_ps.size());
  for (size_t i = 0; i < linux_ps.size(); ++i) {
    EXPECT_TRUE(ipsec::SamePolicy(linux_ps[i], sim_ps[i]))
        << "Linux: " << ipsec::DescribePolicy(linux_ps[i])
        << "\nsimulator: " << ipsec::DescribePolicy(sim_ps[i]);
    // The shared in/fwd policies end with only C's template.
    if (linux_ps[i].dir != XfrmDir::kOut) {
      ASSERT_EQ(linux_ps[i].templates.size(), 1u);
      EXPECT_EQ(linux_ps[i].templates[0].src, c.ip);
    }
  }
}

}  // namespace
}  // namespace kmesh
