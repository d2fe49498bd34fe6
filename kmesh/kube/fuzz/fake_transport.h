// A scripted HttpTransport for the REST client's fuzz targets: every request
// gets the same answer (a status and a body), the body of a stream handed
// over in pieces of a given size, synchronously, on the caller's thread
// (StartReading runs the handler to the end or until it pauses, so a fuzz
// input runs deterministically and without threads).
#ifndef KMESH_KUBE_FUZZ_FAKE_TRANSPORT_H_
#define KMESH_KUBE_FUZZ_FAKE_TRANSPORT_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kube/http_transport.h"

namespace kmesh::kube::fuzz {

class FakeResponseStream : public HttpResponseStream {
 public:
  FakeResponseStream(int status, std::string body, size_t piece)
      : status_(status),
        body_(std::move(body)),
        piece_(std::max<size_t>(1, piece)) {}

  int status() const override { return status_; }

  absl::StatusOr<std::string> ReadSome() override {
    if (cancelled_) return absl::CancelledError("cancelled");
    return Next();
  }

  void StartReading(DataHandler handler) override {
    for (;;) {
      if (cancelled_) {
        handler(absl::CancelledError("cancelled"));
        return;
      }
      const bool ended = offset_ >= body_.size();
      if (!handler(Next()) || ended) return;
    }
  }

  void Cancel() override { cancelled_ = true; }

 private:
  std::string Next() {
    const size_t n = std::min(piece_, body_.size() - offset_);
    std::string out = body_.substr(offset_, n);
    offset_ += n;
    return out;
  }

  const int status_;
  const std::string body_;
  const size_t piece_;
  size_t offset_ = 0;
  bool cancelled_ = false;
};

class FakeTransport : public HttpTransport {
 public:
  FakeTransport(int status, std::string body, size_t piece)
      : status_(status), body_(std::move(body)), piece_(piece) {}

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest&) override {
    HttpResponse response;
    response.status = status_;
    response.body = body_;
    response.content_type = "application/json";
    return response;
  }

  absl::StatusOr<std::unique_ptr<HttpResponseStream>> OpenStream(
      const HttpRequest&, std::chrono::milliseconds) override {
    return std::unique_ptr<HttpResponseStream>(
        new FakeResponseStream(status_, body_, piece_));
  }

  const std::string& server_url() const override { return url_; }

 private:
  const int status_;
  const std::string body_;
  const size_t piece_;
  const std::string url_ = "https://10.0.0.1:6443";
};

// The HTTP status a selector byte stands for: mostly 200, sometimes one of
// the failures the client maps.
inline int StatusFromByte(uint8_t b) {
  static constexpr int kStatuses[] = {200, 201, 400, 401, 403, 404, 409,
                                      410, 422, 429, 500, 503, 504};
  if (b < 128) return 200;
  return kStatuses[b % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
}

}  // namespace kmesh::kube::fuzz

#endif  // KMESH_KUBE_FUZZ_FAKE_TRANSPORT_H_
