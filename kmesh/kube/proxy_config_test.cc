#include "kmesh/kube/proxy_config.h"

#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Authorization(const ProxyServer& proxy) {
  return std::string(reinterpret_cast<const char*>(proxy.authorization.data()),
                     proxy.authorization.size());
}

// Go's golang.org/x/net/http/httpproxy TestUseProxy table (proxy_test.go),
// with its NO_PROXY; every host is asked for at port 80.
TEST(UseEnvironmentProxyTest, GoHttpproxyTable) {
  const std::string no_proxy =
      "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, "
      "192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, "
      "[2001:db8::52:0:3]:80, 2002:db8:a::45/64";
  const struct {
    const char* host;
    bool use_proxy;
  } cases[] = {
      {"localhost", false},
      {"127.0.0.1", false},
      {"127.0.0.2", false},
      {"::1", false},
      {"::2", true},
      {"192.168.1.1", false},
      {"192.168.1.2", true},  // Port 81 only.
      {"192.168.1.3", false},
      {"192.168.1.4", true},
      {"10.0.0.2", false},  // In 10.0.0.0/30.
      {"10.0.0.4", true},   // Outside it.
      {"2001:db8::52:0:1", false},
      {"2001:db8::52:0:2", true},  // Port 443 only.
      {"2001:db8::52:0:3", false},
      {"2002:db8:a::123", false},
      {"fe80::424b:c8be:1643:a1b6", true},
      {"barbaz.net", true},  // ".barbaz.net" is subdomains only.
      {"www.barbaz.net", false},
      {"foobar.com", false},
      {"www.foobar.com", false},
      {"foofoobar.com", true},
      {"baz.com", true},
      {"localhost.net", true},
      {"local.localhost", true},
      {"barbarbaz.net", true},
      {"wildcard.io", true},  // "*.wildcard.io" is subdomains only.
      {"nested.wildcard.io", false},
      {"awildcard.io", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(UseEnvironmentProxy(no_proxy, c.host, 80), c.use_proxy) << c.host;
  }
  // "*" exempts everything; an empty list nothing but loopback.
  for (const auto& c : cases) {
    EXPECT_FALSE(UseEnvironmentProxy("*", c.host, 80)) << c.host;
  }
  EXPECT_TRUE(UseEnvironmentProxy("", "kube.example.com", 443));
  EXPECT_TRUE(UseEnvironmentProxy(":1", "example.com", 80));  // Malformed.
}

TEST(UseEnvironmentProxyTest, PortsCaseAndWhitespace) {
  EXPECT_FALSE(UseEnvironmentProxy("kube.test:6443", "kube.test", 6443));
  EXPECT_TRUE(UseEnvironmentProxy("kube.test:6443", "kube.test", 443));
  EXPECT_FALSE(UseEnvironmentProxy(" Example.COM ", "API.example.com", 443));
  EXPECT_FALSE(
      UseEnvironmentProxy("a.test,,  ,10.96.0.0/12", "10.96.0.1", 443));
  EXPECT_TRUE(UseEnvironmentProxy("10.96.0.0/12", "10.112.0.1", 443));
  // Domain entries never match IP addresses; IP entries never names.
  EXPECT_TRUE(UseEnvironmentProxy("0.1", "10.0.0.1", 443));
  EXPECT_TRUE(UseEnvironmentProxy("10.0.0.1", "host-10.0.0.1", 443));
  // IPv4-mapped IPv6 is the IPv4 address, as in Go's net.IP.
  EXPECT_FALSE(UseEnvironmentProxy("10.0.0.1", "::ffff:10.0.0.1", 443));
  EXPECT_FALSE(UseEnvironmentProxy("", "::ffff:127.0.0.1", 443));
  // Only the exact lower-case "localhost" is exempt, as in Go.
  EXPECT_TRUE(UseEnvironmentProxy("", "localhost.", 443));
}

TEST(ParseProxyUrlTest, HttpWithAndWithoutPortAndScheme) {
  absl::StatusOr<ProxyServer> proxy =
      ParseProxyUrl("http://proxy.corp:3128/", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(proxy->host, "proxy.corp");
  EXPECT_EQ(proxy->port, 3128);
  EXPECT_EQ(proxy->display, "http://proxy.corp:3128");
  EXPECT_TRUE(proxy->authorization.empty());

  proxy = ParseProxyUrl("HTTP://[fd00::1]", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(proxy->host, "fd00::1");
  EXPECT_EQ(proxy->port, 80);  // Go's default port for http.
  EXPECT_EQ(proxy->display, "http://[fd00::1]:80");

  // An environment value may omit the scheme; a kubeconfig's may not.
  proxy = ParseProxyUrl("127.0.0.1:8080", false, "$HTTPS_PROXY");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(proxy->display, "http://127.0.0.1:8080");
  proxy = ParseProxyUrl("127.0.0.1:8080", true, "kubeconfig k: proxy-url");
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(proxy.status().message(),
              HasSubstr("kubeconfig k: proxy-url has no scheme"));
}

TEST(ParseProxyUrlTest, CredentialsBecomeBasicAuthAndStayOutOfMessages) {
  absl::StatusOr<ProxyServer> proxy =
      ParseProxyUrl("http://al%40ce:s%3Acret@10.0.0.9:3128", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(Authorization(*proxy),
            "Basic " + absl::Base64Escape("al@ce:s:cret"));
  EXPECT_EQ(proxy->display, "http://10.0.0.9:3128");

  proxy = ParseProxyUrl("http://user@10.0.0.9:3128", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(Authorization(*proxy), "Basic " + absl::Base64Escape("user:"));

  proxy = ParseProxyUrl("http://user:pa%zzss@10.0.0.9:3128", true, "test");
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(proxy.status().message(), Not(HasSubstr("pa%zzss")));

  proxy = ParseProxyUrl("https://user:hunter2@10.0.0.9:1080", true,
                        "kubeconfig k (context c): proxy-url");
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(proxy.status().message(),
              AllOf(HasSubstr("kubeconfig k (context c): proxy-url"),
                    HasSubstr("https://"), HasSubstr("10.0.0.9:1080"),
                    Not(HasSubstr("hunter2")), Not(HasSubstr("user"))));
}

TEST(ParseProxyUrlTest, UnescapedSlashInPasswordIsNotQuoted) {
  // Go's url.Parse cannot read these either (the authority ends at the
  // first '/'); the message must not show the part before it, which is
  // the user name and the start of the password.
  for (const char* url : {"http://alice:hunter/2@10.0.0.9:3128",
                          "http://alice:hun?ter2@10.0.0.9:3128",
                          "alice:hunter#2@10.0.0.9:3128"}) {
    absl::StatusOr<ProxyServer> proxy = ParseProxyUrl(url, false, "test");
    ASSERT_FALSE(proxy.ok()) << url;
    EXPECT_THAT(proxy.status().message(),
                AllOf(Not(HasSubstr("alice")), Not(HasSubstr("hun")),
                      HasSubstr("%-escapes")))
        << url;
  }
}

TEST(ParseProxyUrlTest, Socks5WithAndWithoutCredentials) {
  absl::StatusOr<ProxyServer> proxy =
      ParseProxyUrl("socks5://localhost", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(proxy->protocol, ProxyServer::Protocol::kSocks5);
  EXPECT_EQ(proxy->port, 1080);  // Go's default for socks5.
  EXPECT_EQ(proxy->display, "socks5://localhost:1080");
  EXPECT_FALSE(proxy->socks_credentials);

  proxy = ParseProxyUrl("socks5://ops:hunter%32@10.0.0.9:9050", true, "test");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_TRUE(proxy->socks_credentials);
  EXPECT_TRUE(
      proxy->socks_username.Equals(crypto::SecretBytes::CopyFrom("ops")));
  EXPECT_TRUE(
      proxy->socks_password.Equals(crypto::SecretBytes::CopyFrom("hunter2")));
  EXPECT_TRUE(proxy->authorization.empty());
  EXPECT_EQ(proxy->display, "socks5://10.0.0.9:9050");

  // socks5h is Go's (environment) spelling; client-go's proxy-url has no
  // such scheme.
  EXPECT_TRUE(ParseProxyUrl("socks5h://10.0.0.9", false, "$HTTPS_PROXY").ok());
  EXPECT_FALSE(ParseProxyUrl("socks5h://10.0.0.9", true, "proxy-url").ok());
}

TEST(ParseProxyUrlTest, RefusesOtherSchemesAndBadAddresses) {
  absl::StatusOr<ProxyServer> proxy =
      ParseProxyUrl("https://proxy:443", true, "proxy-url");
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(proxy.status().message(), HasSubstr("https:// proxies"));
  proxy = ParseProxyUrl("ftp://proxy", true, "proxy-url");
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(proxy.status().message(),
              HasSubstr("must be http, https, or socks5"));
  EXPECT_FALSE(ParseProxyUrl("http://", true, "p").ok());
  EXPECT_FALSE(ParseProxyUrl("http://proxy:0", true, "p").ok());
  EXPECT_FALSE(ParseProxyUrl("http://proxy:70000", true, "p").ok());
  EXPECT_FALSE(ParseProxyUrl("http://[fd00::1", true, "p").ok());
}

TEST(SelectProxyTest, ProxyUrlAlwaysWinsEvenForLoopbackAndNoProxy) {
  ProxyEnvironment env;
  env.https_proxy = "http://env-proxy:1";
  env.no_proxy = "*";
  absl::StatusOr<std::optional<ProxyServer>> proxy = SelectProxy(
      true, "127.0.0.1", 6443, "http://127.0.0.1:3128", env, "kubeconfig k");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  ASSERT_TRUE(proxy->has_value());
  EXPECT_EQ((*proxy)->display, "http://127.0.0.1:3128");
}

TEST(SelectProxyTest, EnvironmentBySchemeWithNoProxy) {
  ProxyEnvironment env;
  env.https_proxy = "secure.proxy:3128";
  env.http_proxy = "http://plain.proxy:8080";
  env.no_proxy = ".internal";
  auto https = SelectProxy(true, "kube.test", 6443, "", env, "k");
  ASSERT_TRUE(https.ok() && https->has_value());
  EXPECT_EQ((*https)->display, "http://secure.proxy:3128");
  auto http = SelectProxy(false, "kube.test", 8080, "", env, "k");
  ASSERT_TRUE(http.ok() && http->has_value());
  EXPECT_EQ((*http)->display, "http://plain.proxy:8080");
  auto bypassed = SelectProxy(true, "api.internal", 6443, "", env, "k");
  ASSERT_TRUE(bypassed.ok());
  EXPECT_FALSE(bypassed->has_value());
  auto loopback = SelectProxy(true, "127.0.0.1", 6443, "", env, "k");
  ASSERT_TRUE(loopback.ok());
  EXPECT_FALSE(loopback->has_value());
  // No HTTPS proxy: https servers are reached directly.
  env.https_proxy.clear();
  auto direct = SelectProxy(true, "kube.test", 6443, "", env, "k");
  ASSERT_TRUE(direct.ok());
  EXPECT_FALSE(direct->has_value());
  // An unsupported environment proxy is an error naming the variable.
  env.https_proxy = "https://127.0.0.9:3129";
  env.https_proxy_var = "https_proxy";
  auto tls_proxy = SelectProxy(true, "kube.test", 6443, "", env, "k");
  EXPECT_EQ(tls_proxy.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(tls_proxy.status().message(), HasSubstr("$https_proxy"));
}

TEST(ProxyEnvironmentTest, UpperCaseWinsUnlessEmpty) {
  setenv("HTTPS_PROXY", "http://upper:1", 1);
  setenv("https_proxy", "http://lower:1", 1);
  setenv("HTTP_PROXY", "", 1);
  setenv("http_proxy", "http://lower-http:1", 1);
  unsetenv("NO_PROXY");
  setenv("no_proxy", "kube.test", 1);
  const ProxyEnvironment env = ProxyEnvironment::FromProcess();
  EXPECT_EQ(env.https_proxy, "http://upper:1");
  EXPECT_EQ(env.https_proxy_var, "HTTPS_PROXY");
  EXPECT_EQ(env.http_proxy, "http://lower-http:1");
  EXPECT_EQ(env.http_proxy_var, "http_proxy");
  EXPECT_EQ(env.no_proxy, "kube.test");
  for (const char* name :
       {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "no_proxy"}) {
    unsetenv(name);
  }
}

}  // namespace
}  // namespace kmesh::kube
