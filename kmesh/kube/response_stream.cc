#include "kmesh/kube/response_stream.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr size_t kStreamReadSize = 64 << 10;

class ConnectionResponseStream : public HttpResponseStream {
 public:
  ConnectionResponseStream(
      std::shared_ptr<Connection> connection,
      std::unique_ptr<http::response_parser<http::buffer_body>> parser,
      milliseconds idle_timeout, std::string server)
      : connection_(std::move(connection)),
        parser_(std::move(parser)),
        idle_timeout_(idle_timeout),
        server_(std::move(server)),
        chunk_(kStreamReadSize) {}

  ~ConnectionResponseStream() override {
    Cancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* reading) { return !*reading; }, &reading_));
  }

  int status() const override { return parser_->get().result_int(); }

  absl::StatusOr<std::string> ReadSome() override {
    for (;;) {
      if (cancelled_.load()) return absl::CancelledError("stream closed");
      if (parser_->is_done()) return std::string();
      beast::error_code ec = connection_->Visit([this](auto& stream) {
        return connection_->Run(
            [&](auto handler) { StartRead(stream, std::move(handler)); });
      });
      absl::StatusOr<size_t> got = ReadResult(ec);
      if (!got.ok()) return got.status();
      if (*got > 0) return std::string(chunk_.data(), *got);
    }
  }

  void StartReading(DataHandler handler) override {
    {
      absl::MutexLock lock(&mu_);
      // Again after a pause (the handler returned false): the I/O thread
      // may still be finishing the previous loop.
      mu_.Await(absl::Condition(
          +[](bool* reading) { return !*reading; }, &reading_));
      handler_ = std::move(handler);
      reading_ = true;
    }
    asio::post(connection_->ioc(), [this] { ReadNext(); });
  }

  void Cancel() override {
    cancelled_.store(true);
    // The connection stays alive until this has run, even if the stream is
    // released first.
    std::shared_ptr<Connection> connection = connection_;
    asio::post(connection->ioc(), [connection] {
      beast::error_code ignored;
      connection->lowest().socket().shutdown(tcp::socket::shutdown_both,
                                             ignored);
      connection->lowest().cancel();
    });
  }

 private:
  // Starts one read of body bytes into chunk_, with the idle deadline; on
  // the I/O thread.
  template <typename Stream, typename Handler>
  void StartRead(Stream& stream, Handler&& handler) {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    if (idle_timeout_.count() > 0) {
      connection_->lowest().expires_after(idle_timeout_);
    } else {
      connection_->lowest().expires_never();
    }
    http::async_read_some(stream, connection_->buffer(), *parser_,
                          std::forward<Handler>(handler));
  }

  // How many body bytes the read that ended with `ec` put into chunk_, or
  // why the stream ended.
  absl::StatusOr<size_t> ReadResult(beast::error_code ec) {
    const size_t got = chunk_.size() - parser_->get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    if (cancelled_.load()) return absl::CancelledError("stream closed");
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat("no data from the API server at ", server_, " within ",
                       idle_timeout_.count(), " ms"));
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("connection to the API server at ", server_,
                       " ended: ", ec.message()));
    }
    return got;
  }

  // StartReading's loop, on the I/O thread: one read, hand it over, repeat.
  // An exception (from the handler or from starting a read) must not escape
  // to the shared I/O thread: the loop would end without Stop(), leaving the
  // consumer without an end and the destructor waiting forever. It ends
  // this stream instead, with Internal given to the handler.
  void ReadNext() {
    if (cancelled_.load()) return Stop(absl::CancelledError("stream closed"));
    if (parser_->is_done()) return Stop(std::string());
    try {
      connection_->Visit([this](auto& stream) {
        StartRead(stream, [this](beast::error_code ec, size_t) { OnRead(ec); });
        return 0;
      });
    } catch (const std::exception& e) {
      Stop(Failed("reading", e.what()));
    } catch (...) {
      Stop(Failed("reading", "unknown exception"));
    }
  }

  // One read of StartReading's loop has ended with `ec`.
  void OnRead(beast::error_code ec) {
    absl::StatusOr<size_t> got = ReadResult(ec);
    if (!got.ok()) return Stop(got.status());
    if (*got > 0) {
      bool more = false;
      try {
        more = handler_(std::string(chunk_.data(), *got));
      } catch (const std::exception& e) {
        return Stop(Failed("handling", e.what()));
      } catch (...) {
        return Stop(Failed("handling", "unknown exception"));
      }
      if (!more) return Stop(std::nullopt);
    }
    ReadNext();
  }

  absl::Status Failed(absl::string_view doing, absl::string_view what) const {
    return absl::InternalError(
        absl::StrCat(doing, " the response of the API server at ", server_,
                     " failed: ", what));
  }

  // Ends StartReading: the handler's last call (unless it asked to stop),
  // then the destructor may go on, whatever the handler does.
  void Stop(std::optional<absl::StatusOr<std::string>> last) {
    if (last.has_value()) {
      try {
        handler_(*std::move(last));
      } catch (...) {
        // The stream ends all the same.
      }
    }
    absl::MutexLock lock(&mu_);
    handler_ = nullptr;
    reading_ = false;
  }

  const std::shared_ptr<Connection> connection_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  const milliseconds idle_timeout_;
  const std::string server_;
  std::vector<char> chunk_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  // Set under mu_ by StartReading (before the I/O thread's first call) and
  // by Stop; called by the I/O thread without the lock until reading_ ends.
  DataHandler handler_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<HttpResponseStream> MakeResponseStream(
    std::shared_ptr<Connection> connection,
    std::unique_ptr<http::response_parser<http::buffer_body>> parser,
    milliseconds idle_timeout, std::string server) {
  return std::make_unique<ConnectionResponseStream>(
      std::move(connection), std::move(parser), idle_timeout,
      std::move(server));
}

}  // namespace kmesh::kube
