#include "kmesh/agent/node_metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A node mid-rotation: SPI 2 advertised, SPI 1 awaiting reclaim, one failed
// add, one peer programmed and one known only from its Node.
NodeStatus RotatingNode() {
  NodeStatus s;
  s.node = "node-a";
  s.now = TimePoint{} + std::chrono::hours(10);
  s.daemon_started = s.now - std::chrono::seconds(100);
  s.grace_period = std::chrono::minutes(5);
  auto& c = s.controller;
  c.started = true;
  c.peers_synced = true;
  c.target_spi = 2;
  c.advertised_spi = 2;
  c.target_learnt_at = s.now - std::chrono::seconds(40);
  c.held_spis = {1, 2};
  c.inbound_spis = {1, 2};
  c.pending_reclaims.push_back(
      {1, s.now - std::chrono::seconds(10), s.now + std::chrono::seconds(290)});
  ipsec::IpsecControllerSnapshot::Peer b;
  b.name = "node-b";
  b.has_record = true;
  b.advertised_spi = 2;
  b.outbound_spi = 2;
  c.peers.push_back(b);
  ipsec::IpsecControllerSnapshot::Peer d;
  d.name = "node-d";
  c.peers.push_back(d);
  c.stats.key_changes = 2;
  c.stats.full_reconciles = 7;
  c.last_good_full_reconcile = s.now - std::chrono::seconds(5);
  c.xfrm_errors_by_op[{XfrmOp::kAddSa, ENOBUFS}] = 3;
  // Errnos without a glibc name keep their number.
  c.xfrm_errors_by_op[{XfrmOp::kAddSa, 524}] = 1;
  c.xfrm_errors_by_op[{XfrmOp::kAddSa, 4095}] = 1;
  s.spis = {{1, 2, 1, 0}, {2, 2, 1, 1}};
  s.in_policies = 2;
  s.fwd_policies = 2;
  s.block_policies = 2;
  NodeStatus::OutboundSa sa;
  sa.peer = "node-b";
  sa.dst = "10.0.0.2";
  sa.spi = 2;
  sa.output_seq = 1u << 31;
  sa.seq_used = 0.5;
  s.outbound_sas.push_back(sa);
  s.xfrm_stats = {{"XfrmInError", 0, 0}, {"XfrmInNoStates", 9, 4}};
  s.managed_local_pods = 3;
  s.watches = {{"kmeshnodeinfos", 2, 5}};
  return s;
}

// The sample line of `name{labels}` in `text`, or "".
std::string Sample(const std::string& text, const std::string& prefix) {
  size_t at = text.find("\n" + prefix + " ");
  if (at == std::string::npos) return "";
  size_t end = text.find('\n', at + 1);
  return text.substr(at + 1, end - at - 1);
}

TEST(NodeMetricsTest, ExportsTheRotationStateByName) {
  const double unix_now = 1.8e9;
  const std::string text =
      PrometheusText(NodeMetricFamilies(RotatingNode(), unix_now));
  EXPECT_EQ(Sample(text, "kmesh_ipsec_up"), "kmesh_ipsec_up 1");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_advertised_spi"),
            "kmesh_ipsec_advertised_spi 2");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_key_learnt_timestamp_seconds"),
            "kmesh_ipsec_key_learnt_timestamp_seconds 1799999960");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_peers{state=\"programmed\"}"),
            "kmesh_ipsec_peers{state=\"programmed\"} 1");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_peers{state=\"receive_only\"}"),
            "kmesh_ipsec_peers{state=\"receive_only\"} 1");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_peers{state=\"error\"}"),
            "kmesh_ipsec_peers{state=\"error\"} 0");
  EXPECT_EQ(
      Sample(text, "kmesh_ipsec_reclaim_due_timestamp_seconds{spi=\"1\"}"),
      "kmesh_ipsec_reclaim_due_timestamp_seconds{spi=\"1\"} 1800000290");
  EXPECT_EQ(Sample(text, "kmesh_ipsec_xfrm_states{direction=\"in\",spi=\"1\"}"),
            "kmesh_ipsec_xfrm_states{direction=\"in\",spi=\"1\"} 2");
  EXPECT_EQ(
      Sample(text, "kmesh_ipsec_xfrm_policies{direction=\"out\",spi=\"2\"}"),
      "kmesh_ipsec_xfrm_policies{direction=\"out\",spi=\"2\"} 1");
  EXPECT_EQ(Sample(text,
                   "kmesh_ipsec_reconcile_errors_total{errno=\"ENOBUFS\","
                   "operation=\"add SA\"}"),
            "kmesh_ipsec_reconcile_errors_total{errno=\"ENOBUFS\","
            "operation=\"add SA\"} 3");
  EXPECT_EQ(Sample(text,
                   "kmesh_ipsec_outbound_sa_seq_used_ratio{dst=\"10.0.0.2\","
                   "peer=\"node-b\",spi=\"2\"}"),
            "kmesh_ipsec_outbound_sa_seq_used_ratio{dst=\"10.0.0.2\",peer="
            "\"node-b\",spi=\"2\"} 0.5");
  EXPECT_EQ(
      Sample(text, "kmesh_ipsec_xfrm_stat_total{stat=\"XfrmInNoStates\"}"),
      "kmesh_ipsec_xfrm_stat_total{stat=\"XfrmInNoStates\"} 9");
  EXPECT_EQ(
      Sample(text, "kmesh_ipsec_watches_total{resource=\"kmeshnodeinfos\"}"),
      "kmesh_ipsec_watches_total{resource=\"kmeshnodeinfos\"} 5");
  EXPECT_EQ(Sample(text,
                   "kmesh_ipsec_reconcile_errors_total{errno=\"524\","
                   "operation=\"add SA\"}"),
            "kmesh_ipsec_reconcile_errors_total{errno=\"524\","
            "operation=\"add SA\"} 1");
  EXPECT_EQ(Sample(text,
                   "kmesh_ipsec_reconcile_errors_total{errno=\"4095\","
                   "operation=\"add SA\"}"),
            "kmesh_ipsec_reconcile_errors_total{errno=\"4095\","
            "operation=\"add SA\"} 1");
  EXPECT_THAT(text, HasSubstr("# TYPE kmesh_ipsec_key_changes_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE kmesh_ipsec_advertised_spi gauge"));
}

// Every sample of a family is a distinct series: a dual-stack peer's two
// outbound SAs (one per family, same SPI) and SAs to unknown addresses.
TEST(NodeMetricsTest, NoTwoSamplesShareALabelSet) {
  NodeStatus s = RotatingNode();
  NodeStatus::OutboundSa v6 = s.outbound_sas[0];
  v6.dst = "fd00::2";
  s.outbound_sas.push_back(v6);
  NodeStatus::OutboundSa unknown_a = s.outbound_sas[0];
  unknown_a.peer = "";
  unknown_a.dst = "10.9.9.1";
  NodeStatus::OutboundSa unknown_b = unknown_a;
  unknown_b.dst = "10.9.9.2";
  s.outbound_sas.push_back(unknown_a);
  s.outbound_sas.push_back(unknown_b);
  for (const prometheus::MetricFamily& f : NodeMetricFamilies(s, 1.8e9)) {
    std::set<std::vector<prometheus::ClientMetric::Label>> seen;
    for (const prometheus::ClientMetric& m : f.metric) {
      EXPECT_TRUE(seen.insert(m.label).second) << "duplicate in " << f.name;
    }
  }
}

TEST(NodeMetricsTest, AnAgentNotRunningExportsOnlyUp) {
  const std::string text = PrometheusText(NodeMetricFamilies(std::nullopt, 0));
  EXPECT_EQ(Sample(text, "kmesh_ipsec_up"), "kmesh_ipsec_up 0");
  EXPECT_THAT(text, Not(HasSubstr("kmesh_ipsec_advertised_spi")));
}

TEST(NodeMetricsTest, TheSourceIsReadAtEveryCollect) {
  int calls = 0;
  NodeMetrics metrics([&]() -> std::optional<NodeStatus> {
    ++calls;
    NodeStatus s = RotatingNode();
    s.controller.advertised_spi = calls;
    return s;
  });
  EXPECT_THAT(PrometheusText(metrics.Collect()),
              HasSubstr("\nkmesh_ipsec_advertised_spi 1\n"));
  EXPECT_THAT(PrometheusText(metrics.Collect()),
              HasSubstr("\nkmesh_ipsec_advertised_spi 2\n"));
}

// Prometheus's own linter, from Debian's prometheus package (tools/setup
// installs it).
TEST(NodeMetricsTest, PromtoolAcceptsTheExposition) {
  const char* candidates[] = {"/usr/bin/promtool", "/usr/local/bin/promtool"};
  std::string promtool;
  for (const char* c : candidates) {
    if (access(c, X_OK) == 0) promtool = c;
  }
  if (promtool.empty()) GTEST_SKIP() << "promtool is not installed";
  const std::string dir =
      std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string file = dir + "/metrics.txt";
  {
    std::ofstream out(file);
    out << PrometheusText(NodeMetricFamilies(RotatingNode(), 1.8e9));
  }
  const std::string command = promtool + " check metrics < " + file + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int rc = pclose(pipe);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "") << "promtool lint findings";
}

}  // namespace
}  // namespace kmesh::agent
