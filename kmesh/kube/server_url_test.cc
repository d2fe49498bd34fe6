#include "kmesh/kube/server_url.h"

#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

TEST(ParseServerUrlTest, SplitsSchemeHostPortAndPrefix) {
  const struct {
    const char* url;
    bool tls;
    const char* host;
    uint16_t port;
    const char* path_prefix;
  } cases[] = {
      {"https://10.0.0.1:6443", true, "10.0.0.1", 6443, ""},
      {"http://[fd00::1]/k8s/clusters/c1/", false, "fd00::1", 80,
       "/k8s/clusters/c1"},
      {"https://kubernetes.default.svc", true, "kubernetes.default.svc", 443,
       ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    absl::StatusOr<ServerUrl> url = ParseServerUrl(c.url);
    ASSERT_TRUE(url.ok()) << url.status();
    EXPECT_EQ(url->tls, c.tls);
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->path_prefix, c.path_prefix);
  }
}

TEST(ParseServerUrlTest, RefusesWhatIsNotAnApiServerUrl) {
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
