#include "kmesh/kube/bearer_token.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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
  EXPECT_TRUE(token.AppendHeader(&request).ok());
  return request;
}

TEST(BearerTokenTest, AppendsTheAuthorizationHeader) {
  BearerToken token(crypto::SecretBytes::CopyFrom("tok123"), "",
                    milliseconds(0));
  std::string request = "GET / HTTP/1.1\r\n";
  ASSERT_TRUE(token.AppendHeader(&request).ok());
  EXPECT_EQ(request, "GET / HTTP/1.1\r\nAuthorization: Bearer tok123\r\n");
}

TEST(BearerTokenTest, RoomReservedForTheRestSurvivesTheToken) {
  // The transport reserves room for the headers and body that follow the
  // token and wipes the final buffer only: appending them must not move
  // the text (a reallocation would free an unwiped copy of the token).
  const std::string long_token(5000, 'x');
  BearerToken token(crypto::SecretBytes::CopyFrom(long_token), "",
                    milliseconds(0));
  std::string request = "GET / HTTP/1.1\r\n";
  request.reserve(request.size() + 4096);
  ASSERT_TRUE(token.AppendHeader(&request).ok());
  const char* const before = request.data();
  request.append(4096, 'b');
  EXPECT_EQ(request.data(), before);
  EXPECT_NE(request.find(long_token), std::string::npos);
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

TEST(BearerTokenTest, ImpersonationHeadersAsClientGoSetsThem) {
  ClusterAccess access;
  access.bearer_token = crypto::SecretBytes::CopyFrom("tok");
  access.impersonate.user = "jane@example.com";
  access.impersonate.uid = "06f6ce97";
  access.impersonate.groups = {"system:masters", "dev ops"};
  access.impersonate.extra["scopes.example/v1"] = {"view", "edit"};
  access.impersonate.extra["a b%"] = {"x"};
  BearerToken token(access, milliseconds(0));
  EXPECT_EQ(HeaderOf(token),
            "Authorization: Bearer tok\r\n"
            "Impersonate-User: jane@example.com\r\n"
            "Impersonate-Uid: 06f6ce97\r\n"
            "Impersonate-Group: system:masters\r\n"
            "Impersonate-Group: dev ops\r\n"
            "Impersonate-Extra-a%20b%25: x\r\n"
            "Impersonate-Extra-scopes.example%2Fv1: view\r\n"
            "Impersonate-Extra-scopes.example%2Fv1: edit\r\n");
}

TEST(BearerTokenTest, ExecPluginTokenAndItsFailure) {
  const std::string script = TempPath("bearer-exec.sh");
  std::ofstream(script)
      << "#!/bin/sh\n"
         "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'\n"
         "printf "
         "'\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x1\"}}'\n";
  ::chmod(script.c_str(), 0755);
  ExecConfig config;
  config.api_version = kExecApiV1;
  config.command = script;
  config.interactive_mode = "Never";
  ClusterAccess access;
  access.exec_credentials = *ExecCredentialProvider::Create(config);
  BearerToken token(access, milliseconds(0));
  EXPECT_EQ(HeaderOf(token), "Authorization: Bearer x1\r\n");

  config.command = TempPath("no-such-plugin");
  access.exec_credentials = *ExecCredentialProvider::Create(config);
  BearerToken failing(access, milliseconds(0));
  std::string request = "GET / HTTP/1.1\r\n";
  absl::Status status = failing.AppendHeader(&request);
  EXPECT_THAT(status.message(), ::testing::HasSubstr("not found"));
  EXPECT_EQ(request, "GET / HTTP/1.1\r\n");
}

}  // namespace
}  // namespace kmesh::kube
