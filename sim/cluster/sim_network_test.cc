// The cluster's wire: addressing and host-gw routes between nodes, pods
// reachable across nodes in both families, the wire monitor's view of ESP
// versus plaintext, captures named like tcpdump names hosts, reboots that
// wipe a node's kernel but keep its topology, and fault injection on the
// wire.
#include "sim/cluster/sim_network.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "kmesh/base/testing/test_directory.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Cidr;
using ::kmesh::testing::Ip;

std::vector<uint8_t> Udp(const IpAddress& src, const IpAddress& dst) {
  const uint8_t payload[] = {1, 2, 3, 4, 5, 6, 7, 8};
  return BuildUdpPacket(src, dst, 1000, 2000, payload);
}

class SimNetworkTest : public ::testing::Test {
 protected:
  void Build(SimNetworkOptions options = {}) {
    net_ = std::make_unique<SimNetwork>(options);
    for (const char* n : {"master", "node1", "node2"}) {
      ASSERT_TRUE(net_->AddNode(n).ok());
    }
    net_->SetDeliveryHandler(
        [this](const SimPodInfo& to, absl::Span<const uint8_t>) {
          delivered_.push_back(to.key());
        });
  }
  SimPodInfo Pod(const std::string& name, const std::string& node) {
    auto pod = net_->AddPod("default", name, node);
    EXPECT_TRUE(pod.ok()) << pod.status();
    return *pod;
  }

  std::unique_ptr<SimNetwork> net_;
  std::vector<std::string> delivered_;
};

TEST_F(SimNetworkTest, NodesGetKindLikeAddressesAndPodCidrs) {
  Build({.dual_stack = true});
  const auto nodes = net_->nodes();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].name, "master");
  EXPECT_EQ(nodes[0].addresses[0], Ip("172.18.0.2"));
  EXPECT_EQ(nodes[2].addresses[0], Ip("172.18.0.4"));
  EXPECT_EQ(nodes[2].addresses[1], Ip("fd00:172:18::4"));
  EXPECT_EQ(nodes[1].pod_cidrs[0], Cidr("10.244.2.0/24"));
  EXPECT_EQ(nodes[1].pod_cidrs[1], Cidr("fd00:10:244:2::/64"));
  const SimPodInfo a = Pod("a", "node1");
  const SimPodInfo b = Pod("b", "node1");
  EXPECT_EQ(a.ips[0], Ip("10.244.2.2"));
  EXPECT_EQ(b.ips[0], Ip("10.244.2.3"));
  EXPECT_EQ(b.ips[1], Ip("fd00:10:244:2::3"));
  EXPECT_EQ(net_->NodeOwning(Ip("172.18.0.3")), "node1");
  EXPECT_FALSE(net_->AddNode("node1").ok());
  EXPECT_FALSE(net_->AddPod("default", "a", "node2").ok());
  EXPECT_FALSE(net_->AddPod("default", "z", "nope").ok());
}

TEST_F(SimNetworkTest, PodsReachEachOtherAcrossNodesInBothFamilies) {
  Build({.dual_stack = true});
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo c = Pod("c", "node2");
  for (int f = 0; f < 2; ++f) {
    const SendResult r =
        net_->SendFromPod("default", "a", Udp(a.ips[f], c.ips[f]));
    EXPECT_EQ(r.sender_fate, PacketFate::kTransmitted);
    EXPECT_EQ(r.receiver_node, "node2");
    ASSERT_TRUE(r.receiver_fate.has_value());
    EXPECT_EQ(*r.receiver_fate, PacketFate::kDelivered);
    EXPECT_TRUE(r.delivered());
    EXPECT_EQ(r.loss_cause(), "");
    EXPECT_EQ(net_->wire().PlaintextPackets(a.ips[f], c.ips[f]), 1u);
  }
  EXPECT_EQ(delivered_, (std::vector<std::string>{"default/c", "default/c"}));
  EXPECT_EQ(net_->wire().EspPackets(), 0u);
}

TEST_F(SimNetworkTest, APodCanForgeItsSourceAddress) {
  Build();
  Pod("a", "master");
  const SimPodInfo c = Pod("c", "node2");
  const SendResult r =
      net_->SendFromPod("default", "a", Udp(Ip("10.244.2.77"), c.ips[0]));
  EXPECT_TRUE(r.delivered());
  EXPECT_EQ(net_->wire().PlaintextPackets(Ip("10.244.2.77"), c.ips[0]), 1u);
  // No IPv6 address: nothing to send IPv6 from.
  EXPECT_EQ(net_->SendFromPod("default", "a", Udp(Ip("fd00::1"), Ip("fd00::2")))
                .sender_fate,
            PacketFate::kNoRoute);
}

TEST_F(SimNetworkTest, SameNodeTrafficNeverTouchesTheWire) {
  Build();
  const SimPodInfo a = Pod("a", "node1");
  const SimPodInfo b = Pod("b", "node1");
  const SendResult r =
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0]));
  EXPECT_EQ(r.sender_fate, PacketFate::kDelivered);
  EXPECT_TRUE(r.delivered());
  EXPECT_EQ(net_->wire().PlaintextPackets(), 0u);
  EXPECT_EQ(delivered_.size(), 1u);
}

TEST_F(SimNetworkTest, UnknownDestinationIsReportedWithItsFate) {
  Build();
  const SimPodInfo a = Pod("a", "node1");
  const SendResult r =
      net_->SendFromPod("default", "a", Udp(a.ips[0], Ip("192.168.9.9")));
  EXPECT_FALSE(r.delivered());
  EXPECT_EQ(r.loss_cause(), PacketFateName(PacketFate::kNoRoute));
  // A pod address in a node's CIDR that no pod holds: dropped there.
  const SendResult r2 =
      net_->SendFromPod("default", "a", Udp(a.ips[0], Ip("10.244.3.77")));
  EXPECT_EQ(r2.receiver_node, "node2");
  EXPECT_FALSE(r2.delivered());
}

// Programs `from` to encrypt traffic to `to`'s pods with `spi`, and `to` to
// accept it (the layout the daemon uses, by hand).
void ProgramTunnel(SimNetwork& net, const std::string& from_name,
                   const std::string& to_name, uint32_t spi, uint16_t index) {
  const SimNodeInfo from = *net.node(from_name);
  const SimNodeInfo to = *net.node(to_name);
  std::vector<uint8_t> key_bytes(36, 0x5a);
  XfrmSa out;
  out.src = from.addresses[0];
  out.dst = to.addresses[0];
  out.spi = spi;
  out.reqid = 1;
  out.aead_key = XfrmKey(key_bytes.data(), key_bytes.size());
  out.mark = XfrmMark{0xe0, 0xffffffff};
  out.replay_window = 1024;
  out.esn = true;
  ASSERT_TRUE(net.kernel(from_name)->xfrm().AddSa(out).ok());
  XfrmPolicy op;
  op.dir = XfrmDir::kOut;
  op.selector = XfrmSelector{IpPrefix::Any(IpFamily::kV4), to.pod_cidrs[0], 0};
  op.mark = XfrmMark{0xe0, 0xffffffff};
  op.templates.push_back(XfrmTemplate{out.src, out.dst, kIpProtoEsp,
                                      XfrmMode::kTunnel, 1, spi, false});
  ASSERT_TRUE(net.kernel(from_name)->xfrm().UpdatePolicy(op).ok());
  XfrmSa in = out;
  in.mark = XfrmMark{(uint32_t{index} << 16) | 0xd0, 0xffff00ff};
  in.output_mark = XfrmMark{0xd0, 0xffffffff};
  auto receiver = net.kernel(to_name);
  ASSERT_TRUE(receiver->xfrm().AddSa(in).ok());
  ASSERT_TRUE(
      receiver->marker_maps().UpsertPeer(from.addresses[0], index).ok());
  receiver->SetDecryptMarker(true);
  for (XfrmDir dir : {XfrmDir::kIn, XfrmDir::kFwd}) {
    XfrmPolicy ip;
    ip.dir = dir;
    ip.selector = XfrmSelector{from.pod_cidrs[0], to.pod_cidrs[0], 0};
    ip.mark = XfrmMark{0xd0, 0xffffffff};
    ip.templates.push_back(XfrmTemplate{out.src, out.dst, kIpProtoEsp,
                                        XfrmMode::kTunnel, 1, 0, false});
    ASSERT_TRUE(receiver->xfrm().UpdatePolicy(ip).ok());
  }
}

// Fail-closed encrypt marker: a pod inside the peer's pod CIDR that the
// sender does not know to be unmanaged is encrypted to, and the receiver
// decrypts it and delivers it (its in/fwd policies are per pod CIDR, not per
// pod, so nothing drops it for being unmanaged). Once the sender knows it is
// unmanaged, it crosses in clear. Its replies (no encrypt marker on its veth)
// cross in clear and are delivered too.
TEST_F(SimNetworkTest, AnUnmanagedPodNotKnownYetIsEncryptedToAndDelivered) {
  Build();
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo b = Pod("b", "node1");  // Unmanaged: no marker of its own.
  ProgramTunnel(*net_, "master", "node1", 3, 7);
  auto master = net_->kernel("master");
  master->SetEncryptMarker(a.ips[0], true);
  ASSERT_TRUE(
      master->marker_maps().UpsertEncryptCidr(IpPrefix(b.ips[0], 24)).ok());
  WireMonitor& wire = net_->wire();

  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  EXPECT_EQ(wire.EspPackets(3), 1u);
  EXPECT_EQ(wire.PlaintextPackets(a.ips[0], b.ips[0]), 0u);
  EXPECT_TRUE(
      net_->SendFromPod("default", "b", Udp(b.ips[0], a.ips[0])).delivered());
  EXPECT_EQ(wire.PlaintextPackets(b.ips[0], a.ips[0]), 1u);

  ASSERT_TRUE(master->marker_maps().UpsertUnmanagedPod(b.ips[0]).ok());
  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  EXPECT_EQ(wire.EspPackets(3), 1u);
  EXPECT_EQ(wire.PlaintextPackets(a.ips[0], b.ips[0]), 1u);
}

TEST_F(SimNetworkTest, WireMonitorSeesEspWhereTheKernelEncrypts) {
  Build();
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo b = Pod("b", "node1");
  const SimPodInfo c = Pod("c", "node2");
  ProgramTunnel(*net_, "master", "node1", 3, 7);
  auto master = net_->kernel("master");
  master->SetEncryptMarker(a.ips[0], true);
  ASSERT_TRUE(
      master->marker_maps().UpsertEncryptCidr(IpPrefix::Host(b.ips[0])).ok());

  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], c.ips[0])).delivered());
  WireMonitor& wire = net_->wire();
  EXPECT_EQ(wire.EspPackets(3), 1u);
  EXPECT_EQ(wire.Spis(), std::vector<uint32_t>{3});
  EXPECT_EQ(wire.PlaintextPackets(a.ips[0], b.ips[0]), 0u);
  EXPECT_EQ(wire.PlaintextPackets(a.ips[0], c.ips[0]), 1u);
  bool esp_key_seen = false;
  for (const auto& [key, counts] : wire.Snapshot()) {
    if (!key.esp) continue;
    esp_key_seen = true;
    EXPECT_EQ(key.from_node, "master");
    EXPECT_EQ(key.to_node, "node1");
    EXPECT_EQ(key.src, Ip("172.18.0.2"));
    EXPECT_EQ(key.dst, Ip("172.18.0.3"));
  }
  EXPECT_TRUE(esp_key_seen);
  // The receiver's capture shows the ESP packet and, like Linux, the
  // decrypted inner packet on eth0, then on the pod's veth.
  const auto lines = net_->CaptureLines("node1");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(absl::StrContains(
      lines[0], "In IP master > node1: ESP(spi=0x00000003,seq=0x1)"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1],
                                "In IP 10.244.1.2.1000 > 10.244.2.2.2000: UDP"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[2], "Out IP 10.244.1.2.1000 > 10.244.2.2.2000: UDP"))
      << lines[2];
  wire.Reset();
  EXPECT_EQ(wire.EspPackets(), 0u);
}

// "Never in clear once the pair has used ESP": plaintext between two pods
// counts only after ESP crossed from the sender's node to the receiver's,
// and only for that direction of that node pair.
TEST(WireMonitorTest, CountsPlaintextOnlyAfterTheDirectionUsedEsp) {
  WireMonitor wire;
  const IpAddress a = Ip("10.244.1.2"), b = Ip("10.244.2.2");
  const IpAddress c = Ip("10.244.3.2");
  // SPI 7, sequence 1, then IV, ciphertext and ICV (not looked at).
  std::vector<uint8_t> esp_payload = {0, 0, 0, 7, 0, 0, 0, 1};
  esp_payload.resize(64);
  const std::vector<uint8_t> esp = BuildIpPacket(
      Ip("172.18.0.2"), Ip("172.18.0.3"), kIpProtoEspNumber, esp_payload);
  wire.Observe("master", "node1", Udp(a, b));  // Before any ESP: expected.
  wire.Observe("node1", "master", esp);        // ESP the other way only.
  wire.Observe("master", "node1", Udp(a, b));  // Still expected.
  EXPECT_EQ(wire.PlaintextAfterEsp(a, b), 0u);
  wire.Observe("master", "node1", esp);
  wire.Observe("master", "node1", Udp(a, b));
  wire.Observe("master", "node1", Udp(a, b));
  wire.Observe("master", "node2", Udp(a, c));  // Another pair: no ESP yet.
  EXPECT_EQ(wire.PlaintextAfterEsp(a, b), 2u);
  EXPECT_EQ(wire.PlaintextAfterEsp(b, a), 0u);
  EXPECT_EQ(wire.PlaintextAfterEsp(a, c), 0u);
  EXPECT_EQ(wire.PlaintextPackets(a, b), 4u);
  EXPECT_EQ(wire.MalformedPackets(), 0u);
  wire.Reset();
  wire.Observe("master", "node1", Udp(a, b));
  EXPECT_EQ(wire.PlaintextAfterEsp(a, b), 0u);
}

TEST_F(SimNetworkTest, CaptureLogFilesGetTcpdumpLines) {
  const std::string dir =
      ::kmesh::testing::NewTestDirectory("sim_network_test");
  Build({.capture_dir = dir, .write_pcap = true});
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo b = Pod("b", "node1");
  ASSERT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  ASSERT_TRUE(net_->FlushCaptures().ok());
  std::ifstream log(net_->CaptureLogPath("master"));
  std::string first;
  ASSERT_TRUE(std::getline(log, first));
  EXPECT_TRUE(absl::StrContains(
      first, "? In IP 10.244.1.2.1000 > 10.244.2.2.2000: UDP, length 8"))
      << first;
  std::ifstream pcap(net_->PcapPath("node1"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(pcap)), {});
  EXPECT_GT(bytes.size(), 24u);  // Global header plus records.
  std::filesystem::remove_all(dir);
}

TEST_F(SimNetworkTest, RebootGivesAFreshKernelWithTheSameTopology) {
  Build();
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo b = Pod("b", "node1");
  ProgramTunnel(*net_, "master", "node1", 1, 7);
  auto before = net_->kernel("node1");
  EXPECT_GT(before->xfrm().sa_count(), 0u);
  ASSERT_TRUE(net_->RebootNode("node1").ok());
  auto after = net_->kernel("node1");
  EXPECT_NE(before, after);
  EXPECT_EQ(after->xfrm().sa_count(), 0u);
  EXPECT_EQ(after->xfrm().policy_count(), 0u);
  EXPECT_TRUE(after->marker_maps().DumpPeers()->empty());
  // Routes and pods survived: both directions still work.
  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  EXPECT_TRUE(
      net_->SendFromPod("default", "b", Udp(b.ips[0], a.ips[0])).delivered());
  EXPECT_EQ(delivered_, (std::vector<std::string>{"default/b", "default/a"}));
  EXPECT_FALSE(net_->RebootNode("nope").ok());
}

TEST_F(SimNetworkTest, RemovedNodeIsUnreachableAndItsPodsAreGone) {
  Build();
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo c = Pod("c", "node2");
  ASSERT_TRUE(net_->RemoveNode("node2").ok());
  EXPECT_FALSE(net_->pod("default", "c").has_value());
  EXPECT_EQ(net_->kernel("node2"), nullptr);
  const SendResult r =
      net_->SendFromPod("default", "a", Udp(a.ips[0], c.ips[0]));
  EXPECT_EQ(r.loss_cause(), PacketFateName(PacketFate::kNoRoute));
  // A new node gets a new slot, not the departed one's addresses.
  auto joined = net_->AddNode("node3");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->addresses[0], Ip("172.18.0.5"));
  EXPECT_EQ(joined->pod_cidrs[0], Cidr("10.244.4.0/24"));
}

TEST_F(SimNetworkTest, WireFilterCanDropAndTamper) {
  Build();
  const SimPodInfo a = Pod("a", "master");
  const SimPodInfo b = Pod("b", "node1");
  net_->SetWireFilter([](const std::string&, const std::string& to,
                         std::vector<uint8_t>&) { return to != "node1"; });
  const SendResult dropped =
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0]));
  EXPECT_FALSE(dropped.delivered());
  EXPECT_EQ(dropped.loss_cause(), "WireDrop");
  EXPECT_EQ(net_->wire().PlaintextPackets(), 0u);  // Never reached the wire.
  // Flipping a payload bit breaks the UDP checksum; the packet still
  // reaches the pod (the kernel does not check UDP on forwarding).
  net_->SetWireFilter(
      [](const std::string&, const std::string&, std::vector<uint8_t>& p) {
        p.back() ^= 1;
        return true;
      });
  EXPECT_TRUE(
      net_->SendFromPod("default", "a", Udp(a.ips[0], b.ips[0])).delivered());
  EXPECT_TRUE(delivered_.size() == 1u);
}

}  // namespace
}  // namespace kmesh::sim
