// The proof: the real kmeshctl binary, run as a subprocess, against
// the simulated Kubernetes API server on loopback, configured only through
// the kubeconfig the server writes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

extern char** environ;

namespace kmesh::kmeshctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;
using sim::kube::ApiServer;

constexpr char kNs[] = "kmesh-system";
constexpr char kName[] = "kmesh-ipsec";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TestTmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string KmeshctlPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/kmesh_ipsec/kmesh/kmeshctl/kmeshctl");
}

// One kmeshctl process with stdout and stderr captured in files.
class Kmeshctl {
 public:
  // `extra_env`: "NAME=value" entries added to the cleaned environment.
  explicit Kmeshctl(const std::vector<std::string>& args,
                    const std::vector<std::string>& extra_env = {}) {
    static int counter = 0;
    const std::string base =
        absl::StrCat(TestTmpDir(), "/run", getpid(), "_", ++counter);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    home_ = base + ".home";
    mkdir(home_.c_str(), 0700);

    std::vector<std::string> argv_storage = {KmeshctlPath()};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    // The environment of an operator's shell, minus anything that could
    // point kmeshctl at another cluster.
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      if (absl::StartsWith(entry, "KUBECONFIG=") ||
          absl::StartsWith(entry, "KUBERNETES_SERVICE_") ||
          absl::StartsWith(entry, "HOME=") || absl::StartsWith(entry, "TZ=")) {
        continue;
      }
      env_storage.push_back(entry);
    }
    env_storage.push_back("HOME=" + home_);
    env_storage.push_back("TZ=UTC");
    env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());

    pid_ = fork();
    if (pid_ == 0) {
      const int out =
          open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err =
          open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> argv, envp;
      for (std::string& a : argv_storage) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (std::string& e : env_storage) envp.push_back(e.data());
      envp.push_back(nullptr);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
  }

  RunResult Wait() {
    RunResult result;
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) {
      if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
      } else {
        result.exit_code = 128 + WTERMSIG(status);  // Crashed: never OK.
      }
    }
    result.out = ReadFile(out_path_);
    result.err = ReadFile(err_path_);
    return result;
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_, home_;
};

class KmeshctlBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(sim::kube::CreateNamespace(server_->store(), kNs).ok());
    kubeconfig_ = absl::StrCat(TestTmpDir(), "/kubeconfig-", getpid());
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
  }

  RunResult Run(std::vector<std::string> args) {
    args.push_back("--kubeconfig=" + kubeconfig_);
    return Kmeshctl(args).Wait();
  }

  const sim::kube::ResourceType& Secrets() {
    return *server_->store().FindType("", "v1", "secrets");
  }

  // The stored Secret, or null when there is none.
  Json StoredSecret() {
    absl::StatusOr<Json> secret = server_->store().Get(Secrets(), kNs, kName);
    return secret.ok() ? *secret : Json();
  }

  // data.ipSec of `secret`, decoded: the bytes Kmesh's daemon reads.
  static std::string IpSecOf(const Json& secret) {
    auto bytes =
        crypto::Base64Decode(secret["data"]["ipSec"].get<std::string>());
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : "";
  }

  static int SpiOf(const std::string& ipsec_json) {
    return Json::parse(ipsec_json)["spi"].get<int>();
  }

  // The key of an ipSec JSON in hex.
  static std::string KeyHexOf(const std::string& ipsec_json) {
    auto key = crypto::Base64Decode(
        Json::parse(ipsec_json)["aeadKey"].get<std::string>());
    EXPECT_TRUE(key.ok());
    return key.ok() ? crypto::HexEncode(*key) : "";
  }

  // The write requests (POST/PUT/PATCH/DELETE) the server saw.
  int WritesSeen() {
    int writes = 0;
    for (const auto& record : server_->RequestLog()) {
      if (record.method != "GET") ++writes;
    }
    return writes;
  }

  std::unique_ptr<ApiServer> server_;
  std::string kubeconfig_;
};

// "Created: ...", the JSON block with spi and a 72-hex-digit key.
const std::regex kGetOutput(
    "Secret name: kmesh-ipsec\n"
    "Namespace: kmesh-system\n"
    "Created: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\n"
    "IPsec Configuration:\n"
    "\\{\n"
    "  \"spi\": ([0-9]+),\n"
    "  \"aeadKeyName\": \"rfc4106\\(gcm\\(aes\\)\\)\",\n"
    "  \"aeadKey\": \"([0-9a-f]{72})\",\n"
    "  \"length\": 128\n"
    "\\}\n");

// The stored JSON, exactly as Kmesh's Go code writes it.
const std::regex kKmeshJson(
    "\\{\"spi\":[0-9]+,\"aeadKeyName\":\"rfc4106\\(gcm\\(aes\\)\\)\","
    "\"aeadKey\":\"[A-Za-z0-9+/]{48}\",\"length\":128\\}");

TEST_F(KmeshctlBinaryTest, CreateRotateDeleteAndCreateAgain) {
  RunResult create = Run({"secret", "create"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(create.out, "secret kmesh-ipsec created, spi 1\n");
  EXPECT_EQ(create.err, "");

  RunResult get = Run({"secret", "get"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  std::smatch first;
  ASSERT_TRUE(std::regex_match(get.out, first, kGetOutput)) << get.out;
  EXPECT_EQ(first[1], "1");
  const std::string first_key = first[2];
  // What get shows is what is stored.
  const Json stored = StoredSecret();
  EXPECT_EQ(stored["type"], "Opaque");
  EXPECT_EQ(stored["data"].size(), 1u);
  const std::string stored_json = IpSecOf(stored);
  EXPECT_TRUE(std::regex_match(stored_json, kKmeshJson)) << stored_json;
  EXPECT_EQ(KeyHexOf(stored_json), first_key);

  RunResult rotate = Run({"secret", "create"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_EQ(rotate.out, "secret kmesh-ipsec rotated, spi 1 -> 2\n");
  get = Run({"secret", "get"});
  std::smatch second;
  ASSERT_TRUE(std::regex_match(get.out, second, kGetOutput)) << get.out;
  EXPECT_EQ(second[1], "2");
  EXPECT_NE(second[2], first_key);

  RunResult del = Run({"secret", "delete"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out, "secret kmesh-ipsec deleted\n");
  EXPECT_TRUE(StoredSecret().is_null());

  get = Run({"secret", "get"});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_EQ(get.out, "");
  EXPECT_EQ(get.err,
            "Error: secret \"kmesh-ipsec\" not found in namespace "
            "kmesh-system (create one with: kmeshctl secret create)\n");
  del = Run({"secret", "delete"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_THAT(del.err, HasSubstr("not found"));

  create = Run({"secret", "create"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(create.out, "secret kmesh-ipsec created, spi 1\n");
  EXPECT_EQ(SpiOf(IpSecOf(StoredSecret())), 1);
}

TEST_F(KmeshctlBinaryTest, GetJsonPrintsExactlyTheStoredJson) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  RunResult get = Run({"secret", "get", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, IpSecOf(StoredSecret()) + "\n");
}

TEST_F(KmeshctlBinaryTest, GivenKeyIsStoredAsGiven) {
  const std::string hex =
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "DEADBEEF";
  RunResult create = Run({"secret", "create", "-k", hex});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(IpSecOf(StoredSecret()),
            "{\"spi\":1,\"aeadKeyName\":\"rfc4106(gcm(aes))\",\"aeadKey\":"
            "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/erb7v\","
            "\"length\":128}");
  EXPECT_THAT(create.out + create.err, Not(HasSubstr("deadbeef")));
}

TEST_F(KmeshctlBinaryTest, InvalidKeysFailAndWriteNothing) {
  struct Case {
    std::string key;
    std::string message;
  };
  const std::vector<Case> cases = {
      {std::string(71, 'a'), "invalid key length"},
      {std::string(73, 'a'), "invalid key length"},
      {std::string(70, 'a') + "xy", "invalid hex in --key: character 71"},
      {"0x" + std::string(72, 'a'),
       "invalid hex in --key: remove the \"0x\" prefix"},
      {"", "invalid key: --key is empty"},
  };
  for (bool secret_exists : {false, true}) {
    if (secret_exists) {
      ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
    }
    const Json before = StoredSecret();
    server_->ClearRequestLog();
    for (const Case& c : cases) {
      SCOPED_TRACE(c.message);
      RunResult result = Run({"secret", "create", "--key=" + c.key});
      EXPECT_EQ(result.exit_code, 1);
      EXPECT_EQ(result.out, "");
      EXPECT_THAT(result.err, AllOf(HasSubstr("Error: " + c.message),
                                    HasSubstr("xxd -p -c 64")));
      if (!c.key.empty()) {
        EXPECT_THAT(result.err, Not(HasSubstr(c.key.substr(2, 20))));
      }
    }
    // Nothing written, nothing changed (not even asked for).
    EXPECT_EQ(WritesSeen(), 0);
    EXPECT_EQ(StoredSecret(), before);
  }
}

TEST_F(KmeshctlBinaryTest, ConcurrentCreatesEachGetTheirOwnSpi) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  const std::string initial_key = KeyHexOf(IpSecOf(StoredSecret()));
  const uint64_t version_before = server_->store().CurrentResourceVersion();
  // Slow answers widen the window between each read and its write.
  server_->SetResponseDelay(std::chrono::milliseconds(20));

  constexpr int kWriters = 4;
  std::vector<std::unique_ptr<Kmeshctl>> runs;
  for (int i = 0; i < kWriters; ++i) {
    runs.push_back(std::make_unique<Kmeshctl>(std::vector<std::string>{
        "secret", "create", "--kubeconfig=" + kubeconfig_}));
  }
  std::set<std::string> reported;
  for (auto& run : runs) {
    RunResult result = run->Wait();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    reported.insert(result.out);
  }
  server_->ClearFaults();

  // Every rotation landed: spi 1 + kWriters, each from a distinct SPI.
  EXPECT_EQ(SpiOf(IpSecOf(StoredSecret())), 1 + kWriters);
  EXPECT_EQ(reported.size(), static_cast<size_t>(kWriters));
  // The history of updates holds every writer's key under its own SPI.
  auto watch = server_->store().Watch(Secrets(), kNs, {},
                                      std::to_string(version_before));
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::set<std::string> keys = {initial_key};
  std::vector<int> spis;
  for (int i = 0; i < kWriters; ++i) {
    auto event = (*watch)->Next(std::chrono::steady_clock::now() +
                                std::chrono::seconds(5));
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ(event->type, sim::kube::EventType::kModified);
    const std::string ipsec = IpSecOf(event->object());
    spis.push_back(SpiOf(ipsec));
    keys.insert(KeyHexOf(ipsec));
  }
  EXPECT_THAT(spis, ::testing::ElementsAre(2, 3, 4, 5));
  EXPECT_EQ(keys.size(), static_cast<size_t>(kWriters + 1));
}

TEST_F(KmeshctlBinaryTest, KmeshWrittenSecretIsReadAndRotated) {
  // Exactly what Kmesh's Go kmeshctl stores, created through the API.
  const std::string kmesh_json =
      "{\"spi\":1,\"aeadKeyName\":\"rfc4106(gcm(aes))\",\"aeadKey\":"
      "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj\",\"length\":128}";
  const std::string secret =
      "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
      "\"kmesh-ipsec\",\"namespace\":\"kmesh-system\"},\"data\":{\"ipSec\":"
      "\"eyJzcGkiOjEsImFlYWRLZXlOYW1lIjoicmZjNDEwNihnY20oYWVzKSkiLCJhZWFkS2V5"
      "IjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmthR3h3ZEhoOGdJU0lqIiwi"
      "bGVuZ3RoIjoxMjh9\"},\"type\":\"Opaque\"}";
  auto access = kube::LoadKubeconfigFile(kubeconfig_, "");
  ASSERT_TRUE(access.ok()) << access.status();
  auto client = kube::RestKubeClient::ForCluster(*access);
  ASSERT_TRUE(client.ok()) << client.status();
  auto created = (*client)->Create(kube::SecretsKind(), kNs, secret);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(IpSecOf(StoredSecret()), kmesh_json);

  RunResult get = Run({"secret", "get"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_match(get.out, match, kGetOutput)) << get.out;
  EXPECT_EQ(match[1], "1");
  EXPECT_EQ(match[2],
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
            "20212223");
  RunResult json = Run({"secret", "get", "-o", "json"});
  EXPECT_EQ(json.out, kmesh_json + "\n");

  RunResult rotate = Run({"secret", "create"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_EQ(rotate.out, "secret kmesh-ipsec rotated, spi 1 -> 2\n");
  const std::string rotated = IpSecOf(StoredSecret());
  EXPECT_TRUE(std::regex_match(rotated, kKmeshJson)) << rotated;
  EXPECT_EQ(SpiOf(rotated), 2);
}

TEST_F(KmeshctlBinaryTest, SameKeyTwiceIsRefusedAndChangesNothing) {
  const std::string hex(72, 'c');
  ASSERT_EQ(Run({"secret", "create", "--key=" + hex}).exit_code, 0);
  const Json before = StoredSecret();

  RunResult again = Run({"secret", "create", "--key", hex});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, AllOf(HasSubstr("already stored"), HasSubstr("nonces"),
                               Not(HasSubstr(hex.substr(0, 16)))));
  EXPECT_EQ(StoredSecret(), before);
}

// A loopback port nothing listens on: bound, then closed.
uint16_t ClosedLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

TEST_F(KmeshctlBinaryTest, ServerDownIsNamed) {
  // The same kubeconfig, pointing at a closed port.
  const std::string url =
      absl::StrCat("http://127.0.0.1:", ClosedLoopbackPort());
  const std::string kubeconfig = kubeconfig_ + "-down";
  {
    std::ofstream out(kubeconfig);
    out << absl::StrReplaceAll(ReadFile(kubeconfig_), {{server_->url(), url}});
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"secret", "create"}, {"secret", "get"}, {"secret", "delete"}}) {
    std::vector<std::string> with_config = args;
    with_config.push_back("--kubeconfig=" + kubeconfig);
    RunResult result = Kmeshctl(with_config).Wait();
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_EQ(result.out, "");
    EXPECT_THAT(result.err,
                AllOf(HasSubstr("Error: cannot "),
                      HasSubstr("cannot reach the API server at " + url),
                      HasSubstr("check that the cluster is running")));
  }
  EXPECT_EQ(WritesSeen(), 0);
}

TEST_F(KmeshctlBinaryTest, SlowServerTimesOutWithRequestTimeout) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  const Json before = StoredSecret();
  server_->SetResponseDelay(std::chrono::milliseconds(2000));
  RunResult result = Run({"secret", "get", "--request-timeout=100ms"});
  server_->ClearFaults();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(
      result.err,
      AllOf(HasSubstr("no response from the API server at " + server_->url()),
            HasSubstr("within 100 ms")));
  EXPECT_EQ(StoredSecret(), before);
}

TEST_F(KmeshctlBinaryTest, ForbiddenSaysWhichPermission) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  const Json before = StoredSecret();
  server_->Forbid("update", "secrets");
  RunResult rotate = Run({"secret", "create"});
  EXPECT_EQ(rotate.exit_code, 1);
  EXPECT_THAT(rotate.err,
              HasSubstr("cannot update secrets in namespace kmesh-system: "
                        "forbidden (the kubeconfig's user needs "
                        "get/create/update/delete on secrets in kmesh-system"));
  EXPECT_EQ(StoredSecret(), before);

  server_->Forbid("get", "secrets");
  RunResult get = Run({"secret", "get"});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_THAT(get.err, HasSubstr("cannot get secrets in namespace "
                                 "kmesh-system: forbidden"));
  server_->ClearFaults();

  server_->Forbid("delete", "secrets");
  RunResult del = Run({"secret", "delete"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_THAT(del.err, HasSubstr("cannot delete secrets"));
  EXPECT_EQ(StoredSecret(), before);
}

TEST_F(KmeshctlBinaryTest, PersistentServerErrorsFailCleanly) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  const Json before = StoredSecret();
  server_->FailNext(1000, 500, {"PUT", ""});
  RunResult rotate = Run({"secret", "create"});
  EXPECT_EQ(rotate.exit_code, 1);
  EXPECT_THAT(rotate.err,
              AllOf(HasSubstr("server error"), HasSubstr("HTTP 500"),
                    HasSubstr(server_->url()),
                    HasSubstr("the secret was not changed")));
  EXPECT_EQ(StoredSecret(), before);
  server_->ClearFaults();

  server_->FailNext(1000, 500, {"GET", ""});
  RunResult get = Run({"secret", "get"});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_THAT(get.err, AllOf(HasSubstr("server error"), HasSubstr("HTTP 500")));
  server_->ClearFaults();

  // A fresh cluster: a failing create stores nothing.
  ASSERT_EQ(Run({"secret", "delete"}).exit_code, 0);
  server_->FailNext(1000, 500, {"POST", ""});
  RunResult create = Run({"secret", "create"});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_THAT(create.err, HasSubstr("cannot create"));
  EXPECT_TRUE(StoredSecret().is_null());
}

TEST_F(KmeshctlBinaryTest, OneServerErrorIsRetriedAndRotatesOnce) {
  ASSERT_EQ(Run({"secret", "create"}).exit_code, 0);
  server_->FailNext(1, 500, {"PUT", ""});
  RunResult rotate = Run({"secret", "create"});
  EXPECT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_EQ(rotate.out, "secret kmesh-ipsec rotated, spi 1 -> 2\n");
  EXPECT_EQ(SpiOf(IpSecOf(StoredSecret())), 2);
}

TEST_F(KmeshctlBinaryTest, RejectedCredentialsSayUnauthorized) {
  server_->RequireBearerToken("the-right-token");
  RunResult result = Run({"secret", "get"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(
      result.err,
      AllOf(HasSubstr("unauthorized"),
            HasSubstr("did not accept the credentials from kubeconfig " +
                      kubeconfig_)));
}

TEST_F(KmeshctlBinaryTest, TokenOverHttpNeedsTheExplicitFlag) {
  ApiServer::KubeconfigUser user;
  user.token = "http-t0ken";
  ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_, user).ok());
  server_->RequireBearerToken("http-t0ken");
  RunResult refused = Run({"secret", "create"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err,
              AllOf(HasSubstr("refusing to send a bearer token to http://"),
                    HasSubstr("--insecure-allow-http-credentials"),
                    Not(HasSubstr("http-t0ken"))));
  EXPECT_TRUE(server_->RequestLog().empty());
  RunResult allowed =
      Run({"secret", "create", "--insecure-allow-http-credentials"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
}

TEST_F(KmeshctlBinaryTest, ImpersonationFlagsReachTheServer) {
  RunResult get = Run({"secret", "get", "--as", "jane", "--as-group", "ops",
                       "--as-group=audit", "--as-uid", "u-1"});
  EXPECT_EQ(get.exit_code, 1);  // No Secret yet.
  EXPECT_THAT(get.err, HasSubstr("not found"));
  std::vector<ApiServer::RequestRecord> log = server_->RequestLog();
  ASSERT_FALSE(log.empty());
  for (const auto& record : log) {
    EXPECT_THAT(
        record.impersonation,
        ::testing::ElementsAre(::testing::Pair("Impersonate-User", "jane"),
                               ::testing::Pair("Impersonate-Uid", "u-1"),
                               ::testing::Pair("Impersonate-Group", "ops"),
                               ::testing::Pair("Impersonate-Group", "audit")));
  }
  // A group without a user is refused as kubectl refuses it.
  RunResult lone = Run({"secret", "get", "--as-group", "ops"});
  EXPECT_EQ(lone.exit_code, 1);
  EXPECT_THAT(lone.err, HasSubstr("without impersonating a user"));
}

TEST(KmeshctlTlsTest, WorksOverMutualTlsWithTheKubeconfigsCertificates) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ApiServer::Options options =
      sim::kube::TlsServerOptions(*certs, /*require_client_certificate=*/true);
  options.store.initial_namespaces.push_back(kNs);
  absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(absl::StartsWith((*server)->url(), "https://"));
  const std::string kubeconfig =
      absl::StrCat(TestTmpDir(), "/kubeconfig-tls-", getpid());
  ASSERT_TRUE((*server)
                  ->WriteKubeconfig(kubeconfig, {"", certs->client_cert_pem,
                                                 certs->client_key_pem})
                  .ok());

  RunResult create =
      Kmeshctl({"secret", "create", "--kubeconfig", kubeconfig}).Wait();
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(create.out, "secret kmesh-ipsec created, spi 1\n");
  RunResult get =
      Kmeshctl({"--kubeconfig", kubeconfig, "secret", "get"}).Wait();
  ASSERT_EQ(get.exit_code, 0) << get.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_match(get.out, match, kGetOutput)) << get.out;
  EXPECT_EQ(match[1], "1");
}

// A managed cluster's kubeconfig: an exec credential plugin (here a script
// standing in for `aws eks get-token`) over TLS, with a merged $KUBECONFIG.
TEST(KmeshctlExecTest, ExecPluginKubeconfigFromAMergedKubeconfigList) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ApiServer::Options options =
      sim::kube::TlsServerOptions(*certs, /*require_client_certificate=*/false);
  options.store.initial_namespaces.push_back(kNs);
  absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->RequireBearerToken("eks-t0ken");
  const std::string dir = absl::StrCat(TestTmpDir(), "/exec-", getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  {
    std::ofstream plugin(dir + "/get-token");
    plugin << "#!/bin/sh\n"
              "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'\n"
              "printf '\"kind\":\"ExecCredential\",\"status\":{\"token\":'\n"
              "printf '\"eks-t0ken\",\"expirationTimestamp\":'\n"
              "printf '\"2999-01-01T00:00:00Z\"}}'\n";
  }
  ASSERT_EQ(::chmod((dir + "/get-token").c_str(), 0755), 0);
  // File one: the user and the current context; file two: the cluster.
  std::ofstream(dir + "/users") << "apiVersion: v1\nkind: Config\n"
                                   "current-context: eks\n"
                                   "contexts:\n- name: eks\n"
                                   "  context: {cluster: eks, user: eks}\n"
                                   "users:\n- name: eks\n  user:\n"
                                   "    exec:\n"
                                   "      apiVersion: "
                                   "client.authentication.k8s.io/v1\n"
                                   "      command: ./get-token\n"
                                   "      interactiveMode: Never\n";
  std::ofstream(dir + "/clusters")
      << "apiVersion: v1\nkind: Config\nclusters:\n- name: eks\n"
      << "  cluster:\n    server: " << (*server)->url() << "\n"
      << "    certificate-authority-data: "
      << absl::Base64Escape(certs->ca_cert_pem) << "\n";
  RunResult create =
      Kmeshctl({"secret", "create"},
               {absl::StrCat("KUBECONFIG=", dir, "/users:", dir, "/clusters")})
          .Wait();
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(create.out, "secret kmesh-ipsec created, spi 1\n");
  EXPECT_THAT(create.err, Not(HasSubstr("eks-t0ken")));
}

TEST_F(KmeshctlBinaryTest, HelpAndUsageErrors) {
  RunResult help = Kmeshctl({"secret", "create", "--help"}).Wait();
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("Usage:\n  kmeshctl secret create "
                                        "[flags]\n"),
                              HasSubstr("Examples:"), HasSubstr("Flags:")));
  RunResult unknown = Kmeshctl({"secret", "rotate"}).Wait();
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err,
              HasSubstr("Error: unknown command \"rotate\" for \"kmeshctl "
                        "secret\""));
  RunResult flag = Kmeshctl({"secret", "get", "--key=00"}).Wait();
  EXPECT_EQ(flag.exit_code, 1);
  EXPECT_THAT(flag.err, HasSubstr("unknown flag: --key"));
}

TEST_F(KmeshctlBinaryTest, NoClusterAccessSaysWhereItLooked) {
  // No --kubeconfig, no $KUBECONFIG, an empty $HOME, not in a pod.
  RunResult result = Kmeshctl({"secret", "get"}).Wait();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(HasSubstr("Error: "), HasSubstr("--kubeconfig"),
                                HasSubstr("$KUBECONFIG")));
  RunResult missing =
      Kmeshctl({"secret", "get", "--kubeconfig=/nonexistent/config"}).Wait();
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/config"));
}

}  // namespace
}  // namespace kmesh::kmeshctl
