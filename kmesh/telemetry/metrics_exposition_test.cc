#include "kmesh/telemetry/metrics_exposition.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/shell_command.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/telemetry/http_endpoint.h"
#include "kmesh/telemetry/testing/http_test_client.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace kmesh::telemetry {
namespace {

using ::kmesh::telemetry::testing::HttpTestClient;
using ::testing::HasSubstr;

// A registry like the daemon's: a labelled counter family, a gauge and a
// histogram.
std::shared_ptr<prometheus::Registry> TestRegistry() {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& packets = prometheus::BuildCounter()
                      .Name("kmesh_test_packets_total")
                      .Help("Packets seen, by direction.")
                      .Register(*registry);
  packets.Add({{"direction", "in"}}).Increment(3);
  packets.Add({{"direction", "out"}}).Increment();
  // A label value that must be escaped: quote, backslash, newline.
  packets.Add({{"direction", "odd \"quoted\" \\ \nvalue"}}).Increment(2);
  prometheus::BuildGauge()
      .Name("kmesh_test_peers")
      .Help("Peers known.")
      .Register(*registry)
      .Add({})
      .Set(2);
  prometheus::BuildHistogram()
      .Name("kmesh_test_apply_seconds")
      .Help("Time to apply a layout.")
      .Register(*registry)
      .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.1, 1})
      .Observe(0.05);
  return registry;
}

TEST(MetricsExpositionTest, SerializesTheRegistryAsText004) {
  auto registry = TestRegistry();
  const HttpResponse response = PrometheusTextResponse(*registry);
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(response.body,
              HasSubstr("# HELP kmesh_test_packets_total Packets seen, by "
                        "direction.\n"
                        "# TYPE kmesh_test_packets_total counter\n"));
  EXPECT_THAT(response.body,
              HasSubstr("kmesh_test_packets_total{direction=\"in\"} 3\n"));
  EXPECT_THAT(response.body,
              HasSubstr("kmesh_test_packets_total{direction=\"out\"} 1\n"));
  EXPECT_THAT(response.body,
              HasSubstr("kmesh_test_packets_total{direction=\"odd "
                        "\\\"quoted\\\" \\\\ \\nvalue\"} 2\n"));
  EXPECT_THAT(response.body, HasSubstr("# HELP kmesh_test_peers Peers known.\n"
                                       "# TYPE kmesh_test_peers gauge\n"
                                       "kmesh_test_peers 2\n"));
  EXPECT_THAT(response.body,
              HasSubstr("# TYPE kmesh_test_apply_seconds histogram\n"));
  EXPECT_THAT(response.body,
              HasSubstr("kmesh_test_apply_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(response.body,
              HasSubstr("kmesh_test_apply_seconds_bucket{le=\"+Inf\"} 1\n"));
}

TEST(MetricsExpositionTest, PromtoolAcceptsTheText) {
  if (!kmesh::testing::HaveTool("promtool")) {
    GTEST_SKIP() << "promtool is not on the PATH (" << std::getenv("PATH")
                 << "); tools/setup installs Debian's prometheus";
  }
  const std::string body = PrometheusTextResponse(*TestRegistry()).body;
  const std::string dir = kmesh::testing::NewTestDirectory("promtool");
  const std::string file = dir + "/metrics.txt";
  {
    std::ofstream out(file);
    out << body;
  }
  // promtool reads the exposition on stdin; it prints lint findings and
  // exits non-zero on any, and on a parse error.
  const std::string output = kmesh::testing::CommandOutput(
      absl::StrCat("promtool check metrics < '", file, "' 2>&1; echo exit=$?"));
  EXPECT_THAT(output, HasSubstr("exit=0")) << output << "\n" << body;
  std::remove(file.c_str());
  std::remove(dir.c_str());

  // And promtool does notice a broken exposition (the check is real).
  const std::string broken_file =
      kmesh::testing::NewTestDirectory("broken") + "/metrics.txt";
  {
    std::ofstream out(broken_file);
    out << "# TYPE kmesh_x counter\nkmesh_x{a=\"1\" 1\n";
  }
  EXPECT_THAT(
      kmesh::testing::CommandOutput(absl::StrCat(
          "promtool check metrics < '", broken_file, "' 2>&1; echo exit=$?")),
      ::testing::Not(HasSubstr("exit=0")));
}

TEST(MetricsExpositionTest, ServedByHttpEndpointAsPrometheusScrapesIt) {
  auto registry = TestRegistry();
  HttpEndpointOptions options;
  options.address = "127.0.0.1:0";
  options.routes["/metrics"] = PrometheusHandler(registry);
  auto endpoint = HttpEndpoint::Start(std::move(options));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  HttpTestClient client("127.0.0.1", (*endpoint)->port());
  // Prometheus 2.42's scrape request headers.
  auto response = client.Request(
      "GET", "/metrics",
      "User-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,application/"
      "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
      "*/*;q=0.1\r\n"
      "Accept-Encoding: gzip\r\n"
      "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_EQ((*response)["Content-Type"],
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ((*response)["Content-Encoding"], "");
  EXPECT_THAT(response->body(), HasSubstr("kmesh_test_peers 2\n"));

  // A later scrape sees the registry as it is then.
  prometheus::BuildGauge()
      .Name("kmesh_test_late")
      .Help("Added later.")
      .Register(*registry)
      .Add({})
      .Set(7);
  auto later = client.Request("GET", "/metrics");
  ASSERT_TRUE(later.has_value());
  EXPECT_THAT(later->body(), HasSubstr("kmesh_test_late 7\n"));
}

}  // namespace
}  // namespace kmesh::telemetry
