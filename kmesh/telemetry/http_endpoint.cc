#include "kmesh/telemetry/http_endpoint.h"

#include <glog/logging.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::telemetry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr absl::string_view kDefaultContentType = "text/plain; charset=utf-8";
// GET and HEAD carry no body; a small one (of another method) is read and
// ignored so that its 405 can be sent on a connection kept alive.
constexpr uint64_t kMaxRequestBodyBytes = 64 * 1024;
// After the last response of a connection, unread request bytes are drained
// for at most this long so that closing does not reset the connection
// before the client has read the response.
constexpr auto kLingerTime = std::chrono::seconds(2);
// Beyond max_connections a connection gets 503 at once (its request is not
// awaited); when twice that many are open (lingering ones included) it is
// closed at once.
constexpr int kOverloadFactor = 2;

absl::Status AddressError(absl::string_view flag_name, absl::string_view text,
                          absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      flag_name, ": \"", text, "\": ", why,
      " (expected host:port, [ip]:port or :port, e.g. 127.0.0.1:15200)"));
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text,
                                                 absl::string_view flag_name) {
  if (text.empty()) return AddressError(flag_name, text, "empty");
  ListenAddress result;
  absl::string_view port_text;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return AddressError(flag_name, text, "no ']' after the address");
    }
    result.host = std::string(text.substr(1, close - 1));
    const absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return AddressError(flag_name, text, "no ':port' after ']'");
    }
    port_text = rest.substr(1);
    // IPv4 too, so that "[$(HOST_IP)]:port" serves either family.
    beast::error_code ec;
    asio::ip::make_address_v4(result.host.c_str(), ec);
    if (ec) {
      ec.clear();
      const asio::ip::address_v6 v6 =
          asio::ip::make_address_v6(result.host.c_str(), ec);
      if (ec || result.host.find('%') != std::string::npos) {
        return AddressError(
            flag_name, text,
            absl::StrCat("\"", result.host,
                         "\" is not an IPv6 or IPv4 address (names and "
                         "zones are not accepted)"));
      }
      if (v6.is_v4_mapped()) {
        return AddressError(flag_name, text,
                            "write an IPv4-mapped address as plain IPv4");
      }
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return AddressError(flag_name, text, "no ':port'");
    }
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (result.host.find(':') != std::string::npos) {
      return AddressError(flag_name, text,
                          "an IPv6 address must be in brackets");
    }
    if (!result.host.empty()) {
      beast::error_code ec;
      asio::ip::make_address_v4(result.host.c_str(), ec);
      if (ec) {
        return AddressError(flag_name, text,
                            absl::StrCat("\"", result.host,
                                         "\" is not an IP address (names are "
                                         "not resolved)"));
      }
    }
  }
  uint32_t port = 0;
  if (port_text.empty() ||
      port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return AddressError(
        flag_name, text,
        absl::StrCat("port \"", port_text, "\" is not a number 0-65535"));
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

class HttpEndpoint::Impl {
 public:
  explicit Impl(HttpEndpointOptions options) : options_(std::move(options)) {}

  ~Impl() { Stop(); }

  absl::Status Listen(const ListenAddress& address);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  class Session;

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  HttpEndpointOptions options_;
  std::chrono::steady_clock::duration timeout_;
  std::chrono::steady_clock::duration first_request_timeout_;
  uint16_t port_ = 0;
  // The io thread's state. sessions_ is declared before ioc_ so that
  // sessions whose handlers the io_context destroys can still leave it.
  std::set<Session*> sessions_;
  int serving_ = 0;  // Sessions not lingering.
  bool stopping_ = false;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_retry_{ioc_};
  std::thread thread_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// One client connection. Lives as long as one of its operations is pending;
// every member is used on the io thread only.
class HttpEndpoint::Impl::Session
    : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* server, tcp::socket socket, bool overloaded)
      : server_(server), stream_(std::move(socket)), overloaded_(overloaded) {
    server_->sessions_.insert(this);
    ++server_->serving_;
  }
  ~Session() {
    server_->sessions_.erase(this);
    if (!lingering_) --server_->serving_;
  }

  void Start() {
    // Over the limit: answered at once, without waiting for a request that
    // a client holding connections open may never send.
    if (overloaded_) {
      return Reply(503, "too many connections\n", false, {},
                   {{"Retry-After", "1"}});
    }
    Read();
  }

  // Ends the connection now, cancelling what is pending (Stop()).
  void Abort() { stream_.close(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestHeaderBytes);
    parser_->body_limit(kMaxRequestBodyBytes);
    // A new connection must bring its first request soon; a kept-alive one
    // may wait up to idle_timeout for the next.
    stream_.expires_after(requests_ == 0 ? server_->first_request_timeout_
                                         : server_->timeout_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (server_->stopping_) return Close();
    head_ = false;
    if (ec == http::error::header_limit) {
      return Reply(431, "request header fields too large\n", false);
    }
    if (ec == http::error::body_limit) {
      return Reply(413, "request body too large\n", false);
    }
    if (ec == http::error::end_of_stream ||
        ec == http::error::partial_message) {
      return Linger();
    }
    if (ec && ec.category() ==
                  http::make_error_code(http::error::bad_method).category()) {
      return Reply(400, "bad request\n", false);
    }
    if (ec) return Close();  // Timeout, reset, ...
    Handle(parser_->get());
  }

  void Handle(const http::request<http::string_body>& request) {
    version_ = request.version();
    ++requests_;
    const bool keep_alive = request.keep_alive();
    const http::verb method = request.method();
    if (method != http::verb::get && method != http::verb::head) {
      return Reply(405, "method not allowed\n", keep_alive, {},
                   {{"Allow", "GET, HEAD"}});
    }
    head_ = method == http::verb::head;
    const beast::string_view target = request.target();
    const std::string path(target.substr(0, target.find('?')));
    const auto route = server_->options_.routes.find(path);
    if (route == server_->options_.routes.end() || !route->second) {
      return Reply(404, "not found\n", keep_alive);
    }
    HttpResponse response;
    try {
      response = route->second();
    } catch (const std::exception& e) {
      LOG(WARNING) << "status endpoint: the handler of " << path
                   << " threw: " << e.what();
      return Reply(500, "internal server error\n", keep_alive);
    } catch (...) {
      LOG(WARNING) << "status endpoint: the handler of " << path << " threw";
      return Reply(500, "internal server error\n", keep_alive);
    }
    if (response.code < 200 || response.code > 599) {
      LOG(WARNING) << "status endpoint: the handler of " << path
                   << " answered code " << response.code;
      return Reply(500, "internal server error\n", keep_alive);
    }
    if (response.code == 204 || response.code == 304) response.body.clear();
    Reply(response.code, std::move(response.body), keep_alive,
          std::move(response.content_type));
  }

  void Reply(int code, std::string body, bool keep_alive,
             std::string content_type = {},
             std::vector<std::pair<std::string, std::string>> fields = {}) {
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(code));
    response_.set(http::field::content_type,
                  content_type.empty() ? std::string(kDefaultContentType)
                                       : std::move(content_type));
    for (auto& [name, value] : fields) response_.set(name, value);
    response_.body() = std::move(body);
    response_.prepare_payload();  // Content-Length, also for HEAD.
    if (head_) response_.body().clear();
    response_.keep_alive(keep_alive);
    stream_.expires_after(server_->timeout_);
    http::async_write(
        stream_, response_,
        [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
          if (ec || self->server_->stopping_) return self->Close();
          if (!keep_alive) return self->Linger();
          self->Read();
        });
  }

  // Half-closes, then reads until the client closes too (or kLingerTime), so
  // that request bytes not read yet do not turn the close into a reset that
  // could destroy the response in flight.
  void Linger() {
    if (!lingering_) {
      lingering_ = true;  // No longer counts against max_connections.
      --server_->serving_;
    }
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(
        kLingerTime, server_->timeout_));
    Drain();
  }

  void Drain() {
    stream_.async_read_some(
        asio::buffer(scratch_),
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec || self->server_->stopping_) return self->Close();
          self->Drain();
        });
  }

  void Close() { stream_.close(); }

  Impl* const server_;
  beast::tcp_stream stream_;
  const bool overloaded_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  unsigned version_ = 11;
  int requests_ = 0;  // Requests read so far.
  bool head_ = false;
  bool lingering_ = false;
  std::array<char, 4096> scratch_;
};

absl::Status HttpEndpoint::Impl::Listen(const ListenAddress& address) {
  timeout_ = absl::ToChronoNanoseconds(options_.idle_timeout);
  first_request_timeout_ = std::min(
      timeout_, std::chrono::steady_clock::duration(
                    absl::ToChronoNanoseconds(options_.first_request_timeout)));
  beast::error_code ec;
  tcp::endpoint endpoint;
  if (address.host.empty()) {
    // Every address: IPv6's wildcard also takes IPv4 (v6_only off); on a
    // host without IPv6, IPv4's.
    endpoint = tcp::endpoint(tcp::v6(), address.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) {
      ec.clear();
      endpoint = tcp::endpoint(tcp::v4(), address.port);
      acceptor_.open(endpoint.protocol(), ec);
    } else {
      acceptor_.set_option(asio::ip::v6_only(false), ec);
    }
  } else {
    endpoint =
        tcp::endpoint(asio::ip::make_address(address.host), address.port);
    acceptor_.open(endpoint.protocol(), ec);
  }
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("status endpoint: cannot listen on ", options_.address,
                     ": ", ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  Accept();
  thread_ = std::thread([this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        LOG(ERROR) << "status endpoint: " << e.what();
      } catch (...) {
        LOG(ERROR) << "status endpoint: unknown exception";
      }
    }
  });
  return absl::OkStatus();
}

void HttpEndpoint::Impl::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpEndpoint::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping_) return;
  if (ec) {
    // E.g. out of descriptors: try again shortly instead of spinning.
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping_) Accept();
    });
    return;
  }
  // Lingering sessions (closing, at most kLingerTime) count only against
  // the hard limit.
  if (static_cast<int>(sessions_.size()) <
      kOverloadFactor * options_.max_connections) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(this, std::move(socket),
                              serving_ >= options_.max_connections)
        ->Start();
  }  // Else the socket is closed as it goes out of scope.
  Accept();
}

void HttpEndpoint::Impl::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!thread_.joinable()) return;
  asio::post(ioc_, [this] {
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    // Abort() may end a session, which leaves the set: iterate a copy.
    const std::set<Session*> sessions = sessions_;
    for (Session* session : sessions) session->Abort();
  });
  thread_.join();
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    HttpEndpointOptions options) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.address);
  if (!address.ok()) return address.status();
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError(
        "status endpoint: max_connections must be at least 1");
  }
  if (options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "status endpoint: idle_timeout must be positive");
  }
  if (options.first_request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "status endpoint: first_request_timeout must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status status = impl->Listen(*address); !status.ok()) {
    return status;
  }
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(std::move(impl)));
}

HttpEndpoint::HttpEndpoint(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

uint16_t HttpEndpoint::port() const { return impl_->port(); }

void HttpEndpoint::Stop() { impl_->Stop(); }

}  // namespace kmesh::telemetry
