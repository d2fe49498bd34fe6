#include "kmesh/kube/http_transport.h"

#include <arpa/inet.h>
#include <openssl/mem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "kmesh/kube/bearer_token.h"
#include "kmesh/kube/connection.h"
#include "kmesh/kube/io_thread.h"
#include "kmesh/kube/proxy_config.h"
#include "kmesh/kube/response_stream.h"
#include "kmesh/kube/server_url.h"
#include "kmesh/kube/tls_context.h"

namespace kmesh::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr char kNotSentPayload[] = "type.kmesh.net/kube.RequestNotSent";
constexpr uint64_t kMaxResponseBody = 64ull << 20;

absl::Status NotSent(absl::Status status) {
  status.SetPayload(kNotSentPayload, absl::Cord("1"));
  return status;
}

class BeastHttpTransport : public HttpTransport {
 public:
  BeastHttpTransport(ServerUrl url, const ClusterAccess& access,
                     std::unique_ptr<TlsContext> tls,
                     std::optional<ProxyServer> proxy,
                     HttpTransportOptions options)
      : url_(std::move(url)),
        server_url_(access.server),
        source_(access.source),
        tls_(std::move(tls)),
        proxy_(std::move(proxy)),
        options_(Clamped(std::move(options))),
        token_(access, options_.token_file_refresh) {}

  const std::string& server_url() const override { return server_url_; }

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& request) override {
    absl::StatusOr<std::shared_ptr<Connection>> connection = Connect();
    if (!connection.ok()) return connection.status();
    Connection& c = **connection;
    const auto deadline =
        std::chrono::steady_clock::now() + options_.request_timeout;
    absl::Status sent = Send(c, request, deadline);
    if (!sent.ok()) return sent;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    // The header is read on its own first. Boost 1.74's parser, reading
    // eagerly, forgets its body-limit error when body bytes came with the
    // header and goes on to reserve the announced Content-Length (a
    // hostile "Content-Length: 100000000000" would be an allocation of
    // 100 GB); read alone, the header stops at that error.
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        http::async_read_header(stream, c.buffer(), parser, std::move(handler));
      });
    });
    if (!ec) {
      ec = c.Visit([&](auto& stream) {
        return c.Run([&](auto handler) {
          c.lowest().expires_at(deadline);
          http::async_read(stream, c.buffer(), parser, std::move(handler));
        });
      });
    }
    if (ec) return ReadError(ec, request);
    HttpResponse response;
    response.status = parser.get().result_int();
    response.body = std::move(parser.get().body());
    auto retry_after = parser.get().find(http::field::retry_after);
    if (retry_after != parser.get().end()) {
      response.retry_after = std::string(retry_after->value());
    }
    auto content_type = parser.get().find(http::field::content_type);
    if (content_type != parser.get().end()) {
      response.content_type = std::string(content_type->value());
    }
    return response;
  }

  absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenStream(
      const HttpRequest& request, milliseconds idle_timeout) override {
    absl::StatusOr<std::shared_ptr<Connection>> connection = Connect();
    if (!connection.ok()) return connection.status();
    Connection& c = **connection;
    const auto deadline =
        std::chrono::steady_clock::now() + options_.request_timeout;
    absl::Status sent = Send(c, request, deadline);
    if (!sent.ok()) return sent;
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(std::numeric_limits<uint64_t>::max());
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        http::async_read_header(stream, c.buffer(), *parser,
                                std::move(handler));
      });
    });
    if (ec) return ReadError(ec, request);
    return MakeResponseStream(*std::move(connection), std::move(parser),
                              ClampTimeout(idle_timeout), server_url_);
  }

 private:
  static HttpTransportOptions Clamped(HttpTransportOptions options) {
    options.connect_timeout = ClampTimeout(options.connect_timeout);
    options.request_timeout = ClampTimeout(options.request_timeout);
    return options;
  }

  absl::StatusOr<std::shared_ptr<Connection>> Connect() {
    absl::StatusOr<asio::io_context*> ioc = IoThread::Get();
    if (!ioc.ok()) {
      return NotSent(absl::UnavailableError(absl::StrCat(
          "cannot reach the API server at ", server_url_,
          ": cannot open a connection: ", ioc.status().message())));
    }
    auto connection =
        std::make_shared<Connection>(**ioc, tls_ ? &tls_->context() : nullptr);
    Connection& c = *connection;
    // Through a proxy, only the proxy's name is resolved here; the API
    // server's is resolved by the proxy.
    const std::string& dial_host = proxy_ ? proxy_->host : url_.host;
    const uint16_t dial_port = proxy_ ? proxy_->port : url_.port;
    const std::string via =
        proxy_ ? absl::StrCat(" through proxy ", proxy_->display) : "";
    tcp::resolver resolver(c.ioc());
    beast::error_code ec;
    const tcp::resolver::results_type endpoints =
        resolver.resolve(dial_host, std::to_string(dial_port), ec);
    if (ec) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_, via,
                       ": cannot resolve ", dial_host, ": ", ec.message())));
    }
    ec = c.Run([&](auto handler) {
      c.lowest().expires_after(options_.connect_timeout);
      c.lowest().async_connect(endpoints, std::move(handler));
    });
    if (ec == beast::error::timeout) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_, via,
                       ": connection timed out after ",
                       options_.connect_timeout.count(), " ms")));
    }
    if (ec) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_, via,
                       ": ", ec.message())));
    }
    if (proxy_) {
      absl::Status tunnel = OpenTunnel(c);
      if (!tunnel.ok()) return NotSent(std::move(tunnel));
    }
    if (tls_ == nullptr) return connection;
    ec = tls_->NameServer(c.ssl()) ? c.Handshake(options_.connect_timeout)
                                   : asio::error::invalid_argument;
    if (!ec) return connection;
    const long verify_result = SSL_get_verify_result(c.ssl());
    if (tls_->verify_peer() && verify_result != X509_V_OK) {
      return NotSent(absl::FailedPreconditionError(absl::StrCat(
          "the API server at ", server_url_,
          " presented a TLS certificate that is not trusted (",
          X509_verify_cert_error_string(verify_result),
          "); check the certificate authority and server in ", source_)));
    }
    if (ec == beast::error::timeout) {
      return NotSent(absl::UnavailableError(absl::StrCat(
          "TLS handshake with the API server at ", server_url_,
          " timed out after ", options_.connect_timeout.count(), " ms")));
    }
    return NotSent(absl::UnavailableError(
        absl::StrCat("TLS handshake with the API server at ", server_url_,
                     " failed: ", ec.message())));
  }

  // A tunnel to the API server through proxy_ on the freshly connected TCP
  // stream; the stream then carries the TLS session (or plain HTTP) to the
  // API server end to end. Within the connect timeout. Errors name the
  // proxy and what it answered; never its credentials.
  absl::Status OpenTunnel(Connection& c) {
    const bool ipv6 = url_.host.find(':') != std::string::npos;
    const std::string target = absl::StrCat(ipv6 ? "[" : "", url_.host,
                                            ipv6 ? "]" : "", ":", url_.port);
    const auto deadline =
        std::chrono::steady_clock::now() + options_.connect_timeout;
    return proxy_->protocol == ProxyServer::Protocol::kSocks5
               ? Socks5Tunnel(c, target, deadline)
               : HttpConnectTunnel(c, target, deadline);
  }

  // SOCKS5 (RFC 1928) CONNECT as Go's net/http does it: "no authentication"
  // or, when the URL has a user, also username/password (RFC 1929); the
  // server's name is sent as a domain name (the proxy resolves it), an IP
  // address as one.
  absl::Status Socks5Tunnel(Connection& c, const std::string& target,
                            std::chrono::steady_clock::time_point deadline) {
    const std::string what =
        absl::StrCat("proxy ", proxy_->display, " to the API server at ",
                     server_url_, " (SOCKS5 CONNECT ", target, ")");
    auto write = [&](std::string bytes) {
      beast::error_code ec = c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        asio::async_write(c.lowest(), asio::buffer(bytes), std::move(handler));
      });
      OPENSSL_cleanse(bytes.data(), bytes.size());
      return ec;
    };
    auto read = [&](size_t n, std::string* out) {
      out->assign(n, '\0');
      return c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        asio::async_read(c.lowest(), asio::buffer(*out), std::move(handler));
      });
    };
    auto io_error = [&](const beast::error_code& ec) {
      if (ec == beast::error::timeout) {
        return absl::UnavailableError(
            absl::StrCat("no answer from ", what, " within ",
                         options_.connect_timeout.count(), " ms"));
      }
      return absl::UnavailableError(
          absl::StrCat("tunnel through ", what, " failed: ", ec.message()));
    };
    auto refused = [&](absl::string_view why, bool permanent) {
      const std::string message = absl::StrCat(
          "proxy ", proxy_->display, " refused CONNECT ", target, ": ", why);
      return permanent ? absl::PermissionDeniedError(message)
                       : absl::UnavailableError(message);
    };
    const bool auth = proxy_->socks_credentials;
    std::string answer;
    beast::error_code ec = write(auth ? std::string("\x05\x02\x00\x02", 4)
                                      : std::string("\x05\x01\x00", 3));
    if (!ec) ec = read(2, &answer);
    if (ec) return io_error(ec);
    if (answer[0] != 0x05) {
      return absl::UnavailableError(
          absl::StrCat(what, ": not a SOCKS5 proxy (version byte ",
                       static_cast<int>(static_cast<uint8_t>(answer[0])), ")"));
    }
    const uint8_t method = static_cast<uint8_t>(answer[1]);
    if (method == 0x02 && auth) {
      const crypto::SecretBytes& user = proxy_->socks_username;
      const crypto::SecretBytes& password = proxy_->socks_password;
      std::string request(1, '\x01');
      request.reserve(3 + user.size() + password.size());
      request.push_back(static_cast<char>(user.size()));
      request.append(reinterpret_cast<const char*>(user.data()), user.size());
      request.push_back(static_cast<char>(password.size()));
      request.append(reinterpret_cast<const char*>(password.data()),
                     password.size());
      ec = write(std::move(request));
      if (!ec) ec = read(2, &answer);
      if (ec) return io_error(ec);
      if (answer[1] != 0x00) {
        return refused(
            "username/password authentication failed; check the "
            "credentials in the proxy URL",
            true);
      }
    } else if (method != 0x00) {
      return refused(
          method == 0xff
              ? (auth ? "no acceptable authentication method"
                      : "no acceptable authentication method (the proxy "
                        "may need a user name and password in its URL)")
              : "it chose an authentication method that was not offered",
          true);
    }
    std::string request("\x05\x01\x00", 3);
    in6_addr v6;
    in_addr v4;
    if (inet_pton(AF_INET, url_.host.c_str(), &v4) == 1) {
      request.push_back('\x01');
      request.append(reinterpret_cast<const char*>(&v4), 4);
    } else if (inet_pton(AF_INET6, url_.host.c_str(), &v6) == 1) {
      request.push_back('\x04');
      request.append(reinterpret_cast<const char*>(&v6), 16);
    } else {
      if (url_.host.size() > 255) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": the server's name is too long for SOCKS5"));
      }
      request.push_back('\x03');
      request.push_back(static_cast<char>(url_.host.size()));
      request.append(url_.host);
    }
    request.push_back(static_cast<char>(url_.port >> 8));
    request.push_back(static_cast<char>(url_.port & 0xff));
    ec = write(std::move(request));
    if (!ec) ec = read(4, &answer);
    if (ec) return io_error(ec);
    const int reply = static_cast<uint8_t>(answer[1]);
    if (reply != 0x00) {
      static constexpr const char* kReplies[] = {
          "succeeded",
          "general SOCKS server failure",
          "connection not allowed by ruleset",
          "network unreachable",
          "host unreachable",
          "connection refused",
          "TTL expired",
          "command not supported",
          "address type not supported"};
      const std::string text =
          reply < 9 ? kReplies[reply] : absl::StrCat("unknown code ", reply);
      // "Not allowed" is the proxy's policy; the others may pass.
      return refused(absl::StrCat(text, " (SOCKS5 reply ", reply, ")"),
                     reply == 0x02);
    }
    // The bound address: IPv4, IPv6 or a name, then the port.
    size_t rest = 0;
    switch (static_cast<uint8_t>(answer[3])) {
      case 0x01:
        rest = 4 + 2;
        break;
      case 0x04:
        rest = 16 + 2;
        break;
      case 0x03:
        ec = read(1, &answer);
        if (ec) return io_error(ec);
        rest = static_cast<uint8_t>(answer[0]) + 2;
        break;
      default:
        return absl::UnavailableError(
            absl::StrCat(what, ": unknown address type in the reply"));
    }
    ec = read(rest, &answer);
    if (ec) return io_error(ec);
    return absl::OkStatus();
  }

  // HTTP CONNECT, as Go's net/http does it for https:// (and, here, also
  // http://) servers: the proxy connects to host:port of the server URL.
  absl::Status HttpConnectTunnel(
      Connection& c, const std::string& target,
      std::chrono::steady_clock::time_point deadline) {
    std::string wire =
        absl::StrCat("CONNECT ", target, " HTTP/1.1\r\nHost: ", target,
                     "\r\nUser-Agent: ", options_.user_agent, "\r\n");
    // No reallocation once the credentials are in (it would leave a copy).
    wire.reserve(wire.size() + proxy_->authorization.size() + 32);
    if (!proxy_->authorization.empty()) {
      absl::StrAppend(&wire, "Proxy-Authorization: ",
                      absl::string_view(reinterpret_cast<const char*>(
                                            proxy_->authorization.data()),
                                        proxy_->authorization.size()),
                      "\r\n");
    }
    wire += "\r\n";
    beast::error_code ec = c.Run([&](auto handler) {
      c.lowest().expires_at(deadline);
      asio::async_write(c.lowest(), asio::buffer(wire), std::move(handler));
    });
    OPENSSL_cleanse(wire.data(), wire.size());
    // A 2xx answer to CONNECT has no body, whatever its headers say.
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    beast::flat_buffer buffer;
    if (!ec) {
      ec = c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        http::async_read_header(c.lowest(), buffer, parser, std::move(handler));
      });
    }
    const std::string what =
        absl::StrCat("proxy ", proxy_->display, " to the API server at ",
                     server_url_, " (CONNECT ", target, ")");
    if (ec == beast::error::timeout) {
      return absl::UnavailableError(
          absl::StrCat("no answer from ", what, " within ",
                       options_.connect_timeout.count(), " ms"));
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("tunnel through ", what, " failed: ", ec.message()));
    }
    const int status = parser.get().result_int();
    if (status != 200) {
      const std::string status_line =
          absl::StrCat(status, " ", std::string(parser.get().reason()));
      const std::string message =
          absl::StrCat("proxy ", proxy_->display, " refused CONNECT ", target,
                       ": ", status_line,
                       status == 407 ? "; check the credentials in the "
                                       "proxy URL"
                                     : "");
      // The proxy's own answer, not a transient failure, unless it says
      // it could not reach the server (5xx).
      return status >= 500 ? absl::UnavailableError(message)
                           : absl::PermissionDeniedError(message);
    }
    if (buffer.size() != 0) {
      // Bytes the proxy sent before the server could have: not a tunnel.
      return absl::UnavailableError(absl::StrCat(
          what, " sent data after its 200 answer before the server spoke"));
    }
    return absl::OkStatus();
  }

  // Serializes and writes the request; the wire bytes (which may hold the
  // token) are wiped afterwards.
  absl::Status Send(Connection& c, const HttpRequest& request,
                    std::chrono::steady_clock::time_point deadline) {
    std::string wire =
        absl::StrCat(request.method, " ", url_.path_prefix, request.target,
                     " HTTP/1.1\r\nHost: ", HostHeader(url_),
                     "\r\nUser-Agent: ", options_.user_agent,
                     "\r\nAccept: application/json\r\nConnection: close\r\n");
    // Room for the rest of the headers and the body, so that appending them
    // after the token does not reallocate and leave an unwiped copy.
    wire.reserve(wire.size() + 1024 + request.content_type.size() +
                 request.body.size());
    if (absl::Status auth = token_.AppendHeader(&wire); !auth.ok()) {
      // The exec credential plugin failed: nothing was sent.
      OPENSSL_cleanse(wire.data(), wire.size());
      return NotSent(std::move(auth));
    }
    if (!request.body.empty() || request.method == "POST" ||
        request.method == "PUT") {
      if (!request.content_type.empty()) {
        absl::StrAppend(&wire, "Content-Type: ", request.content_type, "\r\n");
      }
      absl::StrAppend(&wire, "Content-Length: ", request.body.size(), "\r\n");
    }
    absl::StrAppend(&wire, "\r\n", request.body);
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        asio::async_write(stream, asio::buffer(wire), std::move(handler));
      });
    });
    OPENSSL_cleanse(wire.data(), wire.size());
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("sending ", request.method, " ", server_url_,
                       request.target, " failed: ", ec.message()));
    }
    return absl::OkStatus();
  }

  absl::Status ReadError(const beast::error_code& ec,
                         const HttpRequest& request) {
    if (ec == beast::error::timeout) {
      return absl::UnavailableError(
          absl::StrCat("no response from the API server at ", server_url_,
                       " to ", request.method, " ", request.target, " within ",
                       options_.request_timeout.count(), " ms"));
    }
    if (ec == asio::error::fault) {
      return absl::UnavailableError(absl::StrCat(
          "reading the response of the API server at ", server_url_, " to ",
          request.method, " ", request.target,
          " was abandoned: an exception (such as running out of memory) "
          "ended it on the I/O thread"));
    }
    if (ec == http::error::body_limit) {
      return absl::UnavailableError(absl::StrCat(
          "the response of the API server at ", server_url_, " to ",
          request.method, " ", request.target, " is larger than ",
          kMaxResponseBody >> 20, " MiB; not read"));
    }
    return absl::UnavailableError(absl::StrCat(
        "reading the response of the API server at ", server_url_, " to ",
        request.method, " ", request.target, " failed: ", ec.message()));
  }

  const ServerUrl url_;
  const std::string server_url_;
  const std::string source_;
  const std::unique_ptr<TlsContext> tls_;   // nullptr for http://.
  const std::optional<ProxyServer> proxy_;  // nullopt: direct.
  const HttpTransportOptions options_;
  BearerToken token_;
};

}  // namespace

bool RequestNotSent(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kNotSentPayload).has_value();
}

absl::StatusOr<std::unique_ptr<HttpTransport>> HttpTransport::Create(
    const ClusterAccess& access, HttpTransportOptions options) {
  absl::StatusOr<ServerUrl> url = ParseServerUrl(access.server);
  if (!url.ok()) {
    return absl::Status(
        url.status().code(),
        absl::StrCat(access.source, ": ", url.status().message()));
  }
  std::unique_ptr<TlsContext> tls;
  if (url->tls) {
    absl::StatusOr<std::unique_ptr<TlsContext>> created =
        TlsContext::Create(access, url->host);
    if (!created.ok()) return created.status();
    tls = *std::move(created);
  }
  absl::StatusOr<std::optional<ProxyServer>> proxy =
      SelectProxy(url->tls, url->host, url->port, access.proxy_url,
                  access.proxy_environment, access.source);
  if (!proxy.ok()) return proxy.status();
  return std::unique_ptr<HttpTransport>(
      new BeastHttpTransport(*std::move(url), access, std::move(tls),
                             *std::move(proxy), std::move(options)));
}

}  // namespace kmesh::kube
