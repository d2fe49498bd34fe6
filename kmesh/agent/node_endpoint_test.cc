#include "kmesh/agent/node_endpoint.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/telemetry/testing/http_test_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::agent {
namespace {

using ::kmesh::telemetry::testing::HttpTestClient;
using ::testing::HasSubstr;

NodeStatus SomeStatus(int32_t advertised) {
  NodeStatus s;
  s.node = "node-a";
  s.controller.started = true;
  s.controller.advertised_spi = advertised;
  return s;
}

TEST(CachedNodeStatusTest, ReadsTheSourceAtMostOncePerMaxAge) {
  ManualClock clock;
  int reads = 0;
  NodeStatusSource cached = CachedNodeStatus(
      [&]() -> std::optional<NodeStatus> { return SomeStatus(++reads); },
      std::chrono::seconds(1), &clock);
  EXPECT_EQ(cached()->controller.advertised_spi, 1);
  clock.Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(cached()->controller.advertised_spi, 1);
  EXPECT_EQ(reads, 1);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(cached()->controller.advertised_spi, 2);
  EXPECT_EQ(reads, 2);
}

TEST(CachedNodeStatusTest, AnAgentNotRunningIsCachedToo) {
  ManualClock clock;
  int reads = 0;
  NodeStatusSource cached = CachedNodeStatus(
      [&]() -> std::optional<NodeStatus> {
        ++reads;
        return std::nullopt;
      },
      std::chrono::seconds(1), &clock);
  EXPECT_FALSE(cached().has_value());
  EXPECT_FALSE(cached().has_value());
  EXPECT_EQ(reads, 1);
}

TEST(NodeEndpointTest, ServesStatusMetricsAndHealth) {
  ManualClock clock;
  std::optional<NodeStatus> current;
  auto endpoint = StartNodeEndpoint(
      "127.0.0.1:0", [&] { return current; }, std::chrono::seconds(1), &clock);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const uint16_t port = (*endpoint)->port();

  // Before the agent runs: the status is a 503 Status document, the
  // metrics say kmesh_ipsec_up 0, and the process is healthy.
  {
    HttpTestClient client("127.0.0.1", port);
    auto status = client.Request("GET", kStatusPath);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->result_int(), 503);
    EXPECT_EQ(nlohmann::json::parse(status->body())["kind"], "Status");
    auto metrics = client.Request("GET", "/metrics");
    ASSERT_TRUE(metrics.has_value());
    EXPECT_EQ(metrics->result_int(), 200);
    EXPECT_THAT(std::string(metrics->at("Content-Type")),
                HasSubstr("version=0.0.4"));
    EXPECT_THAT(metrics->body(), HasSubstr("\nkmesh_ipsec_up 0\n"));
    auto health = client.Request("GET", "/healthz");
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(health->body(), "ok\n");
    auto ready = client.Request("GET", "/readyz");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->result_int(), 503);
    EXPECT_THAT(ready->body(), HasSubstr("not running"));
  }
  // Running: within the cache's age the old answer stands, then the new.
  current = SomeStatus(3);
  clock.Advance(std::chrono::seconds(1));
  HttpTestClient client("127.0.0.1", port);
  auto status = client.Request("GET", kStatusPath);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->result_int(), 200);
  EXPECT_EQ(std::string(status->at("Content-Type")), "application/json");
  const nlohmann::json j = nlohmann::json::parse(status->body());
  EXPECT_EQ(j["kind"], "KmeshIpsecNodeStatus");
  EXPECT_EQ(j["advertisedSpi"], 3);
  auto ready = client.Request("GET", "/readyz");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->result_int(), 503) << "peers not synced yet";
  EXPECT_THAT(ready->body(), HasSubstr("peer lists"));
  current = SomeStatus(4);
  current->controller.peers_synced = true;
  auto metrics = client.Request("GET", "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(metrics->body(), HasSubstr("\nkmesh_ipsec_advertised_spi 3\n"));
  clock.Advance(std::chrono::seconds(1));
  metrics = client.Request("GET", "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(metrics->body(), HasSubstr("\nkmesh_ipsec_advertised_spi 4\n"));
  ready = client.Request("GET", "/readyz");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->result_int(), 200);
}

TEST(NodeEndpointTest, ABadAddressIsAnError) {
  auto endpoint = StartNodeEndpoint("node-a:15200",
                                    [] { return std::optional<NodeStatus>(); });
  ASSERT_FALSE(endpoint.ok());
  EXPECT_THAT(std::string(endpoint.status().message()),
              HasSubstr("--status-address"));
}

}  // namespace
}  // namespace kmesh::agent
