#include "kmesh/kube/testing/loopback_http_server.h"

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::kube::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class LoopbackHttpServer::Impl {
 public:
  Impl(RequestHandler handler, const LoopbackTls* tls)
      : handler_(std::move(handler)), acceptor_(ioc_) {
    if (tls != nullptr) {
      ssl_ =
          std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      ssl_->use_certificate_chain(asio::buffer(tls->cert_pem));
      ssl_->use_private_key(asio::buffer(tls->key_pem),
                            asio::ssl::context::pem);
      if (!tls->client_ca_pem.empty()) {
        ssl_->add_certificate_authority(asio::buffer(tls->client_ca_pem));
        ssl_->set_verify_mode(asio::ssl::verify_peer |
                              asio::ssl::verify_fail_if_no_peer_cert);
      }
    }
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

  std::string url() const {
    return absl::StrCat(ssl_ ? "https" : "http", "://127.0.0.1:", port_);
  }
  uint16_t port() const { return port_; }
  std::vector<ReceivedRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  int connections() const {
    absl::MutexLock lock(&mu_);
    return connections_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      if (ec) continue;
      ++connections_;
      open_fds_.push_back(socket.native_handle());
      threads_.emplace_back(
          [this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Forget(int fd) {
    absl::MutexLock lock(&mu_);
    for (auto it = open_fds_.begin(); it != open_fds_.end(); ++it) {
      if (*it == fd) {
        open_fds_.erase(it);
        break;
      }
    }
  }

  void Serve(tcp::socket socket) {
    const int fd = socket.native_handle();
    if (ssl_) {
      asio::ssl::stream<tcp::socket> stream(std::move(socket), *ssl_);
      beast::error_code ec;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) Handle(stream);
      Forget(fd);
      return;
    }
    Handle(socket);
    beast::error_code ignored;
    Forget(fd);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  template <typename Stream>
  void Handle(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    beast::error_code ec;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    ReceivedRequest received;
    received.method = std::string(request.method_string());
    received.target = std::string(request.target());
    for (const auto& field : request) {
      received
          .headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
          std::string(field.value());
    }
    received.body = request.body();
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(received);
    }
    ScriptedResponse response = handler_(received);
    if (response.drop) return;
    if (response.raw) {
      asio::write(stream, asio::buffer(*response.raw), ec);
      return;
    }
    if (!response.stream) {
      http::response<http::string_body> out{
          static_cast<http::status>(response.status), 11};
      out.set(http::field::content_type, "application/json");
      for (const auto& [name, value] : response.headers) out.set(name, value);
      out.body() = response.body;
      out.prepare_payload();
      out.keep_alive(false);
      http::write(stream, out, ec);
      return;
    }
    http::response<http::empty_body> out{
        static_cast<http::status>(response.status), 11};
    out.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : response.headers) out.set(name, value);
    out.chunked(true);
    out.keep_alive(false);
    http::response_serializer<http::empty_body> serializer(out);
    http::write_header(stream, serializer, ec);
    if (ec) return;
    response.stream([&stream](const std::string& data) {
      if (data.empty()) return true;
      beast::error_code write_ec;
      asio::write(stream, http::make_chunk(asio::buffer(data)), write_ec);
      return !write_ec;
    });
    if (!response.drop_after_stream) {
      asio::write(stream, http::make_chunk_last(), ec);
    }
  }

  RequestHandler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> ssl_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);  // Accepted sockets.
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<LoopbackHttpServer> LoopbackHttpServer::Start(
    RequestHandler handler, const LoopbackTls* tls) {
  return std::unique_ptr<LoopbackHttpServer>(
      new LoopbackHttpServer(std::make_unique<Impl>(std::move(handler), tls)));
}

LoopbackHttpServer::LoopbackHttpServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
LoopbackHttpServer::~LoopbackHttpServer() { impl_->Stop(); }
std::string LoopbackHttpServer::url() const { return impl_->url(); }
uint16_t LoopbackHttpServer::port() const { return impl_->port(); }
std::vector<ReceivedRequest> LoopbackHttpServer::requests() const {
  return impl_->requests();
}
int LoopbackHttpServer::connections() const { return impl_->connections(); }
void LoopbackHttpServer::Stop() { impl_->Stop(); }

}  // namespace kmesh::kube::testing
