#include "kmesh/kube/kubeconfig.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "sEcReT-t0ken-value-42";
constexpr char kKeyPem[] =
    "-----BEGIN PRIVATE KEY-----\nS3CR3TKEYMATERIAL\n-----END PRIVATE "
    "KEY-----\n";

std::string AsString(const crypto::SecretBytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern =
        absl::StrCat(tmp ? tmp : "/tmp", "/kubeconfig.XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  std::string Write(const std::string& relative, const std::string& content) {
    const std::string path = absl::StrCat(dir_, "/", relative);
    const size_t slash = path.rfind('/');
    std::string parent = path.substr(0, slash);
    // mkdir -p.
    for (size_t i = 1; i <= parent.size(); ++i) {
      if (i == parent.size() || parent[i] == '/') {
        ::mkdir(parent.substr(0, i).c_str(), 0755);
      }
    }
    std::ofstream(path) << content;
    return path;
  }

  // A kubeconfig for `server` with a token user.
  static std::string TokenKubeconfig(const std::string& server) {
    return absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: main
contexts:
- name: main
  context: {cluster: c1, user: u1, namespace: team}
clusters:
- name: c1
  cluster:
    server: )",
                        server, R"(
    insecure-skip-tls-verify: true
users:
- name: u1
  user:
    token: )",
                        kToken, "\n");
  }

  std::string dir_;
};

TEST_F(KubeconfigTest, ReadsCurrentContextWithInlineData) {
  const std::string yaml = absl::StrCat(R"(
current-context: prod
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user}
- name: prod
  context: {cluster: prod-cluster, user: prod-user, namespace: kmesh-system}
clusters:
- name: dev-cluster
  cluster: {server: "https://dev:6443", insecure-skip-tls-verify: true}
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: )",
                                        absl::Base64Escape("CA-PEM"), R"(
    tls-server-name: kubernetes
users:
- name: dev-user
  user: {token: devtoken}
- name: prod-user
  user:
    client-certificate-data: )",
                                        absl::Base64Escape("CERT-PEM"), R"(
    client-key-data: )",
                                        absl::Base64Escape(kKeyPem), "\n");
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(yaml, "/nowhere", "/k/config", "");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://10.0.0.1:6443");
  EXPECT_EQ(access->certificate_authority_pem, "CA-PEM");
  EXPECT_FALSE(access->insecure_skip_tls_verify);
  EXPECT_EQ(access->tls_server_name, "kubernetes");
  EXPECT_EQ(access->client_certificate_pem, "CERT-PEM");
  EXPECT_EQ(AsString(access->client_key_pem), kKeyPem);
  EXPECT_TRUE(access->bearer_token.empty());
  EXPECT_EQ(access->default_namespace, "kmesh-system");
  EXPECT_EQ(access->source, "kubeconfig /k/config (context prod)");

  // A named context wins over current-context.
  absl::StatusOr<ClusterAccess> dev =
      ParseKubeconfig(yaml, "/nowhere", "/k/config", "dev");
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->server, "https://dev:6443");
  EXPECT_TRUE(dev->insecure_skip_tls_verify);
  EXPECT_EQ(AsString(dev->bearer_token), "devtoken");
}

TEST_F(KubeconfigTest, ResolvesRelativeFilesAgainstTheKubeconfigDirectory) {
  Write("k/pki/ca.crt", "CA-FROM-FILE");
  Write("k/pki/client.crt", "CERT-FROM-FILE");
  Write("k/pki/client.key", kKeyPem);
  Write("abs-token", absl::StrCat("  ", kToken, "\n"));
  const std::string path =
      Write("k/config", absl::StrCat(R"(
current-context: c
contexts: [{name: c, context: {cluster: cl, user: us}}]
clusters:
- name: cl
  cluster: {server: "https://[fd00::1]:6443", certificate-authority: pki/ca.crt}
users:
- name: us
  user:
    client-certificate: pki/client.crt
    client-key: ./pki/client.key
    tokenFile: )",
                                     dir_, "/abs-token\n"));
  absl::StatusOr<ClusterAccess> access = LoadKubeconfigFile(path, "");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->certificate_authority_pem, "CA-FROM-FILE");
  EXPECT_EQ(access->client_certificate_pem, "CERT-FROM-FILE");
  EXPECT_EQ(AsString(access->client_key_pem), kKeyPem);
  // Absolute paths stay absolute; the token is trimmed and its file kept
  // for re-reading.
  EXPECT_EQ(AsString(access->bearer_token), kToken);
  EXPECT_EQ(access->bearer_token_file, dir_ + "/abs-token");
}

TEST_F(KubeconfigTest, ExplicitPathWinsOverEverything) {
  const std::string explicit_path =
      Write("explicit", TokenKubeconfig("https://explicit:1"));
  const std::string env_path = Write("env", TokenKubeconfig("https://env:1"));
  Write("home/.kube/config", TokenKubeconfig("https://home:1"));
  ClusterAccessSearch search;
  search.explicit_kubeconfig = explicit_path;
  search.kubeconfig_env = env_path;
  search.home = dir_ + "/home";
  search.service_host = "10.96.0.1";
  search.service_port = "443";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://explicit:1");
}

TEST_F(KubeconfigTest, KubeconfigEnvTakesTheFirstExistingFileOfItsList) {
  const std::string env_path = Write("env", TokenKubeconfig("https://env:1"));
  Write("home/.kube/config", TokenKubeconfig("https://home:1"));
  ClusterAccessSearch search;
  search.kubeconfig_env =
      absl::StrCat(dir_, "/missing:", env_path, ":", dir_, "/also-missing");
  search.home = dir_ + "/home";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://env:1");
}

TEST_F(KubeconfigTest, HomeConfigIsUsedWhenKubeconfigEnvIsUnset) {
  Write("home/.kube/config", TokenKubeconfig("https://home:1"));
  ClusterAccessSearch search;
  search.home = dir_ + "/home";
  search.service_host = "10.96.0.1";
  search.service_port = "443";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://home:1");
  EXPECT_EQ(access->default_namespace, "team");
}

TEST_F(KubeconfigTest, InClusterWhenNoKubeconfigExists) {
  Write("root/var/run/secrets/kubernetes.io/serviceaccount/token",
        absl::StrCat(kToken, "\n"));
  Write("root/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "SA-CA");
  Write("root/var/run/secrets/kubernetes.io/serviceaccount/namespace",
        "kmesh-system\n");
  ClusterAccessSearch search;
  search.home = dir_ + "/no-such-home";
  search.service_host = "10.96.0.1";
  search.service_port = "443";
  search.in_cluster_root = dir_ + "/root";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://10.96.0.1:443");
  EXPECT_EQ(AsString(access->bearer_token), kToken);
  EXPECT_EQ(access->bearer_token_file,
            dir_ + "/root/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(access->certificate_authority_pem, "SA-CA");
  EXPECT_EQ(access->default_namespace, "kmesh-system");
  EXPECT_EQ(access->source, "in-cluster service account");

  // An IPv6 service address is bracketed.
  absl::StatusOr<ClusterAccess> v6 =
      LoadInClusterAccess("fd00::1", "6443", dir_ + "/root");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->server, "https://[fd00::1]:6443");
}

TEST_F(KubeconfigTest, SetKubeconfigEnvWithoutFilesSkipsHomeConfig) {
  // As in kubectl, a set $KUBECONFIG replaces ~/.kube/config.
  Write("home/.kube/config", TokenKubeconfig("https://home:1"));
  ClusterAccessSearch search;
  search.kubeconfig_env = dir_ + "/missing";
  search.home = dir_ + "/home";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(),
              AllOf(HasSubstr("no cluster access"),
                    HasSubstr(absl::StrCat("$KUBECONFIG=", dir_, "/missing",
                                           " names no existing file")),
                    HasSubstr("not in a cluster")));
}

TEST_F(KubeconfigTest, NothingFoundNamesEveryPlaceTried) {
  ClusterAccessSearch search;
  search.home = dir_ + "/home";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_FALSE(access.ok());
  EXPECT_TRUE(absl::IsNotFound(access.status()));
  EXPECT_THAT(
      access.status().message(),
      AllOf(HasSubstr("no --kubeconfig"), HasSubstr("$KUBECONFIG unset"),
            HasSubstr(dir_ + "/home/.kube/config missing"),
            HasSubstr("not in a cluster"), HasSubstr("--kubeconfig=PATH")));
}

TEST_F(KubeconfigTest, MissingExplicitFileIsAnErrorNamingIt) {
  ClusterAccessSearch search;
  search.explicit_kubeconfig = dir_ + "/nope";
  search.home = dir_;
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(),
              HasSubstr(absl::StrCat("kubeconfig ", dir_, "/nope")));
}

TEST_F(KubeconfigTest, InClusterWithoutTokenNamesTheTokenFile) {
  Write("root/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "SA-CA");
  absl::StatusOr<ClusterAccess> access =
      LoadInClusterAccess("10.96.0.1", "443", dir_ + "/root");
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(), HasSubstr("serviceaccount/token"));
}

struct BrokenCase {
  std::string name;
  std::string yaml;
  std::string context;
  std::string expected;
};

TEST_F(KubeconfigTest, EachMissingPieceHasItsOwnErrorWithoutSecrets) {
  const std::string user =
      absl::StrCat("users: [{name: u, user: {token: ", kToken, "}}]\n");
  const std::string cluster =
      "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n";
  const std::string context =
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n";
  const std::vector<BrokenCase> cases = {
      {"no current context", cluster + user + context, "",
       "no current-context set"},
      {"unknown context", "current-context: foo\n" + cluster + user + context,
       "", "kubeconfig /cfg: context \"foo\" not found"},
      {"unknown cluster", "current-context: x\n" + user + context, "",
       "kubeconfig /cfg: cluster \"c\" not found"},
      {"unknown user", "current-context: x\n" + cluster + context, "",
       "kubeconfig /cfg: user \"u\" not found"},
      {"no server",
       "current-context: x\nclusters: [{name: c, cluster: {}}]\n" + user +
           context,
       "", "cluster \"c\" has no server"},
      {"bad base64",
       "current-context: x\nclusters: [{name: c, cluster: {server: "
       "'https://a:1', certificate-authority-data: '!!!'}}]\n" +
           user + context,
       "", "\"certificate-authority-data\" is not valid base64"},
      {"missing CA file",
       "current-context: x\nclusters: [{name: c, cluster: {server: "
       "'https://a:1', certificate-authority: ca.pem}}]\n" +
           user + context,
       "", "cannot read /dir/ca.pem"},
      {"CA and insecure",
       "current-context: x\nclusters: [{name: c, cluster: {server: "
       "'https://a:1', certificate-authority-data: QQ==, "
       "insecure-skip-tls-verify: true}}]\n" +
           user + context,
       "", "both a certificate authority and insecure-skip-tls-verify"},
      {"certificate without key",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {client-certificate-data: QQ==}}]\n" +
           context,
       "", "has a client certificate but no key"},
      {"token and exec plugin",
       "current-context: x\n" + cluster +
           absl::StrCat("users: [{name: u, user: {token: ", kToken,
                        ", exec: {command: aws}}}]\n") +
           context,
       "", "sets both a token and an exec plugin"},
      {"auth provider",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n" + context,
       "", "uses \"auth-provider\", which is not supported"},
      {"basic auth",
       "current-context: x\n" + cluster +
           absl::StrCat("users: [{name: u, user: {username: admin, ",
                        "password: ", kToken, "}}]\n") +
           context,
       "", "uses \"username\", which is not supported"},
      {"exec apiVersion",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {exec: {command: aws, apiVersion: "
           "client.authentication.k8s.io/v1alpha1}}}]\n" +
           context,
       "", "invalid apiVersion \"client.authentication.k8s.io/v1alpha1\""},
      {"groups without user",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {as-groups: [admins]}}]\n" + context,
       "", "without impersonating a user"},
      {"header injection",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {as: \"a\\r\\nX-Evil: 1\"}}]\n" + context,
       "", "control character"},
      {"not YAML", absl::StrCat("current-context: [x\ntoken: ", kToken, "\n"),
       "", "not valid YAML"},
      {"missing token file",
       "current-context: x\n" + cluster +
           "users: [{name: u, user: {tokenFile: tok}}]\n" + context,
       "", "user \"u\" \"tokenFile\": cannot read /dir/tok"},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<ClusterAccess> access =
        ParseKubeconfig(c.yaml, "/dir", "/cfg", c.context);
    ASSERT_FALSE(access.ok());
    EXPECT_THAT(access.status().message(),
                AllOf(HasSubstr("/cfg"), HasSubstr(c.expected),
                      Not(HasSubstr(kToken))));
  }
}

TEST_F(KubeconfigTest, KubeconfigListIsMergedAsKubectlMergesIt) {
  // First file: current-context, its own cluster "shared" and user "me"
  // with a token file relative to ITS directory.
  Write("one/me.token", "token-from-one\n");
  const std::string one = Write("one/config", R"(apiVersion: v1
kind: Config
current-context: work
clusters:
- name: shared
  cluster: {server: "https://first:6443", certificate-authority: ca.pem}
users:
- name: me
  user: {tokenFile: me.token}
)");
  Write("one/ca.pem", "CA-ONE");
  // Second file: a different current-context (ignored), a cluster of the
  // same name (ignored: the first file's wins) and the context itself.
  const std::string two = Write("two/config", R"(apiVersion: v1
kind: Config
current-context: other
clusters:
- name: shared
  cluster: {server: "https://second:6443"}
contexts:
- name: work
  context: {cluster: shared, user: me, namespace: team-a}
- name: other
  context: {cluster: shared, user: nobody}
)");
  ClusterAccessSearch search;
  search.kubeconfig_env = absl::StrCat(dir_, "/missing::", one, ":", two, ":",
                                       one);  // Missing, empty, repeated.
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->server, "https://first:6443");
  EXPECT_EQ(access->certificate_authority_pem, "CA-ONE");
  EXPECT_EQ(AsString(access->bearer_token), "token-from-one");
  EXPECT_EQ(access->bearer_token_file, dir_ + "/one/me.token");
  EXPECT_EQ(access->default_namespace, "team-a");
  EXPECT_THAT(access->source, HasSubstr("(context work)"));

  // --context picks a context from the second file; its user "nobody" is
  // defined nowhere.
  search.context = "other";
  access = FindClusterAccess(search);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(),
              HasSubstr("user \"nobody\" not found"));

  // A file that exists but is broken is an error, as in kubectl.
  const std::string broken = Write("broken/config", "current-context: [x\n");
  search.context = "";
  search.kubeconfig_env = absl::StrCat(one, ":", broken, ":", two);
  access = FindClusterAccess(search);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(), HasSubstr(broken));
}

TEST_F(KubeconfigTest, ImpersonationFromKubeconfigAndFlags) {
  const std::string path = Write("config", R"(apiVersion: v1
kind: Config
current-context: x
clusters:
- name: c
  cluster: {server: "https://a:1"}
users:
- name: u
  user:
    token: t
    as: jane
    as-uid: "1234"
    as-groups: [dev, ops]
    as-user-extra:
      reason: [audit]
      scope: one
contexts:
- name: x
  context: {cluster: c, user: u}
)");
  ClusterAccessSearch search;
  search.explicit_kubeconfig = path;
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->impersonate.user, "jane");
  EXPECT_EQ(access->impersonate.uid, "1234");
  EXPECT_EQ(access->impersonate.groups,
            (std::vector<std::string>{"dev", "ops"}));
  EXPECT_EQ(access->impersonate.extra.at("reason"),
            std::vector<std::string>{"audit"});
  EXPECT_EQ(access->impersonate.extra.at("scope"),
            std::vector<std::string>{"one"});
  // --as-group alone replaces the groups and keeps the user (kubectl's
  // override merge).
  search.as_groups = {"admins"};
  access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->impersonate.user, "jane");
  EXPECT_EQ(access->impersonate.groups, std::vector<std::string>{"admins"});
  search.as_user = "bob";
  search.as_uid = "42";
  access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->impersonate.user, "bob");
  EXPECT_EQ(access->impersonate.uid, "42");
  // A flag value that would inject a header is refused.
  search.as_user = "bob\r\nAuthorization: x";
  EXPECT_THAT(FindClusterAccess(search).status().message(),
              HasSubstr("control character"));
}

TEST_F(KubeconfigTest, CredentialsOverHttpNeedAnExplicitOptIn) {
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(TokenKubeconfig("http://a:8080"), "/d", "/cfg", "");
  ASSERT_TRUE(access.ok()) << access.status();
  absl::Status refused = CheckCredentialsNotInClear(*access);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused));
  EXPECT_THAT(refused.message(),
              AllOf(HasSubstr("http://a:8080"), HasSubstr("clear text"),
                    HasSubstr("--insecure-allow-http-credentials"),
                    Not(HasSubstr(kToken))));
  access->allow_credentials_over_http = true;
  EXPECT_TRUE(CheckCredentialsNotInClear(*access).ok());
  // No credentials, or https: nothing to refuse.
  ClusterAccess anonymous;
  anonymous.server = "http://a:8080";
  EXPECT_TRUE(CheckCredentialsNotInClear(anonymous).ok());
  absl::StatusOr<ClusterAccess> tls =
      ParseKubeconfig(TokenKubeconfig("https://a:1"), "/d", "/cfg", "");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(CheckCredentialsNotInClear(*tls).ok());
}

TEST_F(KubeconfigTest, HarmlessFieldsAreAccepted) {
  const std::string yaml = R"(apiVersion: v1
kind: Config
preferences: {colors: true}
current-context: x
clusters:
- name: c
  cluster:
    server: "https://a:1"
    disable-compression: true
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {a: b}
users:
- name: u
  user: {token: t, extensions: [{name: e, extension: {}}]}
contexts:
- name: x
  context: {cluster: c, user: u, extensions: []}
extensions: []
)";
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(yaml, "/d", "/cfg", "");
  EXPECT_TRUE(access.ok()) << access.status();
}

TEST_F(KubeconfigTest, CloneCopiesKeyMaterial) {
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(TokenKubeconfig("https://a:1"), "/d", "/cfg", "");
  ASSERT_TRUE(access.ok()) << access.status();
  ClusterAccess copy = access->Clone();
  EXPECT_EQ(copy.server, "https://a:1");
  EXPECT_TRUE(copy.bearer_token.Equals(access->bearer_token));
  EXPECT_NE(copy.bearer_token.data(), access->bearer_token.data());
}

TEST_F(KubeconfigTest, ProxyUrlAndTheProxyEnvironmentAreCarried) {
  std::string yaml = TokenKubeconfig("https://kube.test:6443");
  yaml = absl::StrReplaceAll(yaml,
                             {{"    insecure-skip-tls-verify: true\n",
                               "    insecure-skip-tls-verify: true\n"
                               "    proxy-url: http://u:p@10.0.0.9:3128\n"}});
  const std::string path = Write("proxied", yaml);
  ClusterAccessSearch search;
  search.explicit_kubeconfig = path;
  search.proxy_environment.https_proxy = "http://env-proxy:1";
  search.proxy_environment.no_proxy = ".internal";
  absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->proxy_url, "http://u:p@10.0.0.9:3128");
  EXPECT_EQ(access->proxy_environment.https_proxy, "http://env-proxy:1");
  EXPECT_EQ(access->proxy_environment.no_proxy, ".internal");
  const ClusterAccess copy = access->Clone();
  EXPECT_EQ(copy.proxy_url, access->proxy_url);
  EXPECT_EQ(copy.proxy_environment.https_proxy, "http://env-proxy:1");
}

}  // namespace
}  // namespace kmesh::kube
