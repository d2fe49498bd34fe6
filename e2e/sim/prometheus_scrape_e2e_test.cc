// End to end on the simulated cluster with a real Prometheus server
// (Debian's /usr/bin/prometheus; the test skips without it): three nodes run
// the production daemon, and Prometheus scrapes every daemon's /metrics on
// its status port each second. Through a rotation from spi 1 to spi 2 it
// proves that what a real scraper stores is right: Prometheus parses the
// daemon's exposition (every target up, no scrape error), keeps one series
// of kmesh_ipsec_advertised_spi per node, and each series goes 1 then 2 and
// never back, as the nodes' KmeshNodeInfo did. The questions are asked
// through Prometheus's HTTP API (query_range, query, targets), as a
// dashboard or an alert would.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/base/testing/test_directory.h"
#include "kmesh/telemetry/testing/http_test_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/sim_cluster.h"

namespace kmesh::sim {
namespace {

using Json = nlohmann::json;
using ::kmesh::telemetry::testing::HttpTestClient;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kJob[] = "kmesh-ipsec";
// Scrapes of each SPI Prometheus must have stored before the test moves on.
constexpr int kScrapesPerSpi = 3;

// A port on 127.0.0.1 that was free a moment ago: bound to port 0, read,
// closed.
uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

std::string UnixSeconds(absl::Time t) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class PrometheusScrapeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPrometheus, X_OK) != 0) {
      GTEST_SKIP() << kPrometheus
                   << " is not installed (tools/setup installs Debian's "
                      "prometheus package)";
    }
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-prometheus");
    SimClusterOptions options;
    options.state_dir = dir_ + "/cluster";
    auto daemon = DaemonNodeAgentFactory();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    options.agent_factory = *daemon;
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_EQ(cluster_->node_names().size(), 3u);
    start_ = absl::Now();
    StartPrometheus();
  }

  void TearDown() override {
    StopPrometheus();
    if (HasFailure() && !log_path_.empty()) {
      std::cerr << "--- prometheus output (" << log_path_ << ") ---\n"
                << ReadFile(log_path_) << "--- end of prometheus output ---\n";
    }
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Writes the configuration and starts Prometheus; returns once it is
  // ready (GET /-/ready answers 200).
  void StartPrometheus() {
    std::string config = absl::StrCat(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ",
        kJob, "\n    static_configs:\n");
    for (const std::string& node : cluster_->node_names()) {
      NodeAgent* agent = cluster_->agent(node);
      ASSERT_NE(agent, nullptr) << node;
      ASSERT_NE(agent->status_port(), 0) << node << " serves no /metrics";
      absl::StrAppend(
          &config, "      - targets: ['127.0.0.1:", agent->status_port(),
          "']\n        labels:\n", "          node: '", node, "'\n");
    }
    const std::string config_path = dir_ + "/prometheus.yml";
    {
      std::ofstream out(config_path);
      out << config;
      ASSERT_TRUE(out.good()) << config_path;
    }
    port_ = FreeLoopbackPort();
    ASSERT_NE(port_, 0);
    log_path_ = dir_ + "/prometheus.log";

    // Everything the child needs is built before fork: between fork and
    // exec only async-signal-safe calls (this process has threads).
    std::vector<std::string> args = {
        kPrometheus,
        "--config.file=" + config_path,
        "--storage.tsdb.path=" + dir_ + "/tsdb",
        absl::StrCat("--web.listen-address=127.0.0.1:", port_),
        "--log.level=warn",
    };
    std::vector<std::string> env = {"HOME=" + dir_, "PATH=/usr/bin:/bin"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int log_fd =
        open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(log_fd, 0) << log_path_;
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      // Killed with the test, should the test die before its TearDown.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      if (chdir(dir_.c_str()) != 0) _exit(127);
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(log_fd);
    ASSERT_GT(pid, 0) << "fork failed";
    pid_ = pid;

    const bool ready = PollUntil(
        [&] {
          if (Exited()) return false;
          auto r = Get("/-/ready");
          return r && r->result_int() == 200;
        },
        seconds(60), milliseconds(100));
    ASSERT_TRUE(ready) << "Prometheus did not become ready on 127.0.0.1:"
                       << port_ << (Exited() ? " (it exited)" : "");
  }

  // Whether the child has exited (it is reaped then).
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  void StopPrometheus() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (!PollUntil([&] { return Exited(); }, seconds(10), milliseconds(50))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // GET on Prometheus, one connection per request.
  std::optional<HttpTestClient::Response> Get(const std::string& target) {
    HttpTestClient client("127.0.0.1", port_);
    if (!client.status().ok()) return std::nullopt;
    return client.Request("GET", target);
  }

  // An API call's "data", after checking status 200 and "success".
  Json Api(const std::string& target) {
    auto r = Get(target);
    if (!r) {
      ADD_FAILURE() << "no answer to GET " << target;
      return Json();
    }
    Json j = Json::parse(r->body(), nullptr, /*allow_exceptions=*/false);
    if (r->result_int() != 200 || !j.is_object() || j["status"] != "success") {
      ADD_FAILURE() << "GET " << target << ": " << r->result_int() << " "
                    << r->body();
      return Json();
    }
    return j["data"];
  }

  Json Query(const std::string& promql) {
    return Api("/api/v1/query?query=" + UrlEncode(promql));
  }

  // Whether Prometheus has stored at least `n` scraped samples equal to
  // `spi` for every node (raw samples of a range selector, not steps).
  bool ScrapedOnEveryNode(int spi, int n) {
    auto r = Get("/api/v1/query?query=" +
                 UrlEncode("kmesh_ipsec_advertised_spi[5m]"));
    if (!r || r->result_int() != 200) return false;
    Json j = Json::parse(r->body(), nullptr, false);
    if (!j.is_object() || j["status"] != "success") return false;
    std::map<std::string, int> count;
    for (const Json& series : j["data"]["result"]) {
      const std::string node = series["metric"].value("node", "");
      for (const Json& v : series["values"]) {
        if (v[1] == std::to_string(spi)) ++count[node];
      }
    }
    for (const std::string& node : cluster_->node_names()) {
      if (count[node] < n) return false;
    }
    return true;
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  absl::Time start_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string log_path_;
};

TEST_F(PrometheusScrapeE2eTest, StoresEachNodesSpiThroughARotation) {
  // Before the first key every daemon is up and advertises nothing (0).
  ASSERT_TRUE(PollUntil([&] { return ScrapedOnEveryNode(0, 2); }, seconds(30),
                        milliseconds(250)))
      << "Prometheus has not stored 2 scrapes of spi 0 from every node";
  for (int spi : {1, 2}) {
    ASSERT_TRUE(cluster_->WriteIpsecSecret(spi).ok());
    ASSERT_TRUE(PollUntil([&] { return cluster_->AllNodesAdvertise(spi); },
                          seconds(30)))
        << "not every node advertises spi " << spi;
    ASSERT_TRUE(
        PollUntil([&] { return ScrapedOnEveryNode(spi, kScrapesPerSpi); },
                  seconds(30), milliseconds(250)))
        << "Prometheus has not stored " << kScrapesPerSpi << " scrapes of spi "
        << spi << " from every node";
  }

  // The rotation as Prometheus recorded it, one value per second.
  const Json range = Api(absl::StrCat(
      "/api/v1/query_range?query=", UrlEncode("kmesh_ipsec_advertised_spi"),
      "&start=", UnixSeconds(start_), "&end=", UnixSeconds(absl::Now()),
      "&step=1"));
  std::cout << "query_range kmesh_ipsec_advertised_spi: " << range.dump()
            << std::endl;
  ASSERT_EQ(range["resultType"], "matrix") << range.dump();
  ASSERT_EQ(range["result"].size(), 3u) << range.dump();
  std::map<std::string, int> series_per_node;
  for (const Json& series : range["result"]) {
    const std::string node = series["metric"].value("node", "");
    ++series_per_node[node];
    EXPECT_EQ(series["metric"]["job"], kJob);
    // 0 (no key yet), then 1 ..., then 2 ..., never back.
    std::vector<int> values;
    for (const Json& v : series["values"]) {
      values.push_back(std::stoi(v[1].get<std::string>()));
    }
    size_t i = 0;
    while (i < values.size() && values[i] == 0) ++i;
    EXPECT_GE(i, 1u) << node << ": no 0 before the first key in "
                     << series.dump();
    int ones = 0;
    int twos = 0;
    for (; i < values.size() && values[i] == 1; ++i) ++ones;
    for (; i < values.size() && values[i] == 2; ++i) ++twos;
    EXPECT_EQ(i, values.size()) << node << ": unexpected value " << values[i]
                                << " at step " << i << " in " << series.dump();
    EXPECT_GE(ones, 2) << node << ": " << series.dump();
    EXPECT_GE(twos, 2) << node << ": " << series.dump();
  }
  for (const std::string& node : cluster_->node_names()) {
    EXPECT_EQ(series_per_node[node], 1) << node << " in " << range.dump();
  }

  // Every target up.
  const Json up = Query(absl::StrCat("up{job=\"", kJob, "\"}"));
  std::cout << "query up{job=\"" << kJob << "\"}: " << up.dump() << std::endl;
  ASSERT_EQ(up["result"].size(), 3u) << up.dump();
  std::map<std::string, std::string> up_by_node;
  for (const Json& s : up["result"]) {
    up_by_node[s["metric"].value("node", "")] = s["value"][1];
  }
  for (const std::string& node : cluster_->node_names()) {
    EXPECT_EQ(up_by_node[node], "1") << node << " in " << up.dump();
  }

  // The daemon itself says it is up, and no scrape ever failed.
  const Json agent_up = Query("kmesh_ipsec_up");
  std::cout << "query kmesh_ipsec_up: " << agent_up.dump() << std::endl;
  ASSERT_EQ(agent_up["result"].size(), 3u) << agent_up.dump();
  for (const Json& s : agent_up["result"]) {
    EXPECT_EQ(s["value"][1], "1") << s.dump();
  }
  const Json targets = Api("/api/v1/targets");
  ASSERT_EQ(targets["activeTargets"].size(), 3u) << targets.dump();
  for (const Json& t : targets["activeTargets"]) {
    EXPECT_EQ(t["health"], "up") << t.dump();
    EXPECT_EQ(t.value("lastError", ""), "") << t.dump();
  }
}

}  // namespace
}  // namespace kmesh::sim
