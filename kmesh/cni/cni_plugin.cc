#include "kmesh/cni/cni_plugin.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"
#include "kmesh/workload/managed_pods.h"

namespace kmesh::cni {
namespace {

CniError Error(int code, std::string msg, std::string details = "") {
  return CniError{code, std::move(msg), std::move(details)};
}

CniError StatusError(int code, const std::string& what,
                     const absl::Status& status) {
  return Error(code, absl::StrCat(what, ": ", status.message()));
}

CniOutcome Failure(const CniError& error, const std::string& version) {
  return CniOutcome{1, CniErrorJson(error, version)};
}

// Whether the pod the runtime names in CNI_ARGS is managed; nullopt when the
// invocation names no Kubernetes pod.
std::variant<bool, CniError> PodIsManaged(const CniRequest& request,
                                          const CniBackends& backends) {
  auto ns = request.args.find("K8S_POD_NAMESPACE");
  auto name = request.args.find("K8S_POD_NAME");
  if (ns == request.args.end() || name == request.args.end()) return false;
  absl::StatusOr<std::unique_ptr<kube::KubeClient>> client =
      backends.kube(request.conf);
  if (!client.ok()) {
    return StatusError(kCniTryAgainLater, "no access to the API server",
                       client.status());
  }
  const std::string pod_key = absl::StrCat(ns->second, "/", name->second);
  absl::StatusOr<std::string> pod_json =
      (*client)->Get(kube::PodsKind(), ns->second, name->second);
  if (!pod_json.ok()) {
    return StatusError(kCniTryAgainLater, absl::StrCat("read pod ", pod_key),
                       pod_json.status());
  }
  absl::StatusOr<api::Pod> pod = api::ParseJson<api::Pod>(*pod_json);
  if (!pod.ok()) {
    return StatusError(kCniTryAgainLater, absl::StrCat("parse pod ", pod_key),
                       pod.status());
  }
  absl::StatusOr<std::string> ns_json =
      (*client)->Get(kube::NamespacesKind(), "", ns->second);
  std::optional<api::Namespace> namespace_object;
  if (ns_json.ok()) {
    absl::StatusOr<api::Namespace> parsed =
        api::ParseJson<api::Namespace>(*ns_json);
    if (!parsed.ok()) {
      return StatusError(kCniTryAgainLater,
                         absl::StrCat("parse namespace ", ns->second),
                         parsed.status());
    }
    namespace_object = *parsed;
  } else if (!absl::IsNotFound(ns_json.status())) {
    return StatusError(kCniTryAgainLater,
                       absl::StrCat("read namespace ", ns->second),
                       ns_json.status());
  }
  return workload::IsManaged(
      pod->metadata().labels(),
      namespace_object ? &namespace_object->metadata().labels() : nullptr);
}

// The per-pod host interfaces of prevResult (bridges left out).
std::vector<std::string> PodHostInterfaces(const CniNetConf& conf,
                                           HostInterfaceMarker& marker) {
  std::vector<std::string> out;
  if (!conf.prev_result) return out;
  for (const std::string& ifname : HostInterfaces(*conf.prev_result)) {
    if (!marker.IsBridge(ifname)) out.push_back(ifname);
  }
  return out;
}

CniOutcome Add(const CniRequest& request, const CniBackends& backends) {
  const std::string& version = request.conf.cni_version;
  if (!request.conf.prev_result) {
    return Failure(
        Error(kCniInvalidConfig,
              "kmesh-cni is a chained plugin and got no prevResult",
              "list it in a conflist after the plugin that creates the pod's "
              "interface (ptp, bridge, ...)"),
        version);
  }
  std::variant<bool, CniError> managed = PodIsManaged(request, backends);
  if (auto* e = std::get_if<CniError>(&managed)) return Failure(*e, version);
  if (!std::get<bool>(managed)) {
    return CniOutcome{0, CniResultJson(request.conf)};
  }
  absl::StatusOr<std::unique_ptr<HostInterfaceMarker>> marker =
      backends.marker(request.conf);
  if (!marker.ok()) {
    return Failure(StatusError(kCniMarkerFailed, "encrypt marker unavailable",
                               marker.status()),
                   version);
  }
  const std::vector<std::string> interfaces =
      PodHostInterfaces(request.conf, **marker);
  if (interfaces.empty()) {
    return Failure(
        Error(kCniNoHostInterface,
              "the pod is managed by Kmesh but prevResult names no per-pod "
              "host interface to attach the encrypt marker to",
              "kmesh-cni needs a veth-based plugin before it (ptp, bridge)"),
        version);
  }
  for (const std::string& ifname : interfaces) {
    if (absl::Status s = (*marker)->AttachTo(ifname); !s.ok()) {
      return Failure(
          StatusError(kCniMarkerFailed,
                      absl::StrCat("attach the encrypt marker to ", ifname), s),
          version);
    }
  }
  return CniOutcome{0, CniResultJson(request.conf)};
}

CniOutcome Del(const CniRequest& request, const CniBackends& backends) {
  const std::string& version = request.conf.cni_version;
  if (!request.conf.prev_result) return CniOutcome{0, ""};  // Nothing known.
  absl::StatusOr<std::unique_ptr<HostInterfaceMarker>> marker =
      backends.marker(request.conf);
  if (!marker.ok()) {
    return Failure(StatusError(kCniMarkerFailed, "encrypt marker unavailable",
                               marker.status()),
                   version);
  }
  for (const std::string& ifname : PodHostInterfaces(request.conf, **marker)) {
    if (absl::Status s = (*marker)->DetachFrom(ifname); !s.ok()) {
      return Failure(
          StatusError(kCniMarkerFailed,
                      absl::StrCat("detach the encrypt marker from ", ifname),
                      s),
          version);
    }
  }
  return CniOutcome{0, ""};
}

CniOutcome Check(const CniRequest& request, const CniBackends& backends) {
  const std::string& version = request.conf.cni_version;
  if (!request.conf.prev_result) {
    return Failure(Error(kCniInvalidConfig, "CHECK needs a prevResult"),
                   version);
  }
  std::variant<bool, CniError> managed = PodIsManaged(request, backends);
  if (auto* e = std::get_if<CniError>(&managed)) return Failure(*e, version);
  if (!std::get<bool>(managed)) return CniOutcome{0, ""};
  absl::StatusOr<std::unique_ptr<HostInterfaceMarker>> marker =
      backends.marker(request.conf);
  if (!marker.ok()) {
    return Failure(StatusError(kCniMarkerFailed, "encrypt marker unavailable",
                               marker.status()),
                   version);
  }
  const std::vector<std::string> interfaces =
      PodHostInterfaces(request.conf, **marker);
  if (interfaces.empty()) {
    return Failure(Error(kCniNoHostInterface,
                         "the pod is managed by Kmesh but prevResult names "
                         "no per-pod host interface"),
                   version);
  }
  for (const std::string& ifname : interfaces) {
    absl::StatusOr<bool> attached = (*marker)->IsAttached(ifname);
    if (!attached.ok()) {
      return Failure(
          StatusError(kCniMarkerFailed,
                      absl::StrCat("inspect the encrypt marker on ", ifname),
                      attached.status()),
          version);
    }
    if (!*attached) {
      return Failure(Error(kCniMarkerNotAttached,
                           absl::StrCat("the pod is managed by Kmesh but ",
                                        ifname, " has no encrypt marker")),
                     version);
    }
  }
  return CniOutcome{0, ""};
}

}  // namespace

CniOutcome RunCniPlugin(const std::map<std::string, std::string>& env,
                        const std::string& stdin_text,
                        const CniBackends& backends) {
  std::variant<CniRequest, CniError> parsed = ParseCniRequest(env, stdin_text);
  if (auto* e = std::get_if<CniError>(&parsed)) {
    return Failure(*e, SupportedCniVersions().back());
  }
  const CniRequest& request = std::get<CniRequest>(parsed);
  switch (request.command) {
    case CniCommand::kVersion:
      return CniOutcome{0, CniVersionJson(request.requested_version)};
    case CniCommand::kAdd:
      return Add(request, backends);
    case CniCommand::kDel:
      return Del(request, backends);
    case CniCommand::kCheck:
      return Check(request, backends);
  }
  return Failure(Error(kCniInvalidEnvironment, "unknown command"),
                 request.conf.cni_version);
}

absl::StatusOr<std::unique_ptr<kube::KubeClient>> KubeClientForNetConf(
    const CniNetConf& conf) {
  absl::StatusOr<kube::ClusterAccess> access = kube::FindClusterAccess(
      kube::ClusterAccessSearch::FromProcess(conf.kubeconfig));
  if (!access.ok()) return access.status();
  kube::RestKubeClientOptions options;
  // The runtime waits for the plugin: a few quick retries, then give up
  // (kubelet retries the whole sandbox).
  options.max_attempts = 3;
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(*access, options);
  if (!client.ok()) return client.status();
  return std::unique_ptr<kube::KubeClient>(std::move(*client));
}

}  // namespace kmesh::cni
