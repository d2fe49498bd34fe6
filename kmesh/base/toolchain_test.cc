#include <openssl/sha.h>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#ifndef OPENSSL_IS_BORINGSSL
#error not boringssl
#endif
absl::StatusOr<int> F(int x) { if (x < 0) return absl::InvalidArgumentError(absl::StrCat("neg ", x)); return x; }
TEST(Toolchain, Works) {
  uint8_t out[64]; SHA512((const uint8_t*)"abc", 3, out);
  EXPECT_EQ(out[0], 0xdd);
  EXPECT_FALSE(F(-1).ok());
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tlsv12_client);
  LOG(INFO) << "ok";
}
