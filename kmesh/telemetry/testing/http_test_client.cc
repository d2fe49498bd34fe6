#include "kmesh/telemetry/testing/http_test_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kmesh::telemetry::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpTestClient::HttpTestClient(const std::string& host, uint16_t port)
    : stream_(ioc_) {
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) {
    stream_.expires_after(std::chrono::seconds(5));
    stream_.async_connect(tcp::endpoint(address, port),
                          [&ec](beast::error_code e) { ec = e; });
    ioc_.run();
  }
  if (ec) {
    status_ = absl::UnavailableError(
        absl::StrCat("connect ", host, ":", port, ": ", ec.message()));
  }
}

bool HttpTestClient::Send(const std::string& bytes) {
  beast::error_code ec;
  asio::write(stream_.socket(), asio::buffer(bytes), ec);
  return !ec;
}

std::optional<HttpTestClient::Response> HttpTestClient::Read(
    bool head, absl::Duration timeout) {
  http::response_parser<http::string_body> parser;
  parser.skip(head);
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code result;
  stream_.expires_after(absl::ToChronoNanoseconds(timeout));
  http::async_read(stream_, buffer_, parser,
                   [&result](beast::error_code ec, size_t) { result = ec; });
  ioc_.restart();
  ioc_.run();
  if (result) return std::nullopt;
  return parser.release();
}

bool HttpTestClient::WaitForClose(absl::Duration timeout,
                                  std::string* received) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    char data[4096];
    beast::error_code result;
    size_t n = 0;
    stream_.expires_after(absl::ToChronoNanoseconds(left));
    stream_.async_read_some(asio::buffer(data),
                            [&](beast::error_code ec, size_t bytes) {
                              result = ec;
                              n = bytes;
                            });
    ioc_.restart();
    ioc_.run();
    if (received != nullptr) received->append(data, n);
    if (result == beast::error::timeout) return false;
    if (result) return true;  // EOF or reset.
  }
}

std::optional<HttpTestClient::Response> HttpTestClient::Request(
    const std::string& method, const std::string& target,
    const std::string& extra_headers) {
  if (!Send(absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: test\r\n",
                         extra_headers, "\r\n"))) {
    return std::nullopt;
  }
  return Read(method == "HEAD");
}

}  // namespace kmesh::telemetry::testing
