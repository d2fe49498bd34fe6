// Fuzz target: an API server's HTTP/1.1 response as the transport reads it
// with Boost.Beast (http_transport.cc, response_stream.cc): the whole
// response into a string body within the transport's 64 MiB limit (status,
// Retry-After, Content-Type taken out), a watch's response header then its
// body (chunked or not) read piece by piece into a fixed buffer, and an HTTP
// proxy's answer to CONNECT (header only). The parsers are configured as
// there; the bytes come from a stream that hands them over in pieces of a
// size the input chooses, so headers and chunk sizes split at any byte.
// Input: byte 0 picks the reader and the piece size, the rest is the
// response.
#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tools/fuzzing/piece_stream.h"

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using kmesh::fuzz::PieceStream;

// As in http_transport.cc and response_stream.cc.
constexpr uint64_t kMaxResponseBody = 64ull << 20;
constexpr size_t kStreamReadSize = 64 * 1024;

void WholeResponse(PieceStream& stream) {
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  beast::error_code ec;
  // Header first, as the transport reads it (Boost 1.74's eager parser
  // loses its body-limit error; see http_transport.cc).
  http::read_header(stream, buffer, parser, ec);
  if (ec) return;
  http::read(stream, buffer, parser, ec);
  if (ec) return;
  const int status = parser.get().result_int();
  std::string retry_after;
  auto it = parser.get().find(http::field::retry_after);
  if (it != parser.get().end()) retry_after = std::string(it->value());
  std::string content_type;
  it = parser.get().find(http::field::content_type);
  if (it != parser.get().end()) content_type = std::string(it->value());
  static_cast<void>(status + retry_after.size() + content_type.size());
}

void StreamedResponse(PieceStream& stream) {
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  beast::error_code ec;
  http::read_header(stream, buffer, parser, ec);
  if (ec) return;
  std::vector<char> chunk(kStreamReadSize);
  std::string body;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return;
    const size_t got = chunk.size() - parser.get().body().size;
    body.append(chunk.data(), got);
  }
}

void ProxyConnectAnswer(PieceStream& stream) {
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  beast::error_code ec;
  http::read_header(stream, buffer, parser, ec);
  if (ec) return;
  const int status = parser.get().result_int();
  const std::string reason(parser.get().reason());
  static_cast<void>(status + reason.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + (data[0] >> 2) * 4;  // 1 .. 253 bytes.
  PieceStream stream(data + 1, size - 1, piece);
  switch (data[0] % 3) {
    case 0:
      WholeResponse(stream);
      break;
    case 1:
      StreamedResponse(stream);
      break;
    default:
      ProxyConnectAnswer(stream);
      break;
  }
  return 0;
}
