#include "kmesh/kube/bearer_token.h"

#include <openssl/mem.h>

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kmesh::kube {

BearerToken::BearerToken(crypto::SecretBytes token, std::string file,
                         std::chrono::milliseconds refresh)
    : file_(std::move(file)),
      refresh_(refresh),
      token_(std::move(token)),
      read_at_(std::chrono::steady_clock::now()) {}

void BearerToken::AppendHeader(std::string* request) {
  absl::MutexLock lock(&mu_);
  RefreshIfDue();
  if (token_.empty()) return;
  absl::StrAppend(
      request, "Authorization: Bearer ",
      absl::string_view(reinterpret_cast<const char*>(token_.data()),
                        token_.size()),
      "\r\n");
}

void BearerToken::RefreshIfDue() {
  if (file_.empty() || std::chrono::steady_clock::now() - read_at_ < refresh_) {
    return;
  }
  read_at_ = std::chrono::steady_clock::now();
  std::ifstream in(file_, std::ios::binary);
  if (!in) return;
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  absl::string_view trimmed = absl::StripAsciiWhitespace(content);
  // A failed or empty read keeps the last good token.
  if (!trimmed.empty()) token_ = crypto::SecretBytes::CopyFrom(trimmed);
  OPENSSL_cleanse(content.data(), content.size());
}

}  // namespace kmesh::kube
