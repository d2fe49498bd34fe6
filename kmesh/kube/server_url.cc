#include "kmesh/kube/server_url.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kmesh::kube {

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url) {
  ServerUrl result;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    result.tls = true;
    result.port = 443;
  } else if (absl::ConsumePrefix(&rest, "http://")) {
    result.tls = false;
    result.port = 80;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "server URL \"", url, "\" must start with https:// or http://"));
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    absl::string_view path = rest.substr(slash);
    while (absl::ConsumeSuffix(&path, "/")) {
    }
    result.path_prefix = std::string(path);
  }
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("server URL \"", url, "\": unclosed '['"));
    }
    result.host = std::string(authority.substr(0, close));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!absl::ConsumePrefix(&after, ":")) {
        return absl::InvalidArgumentError(
            absl::StrCat("server URL \"", url, "\": junk after ']'"));
      }
      port = after;
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    result.host = std::string(authority);
  }
  if (result.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL \"", url, "\" has no host"));
  }
  if (!port.empty()) {
    uint32_t number = 0;
    if (!absl::SimpleAtoi(port, &number) || number == 0 || number > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("server URL \"", url, "\": bad port \"", port, "\""));
    }
    result.port = static_cast<uint16_t>(number);
  }
  return result;
}

std::string HostHeader(const ServerUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? absl::StrCat("[", url.host, "]") : url.host;
  if ((url.tls && url.port == 443) || (!url.tls && url.port == 80)) {
    return host;
  }
  return absl::StrCat(host, ":", url.port);
}

}  // namespace kmesh::kube
