// KubeClient: the Kubernetes API as kmeshctl and the daemon use it. Objects
// travel as their JSON text (what the API server sends and accepts), so one
// small interface serves Secrets, Nodes, Namespaces, Pods and KmeshNodeInfo;
// typed access on top of it lives in typed_client.h; ProxyGet reaches an
// HTTP server in a pod through the API server (the pods/proxy subresource),
// as kmeshctl reaches each node's daemon. The production
// implementation is the REST client (rest_kube_client.h), which talks to a
// real API server or to the simulated one (sim/kube) over HTTP. Outcomes are
// absl::Status values whose codes a caller can act on; see kube_status.h.
#ifndef KMESH_KUBE_KUBE_CLIENT_H_
#define KMESH_KUBE_KUBE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace kmesh::kube {

// Which collection an operation addresses, e.g. secrets in core/v1.
struct ResourceKind {
  std::string group;    // "" for the core group.
  std::string version;  // "v1", "v1alpha1".
  std::string plural;   // "secrets", "kmeshnodeinfos".
  std::string kind;     // "Secret", "KmeshNodeInfo".
  bool namespaced = true;

  // "secrets" or "kmeshnodeinfos.kmesh.net", for messages.
  std::string DisplayName() const {
    return group.empty() ? plural : plural + "." + group;
  }
};

// The resources this product reads and writes.
const ResourceKind& SecretsKind();
const ResourceKind& NodesKind();
const ResourceKind& NamespacesKind();
const ResourceKind& PodsKind();
const ResourceKind& KmeshNodeInfosKind();

struct ListOptions {
  // Kubernetes label selector syntax: "a=b,c!=d,e".
  std::string label_selector;
  // Kubernetes field selector syntax: "spec.nodeName=node-1"; only the
  // fields the server supports for the kind (for pods: spec.nodeName,
  // metadata.name, metadata.namespace, status.phase, ...).
  std::string field_selector;
  // List only: at most this many items per page (0 = all at once); the
  // answer's continue_token asks for the next page.
  int64_t limit = 0;
  // List only: the continue token of the previous page ("" = first page).
  // An expired token fails OutOfRange (HTTP 410 Gone): list from the start.
  std::string continue_token;
  // For Watch: deliver events after this version ("" = from now).
  std::string resource_version;
  // Server-side timeout for a watch; 0 = the server's default.
  std::chrono::seconds timeout{0};
};

struct ObjectList {
  std::vector<std::string> items;  // Each item's JSON.
  std::string resource_version;    // The list's resourceVersion.
  // metadata.continue: "" on the last (or only) page.
  std::string continue_token;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// A watch event's object is its JSON text (`object`) or, from clients that
// decode each event line once (the REST client), the decoded JSON
// (`parsed`, then `object` is empty), so a consumer such as the reflector
// does not parse it again. ObjectText() gives the text either way.
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The object's JSON; for kError a metav1.Status.
  std::string object;
  // The same object decoded, or nullptr.
  std::shared_ptr<const nlohmann::json> parsed;

  // `object`, or `parsed` serialised when `object` is empty.
  std::string ObjectText() const;
};

// One watch connection. Events arrive in resourceVersion order.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks until the next event, the stream ends or `timeout` passes.
  // Returns DeadlineExceeded on timeout (the stream stays usable),
  // Unavailable when the connection ended, OutOfRange ("Gone", HTTP 410)
  // when the requested resourceVersion is too old.
  virtual absl::StatusOr<WatchEvent> Next(
      std::chrono::milliseconds timeout) = 0;
  // Ends the stream; a blocked Next() returns Cancelled. Thread-safe.
  virtual void Close() = 0;
};

// What a pod answered through the API server's pod proxy.
struct ProxyResponse {
  int code = 0;              // The pod's own HTTP status.
  std::string content_type;  // The pod's Content-Type ("" if none).
  std::string body;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // `ns` is ignored for cluster-scoped kinds.
  virtual absl::StatusOr<std::string> Get(const ResourceKind& kind,
                                          const std::string& ns,
                                          const std::string& name) = 0;
  virtual absl::StatusOr<ObjectList> List(const ResourceKind& kind,
                                          const std::string& ns,
                                          const ListOptions& options) = 0;
  // Returns the stored object (with resourceVersion, uid, timestamps).
  virtual absl::StatusOr<std::string> Create(const ResourceKind& kind,
                                             const std::string& ns,
                                             const std::string& object) = 0;
  // Replaces the object. When `object` carries metadata.resourceVersion and it
  // is not the current one, the result is Aborted (HTTP 409 Conflict).
  virtual absl::StatusOr<std::string> Update(const ResourceKind& kind,
                                             const std::string& ns,
                                             const std::string& name,
                                             const std::string& object) = 0;
  virtual absl::Status Delete(const ResourceKind& kind, const std::string& ns,
                              const std::string& name) = 0;
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind& kind, const std::string& ns,
      const ListOptions& options) = 0;

  // GET /api/v1/namespaces/{ns}/pods/{pod}[:{port}]/proxy{path_and_query}:
  // the pod's answer, whatever its status code. `port` 0 = the pod's first
  // declared container port. `path_and_query` starts with '/'; its path
  // segments are unescaped text (escaped here), its query is sent as given.
  // An error only when the API server itself failed: NotFound (no such
  // pod), PermissionDenied (RBAC: verb "get" on "pods/proxy"), Unavailable
  // (the pod cannot be reached, HTTP 503), InvalidArgument (a bad path, or
  // the pod has no usable IP). Clients that do not implement it answer
  // Unimplemented.
  virtual absl::StatusOr<ProxyResponse> ProxyGet(
      const std::string& /*ns*/, const std::string& /*pod*/, int /*port*/,
      const std::string& /*path_and_query*/) {
    return absl::UnimplementedError("this KubeClient has no pod proxy");
  }
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_KUBE_CLIENT_H_
