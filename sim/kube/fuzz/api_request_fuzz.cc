// Fuzz target: a request to the simulated API server (sim/kube), whose
// clients are untrusted too: the HTTP/1.1 request parsed by Beast as
// api_server.cc parses it (3 MiB body limit), the target split and
// percent-decoded, then resolved and handled by the RequestHandler over an
// object store that already holds a few objects (so gets, lists with
// selectors and continue tokens, watches, patches, updates and deletes all
// find something). Pod proxy requests are resolved but not handled (the
// handler would dial the pod). Input: byte 0 the read piece size, the rest
// the request bytes; after the first request, any further ones on the
// same connection are served too.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sim/kube/object_store.h"
#include "sim/kube/request_handler.h"
#include "tools/fuzzing/piece_stream.h"

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using kmesh::sim::kube::ApiRequest;
using kmesh::sim::kube::ApiResponse;
using kmesh::sim::kube::ApiTarget;
using kmesh::sim::kube::ObjectStore;
using kmesh::sim::kube::RequestHandler;

constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;  // As in api_server.cc.

// The objects every input starts from, created through the handler itself.
void Seed(RequestHandler& handler) {
  const char* const kCreates[][3] = {
      {"/api/v1/namespaces", "application/json",
       R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kmesh-system"}})"},
      {"/api/v1/nodes", "application/json",
       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","labels":{"a":"b"}},"spec":{"podCIDRs":["10.244.1.0/24"]}})"},
      {"/api/v1/namespaces/kmesh-system/secrets", "application/json",
       R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"kmesh-ipsec"},"data":{"ipSec":"e30="}})"},
      {"/apis/kmesh.net/v1alpha1/kmeshnodeinfos", "application/json",
       R"({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfo","metadata":{"name":"node-1"},"spec":{"spi":1}})"},
  };
  for (const auto& create : kCreates) {
    ApiRequest request;
    request.method = "POST";
    request.path = create[0];
    request.content_type = create[1];
    request.body = create[2];
    const ApiTarget target = handler.Resolve(request);
    handler.Handle(request, target);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ObjectStore store;
  RequestHandler handler(&store, std::chrono::seconds(1), "127.0.0.1:6443");
  Seed(handler);
  kmesh::fuzz::PieceStream stream(data + 1, size - 1, 1 + data[0]);
  beast::flat_buffer buffer;
  for (int i = 0; i < 8; ++i) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) return 0;
    const http::request<http::string_body>& req = parser.get();
    ApiRequest request;
    request.method = std::string(req.method_string());
    const std::string target(req.target());
    const size_t question = target.find('?');
    request.path =
        kmesh::sim::kube::PercentDecode(target.substr(0, question), false);
    if (question != std::string::npos) {
      request.query = target.substr(question + 1);
    }
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.body = req.body();
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    const ApiTarget resolved = handler.Resolve(request);
    if (resolved.subresource == "proxy") continue;
    ApiResponse response = handler.Handle(request, resolved);
    if (response.bookmark_line) {
      static_cast<void>(response.bookmark_line(1).size());
    }
    if (!req.keep_alive()) return 0;
  }
  return 0;
}
