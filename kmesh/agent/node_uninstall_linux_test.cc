// UninstallNode on the real kernel, through the Linux backends kmesh-daemon
// uses (XFRM over netlink, the markers with libbpf and tc, pins on a bpf
// filesystem), in a network namespace and a mount namespace of the test's
// own: a "pod" veth with the encrypt marker, a "node" interface with the
// decrypt marker, the product's block policies, SAs and policies for a
// peer, and another IPsec user's SA and policy. Uninstall removes the
// product's objects, tc filters and pins and leaves the other user's
// objects; a second run succeeds. Needs root, `ip` and `tc`; skips
// otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/agent/node_uninstall.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/testing/peer_layout.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/ipsec/testing/test_psk.h"
#include "kmesh/ipsec/testing/xfrm_objects.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/kube/testing/mock_kube_client.h"
#include "kmesh/linux/linux_node_backends.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"
#include "kmesh/linux/testing/private_namespaces.h"

namespace kmesh::agent {
namespace {

using ::kmesh::ipsec::DumpedPolicies;
using ::kmesh::ipsec::DumpedSas;
using ::kmesh::ipsec::OwnedPolicies;
using ::kmesh::ipsec::OwnedSas;
using ::kmesh::testing::CommandOutput;
using ::kmesh::testing::CommandSucceeds;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Return;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(NodeUninstallLinuxTest, RemovesTheProductsObjectsFiltersAndPinsOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: namespaces, tc and BPF";
  if (!CommandSucceeds("command -v ip") || !CommandSucceeds("command -v tc")) {
    GTEST_SKIP() << "needs iproute2 `ip` and `tc`";
  }
  auto bpffs = linux_backend::testing::PrivateBpfFilesystem::Create();
  if (!bpffs.ok()) GTEST_SKIP() << bpffs.status();
  if (absl::Status s = linux_backend::testing::EnterNewNetworkNamespace();
      !s.ok()) {
    GTEST_SKIP() << s;
  }
  // This thread's namespace; the shell commands it forks inherit it.
  for (const char* command :
       {"ip link set lo up", "ip link add vethapp type veth peer name vethpod",
        "ip addr add 10.251.0.1/24 dev vethapp", "ip link set vethapp up",
        "ip link set vethpod up", "ip link add dn0 type veth peer name dn1",
        "ip addr add 10.251.1.1/24 dev dn0", "ip link set dn0 up",
        "ip link set dn1 up"}) {
    ASSERT_TRUE(CommandSucceeds(command))
        << command << ": " << CommandOutput(std::string(command) + " 2>&1");
  }
  const ipsec::NodeView self = ipsec::MakeNodeView(
      "node-0", {"10.251.1.1"}, ipsec::TestBootId(0), {"10.251.0.0/24"});
  const ipsec::NodeView peer = ipsec::MakeNodeView(
      "node-1", {"10.251.1.2"}, ipsec::TestBootId(1), {"10.251.2.0/24"});

  linux_backend::LinuxNodeBackendsOptions options;
  options.bpf_object_dir = "bpf";
  options.bpf_pin_dir = bpffs.value()->path() + "/kmesh-ipsec";
  auto node = linux_backend::MakeLinuxNodeBackends(options);
  ASSERT_TRUE(node.ok()) << node.status();
  NodeBackends& backends = **node;

  // What a running daemon leaves.
  ASSERT_TRUE(
      backends.encrypt_marker_attachment()
          .Attach(LocalPod{"default", "app", {*IpAddress::Parse("10.251.0.2")}})
          .ok());
  ASSERT_TRUE(
      backends.SetDecryptMarker(true, {*IpAddress::Parse("10.251.1.1")}).ok());
  ASSERT_TRUE(backends.marker_maps()
                  .UpsertPeer(*IpAddress::Parse("10.251.1.2"), 1)
                  .ok());
  ipsec::KeyRing keys;
  keys.Install(1, ipsec::TestPsk(1));
  const ipsec::XfrmObjects objects =
      ipsec::PeerObjects(self, peer, 1, keys, {1}, 1);
  for (const XfrmPolicy& p : ipsec::LayoutCatchAll().policies) {
    ASSERT_TRUE(backends.xfrm().AddPolicy(p).ok());
  }
  // A kernel without ESP (some containers) takes the policies but no SA:
  // the SAs are then left to the VM scenario (e2e/vm), the rest still runs.
  bool esp = true;
  for (const XfrmSa& sa : objects.sas) {
    absl::Status added = backends.xfrm().AddSa(sa);
    if (absl::IsUnimplemented(added)) {
      esp = false;
      std::cout << "no ESP in this kernel, SAs not checked here: " << added
                << "\n";
      break;
    }
    ASSERT_TRUE(added.ok()) << added;
  }
  for (const XfrmPolicy& p : objects.policies) {
    ASSERT_TRUE(backends.xfrm().AddPolicy(p).ok());
  }
  const XfrmSa foreign_sa =
      ipsec::ForeignSa("192.168.9.1", "192.168.9.2", 0x100, 7);
  const XfrmPolicy foreign_policy = ipsec::ForeignPolicy(
      XfrmDir::kOut, "192.168.10.0/24", "192.168.9.1", "192.168.9.2", 7);
  if (esp) {
    ASSERT_TRUE(backends.xfrm().AddSa(foreign_sa).ok());
  }
  ASSERT_TRUE(backends.xfrm().AddPolicy(foreign_policy).ok());
  ASSERT_THAT(CommandOutput("tc filter show dev vethapp ingress"),
              HasSubstr("handle 0xe0"));
  ASSERT_THAT(CommandOutput("tc filter show dev dn0 ingress"),
              HasSubstr("handle 0xd0"));
  ASSERT_TRUE(Exists(options.bpf_pin_dir));
  const size_t owned_sas = OwnedSas(DumpedSas(backends.xfrm())).size();
  const size_t owned_policies =
      OwnedPolicies(DumpedPolicies(backends.xfrm())).size();
  ASSERT_EQ(owned_sas > 0, esp);

  kube::MockKubeClient client;
  EXPECT_CALL(client, Delete(_, "kmesh-system", "node-0"))
      .Times(2)
      .WillRepeatedly(Return(absl::OkStatus()));
  auto report = UninstallNode("node-0", &client, &backends);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sas_removed, owned_sas);
  EXPECT_EQ(report->policies_removed, owned_policies);
  EXPECT_TRUE(OwnedSas(DumpedSas(backends.xfrm())).empty());
  EXPECT_TRUE(OwnedPolicies(DumpedPolicies(backends.xfrm())).empty());
  if (esp) {
    ipsec::ExpectEachOnce(DumpedSas(backends.xfrm()), {foreign_sa});
  }
  ipsec::ExpectEachOnce(DumpedPolicies(backends.xfrm()), {foreign_policy});
  EXPECT_THAT(CommandOutput("tc filter show dev vethapp ingress"),
              Not(HasSubstr("handle 0xe0")));
  EXPECT_THAT(CommandOutput("tc filter show dev dn0 ingress"),
              Not(HasSubstr("handle 0xd0")));
  EXPECT_FALSE(Exists(options.bpf_pin_dir)) << "pins left behind";

  auto again = UninstallNode("node-0", &client, &backends);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sas_removed + again->policies_removed, 0u);
}

}  // namespace
}  // namespace kmesh::agent
