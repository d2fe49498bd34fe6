// End to end on the simulated cluster: `kmeshctl secret status`, the real
// binary, against three nodes running the production daemon, each with its
// status endpoint, reached through the simulated API server's pod proxy as in
// a real cluster. It follows a rotation: the new key out with one node lagging
// (named, and a problem only past --lag-threshold), then every node on the
// new SPI with the old SAs awaiting reclaim, then the old key gone; real
// sequence numbers from traffic. A node whose daemon is stopped makes it exit
// non-zero and is named; started again, all is well.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/base/testing/test_directory.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/managed_mesh.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/cluster/traffic.h"

namespace kmesh::sim {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kLaggard[] = "node2";
// node2's kubelet projects the secret this late: it lags every rotation.
constexpr milliseconds kLaggardDelay{4000};
constexpr seconds kGrace{4};

std::string Kmeshctl() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/kmesh_ipsec/kmesh/kmeshctl/kmeshctl");
}

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class SecretStatusE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::kmesh::testing::NewTestDirectory("kmesh-secret-status");
    SimClusterOptions options;
    options.state_dir = dir_;
    options.ipsec_grace_period = kGrace;
    options.key_delays[kLaggard] = kLaggardDelay;
    auto daemon = DaemonNodeAgentFactory();
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    options.agent_factory = *daemon;
    auto cluster = SimCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    traffic_ = std::make_unique<Traffic>(&cluster_->network());
    auto pairs = StartManagedMesh(cluster_.get(), traffic_.get());
    ASSERT_TRUE(pairs.ok()) << pairs.status();
  }

  void TearDown() override {
    traffic_.reset();
    if (cluster_) cluster_->Stop();
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  CommandRun Kmeshctl(const std::string& args) {
    const std::string err_file = dir_ + "/kmeshctl.err";
    const std::string command = absl::StrCat(
        ::kmesh::sim::Kmeshctl(), " --kubeconfig=", cluster_->kubeconfig_path(),
        " ", args, " 2>", err_file);
    CommandRun run;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
      run.out.append(buffer, n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream err;
    err << in.rdbuf();
    run.err = err.str();
    return run;
  }

  // `secret status -o json`, parsed; `run` gets the process result.
  Json StatusJson(CommandRun* run = nullptr, const std::string& flags = "") {
    CommandRun r = Kmeshctl("secret status -o json " + flags);
    if (run != nullptr) *run = r;
    return Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  }

  // Polls the JSON status until `done` holds; the last one is returned.
  Json PollStatus(const std::function<bool(const Json&, int)>& done,
                  std::chrono::milliseconds timeout = seconds(30)) {
    Json last;
    PollUntil(
        [&] {
          CommandRun run;
          last = StatusJson(&run);
          return last.is_object() && done(last, run.exit_code);
        },
        timeout, milliseconds(100));
    return last;
  }

  std::string dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<Traffic> traffic_;
};

// Whether every node has a daemon document and `pred` holds for each. A
// daemon's document may be up to a second older than the API objects
// (the endpoint's cache, kStatusMaxAge), so polls wait on both.
bool EveryDaemon(const Json& status,
                 const std::function<bool(const Json&)>& pred) {
  if (!status.is_object() || status["nodes"].empty()) return false;
  for (const Json& n : status["nodes"]) {
    if (!n["daemon"].is_object() || !pred(n["daemon"])) return false;
  }
  return true;
}

bool AllPeersProgrammed(const Json& daemon) {
  for (const Json& p : daemon["peers"]) {
    if (p["state"] != "programmed") return false;
  }
  return daemon["peers"].size() == 2;
}

const Json* NodeIn(const Json& status, const std::string& name) {
  for (const Json& n : status["nodes"]) {
    if (n["name"] == name) return &n;
  }
  return nullptr;
}

TEST_F(SecretStatusE2eTest, FollowsARotationToTheReclaimOfTheOldKey) {
  // No secret yet: the status cannot be read, and says what to do.
  CommandRun none = Kmeshctl("secret status");
  EXPECT_EQ(none.exit_code, 1) << none.out << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "kmeshctl secret create"))
      << none.err;

  ASSERT_TRUE(traffic_->Start(50, milliseconds(120000)).ok());
  CommandRun created = Kmeshctl("secret create");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Json first = PollStatus([](const Json& s, int code) {
    return code == 0 && !s["rotation"]["inProgress"].get<bool>() &&
           EveryDaemon(s, [](const Json& d) {
             return d["targetSpi"] == 1 && AllPeersProgrammed(d);
           });
  });
  ASSERT_TRUE(first.is_object());
  EXPECT_EQ(first["secret"]["spi"], 1);
  EXPECT_TRUE(first["healthy"].get<bool>()) << first.dump(2);
  ASSERT_EQ(first["nodes"].size(), 3u) << first.dump(2);
  for (const Json& n : first["nodes"]) {
    ASSERT_TRUE(n["daemon"].is_object()) << n.dump(2);
    EXPECT_EQ(n["advertisedSpi"], 1);
    EXPECT_EQ(n["daemon"]["targetSpi"], 1);
    const Json& spis = n["daemon"]["kernel"]["spis"];
    ASSERT_EQ(spis.size(), 1u) << n.dump(2);
    EXPECT_EQ(spis[0]["inboundSas"], 2);
    EXPECT_EQ(spis[0]["outboundSas"], 2);
    for (const Json& p : n["daemon"]["peers"]) {
      EXPECT_EQ(p["state"], "programmed") << n.dump(2);
    }
  }
  // Packets flow: the outbound SAs' sequence numbers are the kernel's.
  ASSERT_TRUE(PollUntil(
      [&] {
        Json s = StatusJson();
        if (!s.is_object()) return false;
        for (const Json& n : s["nodes"]) {
          for (const Json& sa : n["daemon"]["kernel"]["outboundSas"]) {
            if (sa["outputSeq"].get<uint64_t>() < 20) return false;
          }
        }
        return true;
      },
      seconds(20)));

  // The rotation: node2 gets the key 4 s after the others.
  CommandRun rotated = Kmeshctl("secret create");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  // The others advertise spi 2 as soon as they can receive with it; node2
  // lags until its volume has the key.
  Json during = PollStatus([](const Json& s, int) {
    return s["secret"]["spi"] == 2 && s["rotation"]["inProgress"] == true &&
           s["rotation"]["lagging"] == Json::array({kLaggard}) &&
           s["rotation"]["keyOutForSeconds"].is_number();
  });
  ASSERT_TRUE(during.is_object());
  EXPECT_EQ(during["rotation"]["lagging"], Json::array({kLaggard}))
      << during.dump(2);
  EXPECT_TRUE(during["rotation"]["keyOutForSeconds"].is_number());
  {
    // Within the threshold it is not a problem; the table names the laggard.
    CommandRun text = Kmeshctl("secret status");
    std::cout << "--- during the rotation:\n" << text.out;
    if (absl::StrContains(text.out, "in progress")) {
      EXPECT_EQ(text.exit_code, 0) << text.out;
      EXPECT_TRUE(
          absl::StrContains(text.out, "nodes lag: node2 (advertises spi 1)"))
          << text.out;
    }
    // Past it (0 s), the lagging node is a problem: exit 2, named.
    CommandRun strict = Kmeshctl("secret status --lag-threshold=0s");
    if (absl::StrContains(strict.out, "in progress")) {
      EXPECT_EQ(strict.exit_code, 2) << strict.out;
      EXPECT_TRUE(
          absl::StrContains(strict.out, "node2: lags: advertises spi 1"))
          << strict.out;
    }
  }

  // Complete: every node on spi 2, the old SAs kept for the grace period.
  // Every node advertising 2 is what "complete" means; each sender moves
  // its outbound SA once it has seen that, which can be a tick later, so
  // the poll waits for that too.
  Json complete = PollStatus([](const Json& s, int code) {
    return code == 0 && s["secret"]["spi"] == 2 &&
           s["rotation"]["inProgress"] == false &&
           s["rotation"]["oldSpisHeld"] == Json::array({1}) &&
           EveryDaemon(s, [](const Json& d) {
             bool sending_2 = true;
             for (const Json& p : d["peers"]) {
               sending_2 = sending_2 && p["outboundSpi"] == 2;
             }
             return d["targetSpi"] == 2 && d["kernel"]["spis"].size() == 2 &&
                    AllPeersProgrammed(d) && sending_2;
           });
  });
  ASSERT_TRUE(complete.is_object());
  EXPECT_TRUE(complete["rotation"]["lastReclaimDueInSeconds"].is_number())
      << complete.dump(2);
  for (const Json& n : complete["nodes"]) {
    EXPECT_EQ(n["advertisedSpi"], 2);
    EXPECT_EQ(n["daemon"]["kernel"]["spis"].size(), 2u) << n.dump(2);
    for (const Json& p : n["daemon"]["peers"]) {
      EXPECT_EQ(p["outboundSpi"], 2);
    }
  }
  CommandRun complete_text = Kmeshctl("secret status");
  std::cout << "--- complete:\n" << complete_text.out;
  EXPECT_TRUE(
      absl::StrContains(complete_text.out, "Rollout of spi 2: complete"))
      << complete_text.out;

  // Reclaimed: the old key is gone everywhere.
  Json reclaimed = PollStatus(
      [](const Json& s, int code) {
        return code == 0 && s["rotation"]["oldSpisHeld"].empty() &&
               EveryDaemon(s, [](const Json& d) {
                 return d["targetSpi"] == 2 && d["kernel"]["spis"].size() == 1;
               });
      },
      seconds(30));
  ASSERT_TRUE(reclaimed.is_object());
  for (const Json& n : reclaimed["nodes"]) {
    ASSERT_EQ(n["daemon"]["kernel"]["spis"].size(), 1u) << n.dump(2);
    EXPECT_EQ(n["daemon"]["kernel"]["spis"][0]["spi"], 2);
    EXPECT_TRUE(n["daemon"]["pendingReclaims"].empty());
    EXPECT_TRUE(n["daemon"]["kernel"]["xfrmStatChangedSinceStart"].empty())
        << n.dump(2);
  }
  CommandRun final_text = Kmeshctl("secret status");
  std::cout << "--- reclaimed:\n" << final_text.out;
  EXPECT_EQ(final_text.exit_code, 0) << final_text.out;
  EXPECT_TRUE(absl::StrContains(final_text.out, "Old keys: none held"))
      << final_text.out;
  traffic_->Stop();
  const DirectionStats totals = traffic_->Totals();
  EXPECT_GT(totals.received, 0u);
  EXPECT_EQ(totals.lost, 0u);
}

TEST_F(SecretStatusE2eTest, AStoppedDaemonFailsTheCheckAndIsNamed) {
  ASSERT_TRUE(cluster_->WriteIpsecSecret(1).ok());
  ASSERT_TRUE(
      PollUntil([&] { return cluster_->AllNodesAdvertise(1); }, seconds(20)));
  Json healthy = PollStatus([](const Json& s, int code) {
    return code == 0 &&
           EveryDaemon(s, [](const Json& d) { return d["targetSpi"] == 1; });
  });
  ASSERT_TRUE(healthy.is_object());

  ASSERT_TRUE(cluster_->StopAgentOnly("node1").ok());
  CommandRun down = Kmeshctl("secret status");
  std::cout << "--- node1's daemon stopped:\n" << down.out;
  EXPECT_EQ(down.exit_code, 2) << down.out << down.err;
  EXPECT_TRUE(absl::StrContains(down.out,
                                "node1: daemon kmesh-node1 not "
                                "reachable"))
      << down.out;
  CommandRun down_json;
  Json j = StatusJson(&down_json);
  EXPECT_EQ(down_json.exit_code, 2);
  ASSERT_TRUE(j.is_object()) << down_json.out;
  EXPECT_FALSE(j["healthy"].get<bool>());
  const Json* node1 = NodeIn(j, "node1");
  ASSERT_NE(node1, nullptr);
  EXPECT_TRUE((*node1)["daemon"].is_null());
  EXPECT_NE((*node1)["daemonError"].get<std::string>(), "");
  // Its KmeshNodeInfo still says spi 1: the cluster view is kept.
  EXPECT_EQ((*node1)["advertisedSpi"], 1);

  ASSERT_TRUE(cluster_->StartStoppedAgent("node1").ok());
  Json back = PollStatus([](const Json&, int code) { return code == 0; });
  ASSERT_TRUE(back.is_object());
  EXPECT_TRUE(back["healthy"].get<bool>()) << back.dump(2);
}

}  // namespace
}  // namespace kmesh::sim
