// The bulk TCP stream on a plain simulated network: full-size segments,
// recovery from loss by retransmission, the stall detector, and path MTU
// discovery when the link is smaller than the pods' MTU.
#include "sim/cluster/tcp_stream.h"

#include <chrono>

#include "gtest/gtest.h"

namespace kmesh::sim {
namespace {

class TcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = std::make_unique<SimNetwork>(SimNetworkOptions{.dual_stack = true});
    for (const char* n : {"node0", "node1"}) {
      ASSERT_TRUE(net_->AddNode(n).ok());
    }
    ASSERT_TRUE(net_->AddPod("default", "a", "node0").ok());
    ASSERT_TRUE(net_->AddPod("default", "b", "node1").ok());
  }

  std::unique_ptr<TcpStream> Stream(IpFamily family = IpFamily::kV4) {
    TcpStreamSpec spec{"default", "a", "default", "b", family};
    auto stream = TcpStream::Create(net_.get(), spec);
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  }

  void Steps(TcpStream& s, int n) {
    for (int i = 0; i < n; ++i) s.Step();
  }

  std::unique_ptr<SimNetwork> net_;
};

TEST_F(TcpStreamTest, SendsFullSizeSegmentsWithTheMssOfTheRouteMtu) {
  for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
    auto stream = Stream(family);
    Steps(*stream, 100);  // One second.
    const TcpStreamStats s = stream->Stats();
    const size_t mss = family == IpFamily::kV4 ? 1460 : 1440;
    EXPECT_TRUE(s.established);
    EXPECT_EQ(s.mss, mss);
    EXPECT_EQ(s.largest_segment, 1500u);
    EXPECT_EQ(s.full_size_segments, s.segments_sent);
    // 32 segments a step (the window), every one acknowledged.
    EXPECT_EQ(s.bytes_acked, s.segments_sent * mss) << FormatTcpStreamStats(s);
    EXPECT_GE(s.segments_sent, 99u * 32);
    EXPECT_EQ(s.retransmissions, 0u);
    EXPECT_EQ(s.stalls, 0u);
    EXPECT_EQ(s.corrupt_segments, 0u);
    EXPECT_EQ(s.sim_time, std::chrono::milliseconds(1000));
  }
}

TEST_F(TcpStreamTest, ABriefOutageIsRetransmittedWithoutAStall) {
  auto stream = Stream();
  Steps(*stream, 10);
  const uint64_t before = stream->Stats().bytes_acked;
  net_->SetWireFilter([](auto&, auto&, auto&) { return false; });
  Steps(*stream, 30);  // 300 ms of loss: one timeout (200 ms).
  EXPECT_EQ(stream->Stats().bytes_acked, before);
  net_->SetWireFilter(nullptr);
  Steps(*stream, 50);
  const TcpStreamStats s = stream->Stats();
  EXPECT_GT(s.bytes_acked, before);
  EXPECT_GE(s.timeouts, 1u);
  EXPECT_GT(s.retransmissions, 0u);
  EXPECT_GT(s.losses_by_cause.at("WireDrop"), 0u);
  EXPECT_GE(s.longest_pause, std::chrono::milliseconds(300));
  EXPECT_LE(s.longest_pause, std::chrono::milliseconds(1000));
  EXPECT_EQ(s.stalls, 0u) << FormatTcpStreamStats(s);
}

TEST_F(TcpStreamTest, AnOutageOfMoreThanASecondIsAStall) {
  auto stream = Stream();
  Steps(*stream, 10);
  net_->SetWireFilter([](auto&, auto&, auto&) { return false; });
  Steps(*stream, 150);
  net_->SetWireFilter(nullptr);
  Steps(*stream, 300);  // The backed-off timer (200+400+800 ms) fires.
  const TcpStreamStats s = stream->Stats();
  EXPECT_EQ(s.stalls, 1u) << FormatTcpStreamStats(s);
  EXPECT_GT(s.longest_pause, std::chrono::milliseconds(1000));
  // It recovered: progress after the outage.
  const uint64_t acked = s.bytes_acked;
  Steps(*stream, 10);
  EXPECT_GT(stream->Stats().bytes_acked, acked);
}

TEST_F(TcpStreamTest, ASmallerLinkIsFoundByPathMtuDiscovery) {
  net_->kernel("node0")->SetUplinkMtu(1400);
  auto stream = Stream();
  Steps(*stream, 100);
  const TcpStreamStats s = stream->Stats();
  EXPECT_GE(s.icmp_too_big, 1u);
  EXPECT_EQ(s.mss, 1360u);
  EXPECT_EQ(net_->kernel("node0")->PodPathMtu(stream->client_ip(),
                                              stream->server_ip()),
            1400u);
  EXPECT_GT(s.bytes_acked, 90u * 32 * 1360) << FormatTcpStreamStats(s);
  EXPECT_EQ(s.stalls, 0u);
  EXPECT_GE(net_->kernel("node0")->SnmpCounter("IpFragFails"), 1u);
}

}  // namespace
}  // namespace kmesh::sim
