// HttpTestClient: a raw HTTP/1.1 client for tests of HttpEndpoint. It sends
// bytes exactly as given (so tests can send malformed, oversized or
// pipelined requests) over one connection and parses responses with Beast;
// every read gives up after a timeout instead of hanging the test.
//
//   HttpTestClient client("127.0.0.1", port);
//   client.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
//   std::optional<HttpTestClient::Response> response = client.Read();
#ifndef KMESH_TELEMETRY_TESTING_HTTP_TEST_CLIENT_H_
#define KMESH_TELEMETRY_TESTING_HTTP_TEST_CLIENT_H_

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace kmesh::telemetry::testing {

class HttpTestClient {
 public:
  using Response =
      boost::beast::http::response<boost::beast::http::string_body>;

  // Connects to host (an IP literal) and port; see status().
  HttpTestClient(const std::string& host, uint16_t port);

  // Whether the connection was made.
  absl::Status status() const { return status_; }

  // Writes the bytes as they are; false on error.
  bool Send(const std::string& bytes);

  // Reads one response; nullopt on close, error or timeout. head: the
  // response is to a HEAD request (no body follows its headers).
  std::optional<Response> Read(bool head = false,
                               absl::Duration timeout = absl::Seconds(5));

  // Waits for the server to close the connection (EOF or reset): true if it
  // did within timeout; bytes received meanwhile are appended to *received.
  bool WaitForClose(absl::Duration timeout, std::string* received = nullptr);

  // A one-request convenience: "<method> <target> HTTP/1.1" with Host, then
  // Read(method == "HEAD").
  std::optional<Response> Request(const std::string& method,
                                  const std::string& target,
                                  const std::string& extra_headers = "");

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  absl::Status status_;
};

}  // namespace kmesh::telemetry::testing

#endif  // KMESH_TELEMETRY_TESTING_HTTP_TEST_CLIENT_H_
