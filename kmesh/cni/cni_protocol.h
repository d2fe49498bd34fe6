// The CNI protocol as a plugin sees it (CNI specification, versions 0.3.0 to
// 1.0.0): the command and container from the CNI_* environment variables,
// the network configuration (with the previous plugin's result, prevResult)
// from stdin, and the replies: a result, a VERSION answer, or the spec's
// error object {cniVersion, code, msg, details} with its well-known codes.
// Parsing rejects what the spec says a plugin must reject (an unknown
// command, a missing variable, a version it does not support, CHECK before
// 0.4.0), each with the code the spec gives it.
#ifndef KMESH_CNI_CNI_PROTOCOL_H_
#define KMESH_CNI_CNI_PROTOCOL_H_

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "nlohmann/json.hpp"

namespace kmesh::cni {

enum class CniCommand { kAdd, kDel, kCheck, kVersion };

// Error codes: 1-99 from the specification, 100 and up this plugin's own.
enum CniErrorCode : int {
  kCniIncompatibleVersion = 1,
  kCniUnsupportedField = 2,
  kCniUnknownContainer = 3,
  kCniInvalidEnvironment = 4,
  kCniIoFailure = 5,
  kCniDecodeFailure = 6,
  kCniInvalidConfig = 7,
  kCniTryAgainLater = 11,
  // The pod is managed and the encrypt marker could not be attached (ADD
  // fails closed) or detached.
  kCniMarkerFailed = 100,
  // CHECK: the pod is managed and its interface has no encrypt marker.
  kCniMarkerNotAttached = 101,
  // The pod is managed and prevResult names no per-pod host interface.
  kCniNoHostInterface = 102,
};

struct CniError {
  int code = 0;
  std::string msg;
  std::string details;
};

// The versions this plugin speaks, oldest first.
const std::vector<std::string>& SupportedCniVersions();

// The plugin's network configuration (its entry of a conflist, as the
// runtime passes it, prevResult included).
struct CniNetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  // Where the plugin reads pods and namespaces ("kubeconfig"); empty: the
  // default search (in-cluster, $KUBECONFIG, ~/.kube/config).
  std::string kubeconfig;
  // Where kmesh-daemon pins the encrypt marker ("bpfPinDir").
  std::string bpf_pin_dir = "/sys/fs/bpf/kmesh-ipsec";
  std::optional<nlohmann::json> prev_result;
};

struct CniRequest {
  CniCommand command = CniCommand::kVersion;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string path;
  // CNI_ARGS, e.g. K8S_POD_NAMESPACE, K8S_POD_NAME.
  std::map<std::string, std::string> args;
  CniNetConf conf;
  // VERSION: the cniVersion of stdin, when given.
  std::string requested_version;
};

// Parses the invocation. Errors carry the spec's code.
std::variant<CniRequest, CniError> ParseCniRequest(
    const std::map<std::string, std::string>& env,
    const std::string& stdin_text);

// The host-side interfaces of prevResult (those without a "sandbox").
std::vector<std::string> HostInterfaces(const nlohmann::json& prev_result);

// What the plugin prints.
std::string CniErrorJson(const CniError& error, const std::string& version);
std::string CniVersionJson(const std::string& requested_version);
// A chained plugin's result: prevResult, in the configuration's version.
std::string CniResultJson(const CniNetConf& conf);

}  // namespace kmesh::cni

#endif  // KMESH_CNI_CNI_PROTOCOL_H_
