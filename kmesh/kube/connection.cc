#include "kmesh/kube/connection.h"

#include <boost/asio/ssl/stream_base.hpp>

namespace kmesh::kube {

Connection::Connection(boost::asio::io_context& ioc,
                       boost::asio::ssl::context* ssl_context)
    : ioc_(ioc),
      plain_(ssl_context ? nullptr : new boost::beast::tcp_stream(ioc_)),
      tls_(ssl_context ? new boost::beast::ssl_stream<boost::beast::tcp_stream>(
                             ioc_, *ssl_context)
                       : nullptr) {}

boost::beast::error_code Connection::Handshake(
    std::chrono::milliseconds timeout) {
  return Run([this, timeout](auto handler) {
    lowest().expires_after(timeout);
    tls_->async_handshake(boost::asio::ssl::stream_base::client,
                          std::move(handler));
  });
}

}  // namespace kmesh::kube
