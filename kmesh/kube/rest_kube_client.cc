#include "kmesh/kube/rest_kube_client.h"

#include <openssl/mem.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kmesh/base/backoff.h"
#include "kmesh/base/json_depth.h"
#include "kmesh/kube/kube_status.h"
#include "nlohmann/json.hpp"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using Json = nlohmann::json;

constexpr char kJsonContentType[] = "application/json";
// How much of an error body is read from a watch request that failed.
constexpr size_t kMaxErrorBody = 1 << 20;
// How much of a non-JSON error body is quoted in a message.
constexpr size_t kMaxQuotedBody = 300;

// Members read without exceptions: a field of an unexpected type reads as
// absent (nlohmann's value() would throw).
std::string StringMember(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int IntMember(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

bool IsSuccess(int code) { return code >= 200 && code < 300; }

// An object the server sent, for the caller to decode: refused when nested
// too deep for the recursive code that will meet it.
absl::StatusOr<std::string> ObjectBody(const std::string& server,
                                       const HttpRequest& request,
                                       std::string body) {
  if (absl::Status depth = CheckJsonDepth(body); !depth.ok()) {
    return absl::InternalError(absl::StrCat(
        "the API server at ", server, " answered ", request.method, " ",
        request.target, " with an object that was refused: ", depth.message()));
  }
  return body;
}

// Objects written may carry key material (the IPsec Secret): the request's
// copy is wiped once sent. What the caller passed in stays the caller's.
void WipeBody(HttpRequest* request) {
  OPENSSL_cleanse(request->body.data(), request->body.size());
  request->body.clear();
}

std::string ApiVersion(const ResourceKind& kind) {
  return kind.group.empty() ? kind.version
                            : absl::StrCat(kind.group, "/", kind.version);
}

absl::Status NeedNamespace(const ResourceKind& kind, const std::string& ns) {
  if (kind.namespaced && ns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind.DisplayName(), " are namespaced: a namespace is required"));
  }
  return absl::OkStatus();
}

std::string QueryString(const ListOptions& options, bool watch) {
  std::string query;
  auto add = [&query](absl::string_view key, const std::string& value) {
    absl::StrAppend(&query, query.empty() ? "?" : "&", key, "=",
                    UrlEncode(value));
  };
  if (watch) {
    add("watch", "1");
    add("allowWatchBookmarks", "true");
  }
  if (!options.label_selector.empty()) {
    add("labelSelector", options.label_selector);
  }
  if (!options.field_selector.empty()) {
    add("fieldSelector", options.field_selector);
  }
  if (!watch && options.limit > 0) {
    add("limit", std::to_string(options.limit));
  }
  if (!watch && !options.continue_token.empty()) {
    add("continue", options.continue_token);
  }
  if (!options.resource_version.empty()) {
    add("resourceVersion", options.resource_version);
  }
  if (options.timeout.count() > 0) {
    add("timeoutSeconds", std::to_string(options.timeout.count()));
  }
  return query;
}

// The server's reason and message from a metav1.Status body, or a quote of
// whatever else it sent.
void ParseStatusBody(const std::string& body, std::string* reason,
                     std::string* message) {
  Json status = ParseJsonWithinDepth(body);
  if (status.is_object()) {
    auto reason_it = status.find("reason");
    if (reason_it != status.end() && reason_it->is_string()) {
      *reason = reason_it->get<std::string>();
    }
    auto message_it = status.find("message");
    if (message_it != status.end() && message_it->is_string()) {
      *message = message_it->get<std::string>();
    }
  }
  if (message->empty()) {
    std::string quoted(absl::StripAsciiWhitespace(body));
    if (quoted.size() > kMaxQuotedBody) {
      quoted = absl::StrCat(quoted.substr(0, kMaxQuotedBody), "...");
    }
    *message = quoted.empty() ? "no message" : quoted;
  }
}

// A watch connection: the transport's I/O thread hands over the chunked
// body as it arrives (no thread of the stream's own); it is split into lines
// (one JSON event each), each decoded once, and the events are queued for
// Next() with their decoded objects (WatchEvent::parsed; nothing is
// re-serialised). The queue is bounded: once it holds `max_queued` events
// the I/O thread stops reading this connection (TCP then pushes back on the
// server) and Next() starts it again when the queue has drained to half;
// nothing is dropped.
class RestWatchStream : public WatchStream {
 public:
  RestWatchStream(std::unique_ptr<HttpResponseStream> body, std::string server,
                  size_t max_line, size_t max_queued)
      : body_(std::move(body)),
        server_(std::move(server)),
        max_line_(max_line),
        max_queued_(std::max<size_t>(1, max_queued)) {
    StartReading();
  }

  ~RestWatchStream() override {
    Close();
    // Waits for the I/O thread to be done with this stream.
    body_.reset();
  }

  absl::StatusOr<WatchEvent> Next(milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || !events_.empty() || end_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout));
    if (closed_) return absl::CancelledError("watch closed");
    if (!events_.empty()) {
      WatchEvent event = std::move(events_.front());
      events_.pop_front();
      if (paused_ && events_.size() <= max_queued_ / 2 && !end_.has_value()) {
        // Resumed without the lock: StartReading may wait for the I/O
        // thread to finish the pause.
        paused_ = false;
        mu_.Unlock();
        StartReading();
        mu_.Lock();
      }
      return event;
    }
    if (end_.has_value()) return *end_;
    return absl::DeadlineExceededError(
        absl::StrCat("no watch event within ", timeout.count(), " ms"));
  }

  void Close() override {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    if (body_ != nullptr) body_->Cancel();
  }

 private:
  void StartReading() {
    body_->StartReading(
        [this](absl::StatusOr<std::string> data) { return OnData(data); });
  }

  // One piece of the body, or how it ended; false when the stream is
  // finished. On the I/O thread, one call at a time.
  bool OnData(const absl::StatusOr<std::string>& data) {
    if (!data.ok()) {
      Finish(absl::IsCancelled(data.status())
                 ? data.status()
                 : absl::UnavailableError(data.status().message()));
      return false;
    }
    if (data->empty()) {
      // A last event without a trailing newline still counts.
      if (!HandleLine(pending_)) return false;
      Finish(absl::UnavailableError(
          absl::StrCat("the API server at ", server_, " ended the watch")));
      return false;
    }
    pending_.append(*data);
    size_t start = 0;
    for (;;) {
      const size_t newline = pending_.find('\n', scanned_);
      if (newline == std::string::npos) break;
      if (!HandleLine(
              absl::string_view(pending_).substr(start, newline - start))) {
        return false;
      }
      start = newline + 1;
      scanned_ = start;
    }
    pending_.erase(0, start);
    scanned_ = pending_.size();
    if (pending_.size() > max_line_) {
      Finish(absl::UnavailableError(
          absl::StrCat("a watch event from the API server at ", server_,
                       " is longer than ", max_line_, " bytes")));
      return false;
    }
    // Back-pressure: a full queue stops reading until Next() drains it.
    absl::MutexLock lock(&mu_);
    if (events_.size() >= max_queued_ && !closed_) {
      paused_ = true;
      return false;
    }
    return true;
  }

  // Queues one event line; false when the stream is finished.
  bool HandleLine(absl::string_view line) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) return true;
    // Nesting is bounded before anything recursive (the consumer's dump(),
    // copies) can meet it.
    if (absl::Status depth = CheckJsonDepth(line); !depth.ok()) {
      Finish(absl::UnavailableError(
          absl::StrCat("refused a watch event from the API server at ", server_,
                       ": ", depth.message())));
      return false;
    }
    Json event = Json::parse(line.begin(), line.end(), nullptr,
                             /*allow_exceptions=*/false);
    // Lines are parsed once; the object is moved out of the event below.
    auto type_it = event.is_object() ? event.find("type") : event.end();
    auto object_it = event.is_object() ? event.find("object") : event.end();
    if (!event.is_object() || type_it == event.end() || !type_it->is_string() ||
        object_it == event.end() || !object_it->is_object()) {
      Finish(absl::UnavailableError(absl::StrCat(
          "malformed watch event from the API server at ", server_)));
      return false;
    }
    const std::string type = type_it->get<std::string>();
    WatchEvent out;
    if (type == "ADDED") {
      out.type = WatchEventType::kAdded;
    } else if (type == "MODIFIED") {
      out.type = WatchEventType::kModified;
    } else if (type == "DELETED") {
      out.type = WatchEventType::kDeleted;
    } else if (type == "BOOKMARK") {
      out.type = WatchEventType::kBookmark;
    } else if (type == "ERROR") {
      const int code = IntMember(*object_it, "code");
      if (code == 410) {
        std::string reason = StringMember(*object_it, "reason");
        std::string message = StringMember(*object_it, "message");
        if (message.empty()) message = "no message";
        Finish(StatusFromHttp(
            410, reason, absl::StrCat(message, " (watch on ", server_, ")")));
        return false;
      }
      out.type = WatchEventType::kError;
    } else {
      Finish(absl::UnavailableError(
          absl::StrCat("unknown watch event type \"", type,
                       "\" from the API server at ", server_)));
      return false;
    }
    out.parsed = std::make_shared<const Json>(std::move(*object_it));
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(out));
    return true;
  }

  void Finish(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (!end_.has_value()) end_ = std::move(status);
  }

  std::unique_ptr<HttpResponseStream> body_;
  const std::string server_;
  const size_t max_line_;
  const size_t max_queued_;
  // Used by OnData only (the I/O thread).
  std::string pending_;
  size_t scanned_ = 0;  // pending_[0, scanned_) holds no newline.
  absl::Mutex mu_;
  std::deque<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // OnData stopped reading because the queue was full.
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
};

// True unless `response` is the API server's own failure: a metav1.Status
// (kind Status, apiVersion v1, status Failure), which is what the server
// sends for a missing pod, a refused request or an unreachable pod.
bool IsPodAnswer(const HttpResponse& response) {
  Json body = ParseJsonWithinDepth(response.body);
  return !(StringMember(body, "kind") == "Status" &&
           StringMember(body, "apiVersion") == "v1" &&
           StringMember(body, "status") == "Failure");
}

// Percent-encodes what may not appear in a query as it is (controls, space,
// non-ASCII, '#'); the rest, '%' escapes included, is the caller's.
std::string EscapeQuery(absl::string_view query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : query) {
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> PodProxyTarget(const std::string& ns,
                                           const std::string& pod, int port,
                                           const std::string& path_and_query) {
  if (absl::Status s = NeedNamespace(PodsKind(), ns); !s.ok()) return s;
  if (pod.empty() || pod.find_first_of(":/") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad pod name \"", pod, "\" for the pod proxy"));
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port ", port, " for the pod proxy"));
  }
  if (path_and_query.empty() || path_and_query[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "the pod proxy path must start with '/': \"", path_and_query, "\""));
  }
  const size_t question = path_and_query.find('?');
  const std::string path = path_and_query.substr(0, question);
  std::string target =
      absl::StrCat(ResourcePath(PodsKind(), ns, ""), "/", UrlEncode(pod));
  if (port != 0) absl::StrAppend(&target, ":", port);
  absl::StrAppend(&target, "/proxy");
  // Segment by segment after the leading '/'; "." and ".." would be resolved
  // differently by different servers, so they are refused.
  for (absl::string_view segment :
       absl::StrSplit(absl::string_view(path).substr(1), '/')) {
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "the pod proxy path may not hold \".\" or \"..\": \"", path, "\""));
    }
    absl::StrAppend(&target, "/", UrlEncode(std::string(segment)));
  }
  if (question != std::string::npos && question + 1 < path_and_query.size()) {
    absl::StrAppend(
        &target, "?",
        EscapeQuery(absl::string_view(path_and_query).substr(question + 1)));
  }
  return target;
}

std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string ResourcePath(const ResourceKind& kind, const std::string& ns,
                         const std::string& name) {
  std::string path = kind.group.empty() ? absl::StrCat("/api/", kind.version)
                                        : absl::StrCat("/apis/", kind.group,
                                                       "/", kind.version);
  if (kind.namespaced && !ns.empty()) {
    absl::StrAppend(&path, "/namespaces/", UrlEncode(ns));
  }
  absl::StrAppend(&path, "/", kind.plural);
  if (!name.empty()) absl::StrAppend(&path, "/", UrlEncode(name));
  return path;
}

absl::StatusOr<std::unique_ptr<RestKubeClient>> RestKubeClient::ForCluster(
    const ClusterAccess& access, RestKubeClientOptions options) {
  if (absl::Status s = CheckCredentialsNotInClear(access); !s.ok()) return s;
  // An exec plugin's client certificate goes into the TLS context.
  absl::StatusOr<ClusterAccess> with_cert = WithExecClientCertificate(access);
  if (!with_cert.ok()) return with_cert.status();
  absl::StatusOr<std::unique_ptr<HttpTransport>> transport =
      HttpTransport::Create(*with_cert, options.transport);
  if (!transport.ok()) return transport.status();
  auto client = std::make_unique<RestKubeClient>(*std::move(transport),
                                                 std::move(options));
  client->exec_ = access.exec_credentials;
  return client;
}

absl::StatusOr<HttpResponse> RestKubeClient::RoundTripAuthenticated(
    const HttpRequest& request) {
  uint64_t generation = 0;
  if (exec_ != nullptr) {
    if (absl::Status s = exec_->Get(&generation).status(); !s.ok()) return s;
  }
  absl::StatusOr<HttpResponse> response = transport_->RoundTrip(request);
  if (exec_ == nullptr || !response.ok() || response->status != 401) {
    return response;
  }
  // client-go re-runs the plugin after a 401; we also retry the request
  // once with the new credential.
  exec_->RefreshAfterUnauthorized(generation);
  if (absl::Status s = exec_->Get().status(); !s.ok()) return s;
  return transport_->RoundTrip(request);
}

absl::StatusOr<std::unique_ptr<HttpResponseStream>>
RestKubeClient::OpenStreamAuthenticated(const HttpRequest& request,
                                        milliseconds idle_timeout) {
  uint64_t generation = 0;
  if (exec_ != nullptr) {
    if (absl::Status s = exec_->Get(&generation).status(); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      transport_->OpenStream(request, idle_timeout);
  if (exec_ == nullptr || !stream.ok() || (*stream)->status() != 401) {
    return stream;
  }
  stream->reset();
  exec_->RefreshAfterUnauthorized(generation);
  if (absl::Status s = exec_->Get().status(); !s.ok()) return s;
  return transport_->OpenStream(request, idle_timeout);
}

RestKubeClient::RestKubeClient(std::unique_ptr<HttpTransport> transport,
                               RestKubeClientOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {
  // As the transport clamps it; Watch() adds it to the server's timeout.
  options_.transport.request_timeout =
      ClampTimeout(options_.transport.request_timeout);
  if (!options_.sleep) {
    options_.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
  }
  options_.max_attempts = std::max(1, options_.max_attempts);
}

RestKubeClient::~RestKubeClient() = default;

absl::Status RestKubeClient::ErrorFromResponse(
    const HttpRequest& request, const HttpResponse& response) const {
  std::string reason, message;
  ParseStatusBody(response.body, &reason, &message);
  return StatusFromHttp(response.status, reason,
                        absl::StrCat(message, " (", request.method, " ",
                                     server_url(), request.target, ")"));
}

absl::StatusOr<HttpResponse> RestKubeClient::Call(const HttpRequest& request,
                                                  Idempotency idempotency,
                                                  ResultFilter result) {
  const bool read = idempotency == Idempotency::kRead;
  absl::Status last;
  Backoff backoff({options_.retry_base_delay, options_.retry_max_delay, 2.0,
                   options_.retry_jitter},
                  options_.retry_uniform);
  for (int attempt = 1;; ++attempt) {
    milliseconds delay = backoff.Next();
    bool retry = false;
    absl::StatusOr<HttpResponse> response = RoundTripAuthenticated(request);
    if (!response.ok()) {
      last = response.status();
      // TLS refusals and the like are not transient.
      retry = absl::IsUnavailable(last) && (read || RequestNotSent(last));
    } else if (IsSuccess(response->status) ||
               (result != nullptr && result(*response))) {
      return response;
    } else {
      last = ErrorFromResponse(request, *response);
      const int code = response->status;
      retry =
          read ? (code == 429 || code >= 500) : (code == 429 || code == 503);
      int retry_after = 0;
      if (retry && absl::SimpleAtoi(response->retry_after, &retry_after) &&
          retry_after >= 0) {
        delay = std::min(options_.retry_max_delay,
                         milliseconds(int64_t{retry_after} * 1000));
      }
    }
    if (!retry || attempt >= options_.max_attempts) return last;
    options_.sleep(delay);
  }
}

absl::StatusOr<std::string> RestKubeClient::Get(const ResourceKind& kind,
                                                const std::string& ns,
                                                const std::string& name) {
  if (absl::Status s = NeedNamespace(kind, ns); !s.ok()) return s;
  HttpRequest request{"GET", ResourcePath(kind, ns, name), "", ""};
  absl::StatusOr<HttpResponse> response = Call(request, Idempotency::kRead);
  if (!response.ok()) return response.status();
  return ObjectBody(server_url(), request, std::move(response->body));
}

absl::StatusOr<ObjectList> RestKubeClient::List(const ResourceKind& kind,
                                                const std::string& ns,
                                                const ListOptions& options) {
  ListOptions list_options = options;
  list_options.timeout = std::chrono::seconds(0);
  HttpRequest request{
      "GET",
      ResourcePath(kind, ns, "") + QueryString(list_options, /*watch=*/false),
      "", ""};
  absl::StatusOr<HttpResponse> response = Call(request, Idempotency::kRead);
  if (!response.ok()) return response.status();
  if (absl::Status depth = CheckJsonDepth(response->body); !depth.ok()) {
    return absl::InternalError(
        absl::StrCat("the API server at ", server_url(), " sent a list for ",
                     request.target, " that was refused: ", depth.message()));
  }
  Json list = Json::parse(response->body, nullptr, false);
  auto items = list.is_object() ? list.find("items") : list.end();
  if (!list.is_object() ||
      (items != list.end() && !items->is_array() && !items->is_null())) {
    return absl::InternalError(absl::StrCat("the API server at ", server_url(),
                                            " sent a malformed list for ",
                                            request.target));
  }
  ObjectList result;
  auto metadata = list.find("metadata");
  if (metadata != list.end()) {
    result.resource_version = StringMember(*metadata, "resourceVersion");
    result.continue_token = StringMember(*metadata, "continue");
  }
  if (items != list.end() && items->is_array()) {
    const std::string api_version = ApiVersion(kind);
    for (Json& item : *items) {
      // List items come without apiVersion/kind; fill them in so an object
      // from a list reads like one from a get or a watch.
      if (item.is_object()) {
        if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
        if (!item.contains("kind")) item["kind"] = kind.kind;
      }
      result.items.push_back(item.dump());
    }
  }
  return result;
}

absl::StatusOr<std::string> RestKubeClient::Create(const ResourceKind& kind,
                                                   const std::string& ns,
                                                   const std::string& object) {
  if (absl::Status s = NeedNamespace(kind, ns); !s.ok()) return s;
  HttpRequest request{"POST", ResourcePath(kind, ns, ""), object,
                      kJsonContentType};
  absl::StatusOr<HttpResponse> response = Call(request, Idempotency::kWrite);
  WipeBody(&request);
  if (!response.ok()) return response.status();
  return ObjectBody(server_url(), request, std::move(response->body));
}

absl::StatusOr<std::string> RestKubeClient::Update(const ResourceKind& kind,
                                                   const std::string& ns,
                                                   const std::string& name,
                                                   const std::string& object) {
  if (absl::Status s = NeedNamespace(kind, ns); !s.ok()) return s;
  HttpRequest request{"PUT", ResourcePath(kind, ns, name), object,
                      kJsonContentType};
  absl::StatusOr<HttpResponse> response = Call(request, Idempotency::kWrite);
  WipeBody(&request);
  if (!response.ok()) return response.status();
  return ObjectBody(server_url(), request, std::move(response->body));
}

absl::Status RestKubeClient::Delete(const ResourceKind& kind,
                                    const std::string& ns,
                                    const std::string& name) {
  if (absl::Status s = NeedNamespace(kind, ns); !s.ok()) return s;
  HttpRequest request{"DELETE", ResourcePath(kind, ns, name), "", ""};
  return Call(request, Idempotency::kWrite).status();
}

absl::StatusOr<ProxyResponse> RestKubeClient::ProxyGet(
    const std::string& ns, const std::string& pod, int port,
    const std::string& path_and_query) {
  absl::StatusOr<std::string> target =
      PodProxyTarget(ns, pod, port, path_and_query);
  if (!target.ok()) return target.status();
  HttpRequest request{"GET", *std::move(target), "", ""};
  // Tried once, never retried: a pod that cannot be reached (the API
  // server's 503 after its own dial timeout, or our request timeout) would
  // cost every attempt in full, and the caller (kmeshctl) would rather
  // report the node than wait minutes for it.
  absl::StatusOr<HttpResponse> response = RoundTripAuthenticated(request);
  if (response.ok() && !IsSuccess(response->status) &&
      !IsPodAnswer(*response)) {
    response = ErrorFromResponse(request, *response);
  }
  if (!response.ok()) {
    const absl::Status& failed = response.status();
    if (absl::IsNotFound(failed)) {
      return absl::NotFoundError(
          absl::StrCat("pod ", ns, "/", pod, " not found: ", failed.message()));
    }
    if (absl::IsPermissionDenied(failed)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "not allowed to reach pod ", ns, "/", pod,
          " through the API server: RBAC must grant the verb \"get\" on the "
          "resource \"pods/proxy\" in the namespace \"",
          ns, "\": ", failed.message()));
    }
    return failed;
  }
  return ProxyResponse{response->status, std::move(response->content_type),
                       std::move(response->body)};
}

absl::StatusOr<std::unique_ptr<WatchStream>> RestKubeClient::Watch(
    const ResourceKind& kind, const std::string& ns,
    const ListOptions& options) {
  HttpRequest request{
      "GET", ResourcePath(kind, ns, "") + QueryString(options, /*watch=*/true),
      "", ""};
  // A server-side timeout bounds the stream; without one, a silent
  // connection is only noticed by the caller's own timeouts.
  const milliseconds idle_timeout =
      options.timeout.count() > 0
          ? milliseconds(options.timeout) + options_.transport.request_timeout
          : milliseconds(0);
  absl::StatusOr<std::unique_ptr<HttpResponseStream>> stream =
      OpenStreamAuthenticated(request, idle_timeout);
  if (!stream.ok()) return stream.status();
  if (!IsSuccess((*stream)->status())) {
    HttpResponse response;
    response.status = (*stream)->status();
    while (response.body.size() < kMaxErrorBody) {
      absl::StatusOr<std::string> data = (*stream)->ReadSome();
      if (!data.ok() || data->empty()) break;
      response.body.append(*data);
    }
    return ErrorFromResponse(request, response);
  }
  return std::unique_ptr<WatchStream>(
      new RestWatchStream(*std::move(stream), server_url(),
                          options_.max_watch_line, options_.max_queued_events));
}

}  // namespace kmesh::kube
