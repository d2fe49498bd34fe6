// Connection: one TCP or TLS connection to the API server, on the shared
// I/O thread (io_thread.h). Its owner starts one asynchronous operation at a
// time with Run(), which blocks until the operation's handler has run on the
// I/O thread, or the operation was abandoned (an exception unwound it; Run()
// then returns boost::asio::error::fault); a deadline set on lowest() before
// starting bounds it. All of
// its state is touched only by those operations or by its owner between
// them, and Run() returning orders the two, so it needs no lock.
#ifndef KMESH_KUBE_CONNECTION_H_
#define KMESH_KUBE_CONNECTION_H_

#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::kube {

class Connection {
 public:
  // TLS when `ssl_context` is set (it must outlive the connection).
  Connection(boost::asio::io_context& ioc,
             boost::asio::ssl::context* ssl_context);

  // The TCP stream under TLS (or the plain one): deadlines, connect, cancel.
  boost::beast::tcp_stream& lowest() {
    return tls_ ? boost::beast::get_lowest_layer(*tls_) : *plain_;
  }
  // The TLS session, or nullptr for plain TCP.
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  boost::asio::io_context& ioc() { return ioc_; }
  // Bytes read past the end of the last message.
  boost::beast::flat_buffer& buffer() { return buffer_; }

  // Calls f with the stream to read and write (TLS or plain).
  template <typename F>
  auto Visit(F&& f) {
    return tls_ ? f(*tls_) : f(*plain_);
  }

  // Runs `initiate(handler)` on the I/O thread, which starts one
  // asynchronous operation (and may set the stream's deadline first), and
  // blocks until the handler has run; returns its error code. An `initiate`
  // that throws fails the operation with asio::error::fault.
  template <typename Initiate>
  boost::beast::error_code Run(Initiate&& initiate);

  // The TLS client handshake, within `timeout`. The server's name must have
  // been set on ssl() first (TlsContext::NameServer).
  boost::beast::error_code Handshake(std::chrono::milliseconds timeout);

 private:
  boost::asio::io_context& ioc_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<boost::beast::tcp_stream> plain_;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
};

namespace connection_internal {

// The handler Run() hands to an operation. It reports the operation's error
// once; if it is destroyed without having been called (the operation was
// abandoned, e.g. an exception thrown inside it unwound out of the I/O
// thread's run loop, or it never started), it reports
// boost::asio::error::fault instead, so Run() never waits for a handler
// that will not come. Move-only: a copy would report twice.
template <typename Finish>
class Completer {
 public:
  explicit Completer(Finish* finish) : finish_(finish) {}
  Completer(Completer&& other) noexcept
      : finish_(std::exchange(other.finish_, nullptr)) {}
  Completer(const Completer&) = delete;
  Completer& operator=(const Completer&) = delete;
  Completer& operator=(Completer&&) = delete;
  ~Completer() {
    if (finish_ != nullptr) (*finish_)(boost::asio::error::fault);
  }

  template <typename... Results>
  void operator()(boost::beast::error_code ec, Results&&...) {
    Finish* finish = std::exchange(finish_, nullptr);
    if (finish != nullptr) (*finish)(ec);
  }

 private:
  Finish* finish_;
};

}  // namespace connection_internal

template <typename Initiate>
boost::beast::error_code Connection::Run(Initiate&& initiate) {
  struct Completion {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    boost::beast::error_code result ABSL_GUARDED_BY(mu);
  } completion;
  auto finish = [&completion](boost::beast::error_code ec) {
    absl::MutexLock lock(&completion.mu);
    completion.result = ec;
    completion.done = true;
  };
  using Handler = connection_internal::Completer<decltype(finish)>;
  boost::asio::post(ioc_, [&initiate, &finish] {
    try {
      initiate(Handler(&finish));
    } catch (const std::exception&) {
      // The handler was destroyed unwinding (nothing started) and has
      // reported the failure, or an operation holds it and will; `finish`
      // may already be gone, so nothing more is done here.
    }
  });
  absl::MutexLock lock(&completion.mu);
  completion.mu.Await(absl::Condition(&completion.done));
  return completion.result;
}

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_CONNECTION_H_
