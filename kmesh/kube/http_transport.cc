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
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

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

// The io_context every connection of the process runs on, with the one
// thread that runs it. Callers start an operation on it and block until it
// completes (Connection::Run), so a connection costs one descriptor (its
// socket) instead of a reactor of its own (epoll, eventfd, timerfd). Created
// on first use and never destroyed: connections may be released on any
// thread, including this one, and the thread simply ends with the process.
class IoThread {
 public:
  // The shared io_context; Unavailable when its reactor cannot be opened
  // (e.g. out of descriptors), and then tried again on the next call.
  static absl::StatusOr<asio::io_context*> Get() {
    static absl::Mutex mu(absl::kConstInit);
    static IoThread* instance ABSL_GUARDED_BY(mu) = nullptr;
    absl::MutexLock lock(&mu);
    if (instance == nullptr) {
      try {
        instance = new IoThread();
      } catch (const std::system_error& e) {
        return absl::UnavailableError(
            absl::StrCat("cannot start the I/O thread: ", e.what()));
      } catch (const boost::system::system_error& e) {
        return absl::UnavailableError(
            absl::StrCat("cannot open the I/O reactor: ", e.code().message()));
      }
    }
    return &instance->ioc_;
  }

 private:
  IoThread()
      : work_(asio::make_work_guard(ioc_)), thread_([this] { RunForever(); }) {
    thread_.detach();
  }

  void RunForever() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception&) {
        // A handler threw; the failed operation's caller has its error
        // already or times out. Keep serving the others.
      }
    }
  }

  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// One TCP or TLS connection on the shared io_context. All of its state is
// touched only by the operations Run() starts (on the I/O thread) or by its
// owner between them, so it needs no lock; Run() returns after the
// operation's handler ran, which orders the two.
class Connection {
 public:
  Connection(asio::io_context& ioc, asio::ssl::context* ssl_context)
      : ioc_(ioc),
        plain_(ssl_context ? nullptr : new beast::tcp_stream(ioc_)),
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

  // Runs `initiate(handler)` on the I/O thread, which starts one
  // asynchronous operation (and may set the stream's deadline first), and
  // blocks until the handler has run; returns its error code.
  template <typename Initiate>
  beast::error_code Run(Initiate&& initiate) {
    struct Completion {
      absl::Mutex mu;
      bool done ABSL_GUARDED_BY(mu) = false;
      beast::error_code result ABSL_GUARDED_BY(mu);
    } completion;
    auto finish = [&completion](beast::error_code ec) {
      absl::MutexLock lock(&completion.mu);
      completion.result = ec;
      completion.done = true;
    };
    asio::post(ioc_, [&initiate, &finish] {
      try {
        initiate([&finish](beast::error_code ec, auto&&...) { finish(ec); });
      } catch (const std::exception&) {
        // Nothing was started, so no handler will run: fail the operation
        // rather than leave its caller waiting.
        finish(asio::error::fault);
      }
    });
    absl::MutexLock lock(&completion.mu);
    completion.mu.Await(absl::Condition(&completion.done));
    return completion.result;
  }

  beast::error_code Handshake(const std::string& verify_name, bool verify_peer,
                              milliseconds timeout) {
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
    return Run([this, timeout](auto handler) {
      lowest().expires_after(timeout);
      tls_->async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
  }

 private:
  asio::io_context& ioc_;
  beast::flat_buffer buffer_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
};

class BeastResponseStream : public HttpResponseStream {
 public:
  BeastResponseStream(
      std::shared_ptr<Connection> connection,
      std::unique_ptr<http::response_parser<http::buffer_body>> parser,
      milliseconds idle_timeout, std::string server)
      : connection_(std::move(connection)),
        parser_(std::move(parser)),
        idle_timeout_(idle_timeout),
        server_(std::move(server)),
        chunk_(kStreamReadSize) {}

  ~BeastResponseStream() override {
    Cancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* reading) { return !*reading; }, &reading_));
  }

  int status() const override { return parser_->get().result_int(); }

  absl::StatusOr<std::string> ReadSome() override {
    for (;;) {
      if (cancelled_.load()) return absl::CancelledError("stream closed");
      if (parser_->is_done()) return std::string();
      beast::error_code ec = connection_->Visit([this](auto& stream) {
        return connection_->Run(
            [&](auto handler) { StartRead(stream, std::move(handler)); });
      });
      absl::StatusOr<size_t> got = ReadResult(ec);
      if (!got.ok()) return got.status();
      if (*got > 0) return std::string(chunk_.data(), *got);
    }
  }

  void StartReading(DataHandler handler) override {
    {
      absl::MutexLock lock(&mu_);
      handler_ = std::move(handler);
      reading_ = true;
    }
    asio::post(connection_->ioc(), [this] { ReadNext(); });
  }

  void Cancel() override {
    cancelled_.store(true);
    // The connection stays alive until this has run, even if the stream is
    // released first.
    std::shared_ptr<Connection> connection = connection_;
    asio::post(connection->ioc(), [connection] {
      beast::error_code ignored;
      connection->lowest().socket().shutdown(tcp::socket::shutdown_both,
                                             ignored);
      connection->lowest().cancel();
    });
  }

 private:
  // Starts one read of body bytes into chunk_, with the idle deadline; on
  // the I/O thread.
  template <typename Stream, typename Handler>
  void StartRead(Stream& stream, Handler&& handler) {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    if (idle_timeout_.count() > 0) {
      connection_->lowest().expires_after(idle_timeout_);
    } else {
      connection_->lowest().expires_never();
    }
    http::async_read_some(stream, connection_->buffer(), *parser_,
                          std::forward<Handler>(handler));
  }

  // How many body bytes the read that ended with `ec` put into chunk_, or
  // why the stream ended.
  absl::StatusOr<size_t> ReadResult(beast::error_code ec) {
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
    return got;
  }

  // StartReading's loop, on the I/O thread: one read, hand it over, repeat.
  void ReadNext() {
    if (cancelled_.load()) return Stop(absl::CancelledError("stream closed"));
    if (parser_->is_done()) return Stop(std::string());
    connection_->Visit([this](auto& stream) {
      StartRead(stream, [this](beast::error_code ec, size_t) {
        absl::StatusOr<size_t> got = ReadResult(ec);
        if (!got.ok()) return Stop(got.status());
        if (*got > 0 && !handler_(std::string(chunk_.data(), *got))) {
          return Stop(std::nullopt);
        }
        ReadNext();
      });
      return 0;
    });
  }

  // Ends StartReading: the handler's last call (unless it asked to stop),
  // then the destructor may go on.
  void Stop(std::optional<absl::StatusOr<std::string>> last) {
    if (last.has_value()) handler_(*std::move(last));
    absl::MutexLock lock(&mu_);
    handler_ = nullptr;
    reading_ = false;
  }

  const std::shared_ptr<Connection> connection_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  const milliseconds idle_timeout_;
  const std::string server_;
  std::vector<char> chunk_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  // Set by StartReading, used by the I/O thread only until reading_ ends.
  DataHandler handler_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
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
    return std::unique_ptr<HttpResponseStream>(new BeastResponseStream(
        *std::move(connection), std::move(parser), idle_timeout, server_url_));
  }

 private:
  absl::StatusOr<std::shared_ptr<Connection>> Connect() {
    absl::StatusOr<asio::io_context*> ioc = IoThread::Get();
    if (!ioc.ok()) {
      return NotSent(absl::UnavailableError(absl::StrCat(
          "cannot reach the API server at ", server_url_,
          ": cannot open a connection: ", ioc.status().message())));
    }
    auto connection = std::make_shared<Connection>(**ioc, ssl_context_.get());
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
    if (ssl_context_ == nullptr) return connection;
    ec = c.Handshake(verify_name_, verify_peer_, options_.connect_timeout);
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
  absl::Status Send(Connection& c, const HttpRequest& request,
                    std::chrono::steady_clock::time_point deadline) {
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
