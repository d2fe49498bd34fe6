#include "kmesh/kube/bearer_token.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp ? tmp : "/tmp", "/", name);
}

std::string HeaderOf(BearerToken& token) {
  std::string request;
  token.AppendHeader(&request);
  return request;
}

TEST(BearerTokenTest, AppendsTheAuthorizationHeader) {
  BearerToken token(crypto::SecretBytes::CopyFrom("tok123"), "",
                    milliseconds(0));
  std::string request = "GET / HTTP/1.1\r\n";
  token.AppendHeader(&request);
  EXPECT_EQ(request, "GET / HTTP/1.1\r\nAuthorization: Bearer tok123\r\n");
}

TEST(BearerTokenTest, NoTokenNoHeader) {
  BearerToken token(crypto::SecretBytes(), "", milliseconds(0));
  EXPECT_EQ(HeaderOf(token), "");
}

TEST(BearerTokenTest, TokenFromAFileIsReReadAsItRotates) {
  const std::string file = TempPath("rotating-token");
  std::ofstream(file) << "first\n";
  BearerToken token(crypto::SecretBytes::CopyFrom("first"), file,
                    milliseconds(0));  // Re-read on every use.
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer first\r\n");
  std::ofstream(file) << "second\n";
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer second\r\n");
  // An empty (half-written) file keeps the last good token.
  std::ofstream(file, std::ios::trunc).flush();
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer second\r\n");
  // So does a file that went away.
  std::remove(file.c_str());
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer second\r\n");
}

TEST(BearerTokenTest, TokenFileIsNotReReadBeforeTheRefreshInterval) {
  const std::string file = TempPath("fresh-token");
  std::ofstream(file) << "first\n";
  BearerToken token(crypto::SecretBytes::CopyFrom("first"), file,
                    milliseconds(3600 * 1000));
  std::ofstream(file) << "second\n";
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer first\r\n");
}

}  // namespace
}  // namespace kmesh::kube
