#include "kmesh/kube/bearer_token.h"

#include <openssl/mem.h>

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kmesh::kube {

namespace {

// RFC 7230 token characters, '%' excluded (client-go's headerKeyEscape).
bool LegalHeaderKeyByte(unsigned char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("!#$&'*+-.^_`|~").find(static_cast<char>(c)) !=
             absl::string_view::npos;
}

std::string HeaderKeyEscape(absl::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : key) {
    if (LegalHeaderKeyByte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

// As client-go's impersonatingRoundTripper sets them (values were checked
// for control characters when the kubeconfig and flags were read).
std::string ImpersonationHeaders(const Impersonation& as) {
  if (as.user.empty()) return "";
  std::string out = absl::StrCat("Impersonate-User: ", as.user, "\r\n");
  if (!as.uid.empty())
    absl::StrAppend(&out, "Impersonate-Uid: ", as.uid, "\r\n");
  for (const std::string& group : as.groups) {
    absl::StrAppend(&out, "Impersonate-Group: ", group, "\r\n");
  }
  for (const auto& [key, values] : as.extra) {
    for (const std::string& value : values) {
      absl::StrAppend(&out, "Impersonate-Extra-", HeaderKeyEscape(key), ": ",
                      value, "\r\n");
    }
  }
  return out;
}

// `request` grows first (keeping the room its caller reserved for what
// follows), so that the token is not left behind in a buffer std::string
// frees when it reallocates: the caller wipes only the last one.
void AppendBearer(std::string* request, const uint8_t* data, size_t size,
                  size_t more) {
  constexpr absl::string_view kPrefix = "Authorization: Bearer ";
  request->reserve(request->capacity() + kPrefix.size() + size + 2 + more);
  absl::StrAppend(request, kPrefix,
                  absl::string_view(reinterpret_cast<const char*>(data), size),
                  "\r\n");
}

}  // namespace

BearerToken::BearerToken(crypto::SecretBytes token, std::string file,
                         std::chrono::milliseconds refresh)
    : file_(std::move(file)),
      refresh_(refresh),
      token_(std::move(token)),
      read_at_(std::chrono::steady_clock::now()) {}

BearerToken::BearerToken(const ClusterAccess& access,
                         std::chrono::milliseconds refresh)
    : file_(access.bearer_token_file),
      refresh_(refresh),
      exec_(access.exec_credentials),
      impersonation_headers_(ImpersonationHeaders(access.impersonate)),
      token_(access.bearer_token.Clone()),
      read_at_(std::chrono::steady_clock::now()) {}

absl::Status BearerToken::AppendHeader(std::string* request) {
  if (exec_ != nullptr) {
    absl::StatusOr<std::shared_ptr<const ExecCredential>> credential =
        exec_->Get();
    if (!credential.ok()) return credential.status();
    const crypto::SecretBytes& token = (*credential)->token;
    if (!token.empty()) {
      AppendBearer(request, token.data(), token.size(),
                   impersonation_headers_.size());
    }
  } else {
    absl::MutexLock lock(&mu_);
    RefreshIfDue();
    if (!token_.empty()) {
      AppendBearer(request, token_.data(), token_.size(),
                   impersonation_headers_.size());
    }
  }
  request->append(impersonation_headers_);
  return absl::OkStatus();
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
