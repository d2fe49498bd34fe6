// The HttpResponseStream of HttpTransport::OpenStream (part of the
// http_transport target): the body of a response whose header has been
// read, taken from its connection as it arrives, chunk by chunk, either by
// a caller blocked in ReadSome() or by a handler the I/O thread calls
// (StartReading). Cancel() shuts the connection down on the I/O thread,
// which ends a read in progress.
#ifndef KMESH_KUBE_RESPONSE_STREAM_H_
#define KMESH_KUBE_RESPONSE_STREAM_H_

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "kmesh/kube/connection.h"
#include "kmesh/kube/http_transport.h"

namespace kmesh::kube {

// `parser` has read the response header from `connection`; `server` is the
// server URL for messages.
std::unique_ptr<HttpResponseStream> MakeResponseStream(
    std::shared_ptr<Connection> connection,
    std::unique_ptr<
        boost::beast::http::response_parser<boost::beast::http::buffer_body>>
        parser,
    std::chrono::milliseconds idle_timeout, std::string server);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_RESPONSE_STREAM_H_
