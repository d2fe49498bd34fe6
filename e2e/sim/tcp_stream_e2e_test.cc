// A bulk TCP stream between managed pods on different nodes of the simulated
// cluster (the production agent on every node, real ESP on the wire), pods
// and nodes at MTU 1,500: the stream finds the tunnel's MTU by path MTU
// discovery (ICMP Fragmentation Needed, mtu 1446; Packet Too Big, 1426 over
// IPv6) and then sends full-size segments, and it must not stall (no
// progress for more than 1 s on the cluster's clock, the real one here) nor
// send a single segment in clear, through a key rotation (IPv4 and IPv6)
// and through a daemon killed and restarted. Traffic is driven step by step
// from the test thread, about every 10 ms; the agents run on their own
// threads.
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key_codec.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/crypto/random.h"
#include "kmesh/ipsec/esp_overhead.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/tcp_stream.h"
#include "sim/kernel/xfrm/xfrm_stat.h"

namespace kmesh::sim {
namespace {

using std::chrono::milliseconds;

constexpr char kLabel[] = "istio.io/dataplane-mode";

class TcpStreamE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-tcp-e2e");
    SimClusterOptions options;
    options.state_dir = dir_;
    options.ipsec_grace_period = std::chrono::seconds(2);
    options.dual_stack = family_ == IpFamily::kV6;
    auto factory = DaemonNodeAgentFactory();
    ASSERT_TRUE(factory.ok()) << factory.status();
    options.agent_factory = *factory;
    for (size_t i = 0; i < options.nodes.size(); ++i) {
      options.key_delays[options.nodes[i]] = milliseconds(150 * i);
    }
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    auto client = cluster_->CreatePod("default", "sender", "master", {});
    auto server = cluster_->CreatePod("default", "receiver", "node1", {});
    ASSERT_TRUE(client.ok() && server.ok());
    ASSERT_TRUE(cluster_->SetNamespaceLabel("default", kLabel, "Kmesh").ok());
  }

  void TearDown() override {
    stream_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes the Secret as kmeshctl does (Kmesh's JSON), spi `spi`.
  void WriteSecret(int spi) {
    ASSERT_TRUE(cluster_->WriteIpsecSecret(spi).ok());
  }

  // Whether `node` has an SA with `spi` from `src` to `dst`.
  bool HasSa(const std::string& node, const std::string& src,
             const std::string& dst, uint32_t spi) {
    const size_t f = family_ == IpFamily::kV4 ? 0 : 1;
    const IpAddress from = cluster_->network().node(src)->addresses.at(f);
    const IpAddress to = cluster_->network().node(dst)->addresses.at(f);
    auto sas = cluster_->network().kernel(node)->xfrm().DumpSas();
    if (!sas.ok()) return false;
    for (const XfrmSa& sa : *sas) {
      if (sa.spi == spi && sa.src == from && sa.dst == to) return true;
    }
    return false;
  }

  // Both nodes of the stream send to and receive from each other with spi.
  bool PairUses(uint32_t spi) {
    for (const char* node : {"master", "node1"}) {
      if (!HasSa(node, "master", "node1", spi) ||
          !HasSa(node, "node1", "master", spi)) {
        return false;
      }
    }
    return true;
  }

  bool NoSaWithSpi(uint32_t spi) {
    for (const std::string& node : cluster_->node_names()) {
      auto sas = cluster_->network().kernel(node)->xfrm().DumpSas();
      if (!sas.ok()) return false;
      for (const XfrmSa& sa : *sas) {
        if (sa.spi == spi) return false;
      }
    }
    return true;
  }

  // Waits (without traffic) for the first key on the stream's pair.
  void AwaitFirstKey() {
    WriteSecret(1);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!(cluster_->AllNodesAdvertise(1) && PairUses(1))) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "spi 1 never reached the pair";
      std::this_thread::sleep_for(milliseconds(20));
    }
    // The markers and targets follow the SAs closely; let them settle.
    std::this_thread::sleep_for(milliseconds(500));
  }

  void StartStream() {
    TcpStreamSpec spec{"default", "sender", "default", "receiver", family_};
    spec.clock = RealClock::Get();  // The cluster's clock.
    auto stream = TcpStream::Create(&cluster_->network(), spec);
    ASSERT_TRUE(stream.ok()) << stream.status();
    stream_ = *std::move(stream);
    errors_before_ = XfrmErrors();
  }

  // Steps the stream about every 10 ms until `done` or 40 s pass.
  bool DriveUntil(const std::function<bool()>& done) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < deadline) {
      stream_->Step();
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(8));
    }
    std::cerr << "stream: " << FormatTcpStreamStats(stream_->Stats()) << "\n";
    return false;
  }
  void DriveFor(milliseconds sim_time) {
    const auto until = stream_->Stats().sim_time + sim_time;
    DriveUntil([&] { return stream_->Stats().sim_time >= until; });
  }

  // The stream's packets that crossed the wire in clear, both directions.
  uint64_t InClear() {
    WireMonitor& wire = cluster_->network().wire();
    return wire.PlaintextPackets(stream_->client_ip(), stream_->server_ip()) +
           wire.PlaintextPackets(stream_->server_ip(), stream_->client_ip());
  }

  // Every /proc/net/xfrm_stat counter of every node, summed.
  uint64_t XfrmErrors() {
    uint64_t n = 0;
    for (const auto& [node, stats] : cluster_->XfrmStats()) {
      for (uint64_t v : stats) n += v;
    }
    return n;
  }

  // What every variant asserts at the end.
  void ExpectFullSizeNoStallNothingInClear(uint64_t acked_before_event) {
    const TcpStreamStats s = stream_->Stats();
    std::cout << "stream: " << FormatTcpStreamStats(s) << "\n";
    const size_t route_mtu = ipsec::PodRouteMtu(family_);
    // Path MTU discovery through the tunnel, then full-size segments.
    EXPECT_GE(s.icmp_too_big, 1u);
    EXPECT_EQ(s.mss, ipsec::TcpMssForMtu(family_, route_mtu));
    EXPECT_EQ(cluster_->network().kernel("master")->PodPathMtu(
                  stream_->client_ip(), stream_->server_ip()),
              route_mtu);
    EXPECT_GT(s.full_size_segments, s.segments_sent * 9 / 10);
    EXPECT_EQ(s.corrupt_segments, 0u);
    EXPECT_GT(s.bytes_acked, acked_before_event + 1000000);
    EXPECT_EQ(s.stalls, 0u)
        << "longest pause " << s.longest_pause.count() << " ms";
    EXPECT_EQ(InClear(), 0u);
    EXPECT_EQ(XfrmErrors(), errors_before_);
    EXPECT_EQ(cluster_->network().wire().MalformedPackets(), 0u);
  }

  IpFamily family_ = IpFamily::kV4;  // Of the stream and its tunnel.
  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<TcpStream> stream_;
  uint64_t errors_before_ = 0;
};

TEST_F(TcpStreamE2eTest, StreamRunsThroughARotationWithoutStallingOrClearText) {
  AwaitFirstKey();
  StartStream();
  DriveFor(milliseconds(1000));
  const uint64_t acked = stream_->Stats().bytes_acked;
  ASSERT_GT(acked, 0u);
  WriteSecret(2);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(2) && PairUses(2) && NoSaWithSpi(1);
  }));
  DriveFor(milliseconds(1000));
  EXPECT_GT(cluster_->network().wire().EspPackets(2), 1000u);
  ExpectFullSizeNoStallNothingInClear(acked);
}

// The same over IPv6 on a dual-stack cluster: the tunnel's MTU is 1,426.
class TcpStreamIpv6E2eTest : public TcpStreamE2eTest {
 protected:
  void SetUp() override {
    family_ = IpFamily::kV6;
    TcpStreamE2eTest::SetUp();
  }
};

TEST_F(TcpStreamIpv6E2eTest,
       StreamRunsThroughARotationWithoutStallingOrClearText) {
  AwaitFirstKey();
  StartStream();
  DriveFor(milliseconds(1000));
  const uint64_t acked = stream_->Stats().bytes_acked;
  ASSERT_GT(acked, 0u);
  WriteSecret(2);
  ASSERT_TRUE(DriveUntil([&] {
    return cluster_->AllNodesAdvertise(2) && PairUses(2) && NoSaWithSpi(1);
  }));
  DriveFor(milliseconds(1000));
  ExpectFullSizeNoStallNothingInClear(acked);
}

TEST_F(TcpStreamE2eTest, StreamSurvivesTheReceiversDaemonKilledAndRestarted) {
  AwaitFirstKey();
  StartStream();
  DriveFor(milliseconds(1000));
  const uint64_t acked = stream_->Stats().bytes_acked;
  ASSERT_TRUE(cluster_->RestartAgent("node1", AgentStop::kKill).ok());
  DriveFor(milliseconds(3000));
  EXPECT_TRUE(cluster_->AllNodesAdvertise(1));
  ExpectFullSizeNoStallNothingInClear(acked);
}

// SIGTERM leaves the node's SAs, policies, markers and KmeshNodeInfo in place
// (a rolling update), so the stream neither stalls nor crosses in clear.
// Before restarts were hitless this measured 192 packets in clear.
TEST_F(TcpStreamE2eTest,
       StreamSurvivesTheReceiversDaemonStoppedWithSigtermAndRestarted) {
  AwaitFirstKey();
  StartStream();
  DriveFor(milliseconds(1000));
  const uint64_t acked = stream_->Stats().bytes_acked;
  ASSERT_TRUE(cluster_->RestartAgent("node1", AgentStop::kGraceful).ok());
  DriveFor(milliseconds(3000));
  EXPECT_TRUE(cluster_->AllNodesAdvertise(1));
  ExpectFullSizeNoStallNothingInClear(acked);
}

}  // namespace
}  // namespace kmesh::sim
