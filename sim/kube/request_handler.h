// RequestHandler: the Kubernetes REST API on top of an ObjectStore, free of
// any transport. It maps a request (method, path, query, body) to the
// resource and verb it names, performs it, and returns the response the real
// API server would send: the object or list JSON, a metav1.Status on error,
// discovery documents, or, for a watch, the watcher whose events the
// transport streams. Lists and watches follow kube-apiserver 1.32: query
// parameters decoded by the parameter codec's rules, ListOptions validation,
// paginated lists with etcd3 continue tokens, field selectors per type
// (selectable_fields.h), BOOKMARK events (docs/decisions.md has the
// details). api_server.h puts it on the network. The one request it
// sends on itself is the pod proxy subresource's (pod_proxy.h): that one is
// relayed to the pod and its answer returned.
#ifndef SIM_KUBE_REQUEST_HANDLER_H_
#define SIM_KUBE_REQUEST_HANDLER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sim/kube/object_store.h"
#include "sim/kube/pod_proxy.h"

namespace kmesh::sim::kube {

struct ApiRequest {
  std::string method;         // "GET", "HEAD", "POST", "PUT", "PATCH", ...
  std::string path;           // Percent-decoded, without the query.
  std::string query;          // Raw, without '?'.
  std::string content_type;   // For POST/PUT/PATCH.
  std::string authorization;  // The Authorization header, if any.
  std::string body;
  // Every header as received (what the pod proxy forwards).
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiResponse {
  int code = 200;
  // "" = no Content-Type header (a redirect, a proxied answer without one).
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Send the body with chunked transfer encoding (a watch that ends at
  // once, e.g. with a 410 ERROR event).
  bool chunked = false;
  // For a watch: the events to stream until watch_deadline (code 200).
  std::unique_ptr<ObjectStore::Watcher> watcher;
  std::chrono::steady_clock::time_point watch_deadline;
  // allowWatchBookmarks: the BOOKMARK line for a resourceVersion, sent
  // every bookmark_interval and 2 s before watch_deadline (the cacher's
  // nextBookmarkTime); null when bookmarks were not asked for.
  std::function<std::string(uint64_t resource_version)> bookmark_line;
  std::chrono::steady_clock::duration bookmark_interval{};
};

// metav1.ListOptions as the parameter codec decodes a list or watch query:
// booleans as runtime.Convert_Slice_string_To_bool reads them, integers as
// strconv.ParseInt (its error text in a 400).
struct ListQuery {
  std::string label_selector;
  std::string field_selector;
  bool watch = false;
  bool allow_watch_bookmarks = false;
  std::string resource_version;
  std::string resource_version_match;
  std::optional<int64_t> timeout_seconds;
  int64_t limit = 0;
  std::string continue_token;
  std::optional<bool> send_initial_events;
};

// What a request addresses, as authorization sees it.
struct ApiTarget {
  bool is_resource = false;  // False for discovery and other paths.
  const ResourceType* type = nullptr;
  std::string ns;
  std::string name;
  // "status", "proxy" (pods only) or "".
  std::string subresource;
  // For "proxy": the path after ".../proxy/", as the request spelled it.
  std::string proxy_path;
  // get, list, watch, create, update, patch, delete, deletecollection; for
  // pods/proxy the verb the HTTP method maps to, as the real server's
  // RequestInfoFactory maps it (GET and HEAD: get, POST: create, PUT:
  // update, PATCH: patch, DELETE: delete, OPTIONS: "").
  std::string verb;
  absl::Status error;  // Set when the path or method is not served.
};

class RequestHandler {
 public:
  // `store` must outlive the handler. `host_port` ("127.0.0.1:6443") is
  // what discovery reports as the server address.
  RequestHandler(ObjectStore* store, std::chrono::seconds default_watch_timeout,
                 std::string host_port, PodProxyOptions pod_proxy = {});

  // How often a watch that allows bookmarks gets one (the cacher's
  // defaultBookmarkFrequency, a minute); shorter in tests.
  void SetBookmarkInterval(std::chrono::steady_clock::duration interval) {
    bookmark_interval_ = interval;
  }

  ApiTarget Resolve(const ApiRequest& request) const;
  ApiResponse Handle(const ApiRequest& request, const ApiTarget& target);

  // The error response for `status` (a metav1.Status body).
  static ApiResponse ErrorResponse(const absl::Status& status);
  // One line of a watch stream: {"object":{...},"type":"ADDED"}, the object
  // serialised once for every watch that sends it.
  static std::string WatchEventLine(const WatchEvent& event);
  // The ERROR line a watch stream carries for `status` (e.g. 410 Expired).
  static std::string WatchErrorLine(const absl::Status& status);

 private:
  ApiResponse Discovery(const std::vector<std::string>& segments) const;
  // /openapi/v3 and /openapi/v3/<group-version> (`rest` after "v3").
  ApiResponse OpenApiV3(const std::vector<std::string>& rest,
                        const std::vector<ResourceType>& types) const;
  ApiResponse HandleResource(const ApiRequest& request, const ApiTarget& target,
                             const std::map<std::string, std::string>& query);
  nlohmann::json ListObject(const ResourceType& type,
                            const ListResult& list) const;
  // A list: from the "watch cache" (whole, latest) or, for a continue
  // token, a limit or an Exact match, from "etcd" (paginated, at a
  // resourceVersion), as the cacher's shouldDelegateList decides.
  ApiResponse List(const ResourceType& type, const std::string& ns,
                   const ListFilter& filter, const ListQuery& options);
  ApiResponse Watch(const ResourceType& type, const std::string& ns,
                    const ListFilter& filter, const ListQuery& options);
  // pods/{id}/proxy: ProxyREST.Connect and pod.ResourceLocation.
  ApiResponse PodProxy(const ApiRequest& request, const ApiTarget& target);

  ObjectStore* const store_;
  const std::chrono::seconds default_watch_timeout_;
  const std::string host_port_;
  const PodProxyOptions pod_proxy_;
  std::chrono::steady_clock::duration bookmark_interval_ =
      std::chrono::minutes(1);
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`).
std::string PercentDecode(const std::string& text, bool plus_is_space);
// Splits "a=1&b=x%3Dy" into decoded pairs; of a repeated key the first
// value counts (url.Values.Get).
std::map<std::string, std::string> ParseQuery(const std::string& query);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_REQUEST_HANDLER_H_
