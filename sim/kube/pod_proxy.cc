#include "sim/kube/pod_proxy.h"

#include <arpa/inet.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kmesh::sim::kube {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

// The proxied body's limit (the real server streams any size).
constexpr uint64_t kMaxPodBody = 64ull << 20;

// Headers a proxy does not forward (Go's httputil.ReverseProxy hopHeaders).
bool IsHopByHop(absl::string_view name) {
  static constexpr const char* kHop[] = {"connection",
                                         "proxy-connection",
                                         "keep-alive",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade"};
  for (const char* hop : kHop) {
    if (absl::EqualsIgnoreCase(name, hop)) return true;
  }
  return false;
}

// A dotted quad whose octets may carry leading zeros (ParseIPSloppy).
bool ParseIpv4Sloppy(const std::string& text, std::array<uint8_t, 4>* out) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  if (parts.size() != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (parts[i].empty() || parts[i].size() > 3) return false;
    int value = 0;
    for (char c : parts[i]) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
      value = value * 10 + (c - '0');
    }
    if (value > 255) return false;
    (*out)[i] = static_cast<uint8_t>(value);
  }
  return true;
}

// The address as 16 bytes (IPv4 as ::ffff:a.b.c.d, as Go holds it).
bool ParseIp(const std::string& text, std::array<uint8_t, 16>* out) {
  std::array<uint8_t, 4> v4;
  if (ParseIpv4Sloppy(text, &v4)) {
    out->fill(0);
    (*out)[10] = 0xff;
    (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, v4.data(), 4);
    return true;
  }
  return text.find(':') != std::string::npos &&
         inet_pton(AF_INET6, text.c_str(), out->data()) == 1;
}

bool IsV4(const std::array<uint8_t, 16>& ip) {
  for (int i = 0; i < 10; ++i) {
    if (ip[i] != 0) return false;
  }
  return ip[10] == 0xff && ip[11] == 0xff;
}

bool IsLoopback(const std::array<uint8_t, 16>& ip) {
  if (IsV4(ip)) return ip[12] == 127;
  for (int i = 0; i < 15; ++i) {
    if (ip[i] != 0) return false;
  }
  return ip[15] == 1;
}

// Go's error text for an errno: strerror's, starting in lower case.
std::string GoErrno(const beast::error_code& ec) {
  std::string text = ec.message();
  if (!text.empty()) text[0] = absl::ascii_tolower(text[0]);
  return text;
}

std::string JoinHostPort(const std::string& host, const std::string& port) {
  return host.find(':') != std::string::npos
             ? absl::StrCat("[", host, "]:", port)
             : absl::StrCat(host, ":", port);
}

}  // namespace

bool SplitSchemeNamePort(const std::string& id, SchemeNamePort* out) {
  std::vector<std::string> parts = absl::StrSplit(id, ':');
  SchemeNamePort result;
  switch (parts.size()) {
    case 1:
      result.name = parts[0];
      break;
    case 2:
      result.name = parts[0];
      result.port = parts[1];
      break;
    case 3:
      result.scheme = parts[0];
      result.name = parts[1];
      result.port = parts[2];
      break;
    default:
      return false;
  }
  if (result.name.empty()) return false;
  if (!result.scheme.empty() && result.scheme != "http" &&
      result.scheme != "https") {
    return false;
  }
  *out = std::move(result);
  return true;
}

bool IsGlobalUnicastIp(const std::string& text) {
  std::array<uint8_t, 16> ip;
  if (!ParseIp(text, &ip)) return false;
  if (IsLoopback(ip)) return false;
  if (IsV4(ip)) {
    const uint8_t* v4 = ip.data() + 12;
    const bool broadcast =
        v4[0] == 255 && v4[1] == 255 && v4[2] == 255 && v4[3] == 255;
    const bool unspecified =
        v4[0] == 0 && v4[1] == 0 && v4[2] == 0 && v4[3] == 0;
    const bool multicast = (v4[0] & 0xf0) == 0xe0;
    const bool link_local = v4[0] == 169 && v4[1] == 254;
    return !broadcast && !unspecified && !multicast && !link_local;
  }
  bool unspecified = true;
  for (uint8_t byte : ip) unspecified = unspecified && byte == 0;
  const bool multicast = ip[0] == 0xff;
  const bool link_local = ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80;
  return !unspecified && !multicast && !link_local;
}

bool IsLoopbackIp(const std::string& text) {
  std::array<uint8_t, 16> ip;
  return ParseIp(text, &ip) && IsLoopback(ip);
}

std::string CleanProxyPath(const std::string& path) {
  if (path.empty()) return "";
  const bool rooted = path[0] == '/';
  std::vector<std::string> out;
  for (absl::string_view segment : absl::StrSplit(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back("..");
      }
      continue;
    }
    out.emplace_back(segment);
  }
  std::string cleaned =
      absl::StrCat(rooted ? "/" : "", absl::StrJoin(out, "/"));
  if (cleaned.empty()) cleaned = ".";
  if (path.back() == '/' && cleaned.back() != '/') cleaned += '/';
  return cleaned;
}

std::string EscapeUrlPath(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    if (absl::ascii_isalnum(c) || std::strchr("-_.~$&+,/:;=@", c) != nullptr) {
      if (c != '\0') {
        out.push_back(static_cast<char>(c));
        continue;
      }
    }
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

absl::StatusOr<PodHttpResponse> ExchangeWithPod(
    const std::string& host, const std::string& port,
    const PodHttpRequest& request, std::chrono::milliseconds timeout) {
  const std::string address = JoinHostPort(host, port);
  uint32_t port_number = 80;
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &port_number) || port_number > 65535)) {
    return absl::UnavailableError(
        absl::StrCat("dial tcp: address ", port, ": invalid port"));
  }
  beast::error_code ec;
  net::ip::address ip = net::ip::make_address(host, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("dial tcp: lookup ", host, ": no such host"));
  }
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);

  http::request<http::string_body> req;
  req.version(11);
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    req.method_string(request.method);
  } else {
    req.method(verb);
  }
  req.target(request.target);
  bool have_host = false;
  for (const auto& [name, value] : request.headers) {
    if (IsHopByHop(name) || absl::EqualsIgnoreCase(name, "content-length")) {
      continue;
    }
    if (absl::EqualsIgnoreCase(name, "host")) have_host = true;
    req.insert(name, value);
  }
  if (!have_host) req.set(http::field::host, address);
  req.keep_alive(false);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" ||
      request.method == "PUT" || request.method == "PATCH") {
    req.prepare_payload();
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxPodBody);
  if (request.method == "HEAD") parser.skip(true);
  beast::flat_buffer buffer;
  enum class Stage { kConnect, kWrite, kRead } stage = Stage::kConnect;
  beast::error_code result;
  stream.async_connect(
      tcp::endpoint(ip, static_cast<uint16_t>(port_number)),
      [&](beast::error_code connected) {
        if (connected) {
          result = connected;
          return;
        }
        stage = Stage::kWrite;
        http::async_write(stream, req, [&](beast::error_code written, size_t) {
          if (written) {
            result = written;
            return;
          }
          stage = Stage::kRead;
          // Header first: Boost 1.74's eager response parser forgets its
          // body-limit error when body bytes come with the header and
          // reserves the announced Content-Length (http_transport.cc).
          http::async_read_header(
              stream, buffer, parser, [&](beast::error_code header, size_t) {
                if (header) {
                  result = header;
                  return;
                }
                http::async_read(
                    stream, buffer, parser,
                    [&](beast::error_code read, size_t) { result = read; });
              });
        });
      });
  io.run();
  stream.socket().close(ec);

  if (result) {
    const bool timed_out = result == beast::error::timeout;
    std::string text;
    switch (stage) {
      case Stage::kConnect:
        text = timed_out ? absl::StrCat("dial tcp ", address, ": i/o timeout")
                         : absl::StrCat("dial tcp ", address,
                                        ": connect: ", GoErrno(result));
        break;
      case Stage::kWrite:
        text = absl::StrCat("write tcp ", address, ": ", GoErrno(result));
        break;
      case Stage::kRead:
        if (timed_out) {
          text = parser.is_header_done()
                     ? "net/http: request canceled (Client.Timeout exceeded "
                       "while reading body)"
                     : "net/http: timeout awaiting response headers";
        } else if (result == http::error::end_of_stream) {
          text = "EOF";
        } else if (result == http::error::partial_message) {
          text = "unexpected EOF";
        } else {
          text = absl::StrCat("read tcp ", address, ": ", GoErrno(result));
        }
        break;
    }
    return absl::UnavailableError(text);
  }

  PodHttpResponse response;
  response.code = parser.get().result_int();
  for (const auto& field : parser.get()) {
    absl::string_view name(field.name_string().data(),
                           field.name_string().size());
    if (IsHopByHop(name)) continue;
    if (absl::EqualsIgnoreCase(name, "content-length") &&
        request.method != "HEAD") {
      continue;
    }
    response.headers.emplace_back(
        std::string(name),
        std::string(field.value().data(), field.value().size()));
  }
  response.body = std::move(parser.get().body());
  return response;
}

}  // namespace kmesh::sim::kube
