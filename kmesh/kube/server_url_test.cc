#include "kmesh/kube/server_url.h"

#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

TEST(ParseServerUrlTest, SplitsSchemeHostPortAndPrefix) {
  absl::StatusOr<ServerUrl> url = ParseServerUrl("https://10.0.0.1:6443");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "10.0.0.1");
  EXPECT_EQ(url->port, 6443);
  EXPECT_EQ(url->path_prefix, "");

  url = ParseServerUrl("http://[fd00::1]/k8s/clusters/c1/");
  ASSERT_TRUE(url.ok());
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "fd00::1");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->path_prefix, "/k8s/clusters/c1");

  url = ParseServerUrl("https://kubernetes.default.svc");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);

  for (const char* bad : {"ftp://x", "10.0.0.1:6443", "https://:6443",
                          "https://a:99999", "https://[fd00::1"}) {
    EXPECT_FALSE(ParseServerUrl(bad).ok()) << bad;
  }
}

TEST(HostHeaderTest, BracketsIpv6AndOmitsTheSchemesDefaultPort) {
  const struct {
    const char* url;
    const char* host_header;
  } cases[] = {
      {"https://10.0.0.1:6443", "10.0.0.1:6443"},
      {"https://kubernetes.default.svc", "kubernetes.default.svc"},
      {"https://api:443", "api"},
      {"http://api:443", "api:443"},
      {"http://[fd00::1]/prefix", "[fd00::1]"},
      {"https://[fd00::1]:6443", "[fd00::1]:6443"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ServerUrl> url = ParseServerUrl(c.url);
    ASSERT_TRUE(url.ok()) << c.url;
    EXPECT_EQ(HostHeader(*url), c.host_header) << c.url;
  }
}

}  // namespace
}  // namespace kmesh::kube
