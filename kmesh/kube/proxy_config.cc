#include "kmesh/kube/proxy_config.h"

#include <arpa/inet.h>
#include <openssl/mem.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kmesh::kube {
namespace {

// An IP address as Go's net.IP compares them: IPv4-mapped IPv6 addresses
// are IPv4.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4.
  size_t size() const { return v6 ? 16 : 4; }
  bool operator==(const IpAddress& other) const {
    return v6 == other.v6 && bytes == other.bytes;
  }
};

std::optional<IpAddress> ParseIp(absl::string_view text, bool allow_zone) {
  std::string s(text);
  if (allow_zone) {
    const size_t percent = s.find('%');
    if (percent != std::string::npos && s.find(':') != std::string::npos) {
      s.resize(percent);
    }
  }
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  std::array<uint8_t, 16> v6;
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) != 1) return std::nullopt;
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(v6.begin(), v6.begin() + 12, kV4Mapped)) {
    std::copy(v6.begin() + 12, v6.end(), ip.bytes.begin());
    return ip;
  }
  ip.v6 = true;
  ip.bytes = v6;
  return ip;
}

bool IsLoopback(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 127;
  static constexpr std::array<uint8_t, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes == kLoopback;
}

struct Cidr {
  IpAddress network;
  int bits = 0;
  bool Contains(const IpAddress& ip) const {
    if (ip.v6 != network.v6) return false;
    for (int i = 0; i < bits; ++i) {
      const uint8_t mask = 0x80 >> (i % 8);
      if ((ip.bytes[i / 8] & mask) != (network.bytes[i / 8] & mask)) {
        return false;
      }
    }
    return true;
  }
};

// net.ParseCIDR: "1.2.3.0/24", "fd00::/64".
std::optional<Cidr> ParseCidr(absl::string_view text) {
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) return std::nullopt;
  std::optional<IpAddress> ip = ParseIp(text.substr(0, slash), false);
  absl::string_view bits = text.substr(slash + 1);
  if (!ip.has_value() || bits.empty() || bits.size() > 3) return std::nullopt;
  for (char c : bits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  int n = 0;
  if (!absl::SimpleAtoi(bits, &n) || n > static_cast<int>(ip->size()) * 8) {
    return std::nullopt;
  }
  return Cidr{*ip, n};
}

// net.SplitHostPort: "host:port", "[v6]:port".
bool SplitHostPort(absl::string_view hostport, absl::string_view* host,
                   absl::string_view* port) {
  const size_t colon = hostport.rfind(':');
  if (colon == absl::string_view::npos) return false;
  size_t j = 0, k = 0;
  if (!hostport.empty() && hostport[0] == '[') {
    const size_t end = hostport.find(']');
    if (end == absl::string_view::npos || end + 1 != colon) return false;
    *host = hostport.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    *host = hostport.substr(0, colon);
    if (absl::StrContains(*host, ':')) return false;
  }
  if (absl::StrContains(hostport.substr(j), '[')) return false;
  if (absl::StrContains(hostport.substr(k), ']')) return false;
  *port = hostport.substr(colon + 1);
  return true;
}

struct IpRule {
  IpAddress ip;
  std::string port;  // "" = any.
};

struct DomainRule {
  std::string suffix;       // ".example.com"
  std::string port;         // "" = any.
  bool match_host = false;  // Also "example.com" itself.
};

// NO_PROXY parsed as httpproxy's config.init() does; malformed entries are
// ignored, as there.
struct NoProxyRules {
  bool all = false;
  std::vector<Cidr> cidrs;
  std::vector<IpRule> ips;
  std::vector<DomainRule> domains;
};

NoProxyRules ParseNoProxy(absl::string_view no_proxy) {
  NoProxyRules rules;
  for (absl::string_view raw : absl::StrSplit(no_proxy, ',')) {
    const std::string p =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (p.empty()) continue;
    if (p == "*") {
      rules.all = true;
      return rules;
    }
    if (std::optional<Cidr> cidr = ParseCidr(p); cidr.has_value()) {
      rules.cidrs.push_back(*cidr);
      continue;
    }
    absl::string_view phost, pport;
    if (SplitHostPort(p, &phost, &pport)) {
      if (phost.empty()) continue;
      if (phost.front() == '[' && phost.back() == ']') {
        phost = phost.substr(1, phost.size() - 2);
      }
    } else {
      phost = p;
      pport = "";
    }
    if (std::optional<IpAddress> ip = ParseIp(phost, false); ip.has_value()) {
      rules.ips.push_back({*ip, std::string(pport)});
      continue;
    }
    if (phost.empty()) continue;
    if (absl::StartsWith(phost, "*.")) phost.remove_prefix(1);
    DomainRule domain;
    domain.port = std::string(pport);
    if (phost.front() != '.') {
      domain.match_host = true;
      domain.suffix = absl::StrCat(".", phost);
    } else {
      domain.suffix = std::string(phost);
    }
    rules.domains.push_back(std::move(domain));
  }
  return rules;
}

// Go's url.PathUnescape-style decoding of userinfo; false on a bad escape.
bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const char hi = in[i + 1], lo = in[i + 2];
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(hi)) ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(lo))) {
      return false;
    }
    auto value = [](char c) {
      return absl::ascii_isdigit(static_cast<unsigned char>(c))
                 ? c - '0'
                 : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' +
                       10;
    };
    out->push_back(static_cast<char>(value(hi) * 16 + value(lo)));
    i += 2;
  }
  return true;
}

std::string GetEnvAny(const char* upper, const char* lower, std::string* name) {
  for (const char* n : {upper, lower}) {
    const char* value = std::getenv(n);
    if (value != nullptr && value[0] != '\0') {
      *name = n;
      return value;
    }
  }
  return "";
}

}  // namespace

ProxyEnvironment ProxyEnvironment::FromProcess() {
  ProxyEnvironment env;
  std::string ignored;
  env.http_proxy = GetEnvAny("HTTP_PROXY", "http_proxy", &env.http_proxy_var);
  env.https_proxy =
      GetEnvAny("HTTPS_PROXY", "https_proxy", &env.https_proxy_var);
  env.no_proxy = GetEnvAny("NO_PROXY", "no_proxy", &ignored);
  return env;
}

absl::StatusOr<ProxyServer> ParseProxyUrl(absl::string_view url,
                                          bool require_scheme,
                                          absl::string_view origin) {
  absl::string_view rest = absl::StripAsciiWhitespace(url);
  std::string scheme = "http";
  const size_t separator = rest.find("://");
  if (separator != absl::string_view::npos) {
    scheme = absl::AsciiStrToLower(rest.substr(0, separator));
    rest.remove_prefix(separator + 3);
  } else if (require_scheme) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin,
                     " has no scheme; write it as http://HOST:PORT "
                     "(supported: http, socks5)"));
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  absl::string_view userinfo;
  const size_t at = authority.rfind('@');
  bool has_userinfo = false;
  if (at != absl::string_view::npos) {
    has_userinfo = true;
    userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
  }
  // An '@' past the authority means userinfo with an unescaped '/', '?'
  // or '#' (which Go's url.Parse cannot read either): the "authority" then
  // holds part of the credentials, so messages show no part of it.
  const bool stray_userinfo =
      !has_userinfo && rest.find('@') != absl::string_view::npos;
  const std::string shown =
      stray_userinfo ? absl::StrCat(scheme,
                                    "://<redacted: the user name or password "
                                    "needs %-escapes for '/', '?' or '#'>")
                     : absl::StrCat(scheme, "://", authority);
  if (scheme == "https") {
    return absl::UnimplementedError(absl::StrCat(
        origin, " \"", shown,
        "\": https:// proxies (TLS to the proxy) are not supported; use an "
        "http:// or socks5:// proxy (the API server's TLS still runs end to "
        "end inside the tunnel)"));
  }
  ProxyServer proxy;
  // client-go's proxy-url allows socks5; Go's environment also socks5h
  // (both resolve the server's name at the proxy).
  if (scheme == "socks5" || (scheme == "socks5h" && !require_scheme)) {
    proxy.protocol = ProxyServer::Protocol::kSocks5;
    proxy.port = 1080;
  } else if (scheme != "http") {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " \"", shown, "\": unsupported scheme \"", scheme,
                     "\", must be http, https, or socks5"));
  }
  absl::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, " \"", shown, "\": unclosed '['"));
    }
    proxy.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, " \"", shown, "\": junk after ']'"));
      }
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    proxy.host = std::string(authority);
  }
  if (proxy.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " \"", shown, "\" has no host"));
  }
  if (!port.empty()) {
    uint32_t number = 0;
    if (!absl::SimpleAtoi(port, &number) || number == 0 || number > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, " \"", shown, "\": bad port"));
    }
    proxy.port = static_cast<uint16_t>(number);
  }
  const bool ipv6 = absl::StrContains(proxy.host, ':');
  proxy.display = absl::StrCat(scheme, "://", ipv6 ? "[" : "", proxy.host,
                               ipv6 ? "]" : "", ":", proxy.port);
  if (has_userinfo) {
    // Go's proxyAuth: "Basic " + base64(username ":" password), the parts
    // percent-decoded.
    const size_t colon = userinfo.find(':');
    std::string user, password;
    const bool decoded = PercentDecode(userinfo.substr(0, colon), &user) &&
                         (colon == absl::string_view::npos ||
                          PercentDecode(userinfo.substr(colon + 1), &password));
    if (decoded && proxy.protocol == ProxyServer::Protocol::kSocks5) {
      if (user.size() > 255 || password.size() > 255) {
        OPENSSL_cleanse(user.data(), user.size());
        OPENSSL_cleanse(password.data(), password.size());
        return absl::InvalidArgumentError(
            absl::StrCat(origin, " \"", proxy.display,
                         "\": a SOCKS5 user name or password is longer "
                         "than 255 bytes"));
      }
      proxy.socks_credentials = true;
      proxy.socks_username = crypto::SecretBytes::TakeAndWipe(&user);
      proxy.socks_password = crypto::SecretBytes::TakeAndWipe(&password);
      return proxy;
    }
    std::string plain = absl::StrCat(user, ":", password);
    std::string encoded;
    absl::Base64Escape(plain, &encoded);
    std::string header = absl::StrCat("Basic ", encoded);
    OPENSSL_cleanse(user.data(), user.size());
    OPENSSL_cleanse(password.data(), password.size());
    OPENSSL_cleanse(plain.data(), plain.size());
    OPENSSL_cleanse(encoded.data(), encoded.size());
    if (!decoded) {
      OPENSSL_cleanse(header.data(), header.size());
      return absl::InvalidArgumentError(absl::StrCat(
          origin, " \"", proxy.display,
          "\": the user name or password has an invalid %-escape"));
    }
    proxy.authorization = crypto::SecretBytes::TakeAndWipe(&header);
  }
  return proxy;
}

bool UseEnvironmentProxy(absl::string_view no_proxy, absl::string_view host,
                         uint16_t port) {
  if (host == "localhost") return false;
  const std::optional<IpAddress> ip = ParseIp(host, /*allow_zone=*/true);
  if (ip.has_value() && IsLoopback(*ip)) return false;
  const NoProxyRules rules = ParseNoProxy(no_proxy);
  if (rules.all) return false;
  const std::string name =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(host));
  const std::string port_text = std::to_string(port);
  if (ip.has_value()) {
    for (const Cidr& cidr : rules.cidrs) {
      if (cidr.Contains(*ip)) return false;
    }
    for (const IpRule& rule : rules.ips) {
      if (rule.ip == *ip && (rule.port.empty() || rule.port == port_text)) {
        return false;
      }
    }
    return true;  // Domain rules never match an IP address.
  }
  for (const DomainRule& rule : rules.domains) {
    if (absl::EndsWith(name, rule.suffix) ||
        (rule.match_host && name == absl::string_view(rule.suffix).substr(1))) {
      if (rule.port.empty() || rule.port == port_text) return false;
    }
  }
  return true;
}

absl::StatusOr<std::optional<ProxyServer>> SelectProxy(
    bool tls, absl::string_view host, uint16_t port,
    absl::string_view proxy_url, const ProxyEnvironment& environment,
    absl::string_view source) {
  if (!proxy_url.empty()) {
    absl::StatusOr<ProxyServer> proxy =
        ParseProxyUrl(proxy_url, /*require_scheme=*/true,
                      absl::StrCat(source, ": proxy-url"));
    if (!proxy.ok()) return proxy.status();
    return std::optional<ProxyServer>(*std::move(proxy));
  }
  const std::string& value =
      tls ? environment.https_proxy : environment.http_proxy;
  if (value.empty()) return std::optional<ProxyServer>();
  if (!UseEnvironmentProxy(environment.no_proxy, host, port)) {
    return std::optional<ProxyServer>();
  }
  absl::StatusOr<ProxyServer> proxy =
      ParseProxyUrl(value, /*require_scheme=*/false,
                    absl::StrCat("$", tls ? environment.https_proxy_var
                                          : environment.http_proxy_var));
  if (!proxy.ok()) return proxy.status();
  return std::optional<ProxyServer>(*std::move(proxy));
}

}  // namespace kmesh::kube
