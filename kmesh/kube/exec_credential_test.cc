#include "kmesh/kube/exec_credential.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/kubeconfig.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string AsString(const crypto::SecretBytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class ExecCredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/exec.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  // Writes an executable shell script; returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0755);
    return path;
  }

  // A plugin that counts its runs in `dir_/runs`, records its environment's
  // KUBERNETES_EXEC_INFO and arguments, and prints a token "tok-<run>" with
  // the expiry in the file `dir_/expiry` (if any).
  std::string TokenPlugin(const std::string& api_version = kExecApiV1) {
    return Script(
        "plugin.sh",
        absl::StrCat(
            R"(d=$(dirname "$0")
n=$(cat "$d/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/exec_info"
echo "$@" > "$d/args"
echo "$PLUGIN_REGION" > "$d/env"
exp=""
if [ -f "$d/expiry" ]; then exp=",\"expirationTimestamp\":\"$(cat "$d/expiry")\""; fi
echo "plugin ran" >&2
printf '{"apiVersion":")",
            api_version,
            R"(","kind":"ExecCredential","status":{"token":"tok-%s"%s}}' "$n" "$exp"
)"));
  }

  ExecConfig Config(const std::string& command) {
    ExecConfig config;
    config.api_version = kExecApiV1;
    config.command = command;
    config.interactive_mode = "Never";
    config.owner = "user \"test\"";
    return config;
  }

  std::shared_ptr<ExecCredentialProvider> Provider(
      ExecConfig config, ExecCredentialProvider::Options options = {}) {
    absl::StatusOr<std::shared_ptr<ExecCredentialProvider>> provider =
        ExecCredentialProvider::Create(std::move(config), std::move(options));
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *provider : nullptr;
  }

  std::string dir_;
};

TEST_F(ExecCredentialTest, TokenIsUsedAndCachedWithoutExpiry) {
  ExecConfig config = Config(TokenPlugin());
  config.args = {"get-token", "--cluster", "c1"};
  // The configured env wins over the inherited one.
  config.env = {{"PLUGIN_REGION", "eu-west-1"}};
  ExecCredentialProvider::Options options;
  options.environ =
      std::vector<std::string>{"PATH=/usr/bin:/bin", "PLUGIN_REGION=inherited",
                               "KUBERNETES_EXEC_INFO=stale"};
  auto provider = Provider(config, options);
  ASSERT_NE(provider, nullptr);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(AsString((*got)->token), "tok-1");
    EXPECT_FALSE((*got)->expiry.has_value());
  }
  EXPECT_EQ(provider->runs(), 1);
  EXPECT_EQ(ReadAll(dir_ + "/args"), "get-token --cluster c1\n");
  EXPECT_EQ(ReadAll(dir_ + "/env"), "eu-west-1\n");
  // Without provideClusterInfo: the spec says non-interactive, no cluster.
  nlohmann::json info = nlohmann::json::parse(ReadAll(dir_ + "/exec_info"));
  EXPECT_EQ(info["apiVersion"], kExecApiV1);
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_FALSE(info["spec"].contains("cluster"));
}

TEST_F(ExecCredentialTest, ExpiredCredentialRerunsThePlugin) {
  std::ofstream(dir_ + "/expiry") << "2031-05-01T10:00:00Z";
  absl::Time now = absl::FromCivil(absl::CivilSecond(2031, 5, 1, 9, 0, 0),
                                   absl::UTCTimeZone());
  ExecCredentialProvider::Options options;
  options.now = [&now] { return now; };
  auto provider = Provider(Config(TokenPlugin()), options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> first = provider->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(AsString((*first)->token), "tok-1");
  ASSERT_TRUE((*first)->expiry.has_value());
  EXPECT_EQ(*(*first)->expiry,
            absl::FromCivil(absl::CivilSecond(2031, 5, 1, 10, 0, 0),
                            absl::UTCTimeZone()));
  now += absl::Minutes(59);  // Not yet expired.
  EXPECT_EQ(AsString((*provider->Get())->token), "tok-1");
  now += absl::Minutes(2);  // Expired.
  EXPECT_EQ(AsString((*provider->Get())->token), "tok-2");
  EXPECT_EQ(provider->runs(), 2);
}

TEST_F(ExecCredentialTest, UnauthorizedRerunsOncePerCredential) {
  auto provider = Provider(Config(TokenPlugin()));
  ASSERT_NE(provider, nullptr);
  uint64_t generation = 0;
  ASSERT_TRUE(provider->Get(&generation).ok());
  // Two requests failed with the same credential: one re-run only.
  EXPECT_TRUE(provider->RefreshAfterUnauthorized(generation));
  uint64_t next = 0;
  absl::StatusOr<std::shared_ptr<const ExecCredential>> fresh =
      provider->Get(&next);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(AsString((*fresh)->token), "tok-2");
  EXPECT_FALSE(provider->RefreshAfterUnauthorized(generation));
  EXPECT_EQ(AsString((*provider->Get())->token), "tok-2");
  EXPECT_EQ(provider->runs(), 2);
  EXPECT_NE(next, generation);
}

TEST_F(ExecCredentialTest, FailingPluginShowsExitCodeAndStderrNotStdout) {
  const std::string plugin = Script("fail.sh", R"(
echo '{"status":{"token":"leaked-t0ken"}}'
echo "  error: SSO session expired; run aws sso login  " >&2
exit 3
)");
  auto provider = Provider(Config(plugin));
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(
      got.status().message(),
      AllOf(HasSubstr("user \"test\""), HasSubstr("failed with exit code 3"),
            HasSubstr(
                ": error: SSO session expired; run aws sso login"),  // Trimmed.
            Not(HasSubstr("leaked-t0ken"))));
}

TEST_F(ExecCredentialTest, PluginStartsWithNoBlockedSignalsNorOurFds) {
  // The daemon blocks SIGTERM in every thread and Asio's sockets are not
  // close-on-exec: neither may reach the plugin.
  const int leaked = ::open("/dev/null", O_RDONLY);  // No O_CLOEXEC.
  ASSERT_GE(leaked, 3);
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &saved), 0);
  const std::string plugin = Script(
      "sig.sh", absl::StrCat(R"(
blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/self/status)
if [ -e /proc/self/fd/)",
                             leaked, R"( ]; then fd=leaked; else fd=closed; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$blk" "$fd"
)"));
  auto provider = Provider(Config(plugin));
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ::close(leaked);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsString((*got)->token), "0000000000000000-closed");
}

TEST_F(ExecCredentialTest, PluginWritingMuchToBothPipesDoesNotBlock) {
  // 1 MiB on stderr before stdout, and a 200 KiB token: neither pipe may
  // fill up while the other is read.
  const std::string plugin = Script("chatty.sh", R"(
head -c 1048576 /dev/zero | tr '\0' 'e' >&2
tok=$(head -c 204800 /dev/zero | tr '\0' 't')
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$tok"
)");
  auto provider = Provider(Config(plugin));
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsString((*got)->token), std::string(204800, 't'));
}

TEST_F(ExecCredentialTest, ConcurrentGetsRunThePluginOnce) {
  const std::string plugin = Script("slow.sh", R"(
d=$(dirname "$0")
n=$(cat "$d/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$d/runs"
sleep 0.2
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s"}}' "$n"
)");
  auto provider = Provider(Config(plugin));
  ASSERT_NE(provider, nullptr);
  std::vector<std::thread> threads;
  std::vector<std::string> tokens(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
          provider->Get();
      if (got.ok()) tokens[i] = AsString((*got)->token);
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& token : tokens) EXPECT_EQ(token, "tok-1");
  EXPECT_EQ(provider->runs(), 1);
  EXPECT_EQ(ReadAll(dir_ + "/runs"), "1\n");
}

TEST_F(ExecCredentialTest, MalformedOutputIsNotQuoted) {
  const std::string plugin = Script("bad.sh", R"(
echo 'token=s3cret-not-json'
)");
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
      Provider(Config(plugin))->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("decoding stdout"), Not(HasSubstr("s3cret"))));
}

TEST_F(ExecCredentialTest, MissingCommandShowsInstallHint) {
  ExecConfig config = Config("kmesh-no-such-auth-plugin");
  config.install_hint = "Install it with: apt install kmesh-auth";
  ExecCredentialProvider::Options options;
  options.environ = std::vector<std::string>{"PATH=" + dir_};
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
      Provider(config, options)->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("executable kmesh-no-such-auth-plugin not found"),
                    HasSubstr("client-go credential plugin that is not "
                              "installed"),
                    HasSubstr("Install it with: apt install kmesh-auth")));
}

TEST_F(ExecCredentialTest, BareCommandIsFoundOnPath) {
  TokenPlugin();
  ExecCredentialProvider::Options options;
  options.environ = std::vector<std::string>{"PATH=/nonexistent:" + dir_};
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
      Provider(Config("plugin.sh"), options)->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsString((*got)->token), "tok-1");
}

TEST_F(ExecCredentialTest, CommandFoundInARelativePathEntryIsNotRun) {
  // Go's exec.LookPath (1.19+) refuses a match in "", "." or another
  // relative $PATH entry (exec.ErrDot): a kubeconfig's bare command must
  // not run whatever lies in the current directory.
  Script(
      "kube-login",
      R"(printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-cwd"}}'
)");
  char saved[4096];
  ASSERT_NE(::getcwd(saved, sizeof(saved)), nullptr);
  ASSERT_EQ(::chdir(dir_.c_str()), 0);
  struct RestoreCwd {
    const char* dir;
    ~RestoreCwd() { EXPECT_EQ(::chdir(dir), 0); }
  };
  {
    RestoreCwd restore{saved};
    for (const char* path_value :
         {"PATH=:/usr/bin:/bin", "PATH=.:/usr/bin", "PATH=/nonexistent:."}) {
      SCOPED_TRACE(path_value);
      ExecCredentialProvider::Options options;
      options.environ = std::vector<std::string>{path_value};
      auto provider = Provider(Config("kube-login"), options);
      ASSERT_NE(provider, nullptr);
      absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
          provider->Get();
      ASSERT_FALSE(got.ok());
      EXPECT_THAT(got.status().message(),
                  HasSubstr("cannot run executable found relative to current "
                            "directory"));
      EXPECT_EQ(provider->runs(), 0);
    }
  }
  // The same directory, named absolutely, is fine.
  ExecCredentialProvider::Options options;
  options.environ = std::vector<std::string>{absl::StrCat("PATH=", dir_)};
  auto provider = Provider(Config("kube-login"), options);
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsString((*got)->token), "from-cwd");
}

TEST_F(ExecCredentialTest, ConfigurationIsCheckedAsClientGoDoes) {
  ExecConfig v1 = Config("/bin/true");
  v1.interactive_mode = "";
  absl::StatusOr<std::shared_ptr<ExecCredentialProvider>> missing_mode =
      ExecCredentialProvider::Create(v1);
  EXPECT_TRUE(absl::IsInvalidArgument(missing_mode.status()));
  EXPECT_THAT(missing_mode.status().message(),
              HasSubstr("interactiveMode must be specified for user \"test\" "
                        "to use exec authentication plugin"));

  ExecConfig beta = v1;  // v1beta1 defaults to IfAvailable.
  beta.api_version = kExecApiV1beta1;
  EXPECT_TRUE(ExecCredentialProvider::Create(beta).ok());

  ExecConfig always = Config("/bin/true");
  always.interactive_mode = "Always";
  EXPECT_THAT(ExecCredentialProvider::Create(always).status().message(),
              HasSubstr("interactiveMode Always"));

  ExecConfig odd_mode = Config("/bin/true");
  odd_mode.interactive_mode = "Sometimes";
  EXPECT_THAT(ExecCredentialProvider::Create(odd_mode).status().message(),
              HasSubstr("invalid interactiveMode"));

  ExecConfig alpha = Config("/bin/true");
  alpha.api_version = "client.authentication.k8s.io/v1alpha1";
  EXPECT_THAT(ExecCredentialProvider::Create(alpha).status().message(),
              HasSubstr("invalid apiVersion"));

  ExecConfig no_command = Config("");
  EXPECT_THAT(ExecCredentialProvider::Create(no_command).status().message(),
              HasSubstr("command must be specified"));
}

TEST_F(ExecCredentialTest, OutputMustMatchTheConfiguredVersion) {
  auto provider = Provider(Config(TokenPlugin(kExecApiV1beta1)));
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got = provider->Get();
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(),
              HasSubstr("configured to use API version "
                        "client.authentication.k8s.io/v1, plugin returned "
                        "version client.authentication.k8s.io/v1beta1"));
}

TEST(ParseExecCredentialTest, ChecksStatusAsClientGoDoes) {
  const std::string v1 = kExecApiV1;
  EXPECT_THAT(
      ParseExecCredential(
          R"({"apiVersion":")" + v1 + R"(","kind":"ExecCredential"})", v1)
          .status()
          .message(),
      HasSubstr("didn't return a status field"));
  EXPECT_THAT(ParseExecCredential(R"({"apiVersion":")" + v1 +
                                      R"(","kind":"ExecCredential",)"
                                      R"("status":{}})",
                                  v1)
                  .status()
                  .message(),
              HasSubstr("didn't return a token or cert/key pair"));
  EXPECT_THAT(ParseExecCredential(R"({"apiVersion":")" + v1 +
                                      R"(","kind":"ExecCredential",)"
                                      R"("status":{"clientKeyData":"k"}})",
                                  v1)
                  .status()
                  .message(),
              HasSubstr("only certificate or key"));
  EXPECT_THAT(ParseExecCredential(R"({"kind":"ExecCredential",)"
                                  R"("status":{"token":"t"}})",
                                  v1)
                  .status()
                  .message(),
              HasSubstr("'apiVersion' is missing"));
  EXPECT_THAT(
      ParseExecCredential(R"({"apiVersion":")" + v1 +
                              R"(","kind":"ExecCredential","status":)"
                              R"({"token":"t","expirationTimestamp":"soon"}})",
                          v1)
          .status()
          .message(),
      HasSubstr("not an RFC 3339 time"));
  absl::StatusOr<ExecCredential> pair = ParseExecCredential(
      R"({"apiVersion":")" + v1 +
          R"(","kind":"ExecCredential","status":)"
          R"({"clientCertificateData":"CERT","clientKeyData":"KEY"}})",
      v1);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->client_certificate_pem, "CERT");
  EXPECT_EQ(AsString(pair->client_key_pem), "KEY");
  EXPECT_TRUE(pair->token.empty());
}

// Through a kubeconfig: the command relative to the kubeconfig's directory,
// and provideClusterInfo's KUBERNETES_EXEC_INFO as client-go builds it.
TEST_F(ExecCredentialTest, KubeconfigExecWithClusterInfo) {
  TokenPlugin();
  const std::string ca =
      "-----BEGIN CERTIFICATE-----\nCA\n-----END "
      "CERTIFICATE-----\n";
  const std::string yaml = absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: eks
clusters:
- name: c
  cluster:
    server: https://api.example:6443
    tls-server-name: api.internal
    certificate-authority-data: )",
                                        absl::Base64Escape(ca), R"(
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: kmesh
        retries: 3
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: [token, --json]
      env:
      - name: PLUGIN_REGION
        value: us-east-2
      interactiveMode: IfAvailable
      provideClusterInfo: true
contexts:
- name: eks
  context: {cluster: c, user: u}
)");
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(yaml, dir_, dir_ + "/config", "");
  ASSERT_TRUE(access.ok()) << access.status();
  ASSERT_NE(access->exec_credentials, nullptr);
  EXPECT_EQ(access->exec_credentials->config().command, dir_ + "/./plugin.sh");
  absl::StatusOr<std::shared_ptr<const ExecCredential>> got =
      access->exec_credentials->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsString((*got)->token), "tok-1");
  EXPECT_EQ(ReadAll(dir_ + "/args"), "token --json\n");
  EXPECT_EQ(ReadAll(dir_ + "/env"), "us-east-2\n");
  nlohmann::json info = nlohmann::json::parse(ReadAll(dir_ + "/exec_info"));
  EXPECT_EQ(info["apiVersion"], kExecApiV1);
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  const nlohmann::json& cluster = info["spec"]["cluster"];
  EXPECT_EQ(cluster["server"], "https://api.example:6443");
  EXPECT_EQ(cluster["tls-server-name"], "api.internal");
  EXPECT_EQ(cluster["certificate-authority-data"], absl::Base64Escape(ca));
  EXPECT_FALSE(cluster.contains("insecure-skip-tls-verify"));
  EXPECT_EQ(cluster["config"],
            nlohmann::json({{"audience", "kmesh"}, {"retries", 3}}));
  // A clone shares the plugin and its cache.
  ClusterAccess copy = access->Clone();
  EXPECT_EQ(AsString((*copy.exec_credentials->Get())->token), "tok-1");
  EXPECT_EQ(access->exec_credentials->runs(), 1);
}

// The plugin's output and the kubeconfig's exec extension are outside
// input: nested deeper than kMaxJsonDepth, they are refused before anything
// recursive (dump(), the JSON built from the YAML) meets them.
TEST(ParseExecCredentialTest, DeeplyNestedOutputIsRefused) {
  const std::string deep =
      std::string(1000000, '[') + std::string(1000000, ']');
  absl::StatusOr<ExecCredential> parsed =
      ParseExecCredential(absl::StrCat(R"({"apiVersion":")", kExecApiV1,
                                       R"(","kind":"ExecCredential","x":)",
                                       deep, R"(,"status":{"token":"t"}})"),
                          kExecApiV1);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("nested more than 100 levels deep"));
}

TEST_F(ExecCredentialTest, KubeconfigWithADeeplyNestedExecExtensionIsRefused) {
  const std::string yaml =
      absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: x
clusters:
- name: c
  cluster:
    server: https://a:1
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: )",
                   std::string(150, '['), std::string(150, ']'), R"(
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: x
  context: {cluster: c, user: u}
)");
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(yaml, dir_, dir_ + "/config", "");
  ASSERT_FALSE(access.ok()) << "a 150-level extension was accepted";
  EXPECT_THAT(access.status().message(),
              HasSubstr("nested more than 100 levels deep"));
}

TEST_F(ExecCredentialTest, KubeconfigV1ExecWithoutInteractiveModeIsRefused) {
  const std::string yaml = R"(apiVersion: v1
kind: Config
current-context: x
clusters:
- name: c
  cluster: {server: "https://a:1"}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
contexts:
- name: x
  context: {cluster: c, user: u}
)";
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(yaml, dir_, "/k/config", "");
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(),
              AllOf(HasSubstr("kubeconfig /k/config"),
                    HasSubstr("interactiveMode must be specified for user "
                              "\"u\"")));
}

}  // namespace
}  // namespace kmesh::kube
