#include "kmesh/kube/http_transport.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "kmesh/kube needs BoringSSL: depend on @boringssl//:ssl"
#endif

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kmesh::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr char kNotSentPayload[] = "type.kmesh.net/kube.RequestNotSent";
constexpr uint64_t kMaxResponseBody = 64ull << 20;
constexpr size_t kStreamReadSize = 64 << 10;

absl::Status NotSent(absl::Status status) {
  status.SetPayload(kNotSentPayload, absl::Cord("1"));
  return status;
}

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string HostHeader(const ServerUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? absl::StrCat("[", url.host, "]") : url.host;
  if ((url.tls && url.port == 443) || (!url.tls && url.port == 80)) {
    return host;
  }
  return absl::StrCat(host, ":", url.port);
}

// One TCP or TLS connection with its own io_context; each operation runs the
// context until it completes or its deadline (tcp_stream's timer) passes.
class Connection {
 public:
  explicit Connection(asio::ssl::context* ssl_context)
      : plain_(ssl_context ? nullptr : new beast::tcp_stream(ioc_)),
        tls_(ssl_context
                 ? new beast::ssl_stream<beast::tcp_stream>(ioc_, *ssl_context)
                 : nullptr) {}

  beast::tcp_stream& lowest() {
    return tls_ ? beast::get_lowest_layer(*tls_) : *plain_;
  }
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  asio::io_context& ioc() { return ioc_; }
  beast::flat_buffer& buffer() { return buffer_; }

  // Calls f with the stream to read and write (TLS or plain).
  template <typename F>
  auto Visit(F&& f) {
    return tls_ ? f(*tls_) : f(*plain_);
  }

  // Starts an asynchronous operation via `initiate(handler)` and runs the
  // io_context until it has completed.
  template <typename Initiate>
  beast::error_code Run(Initiate&& initiate) {
    beast::error_code result = asio::error::would_block;
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  beast::error_code Handshake(const std::string& verify_name,
                              bool verify_peer) {
    SSL* s = ssl();
    const bool ip = IsIpLiteral(verify_name);
    if (!ip) SSL_set_tlsext_host_name(s, verify_name.c_str());
    if (verify_peer) {
      // Fail closed: without a name to check, any certificate from the CA
      // would pass.
      X509_VERIFY_PARAM* param = SSL_get0_param(s);
      const int named =
          ip ? X509_VERIFY_PARAM_set1_ip_asc(param, verify_name.c_str())
             : X509_VERIFY_PARAM_set1_host(param, verify_name.c_str(),
                                           verify_name.size());
      if (named != 1) return asio::error::invalid_argument;
    }
    return Run([this](auto handler) {
      tls_->async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
  }

 private:
  asio::io_context ioc_;
  beast::flat_buffer buffer_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
};

class BeastResponseStream : public HttpResponseStream {
 public:
  BeastResponseStream(
      std::unique_ptr<Connection> connection,
      std::unique_ptr<http::response_parser<http::buffer_body>> parser,
      milliseconds idle_timeout, std::string server)
      : connection_(std::move(connection)),
        parser_(std::move(parser)),
        idle_timeout_(idle_timeout),
        server_(std::move(server)),
        chunk_(kStreamReadSize) {}

  int status() const override { return parser_->get().result_int(); }

  absl::StatusOr<std::string> ReadSome() override {
    for (;;) {
      if (cancelled_.load()) return absl::CancelledError("stream closed");
      if (parser_->is_done()) return std::string();
      parser_->get().body().data = chunk_.data();
      parser_->get().body().size = chunk_.size();
      if (idle_timeout_.count() > 0) {
        connection_->lowest().expires_after(idle_timeout_);
      } else {
        connection_->lowest().expires_never();
      }
      beast::error_code ec = connection_->Visit([this](auto& stream) {
        return connection_->Run([&](auto handler) {
          http::async_read_some(stream, connection_->buffer(), *parser_,
                                std::move(handler));
        });
      });
      const size_t got = chunk_.size() - parser_->get().body().size;
      if (ec == http::error::need_buffer) ec = {};
      if (cancelled_.load()) return absl::CancelledError("stream closed");
      if (ec == beast::error::timeout) {
        return absl::DeadlineExceededError(
            absl::StrCat("no data from the API server at ", server_, " within ",
                         idle_timeout_.count(), " ms"));
      }
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat("connection to the API server at ", server_,
                         " ended: ", ec.message()));
      }
      if (got > 0) return std::string(chunk_.data(), got);
    }
  }

  void Cancel() override {
    cancelled_.store(true);
    Connection* connection = connection_.get();
    asio::post(connection->ioc(), [connection] {
      beast::error_code ignored;
      connection->lowest().socket().shutdown(tcp::socket::shutdown_both,
                                             ignored);
      connection->lowest().cancel();
    });
  }

 private:
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  const milliseconds idle_timeout_;
  const std::string server_;
  std::vector<char> chunk_;
  std::atomic<bool> cancelled_{false};
};

class BeastHttpTransport : public HttpTransport {
 public:
  BeastHttpTransport(ServerUrl url, std::string server_url,
                     std::unique_ptr<asio::ssl::context> ssl_context,
                     std::string verify_name, bool verify_peer,
                     const ClusterAccess& access, HttpTransportOptions options)
      : url_(std::move(url)),
        server_url_(std::move(server_url)),
        ssl_context_(std::move(ssl_context)),
        verify_name_(std::move(verify_name)),
        verify_peer_(verify_peer),
        source_(access.source),
        options_(std::move(options)),
        token_(access.bearer_token.Clone()),
        token_file_(access.bearer_token_file),
        token_read_(std::chrono::steady_clock::now()) {}

  const std::string& server_url() const override { return server_url_; }

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& request) override {
    absl::StatusOr<std::unique_ptr<Connection>> connection = Connect();
    if (!connection.ok()) return connection.status();
    Connection& c = **connection;
    c.lowest().expires_after(options_.request_timeout);
    absl::Status sent = Send(c, request);
    if (!sent.ok()) return sent;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
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
    return response;
  }

  absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenStream(
      const HttpRequest& request, milliseconds idle_timeout) override {
    absl::StatusOr<std::unique_ptr<Connection>> connection = Connect();
    if (!connection.ok()) return connection.status();
    Connection& c = **connection;
    c.lowest().expires_after(options_.request_timeout);
    absl::Status sent = Send(c, request);
    if (!sent.ok()) return sent;
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(std::numeric_limits<uint64_t>::max());
    beast::error_code ec = c.Visit([&](auto& stream) {
      return c.Run([&](auto handler) {
        http::async_read_header(stream, c.buffer(), *parser,
                                std::move(handler));
      });
    });
    if (ec) return ReadError(ec, request);
    return std::unique_ptr<HttpResponseStream>(new BeastResponseStream(
        *std::move(connection), std::move(parser), idle_timeout, server_url_));
  }

 private:
  absl::StatusOr<std::unique_ptr<Connection>> Connect() {
    std::unique_ptr<Connection> connection;
    try {
      // Asio opens its reactor's descriptors here (epoll, eventfd, timerfd)
      // and throws when it cannot, e.g. out of file descriptors.
      connection = std::make_unique<Connection>(ssl_context_.get());
    } catch (const boost::system::system_error& e) {
      return NotSent(absl::UnavailableError(
          absl::StrCat("cannot reach the API server at ", server_url_,
                       ": cannot open a connection: ", e.code().message())));
    }
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
    c.lowest().expires_after(options_.connect_timeout);
    ec = c.Run([&](auto handler) {
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
    if (ssl_context_ == nullptr) return connection;
    ec = c.Handshake(verify_name_, verify_peer_);
    if (!ec) return connection;
    const long verify_result = SSL_get_verify_result(c.ssl());
    if (verify_peer_ && verify_result != X509_V_OK) {
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
  absl::Status Send(Connection& c, const HttpRequest& request) {
    std::string wire =
        absl::StrCat(request.method, " ", url_.path_prefix, request.target,
                     " HTTP/1.1\r\nHost: ", HostHeader(url_),
                     "\r\nUser-Agent: ", options_.user_agent,
                     "\r\nAccept: application/json\r\nConnection: close\r\n");
    AppendAuthorization(&wire);
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

  void AppendAuthorization(std::string* wire) {
    std::lock_guard<std::mutex> lock(token_mu_);
    if (!token_file_.empty() &&
        std::chrono::steady_clock::now() - token_read_ >=
            options_.token_file_refresh) {
      token_read_ = std::chrono::steady_clock::now();
      std::ifstream in(token_file_, std::ios::binary);
      if (in) {
        std::string content((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
        absl::string_view trimmed = absl::StripAsciiWhitespace(content);
        // A failed or empty read keeps the last good token.
        if (!trimmed.empty()) token_ = crypto::SecretBytes::CopyFrom(trimmed);
        OPENSSL_cleanse(content.data(), content.size());
      }
    }
    if (token_.empty()) return;
    absl::StrAppend(
        wire, "Authorization: Bearer ",
        absl::string_view(reinterpret_cast<const char*>(token_.data()),
                          token_.size()),
        "\r\n");
  }

  const ServerUrl url_;
  const std::string server_url_;
  const std::unique_ptr<asio::ssl::context> ssl_context_;
  const std::string verify_name_;
  const bool verify_peer_;
  const std::string source_;
  const HttpTransportOptions options_;
  std::mutex token_mu_;
  crypto::SecretBytes token_;
  const std::string token_file_;
  std::chrono::steady_clock::time_point token_read_;
};

// Adds every certificate of a PEM bundle to the context's trust store.
absl::Status AddTrustedPem(SSL_CTX* ctx, const std::string& pem,
                           const std::string& source) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  for (;;) {
    bssl::UniquePtr<X509> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    if (X509_STORE_add_cert(store, cert.get()) != 1) break;
    ++added;
  }
  ERR_clear_error();
  if (added == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the certificate authority holds no PEM certificate"));
  }
  return absl::OkStatus();
}

}  // namespace

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
  std::unique_ptr<asio::ssl::context> ssl_context;
  std::string verify_name =
      access.tls_server_name.empty() ? url->host : access.tls_server_name;
  if (url->tls) {
    ssl_context =
        std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX* ctx = ssl_context->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (access.insecure_skip_tls_verify) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      if (access.certificate_authority_pem.empty()) {
        SSL_CTX_set_default_verify_paths(ctx);
      } else {
        absl::Status trusted =
            AddTrustedPem(ctx, access.certificate_authority_pem, access.source);
        if (!trusted.ok()) return trusted;
      }
    }
    if (!access.client_certificate_pem.empty()) {
      beast::error_code ec;
      ssl_context->use_certificate_chain(
          asio::buffer(access.client_certificate_pem), ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat(access.source,
                         ": the client certificate is not a usable PEM "
                         "certificate (",
                         ec.message(), ")"));
      }
      ssl_context->use_private_key(asio::buffer(access.client_key_pem.data(),
                                                access.client_key_pem.size()),
                                   asio::ssl::context::pem, ec);
      if (ec) {
        // The key itself is never part of the message.
        return absl::InvalidArgumentError(
            absl::StrCat(access.source,
                         ": the client key is not a usable PEM private key "
                         "matching the client certificate"));
      }
    }
  }
  return std::unique_ptr<HttpTransport>(new BeastHttpTransport(
      *std::move(url), access.server, std::move(ssl_context),
      std::move(verify_name), !access.insecure_skip_tls_verify, access,
      std::move(options)));
}

}  // namespace kmesh::kube
