// A scripted HTTP/1.1 server on 127.0.0.1 for the transport and REST client
// unit tests: each request is answered by a test-supplied handler, with a
// plain body, a chunked body streamed piece by piece (pieces may split
// lines anywhere), or a dropped connection; optionally over TLS, optionally
// requiring a client certificate. One thread per connection; Stop() closes
// everything, unblocking streams that are still open. Test-only.
#ifndef KMESH_KUBE_TESTING_LOOPBACK_HTTP_SERVER_H_
#define KMESH_KUBE_TESTING_LOOPBACK_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kmesh::kube::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;                          // Path and query.
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

struct ScriptedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the body is sent chunked: the function gets a writer that
  // sends one chunk (false once the client is gone) and returns when the
  // stream should end; body is ignored.
  std::function<void(const std::function<bool(const std::string&)>&)> stream;
  // After a stream: true = close without the final chunk (a dropped watch).
  bool drop_after_stream = false;
  // Close the connection without answering at all.
  bool drop = false;
  // When set, these bytes are sent as they are instead of a response (a
  // broken or hostile server), then the connection is closed.
  std::optional<std::string> raw;
};

using RequestHandler = std::function<ScriptedResponse(const ReceivedRequest&)>;

struct LoopbackTls {
  std::string cert_pem;
  std::string key_pem;
  // When set, clients must present a certificate this CA issued.
  std::string client_ca_pem;
};

class LoopbackHttpServer {
 public:
  // Listens on 127.0.0.1 at an ephemeral port; `tls` = nullptr for HTTP.
  static std::unique_ptr<LoopbackHttpServer> Start(
      RequestHandler handler, const LoopbackTls* tls = nullptr);
  ~LoopbackHttpServer();

  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string url() const;
  uint16_t port() const;
  std::vector<ReceivedRequest> requests() const;
  // Connections accepted so far (including ones dropped or refused by TLS).
  int connections() const;
  void Stop();

  class Impl;

 private:
  explicit LoopbackHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmesh::kube::testing

#endif  // KMESH_KUBE_TESTING_LOOPBACK_HTTP_SERVER_H_
