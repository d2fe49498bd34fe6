// The proof for proxies: the real kmeshctl binary, run as a
// subprocess, creates the Secret on the simulated API server (HTTPS)
// through an HTTP CONNECT proxy on loopback (kmesh/kube/testing/
// connect_proxy.h): with the kubeconfig's proxy-url (http:// and socks5://),
// with $HTTPS_PROXY for a server name only the proxy resolves, not with
// NO_PROXY, and failing clearly when the proxy refuses.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/connect_proxy.h"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/kube_objects.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

extern char** environ;

namespace kmesh::kmeshctl {
namespace {

using kube::testing::ConnectProxy;
using kube::testing::ConnectProxyOptions;
using sim::kube::ApiServer;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

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

// Runs kmeshctl with `args` and the test's environment minus anything
// naming a cluster or a proxy, plus `env`.
RunResult RunKmeshctl(const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env) {
  static int counter = 0;
  const std::string base =
      absl::StrCat(TestTmpDir(), "/proxy_run", getpid(), "_", ++counter);
  const std::string out_path = base + ".out", err_path = base + ".err";
  const std::string home = base + ".home";
  mkdir(home.c_str(), 0700);
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::vector<std::string> argv_storage = {
      absl::StrCat(srcdir != nullptr ? srcdir : ".",
                   "/kmesh_ipsec/kmesh/kmeshctl/kmeshctl")};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name =
        absl::AsciiStrToUpper(entry.substr(0, entry.find('=')));
    if (name == "KUBECONFIG" || absl::StartsWith(name, "KUBERNETES_SERVICE_") ||
        name == "HOME" || name == "HTTP_PROXY" || name == "HTTPS_PROXY" ||
        name == "NO_PROXY") {
      continue;
    }
    env_storage.push_back(entry);
  }
  env_storage.push_back("HOME=" + home);
  for (const auto& [name, value] : env) {
    env_storage.push_back(absl::StrCat(name, "=", value));
  }
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
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
  RunResult result;
  int status = 0;
  if (waitpid(pid, &status, 0) == pid) {
    result.exit_code =
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

class KmeshctlProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<sim::kube::TestCertificates> certs =
        sim::kube::GenerateTestCertificates();
    ASSERT_TRUE(certs.ok()) << certs.status();
    absl::StatusOr<std::unique_ptr<ApiServer>> server =
        ApiServer::Start(sim::kube::TlsServerOptions(*certs));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(sim::kube::CreateNamespace(server_->store(), kNs).ok());
    const std::string written =
        absl::StrCat(TestTmpDir(), "/written-kubeconfig-", getpid());
    ASSERT_TRUE(server_->WriteKubeconfig(written).ok());
    written_kubeconfig_ = ReadFile(written);
    ASSERT_THAT(written_kubeconfig_, HasSubstr(server_->url()));
  }

  // A kubeconfig for the server at https://`host`:PORT, with `proxy_url`
  // in its cluster when not empty.
  std::string Kubeconfig(const std::string& host,
                         const std::string& proxy_url = "") {
    static int counter = 0;
    const std::string path =
        absl::StrCat(TestTmpDir(), "/kubeconfig-", getpid(), "-", ++counter);
    const std::string server =
        absl::StrCat("https://", host, ":", server_->port());
    std::string server_line = absl::StrCat("    server: \"", server, "\"\n");
    if (!proxy_url.empty()) {
      absl::StrAppend(&server_line, "    proxy-url: \"", proxy_url, "\"\n");
    }
    const std::string text = absl::StrReplaceAll(
        written_kubeconfig_,
        {{absl::StrCat("    server: \"", server_->url(), "\"\n"),
          server_line}});
    EXPECT_THAT(text, HasSubstr(server_line));
    std::ofstream(path) << text;
    return path;
  }

  bool SecretStored() {
    const sim::kube::ResourceType& secrets =
        *server_->store().FindType("", "v1", "secrets");
    return server_->store().Get(secrets, kNs, kName).ok();
  }

  std::unique_ptr<ApiServer> server_;
  std::string written_kubeconfig_;
};

std::unique_ptr<ConnectProxy> ProxyResolvingKubeTest(int refuse_status = 0) {
  ConnectProxyOptions options;
  options.hosts = {{"kube.test", "127.0.0.1"}};
  options.refuse_status = refuse_status;
  return ConnectProxy::Start(options);
}

TEST_F(KmeshctlProxyTest, ProxyUrlInTheKubeconfigIsUsed) {
  auto proxy = ProxyResolvingKubeTest();
  const std::string kubeconfig = Kubeconfig("kube.test", proxy->url());
  RunResult create =
      RunKmeshctl({"secret", "create", "--kubeconfig=" + kubeconfig}, {});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_EQ(create.out, "secret kmesh-ipsec created, spi 1\n");
  EXPECT_TRUE(SecretStored());
  const std::vector<kube::testing::ConnectRecord> connects = proxy->connects();
  ASSERT_FALSE(connects.empty());
  for (const auto& connect : connects) {
    EXPECT_EQ(connect.method, "CONNECT");
    EXPECT_EQ(connect.target, absl::StrCat("kube.test:", server_->port()));
    EXPECT_EQ(connect.status, 200);
  }
}

TEST_F(KmeshctlProxyTest, HttpsProxyFromTheEnvironmentAndNoProxy) {
  auto proxy = ProxyResolvingKubeTest();
  const std::string kubeconfig = Kubeconfig("kube.test");
  // Lower-case, without a scheme, as shells often have it.
  RunResult create =
      RunKmeshctl({"secret", "create", "--kubeconfig=" + kubeconfig},
                  {{"https_proxy", absl::StrCat("127.0.0.1:", proxy->port())}});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_TRUE(SecretStored());
  const size_t connects = proxy->connects().size();
  ASSERT_GT(connects, 0u);
  EXPECT_EQ(proxy->connects()[0].target,
            absl::StrCat("kube.test:", server_->port()));

  // NO_PROXY exempts kube.test: kmeshctl goes direct, where the name does
  // not resolve; the proxy sees nothing.
  RunResult get = RunKmeshctl(
      {"secret", "get", "--kubeconfig=" + kubeconfig, "--request-timeout=5s"},
      {{"HTTPS_PROXY", proxy->url()}, {"NO_PROXY", "localhost,kube.test"}});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_THAT(get.err, HasSubstr("cannot resolve kube.test"));
  EXPECT_EQ(proxy->connects().size(), connects);

  // A loopback server is never proxied from the environment.
  RunResult direct =
      RunKmeshctl({"secret", "get", "--kubeconfig=" + Kubeconfig("127.0.0.1")},
                  {{"HTTPS_PROXY", proxy->url()}});
  EXPECT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_EQ(proxy->connects().size(), connects);
}

TEST_F(KmeshctlProxyTest, RefusingProxyFailsClearly) {
  auto proxy = ProxyResolvingKubeTest(403);
  RunResult create = RunKmeshctl(
      {"secret", "create", "--kubeconfig=" + Kubeconfig("kube.test")},
      {{"HTTPS_PROXY",
        "http://ops:hunter2@127.0.0.1:" + std::to_string(proxy->port())}});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_EQ(create.out, "");
  EXPECT_THAT(create.err,
              AllOf(HasSubstr(absl::StrCat("proxy ", proxy->url(),
                                           " refused CONNECT kube.test:",
                                           server_->port(), ": 403 Forbidden")),
                    Not(HasSubstr("hunter2")), Not(HasSubstr("ops:"))));
  EXPECT_FALSE(SecretStored());
  EXPECT_TRUE(server_->RequestLog().empty());
  // Not retried: the proxy's answer is not a transient failure.
  EXPECT_EQ(proxy->connects().size(), 1u);
}

TEST_F(KmeshctlProxyTest, Socks5ProxyUrlAsWithSshDynamicForwarding) {
  // kubectl's documented bastion setup: `ssh -D 1080 bastion` and
  // proxy-url: socks5://localhost:1080.
  auto proxy = ProxyResolvingKubeTest();
  RunResult create = RunKmeshctl(
      {"secret", "create",
       "--kubeconfig=" +
           Kubeconfig("kube.test",
                      absl::StrCat("socks5://localhost:", proxy->port()))},
      {});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_TRUE(SecretStored());
  ASSERT_FALSE(proxy->connects().empty());
  EXPECT_EQ(proxy->connects()[0].method, "SOCKS5");
  EXPECT_EQ(proxy->connects()[0].target,
            absl::StrCat("kube.test:", server_->port()));
}

TEST_F(KmeshctlProxyTest, HttpsProxyUrlIsRefusedNamingTheField) {
  RunResult create = RunKmeshctl(
      {"secret", "create",
       "--kubeconfig=" +
           Kubeconfig("kube.test", "https://ops:hunter2@127.0.0.1:3129")},
      {});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_THAT(create.err,
              AllOf(HasSubstr("proxy-url"), HasSubstr("https:// proxies"),
                    Not(HasSubstr("hunter2"))));
  EXPECT_FALSE(SecretStored());
}

}  // namespace
}  // namespace kmesh::kmeshctl
