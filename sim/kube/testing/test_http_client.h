// A deliberately small HTTP/1.1 client for tests of the simulated API
// server: one connection (plain or TLS via BoringSSL), requests with
// keep-alive, and chunk-by-chunk reading of streamed (watch) responses, so
// tests can check the wire format itself: status, headers, Content-Length or
// chunked framing, and whether a stream ended with its final chunk or was
// cut. Reads give up after a few seconds, so a broken server fails a test
// instead of hanging it.
#ifndef SIM_KUBE_TESTING_TEST_HTTP_CLIENT_H_
#define SIM_KUBE_TESTING_TEST_HTTP_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace kmesh::sim::kube {

struct TestHttpResponse {
  int code = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;                            // Empty for StartStream().
};

struct TestTlsOptions {
  std::string ca_pem;  // Trust anchor for the server certificate.
  std::string client_cert_pem;
  std::string client_key_pem;
};

class TestHttpClient {
 public:
  virtual ~TestHttpClient() = default;

  // Connects to 127.0.0.1:port, with TLS (verifying the server certificate
  // for 127.0.0.1) when `tls` is set. The TLS handshake failing is an error.
  static absl::StatusOr<std::unique_ptr<TestHttpClient>> Connect(
      uint16_t port, const TestTlsOptions* tls = nullptr);

  // Sends a request and reads the whole response.
  absl::StatusOr<TestHttpResponse> Send(
      const std::string& method, const std::string& target,
      const std::string& body = "",
      const std::string& content_type = "application/json",
      const std::map<std::string, std::string>& headers = {});
  // Sends a request and reads only the status line and headers.
  absl::StatusOr<TestHttpResponse> StartStream(const std::string& target);
  // The next chunk of a chunked body. nullopt after the final (zero-length)
  // chunk; Unavailable when the connection ended without it.
  absl::StatusOr<std::optional<std::string>> NextChunk();

 protected:
  // Returns bytes read (0 at end of stream) or -1 on error/timeout.
  virtual int ReadSome(char* buffer, int size) = 0;
  virtual bool WriteAll(const std::string& data) = 0;

 private:
  absl::Status SendRequest(const std::string& method, const std::string& target,
                           const std::string& body,
                           const std::string& content_type,
                           const std::map<std::string, std::string>& headers);
  absl::StatusOr<TestHttpResponse> ReadHead();
  absl::StatusOr<std::string> ReadLine();
  absl::StatusOr<std::string> ReadBytes(size_t count);
  bool Fill();

  std::string buffer_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_TESTING_TEST_HTTP_CLIENT_H_
