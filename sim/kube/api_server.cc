#include "sim/kube/api_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <list>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sim/kube/api_error.h"
#include "sim/kube/request_handler.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "sim/kube must be built against BoringSSL (@boringssl//:ssl)"
#endif

namespace kmesh::sim::kube {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

// The real server's request body limit is about 3 MiB.
constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;
// How often an idle watch checks whether its client went away.
constexpr std::chrono::seconds kWatchPeerCheck{1};

const char* ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "";
  }
}

bool PeerClosed(int fd) {
  struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&pfd, 1, 0) <= 0) return false;
  return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// The resource as RBAC rules name it: "pods", "pods/proxy".
std::string RbacResource(const ApiTarget& target) {
  return target.subresource.empty()
             ? target.type->plural
             : absl::StrCat(target.type->plural, "/", target.subresource);
}

std::string YamlQuote(const std::string& text) {
  return absl::StrCat("\"", absl::CEscape(text), "\"");
}

}  // namespace

class ApiServer::Impl {
 public:
  explicit Impl(Options options)
      : options_(std::move(options)),
        store_(options_.store),
        acceptor_(io_context_) {}

  ~Impl() { Stop(); }

  absl::Status Start();
  void Stop();

  std::string url() const {
    return absl::StrCat(ssl_ ? "https" : "http", "://", options_.address, ":",
                        port_);
  }
  uint16_t port() const { return port_; }
  ObjectStore& store() { return store_; }
  absl::Status WriteKubeconfig(const std::string& path,
                               const KubeconfigUser& user) const;

  void FailNext(int count, int http_code, RequestFilter filter) {
    absl::MutexLock lock(&mu_);
    faults_.push_back({count, http_code, std::move(filter)});
  }
  void DropWatches();
  void SimulateRestart(std::chrono::milliseconds down_for);
  void SetResponseDelay(std::chrono::milliseconds delay,
                        std::optional<std::chrono::milliseconds> lasting) {
    absl::MutexLock lock(&mu_);
    delay_ = delay;
    delay_until_.reset();
    if (lasting.has_value()) {
      delay_until_ = std::chrono::steady_clock::now() + *lasting;
    }
  }
  void RequireBearerToken(const std::string& token) {
    absl::MutexLock lock(&mu_);
    token_ = token;
  }
  std::string token() const {
    absl::MutexLock lock(&mu_);
    return token_;
  }
  void Forbid(const std::string& verb, const std::string& resource) {
    absl::MutexLock lock(&mu_);
    forbidden_.insert({verb, resource});
  }
  void ClearFaults() {
    absl::MutexLock lock(&mu_);
    faults_.clear();
    delay_ = std::chrono::milliseconds(0);
    delay_until_.reset();
    token_.clear();
    forbidden_.clear();
  }
  std::vector<RequestRecord> RequestLog() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  void ClearRequestLog() {
    absl::MutexLock lock(&mu_);
    log_.clear();
  }
  int OpenWatches() const {
    absl::MutexLock lock(&mu_);
    return open_watches_;
  }
  bool WaitForOpenWatches(int count, std::chrono::milliseconds timeout) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return open_watches_ >= count;
    };
    absl::Condition condition(&enough);
    return mu_.AwaitWithTimeout(condition, absl::FromChrono(timeout));
  }

 private:
  // One client connection, served by its own thread.
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> finished{false};
    absl::Mutex mu;
    bool closed ABSL_GUARDED_BY(mu) = false;
    ObjectStore::Watcher* watcher ABSL_GUARDED_BY(mu) = nullptr;
  };
  struct Fault {
    int remaining;
    int code;
    RequestFilter filter;
  };

  void AcceptLoop();
  void ReapFinishedConnections();
  void RunConnection(tcp::socket socket, Connection& connection);
  template <class Stream>
  void Serve(Stream& stream, Connection& connection);
  // Streams a watch; returns whether the connection may serve more.
  template <class Stream>
  bool StreamWatch(Stream& stream, unsigned http_version, bool keep_alive,
                   ApiResponse& response, Connection& connection);
  // Faults, authentication and authorization, then the handler; logs.
  ApiResponse Process(const ApiRequest& request);
  // Shuts the connection's socket down so its blocked thread wakes.
  static void Interrupt(Connection& connection);

  const Options options_;
  ObjectStore store_;
  std::unique_ptr<RequestHandler> handler_;
  net::io_context io_context_;
  tcp::acceptor acceptor_;
  std::unique_ptr<ssl::context> ssl_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  std::list<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::chrono::milliseconds delay_ ABSL_GUARDED_BY(mu_){0};
  // When delay_ ends by itself (none: when set to 0).
  std::optional<std::chrono::steady_clock::time_point> delay_until_
      ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> forbidden_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestRecord> log_ ABSL_GUARDED_BY(mu_);
  int open_watches_ ABSL_GUARDED_BY(mu_) = 0;
  // SimulateRestart: until then, new connections are closed unanswered.
  std::chrono::steady_clock::time_point down_until_ ABSL_GUARDED_BY(mu_);
};

absl::Status ApiServer::Impl::Start() {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options_.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad listen address \"", options_.address, "\""));
  }
  const bool tls =
      !options_.tls_cert_pem.empty() || !options_.tls_key_pem.empty();
  if (tls) {
    if (options_.tls_cert_pem.empty() || options_.tls_key_pem.empty()) {
      return absl::InvalidArgumentError(
          "TLS needs both a certificate and a key");
    }
    ssl_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    ssl_->set_options(ssl::context::default_workarounds |
                      ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ssl_->use_certificate_chain(net::buffer(options_.tls_cert_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad TLS certificate: ", ec.message()));
    }
    ssl_->use_private_key(net::buffer(options_.tls_key_pem), ssl::context::pem,
                          ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad TLS private key: ", ec.message()));
    }
    if (!options_.client_ca_pem.empty()) {
      ssl_->add_certificate_authority(net::buffer(options_.client_ca_pem), ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad client CA: ", ec.message()));
      }
      ssl_->set_verify_mode(ssl::verify_peer |
                            ssl::verify_fail_if_no_peer_cert);
    }
  }
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.address, ":", options_.port,
                     ": ", ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  handler_ = std::make_unique<RequestHandler>(
      &store_, options_.default_watch_timeout,
      absl::StrCat(options_.address, ":", port_), options_.pod_proxy);
  handler_->SetBookmarkInterval(options_.bookmark_interval);
  started_ = true;
  accept_thread_ = std::thread(&Impl::AcceptLoop, this);
  return absl::OkStatus();
}

void ApiServer::Impl::Stop() {
  if (stopping_.exchange(true) || !started_) return;
  // shutdown() wakes a thread blocked in accept(); close() alone does not.
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  accept_thread_.join();
  beast::error_code ignored;
  acceptor_.close(ignored);
  std::list<std::shared_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    connections = connections_;
  }
  for (const auto& connection : connections) Interrupt(*connection);
  for (const auto& connection : connections) connection->thread.join();
  absl::MutexLock lock(&mu_);
  connections_.clear();
}

void ApiServer::Impl::Interrupt(Connection& connection) {
  absl::MutexLock lock(&connection.mu);
  if (connection.watcher != nullptr) connection.watcher->Cancel();
  if (!connection.closed) ::shutdown(connection.fd, SHUT_RDWR);
}

void ApiServer::Impl::DropWatches() {
  absl::MutexLock lock(&mu_);
  for (const auto& connection : connections_) {
    absl::MutexLock connection_lock(&connection->mu);
    if (connection->watcher == nullptr) continue;
    connection->watcher->Cancel();
    if (!connection->closed) ::shutdown(connection->fd, SHUT_RDWR);
  }
}

void ApiServer::Impl::SimulateRestart(std::chrono::milliseconds down_for) {
  {
    absl::MutexLock lock(&mu_);
    down_until_ = std::chrono::steady_clock::now() + down_for;
    for (const auto& connection : connections_) Interrupt(*connection);
  }
  store_.CompactHistory();
}

void ApiServer::Impl::ReapFinishedConnections() {
  absl::MutexLock lock(&mu_);
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->finished) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void ApiServer::Impl::AcceptLoop() {
  while (!stopping_) {
    tcp::socket socket(io_context_);
    beast::error_code ec;
    acceptor_.accept(socket, ec);
    if (stopping_) break;
    if (ec) {
      // E.g. out of file descriptors: back off briefly instead of spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ReapFinishedConnections();
    auto connection = std::make_shared<Connection>();
    connection->fd = socket.native_handle();
    absl::MutexLock lock(&mu_);
    if (std::chrono::steady_clock::now() < down_until_) {
      socket.close(ec);  // Restarting: nobody answers yet.
      continue;
    }
    connection->thread =
        std::thread([this, connection, socket = std::move(socket)]() mutable {
          RunConnection(std::move(socket), *connection);
          connection->finished = true;
        });
    connections_.push_back(std::move(connection));
  }
}

void ApiServer::Impl::RunConnection(tcp::socket socket,
                                    Connection& connection) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (ssl_) {
    ssl::stream<tcp::socket> stream(std::move(socket), *ssl_);
    stream.handshake(ssl::stream_base::server, ec);
    if (!ec) Serve(stream, connection);
    absl::MutexLock lock(&connection.mu);
    connection.closed = true;
    stream.next_layer().close(ec);
  } else {
    Serve(socket, connection);
    absl::MutexLock lock(&connection.mu);
    connection.closed = true;
    socket.close(ec);
  }
}

template <class Stream>
void ApiServer::Impl::Serve(Stream& stream, Connection& connection) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::body_limit) {
      ApiResponse too_large = RequestHandler::ErrorResponse(
          ApiError(413, "RequestEntityTooLarge", "request is too large"));
      http::response<http::string_body> res{http::status::payload_too_large,
                                            11};
      res.set(http::field::content_type, too_large.content_type);
      res.body() = too_large.body;
      res.keep_alive(false);
      res.prepare_payload();
      http::write(stream, res, ec);
      return;
    }
    if (ec) return;
    const http::request<http::string_body>& req = parser.get();
    ApiRequest request;
    request.method = std::string(req.method_string());
    std::string target(req.target());
    size_t question = target.find('?');
    request.path = PercentDecode(target.substr(0, question), false);
    if (question != std::string::npos)
      request.query = target.substr(question + 1);
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.body = req.body();
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();

    ApiResponse response = Process(request);
    if (response.watcher != nullptr) {
      if (!StreamWatch(stream, version, keep_alive, response, connection)) {
        return;
      }
      continue;
    }
    http::response<http::string_body> res{
        static_cast<http::status>(response.code), version};
    if (!response.content_type.empty()) {
      res.set(http::field::content_type, response.content_type);
    }
    res.set(http::field::cache_control, "no-cache, private");
    for (const auto& [name, value] : response.headers) res.set(name, value);
    if (request.method == "HEAD") {
      // No body, but the length it would have (a proxied pod's own
      // Content-Length, from headers, stays as it is).
      if (res.find(http::field::content_length) == res.end()) {
        res.content_length(response.body.size());
      }
    } else if (response.chunked) {
      res.body() = std::move(response.body);
      res.chunked(true);
    } else {
      res.body() = std::move(response.body);
      res.prepare_payload();
    }
    res.keep_alive(keep_alive);
    http::write(stream, res, ec);
    if (ec || !keep_alive) return;
  }
}

template <class Stream>
bool ApiServer::Impl::StreamWatch(Stream& stream, unsigned http_version,
                                  bool keep_alive, ApiResponse& response,
                                  Connection& connection) {
  {
    absl::MutexLock lock(&connection.mu);
    connection.watcher = response.watcher.get();
  }
  {
    absl::MutexLock lock(&mu_);
    ++open_watches_;
  }
  http::response<http::empty_body> res{http::status::ok, http_version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-cache, private");
  res.chunked(true);
  res.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> serializer{res};
  beast::error_code ec;
  http::write_header(stream, serializer, ec);
  bool ended_cleanly = !ec;
  // The cacher's nextBookmarkTime: a bookmark_interval from now, or 2 s
  // before the deadline if that is sooner; none once that has passed.
  using Clock = std::chrono::steady_clock;
  auto next_bookmark = [&](Clock::time_point now) {
    if (!response.bookmark_line) return Clock::time_point::max();
    Clock::time_point at =
        std::min(now + response.bookmark_interval,
                 response.watch_deadline - std::chrono::seconds(2));
    return at < now ? Clock::time_point::max() : at;
  };
  Clock::time_point bookmark_at = next_bookmark(Clock::now());
  while (ended_cleanly) {
    auto now = Clock::now();
    if (now >= response.watch_deadline) break;
    absl::StatusOr<WatchEvent> event = response.watcher->Next(std::min(
        {response.watch_deadline, now + kWatchPeerCheck, bookmark_at}));
    std::string line;
    if (event.ok()) {
      line = RequestHandler::WatchEventLine(*event);
    } else if (absl::IsDeadlineExceeded(event.status())) {
      now = Clock::now();
      if (now >= bookmark_at && now < response.watch_deadline) {
        // Every event up to Progress() has been sent.
        line = response.bookmark_line(response.watcher->Progress());
        bookmark_at = next_bookmark(now);
        net::write(stream, http::make_chunk(net::buffer(line)), ec);
        if (ec) ended_cleanly = false;
        continue;
      }
      if (PeerClosed(connection.fd)) ended_cleanly = false;
      continue;
    } else if (HttpCode(event.status()) == 410) {
      line = RequestHandler::WatchErrorLine(event.status());
    } else {
      // Cancelled: DropWatches() or Stop(); the socket is being shut.
      ended_cleanly = false;
      break;
    }
    net::write(stream, http::make_chunk(net::buffer(line)), ec);
    if (ec) ended_cleanly = false;
    if (!event.ok()) break;  // The ERROR event is the last one.
  }
  {
    absl::MutexLock lock(&connection.mu);
    connection.watcher = nullptr;
  }
  {
    absl::MutexLock lock(&mu_);
    --open_watches_;
  }
  response.watcher.reset();
  if (!ended_cleanly) return false;
  net::write(stream, http::make_chunk_last(), ec);
  return !ec && keep_alive;
}

ApiResponse ApiServer::Impl::Process(const ApiRequest& request) {
  std::chrono::milliseconds delay;
  {
    absl::MutexLock lock(&mu_);
    if (delay_until_.has_value() &&
        std::chrono::steady_clock::now() >= *delay_until_) {
      delay_ = std::chrono::milliseconds(0);
      delay_until_.reset();
    }
    delay = delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);

  const ApiTarget target = handler_->Resolve(request);
  int fault_code = 0;
  bool unauthorized = false;
  bool forbidden = false;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (!it->filter.method.empty() && it->filter.method != request.method) {
        continue;
      }
      if (!absl::StartsWith(request.path, it->filter.path_prefix)) continue;
      fault_code = it->code;
      if (--it->remaining <= 0) faults_.erase(it);
      break;
    }
    unauthorized = !token_.empty() &&
                   request.authorization != absl::StrCat("Bearer ", token_);
    forbidden = target.is_resource && target.error.ok() &&
                forbidden_.count({target.verb, RbacResource(target)}) > 0;
  }
  ApiResponse response;
  if (fault_code != 0) {
    response = RequestHandler::ErrorResponse(
        ApiError(fault_code, ReasonForCode(fault_code),
                 absl::StrCat("injected fault: HTTP ", fault_code)));
    if (fault_code == 429) response.headers.push_back({"Retry-After", "1"});
  } else if (unauthorized) {
    response = RequestHandler::ErrorResponse(
        ApiError(401, "Unauthorized", "Unauthorized"));
  } else if (forbidden) {
    const ResourceType& type = *target.type;
    std::string subject =
        target.name.empty()
            ? type.DisplayName()
            : absl::StrCat(type.DisplayName(), " \"", target.name, "\"");
    std::string scope = target.ns.empty() ? "at the cluster scope"
                                          : absl::StrCat("in the namespace \"",
                                                         target.ns, "\"");
    response = RequestHandler::ErrorResponse(
        ApiError(403, "Forbidden",
                 absl::StrCat(subject,
                              " is forbidden: User \"system:anonymous\" "
                              "cannot ",
                              target.verb, " resource \"", RbacResource(target),
                              "\" in API group \"", type.group, "\" ", scope)));
  } else {
    response = handler_->Handle(request, target);
  }
  absl::MutexLock lock(&mu_);
  RequestRecord record{
      request.method, request.path, request.query, response.code, {}};
  for (const auto& [name, value] : request.headers) {
    if (absl::StartsWithIgnoreCase(name, "Impersonate-")) {
      record.impersonation.emplace_back(name, value);
    }
  }
  log_.push_back(std::move(record));
  return response;
}

absl::Status ApiServer::Impl::WriteKubeconfig(
    const std::string& path, const KubeconfigUser& user) const {
  std::string cluster = absl::StrCat("    server: ", YamlQuote(url()), "\n");
  if (ssl_) {
    const std::string& ca = options_.tls_ca_pem.empty() ? options_.tls_cert_pem
                                                        : options_.tls_ca_pem;
    absl::StrAppend(&cluster,
                    "    certificate-authority-data: ", absl::Base64Escape(ca),
                    "\n");
  }
  std::string credentials;
  std::string token = user.token.empty() ? this->token() : user.token;
  if (!token.empty()) {
    absl::StrAppend(&credentials, "    token: ", YamlQuote(token), "\n");
  }
  if (!user.client_cert_pem.empty()) {
    absl::StrAppend(&credentials, "    client-certificate-data: ",
                    absl::Base64Escape(user.client_cert_pem), "\n");
  }
  if (!user.client_key_pem.empty()) {
    absl::StrAppend(&credentials, "    client-key-data: ",
                    absl::Base64Escape(user.client_key_pem), "\n");
  }
  std::string text = absl::StrCat(
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: kmesh-sim\n"
      "  cluster:\n",
      cluster,
      "users:\n"
      "- name: kmesh-sim\n"
      "  user:",
      credentials.empty() ? " {}\n" : "\n", credentials,
      "contexts:\n"
      "- name: kmesh-sim\n"
      "  context:\n"
      "    cluster: kmesh-sim\n"
      "    user: kmesh-sim\n"
      "current-context: kmesh-sim\n");
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    return absl::UnavailableError(
        absl::StrCat("cannot write kubeconfig ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status started = impl->Start(); !started.ok()) return started;
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() { Stop(); }
void ApiServer::Stop() { impl_->Stop(); }
std::string ApiServer::url() const { return impl_->url(); }
uint16_t ApiServer::port() const { return impl_->port(); }
ObjectStore& ApiServer::store() { return impl_->store(); }
absl::Status ApiServer::WriteKubeconfig(const std::string& path) const {
  return impl_->WriteKubeconfig(path, {});
}
absl::Status ApiServer::WriteKubeconfig(const std::string& path,
                                        const KubeconfigUser& user) const {
  return impl_->WriteKubeconfig(path, user);
}
void ApiServer::FailNext(int count, int http_code, RequestFilter filter) {
  impl_->FailNext(count, http_code, std::move(filter));
}
void ApiServer::DropWatches() { impl_->DropWatches(); }
void ApiServer::SimulateRestart(std::chrono::milliseconds down_for) {
  impl_->SimulateRestart(down_for);
}
void ApiServer::SetResponseDelay(
    std::chrono::milliseconds delay,
    std::optional<std::chrono::milliseconds> lasting) {
  impl_->SetResponseDelay(delay, lasting);
}
void ApiServer::RequireBearerToken(const std::string& token) {
  impl_->RequireBearerToken(token);
}
void ApiServer::Forbid(const std::string& verb, const std::string& resource) {
  impl_->Forbid(verb, resource);
}
void ApiServer::ClearFaults() { impl_->ClearFaults(); }
std::vector<ApiServer::RequestRecord> ApiServer::RequestLog() const {
  return impl_->RequestLog();
}
void ApiServer::ClearRequestLog() { impl_->ClearRequestLog(); }
int ApiServer::OpenWatches() const { return impl_->OpenWatches(); }
bool ApiServer::WaitForOpenWatches(int count,
                                   std::chrono::milliseconds timeout) const {
  return impl_->WaitForOpenWatches(count, timeout);
}

}  // namespace kmesh::sim::kube
