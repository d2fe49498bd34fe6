#include "kmesh/kube/http_transport.h"

#include <openssl/mem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "kmesh/kube/bearer_token.h"
#include "kmesh/kube/connection.h"
#include "kmesh/kube/io_thread.h"
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
                     HttpTransportOptions options)
      : url_(std::move(url)),
        server_url_(access.server),
        source_(access.source),
        tls_(std::move(tls)),
        options_(std::move(options)),
        token_(access.bearer_token.Clone(), access.bearer_token_file,
               options_.token_file_refresh) {}

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
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
        c.lowest().expires_at(deadline);
        http::async_read(stream, c.buffer(), parser, std::move(handler));
      });
    });
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
                              idle_timeout, server_url_);
  }

 private:
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
    tcp::resolver resolver(c.ioc());
    beast::error_code ec;
    const tcp::resolver::results_type endpoints =
        resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_,
                       ": cannot resolve ", url_.host, ": ", ec.message())));
    }
    ec = c.Run([&](auto handler) {
      c.lowest().expires_after(options_.connect_timeout);
      c.lowest().async_connect(endpoints, std::move(handler));
    });
    if (ec == beast::error::timeout) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_,
                       ": connection timed out after ",
                       options_.connect_timeout.count(), " ms")));
    }
    if (ec) {
      return NotSent(absl::UnavailableError(absl::StrCat(
          "cannot reach the API server at ", server_url_, ": ", ec.message())));
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

  // Serializes and writes the request; the wire bytes (which may hold the
  // token) are wiped afterwards.
  absl::Status Send(Connection& c, const HttpRequest& request,
                    std::chrono::steady_clock::time_point deadline) {
    std::string wire =
        absl::StrCat(request.method, " ", url_.path_prefix, request.target,
                     " HTTP/1.1\r\nHost: ", HostHeader(url_),
                     "\r\nUser-Agent: ", options_.user_agent,
                     "\r\nAccept: application/json\r\nConnection: close\r\n");
    token_.AppendHeader(&wire);
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
    return absl::UnavailableError(absl::StrCat(
        "reading the response of the API server at ", server_url_, " to ",
        request.method, " ", request.target, " failed: ", ec.message()));
  }

  const ServerUrl url_;
  const std::string server_url_;
  const std::string source_;
  const std::unique_ptr<TlsContext> tls_;  // nullptr for http://.
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
  return std::unique_ptr<HttpTransport>(new BeastHttpTransport(
      *std::move(url), access, std::move(tls), std::move(options)));
}

}  // namespace kmesh::kube
