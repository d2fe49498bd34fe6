// End-to-end test of the daemon binary (kmesh-daemon-sim: kmesh-daemon's own
// code path, RunDaemon and the IpsecAgent, on a simulated kernel) against the
// simulated API server on loopback: with --enable-ipsec it reads its Node,
// picks up the mounted key file, publishes its KmeshNodeInfo with the key's
// SPI, follows a rotation of the file, and on SIGTERM exits 0 leaving its
// record in place (a restart is hitless); `kmesh-daemon-sim uninstall`
// deletes it, and only it, idempotently. A status address that is taken does
// not stop IPsec. Waits are bounded polls of the API
// (the daemon is another process), never fixed sleeps before an assertion.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmesh/base/poll_until.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"

namespace kmesh::daemon {
namespace {

namespace fs = std::filesystem;

const char kBoot[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

std::string KeyJson(int spi, uint8_t fill) {
  // 36 bytes of `fill`, base64: 48 characters.
  std::string raw(36, static_cast<char>(fill));
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t i = 0; i < raw.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(raw[i]) << 16) |
                 (static_cast<uint8_t>(raw[i + 1]) << 8) |
                 static_cast<uint8_t>(raw[i + 2]);
    for (int j = 3; j >= 0; --j) b64 += kAlphabet[(v >> (6 * j)) & 63];
  }
  return absl::StrCat("{\"spi\":", spi,
                      ",\"aeadKeyName\":\"rfc4106(gcm(aes))\",\"aeadKey\":\"",
                      b64, "\",\"length\":128}");
}

// Writes `content` the way kubelet does: a new file renamed into place.
void WriteAtomically(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << content;
  fs::rename(tmp, path);
}

// How long a daemon may take to react to the API server or its key file.
constexpr std::chrono::seconds kReactionLimit(30);

class KmeshDaemonE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(std::getenv("TEST_TMPDIR")) / "daemon";
    fs::create_directories(dir_);
    auto server = sim::kube::ApiServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WriteKubeconfig((dir_ / "kubeconfig").string()).ok());
    auto access = kube::LoadKubeconfigFile((dir_ / "kubeconfig").string(), "");
    ASSERT_TRUE(access.ok()) << access.status();
    auto client = kube::RestKubeClient::ForCluster(*access);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    nlohmann::json node = {
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata", {{"name", "node-a"}}},
        {"spec", {{"podCIDRs", {"10.244.0.0/24"}}}},
        {"status",
         {{"addresses", {{{"type", "InternalIP"}, {"address", "172.18.0.2"}}}},
          {"nodeInfo", {{"bootID", kBoot}}}}}};
    ASSERT_TRUE(client_->Create(kube::NodesKind(), "", node.dump()).ok());
    nlohmann::json ns = {{"apiVersion", "v1"},
                         {"kind", "Namespace"},
                         {"metadata", {{"name", "kmesh-system"}}}};
    ASSERT_TRUE(client_->Create(kube::NamespacesKind(), "", ns.dump()).ok());
    nlohmann::json peer = {
        {"apiVersion", "kmesh.net/v1alpha1"},
        {"kind", "KmeshNodeInfo"},
        {"metadata", {{"name", "node-b"}, {"namespace", "kmesh-system"}}},
        {"spec",
         {{"spi", 1},
          {"addresses", {"172.18.0.3"}},
          {"bootID", "11111111-2222-3333-4444-555555555555"},
          {"podCIDRS", {"10.244.1.0/24"}}}}};
    auto created = client_->Create(kube::KmeshNodeInfosKind(), "kmesh-system",
                                   peer.dump());
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void StartDaemon(const std::vector<std::string>& flags) {
    const std::string binary = "sim/daemon/kmesh-daemon-sim";
    std::vector<std::string> args = {binary};
    args.insert(args.end(), flags.begin(), flags.end());
    const std::string log = (dir_ / "daemon.log").string();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }

  // The SPI in node-a's published record, or -1 when there is none.
  int PublishedSpi() {
    auto object =
        client_->Get(kube::KmeshNodeInfosKind(), "kmesh-system", "node-a");
    if (!object.ok()) return -1;
    auto json = nlohmann::json::parse(*object, nullptr, false);
    if (json.is_discarded()) return -1;
    return json["spec"].value("spi", 0);
  }

  std::string DaemonLog() {
    std::ifstream in(dir_ / "daemon.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  std::unique_ptr<sim::kube::ApiServer> server_;
  std::unique_ptr<kube::RestKubeClient> client_;
  pid_t pid_ = -1;
};

TEST_F(KmeshDaemonE2eTest,
       PublishesKeySpiFollowsRotationAndKeepsItsRecordOnSigterm) {
  const fs::path key_file = dir_ / "kmesh-ipsec" / "ipSec";
  StartDaemon({"--mode=dual-engine", "--enable-bypass=false",
               "--enable-ipsec=true", "--node-name=node-a",
               absl::StrCat("--kubeconfig=", (dir_ / "kubeconfig").string()),
               absl::StrCat("--ipsec-key-file=", key_file.string())});
  // No key file yet: the daemon runs keyless and publishes nothing.
  ASSERT_TRUE(PollUntil(
      [&] { return DaemonLog().find("IPsec running") != std::string::npos; },
      kReactionLimit))
      << DaemonLog();
  EXPECT_EQ(PublishedSpi(), -1);

  WriteAtomically(key_file, KeyJson(1, 0x11));
  ASSERT_TRUE(PollUntil([&] { return PublishedSpi() == 1; }, kReactionLimit))
      << DaemonLog();
  auto record = nlohmann::json::parse(
      *client_->Get(kube::KmeshNodeInfosKind(), "kmesh-system", "node-a"));
  EXPECT_EQ(record["spec"]["addresses"][0], "172.18.0.2");
  EXPECT_EQ(record["spec"]["bootID"], kBoot);
  EXPECT_EQ(record["spec"]["podCIDRS"][0], "10.244.0.0/24");

  WriteAtomically(key_file, KeyJson(2, 0x22));
  ASSERT_TRUE(PollUntil([&] { return PublishedSpi() == 2; }, kReactionLimit))
      << DaemonLog();

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  ASSERT_TRUE(WIFEXITED(status)) << DaemonLog();
  EXPECT_EQ(WEXITSTATUS(status), 0) << DaemonLog();
  EXPECT_EQ(PublishedSpi(), 2) << "SIGTERM must leave the record in place";
  EXPECT_NE(DaemonLog().find("the node keeps its SAs"), std::string::npos)
      << DaemonLog();

  // `uninstall` is what removes it: its own record only, and a second run
  // finds nothing and succeeds.
  const std::string kubeconfig =
      absl::StrCat("--kubeconfig=", (dir_ / "kubeconfig").string());
  for (int run = 0; run < 2; ++run) {
    StartDaemon({"uninstall", "--node-name=node-a", kubeconfig});
    ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
    pid_ = -1;
    ASSERT_TRUE(WIFEXITED(status)) << DaemonLog();
    EXPECT_EQ(WEXITSTATUS(status), 0) << "run " << run << ": " << DaemonLog();
    EXPECT_EQ(PublishedSpi(), -1);
    EXPECT_TRUE(
        client_->Get(kube::KmeshNodeInfosKind(), "kmesh-system", "node-b").ok())
        << "another node's record was touched";
  }
}

// The status endpoint is for observing: a status address someone else holds
// must not keep IPsec from running, and the endpoint comes up once the
// address is free.
TEST_F(KmeshDaemonE2eTest, ATakenStatusAddressDoesNotStopIpsec) {
  // Hold a loopback port, as another host-network process would.
  // CLOEXEC: the daemon, forked after this, must not inherit it.
  const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address),
            0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length),
            0);
  const int port = ntohs(address.sin_port);

  const fs::path key_file = dir_ / "kmesh-ipsec" / "ipSec";
  WriteAtomically(key_file, KeyJson(1, 0x11));
  StartDaemon({"--enable-ipsec=true", "--node-name=node-a",
               absl::StrCat("--kubeconfig=", (dir_ / "kubeconfig").string()),
               absl::StrCat("--ipsec-key-file=", key_file.string()),
               absl::StrCat("--status-address=127.0.0.1:", port)});
  ASSERT_TRUE(PollUntil([&] { return PublishedSpi() == 1; }, kReactionLimit))
      << DaemonLog();
  EXPECT_NE(DaemonLog().find("IPsec runs without it; retrying every 10 s"),
            std::string::npos)
      << DaemonLog();

  close(holder);
  const std::string up =
      absl::StrCat("status endpoint on 127.0.0.1:", port, " (GET");
  EXPECT_TRUE(
      PollUntil([&] { return DaemonLog().find(up) != std::string::npos; },
                std::chrono::seconds(25)))
      << DaemonLog();
}

TEST_F(KmeshDaemonE2eTest, UninstallNeedsANodeAndUnknownCommandsAreRefused) {
  int status = 0;
  unsetenv("NODE_NAME");
  StartDaemon({"uninstall",
               absl::StrCat("--kubeconfig=", (dir_ / "kubeconfig").string())});
  ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << DaemonLog();
  EXPECT_NE(DaemonLog().find("uninstall needs this node's name"),
            std::string::npos)
      << DaemonLog();

  StartDaemon({"unintsall", "--node-name=node-a"});
  ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << DaemonLog();
  EXPECT_NE(DaemonLog().find("unknown command \"unintsall\""),
            std::string::npos)
      << DaemonLog();
}

}  // namespace
}  // namespace kmesh::daemon
