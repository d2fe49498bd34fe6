#include "kmesh/cni/cni_protocol.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kmesh/base/json_depth.h"

namespace kmesh::cni {
namespace {

using Json = nlohmann::json;

CniError Error(int code, std::string msg, std::string details = "") {
  return CniError{code, std::move(msg), std::move(details)};
}

// "0.4.0" -> (0, 4, 0); malformed parts are 0.
std::tuple<int, int, int> VersionParts(const std::string& v) {
  std::vector<std::string> parts = absl::StrSplit(v, '.');
  int n[3] = {0, 0, 0};
  for (size_t i = 0; i < parts.size() && i < 3; ++i) {
    n[i] = std::atoi(parts[i].c_str());
  }
  return {n[0], n[1], n[2]};
}

bool IsSupported(const std::string& version) {
  const auto& all = SupportedCniVersions();
  return std::find(all.begin(), all.end(), version) != all.end();
}

std::string EnvOr(const std::map<std::string, std::string>& env,
                  const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

// Reads an optional string field; a present non-string is an error.
std::optional<CniError> StringField(const Json& conf, const char* name,
                                    std::string* out) {
  auto it = conf.find(name);
  if (it == conf.end()) return std::nullopt;
  if (!it->is_string()) {
    return Error(kCniInvalidConfig,
                 absl::StrCat("network configuration field \"", name,
                              "\" must be a string"));
  }
  *out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& SupportedCniVersions() {
  static const std::vector<std::string> versions = {"0.3.0", "0.3.1", "0.4.0",
                                                    "1.0.0"};
  return versions;
}

std::variant<CniRequest, CniError> ParseCniRequest(
    const std::map<std::string, std::string>& env,
    const std::string& stdin_text) {
  CniRequest request;
  const std::string command = EnvOr(env, "CNI_COMMAND");
  if (command == "ADD") {
    request.command = CniCommand::kAdd;
  } else if (command == "DEL") {
    request.command = CniCommand::kDel;
  } else if (command == "CHECK") {
    request.command = CniCommand::kCheck;
  } else if (command == "VERSION") {
    request.command = CniCommand::kVersion;
  } else {
    return Error(kCniInvalidEnvironment,
                 command.empty()
                     ? "CNI_COMMAND is not set"
                     : absl::StrCat("unknown CNI_COMMAND ", command),
                 "kmesh-cni supports ADD, DEL, CHECK and VERSION");
  }

  // Bounded nesting: the configuration is dumped again (prevResult).
  Json conf = ParseJsonWithinDepth(stdin_text);
  if (request.command == CniCommand::kVersion) {
    if (conf.is_object() && conf.contains("cniVersion") &&
        conf["cniVersion"].is_string()) {
      request.requested_version = conf["cniVersion"].get<std::string>();
    }
    return request;
  }

  request.container_id = EnvOr(env, "CNI_CONTAINERID");
  request.netns = EnvOr(env, "CNI_NETNS");
  request.ifname = EnvOr(env, "CNI_IFNAME");
  request.path = EnvOr(env, "CNI_PATH");
  if (request.container_id.empty()) {
    return Error(kCniInvalidEnvironment, "CNI_CONTAINERID is not set");
  }
  if (request.ifname.empty()) {
    return Error(kCniInvalidEnvironment, "CNI_IFNAME is not set");
  }
  if (request.netns.empty() && request.command != CniCommand::kDel) {
    return Error(kCniInvalidEnvironment, "CNI_NETNS is not set");
  }
  for (absl::string_view pair :
       absl::StrSplit(EnvOr(env, "CNI_ARGS"), ';', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    request.args[kv.first] = kv.second;
  }

  if (conf.is_discarded() || !conf.is_object()) {
    return Error(kCniDecodeFailure,
                 "the network configuration on stdin is not a JSON object");
  }
  CniNetConf& net = request.conf;
  for (const auto& [name, field] :
       {std::pair<const char*, std::string*>{"cniVersion", &net.cni_version},
        {"name", &net.name},
        {"type", &net.type},
        {"kubeconfig", &net.kubeconfig},
        {"bpfPinDir", &net.bpf_pin_dir}}) {
    if (auto e = StringField(conf, name, field)) return *e;
  }
  if (net.cni_version.empty()) {
    return Error(kCniInvalidConfig,
                 "the network configuration has no cniVersion");
  }
  if (!IsSupported(net.cni_version)) {
    return Error(
        kCniIncompatibleVersion,
        absl::StrCat("cniVersion ", net.cni_version, " is not supported"),
        absl::StrCat("supported: ",
                     absl::StrJoin(SupportedCniVersions(), ", ")));
  }
  if (net.name.empty() || net.type.empty()) {
    return Error(kCniInvalidConfig,
                 "the network configuration needs a name and a type");
  }
  if (request.command == CniCommand::kCheck &&
      VersionParts(net.cni_version) < std::make_tuple(0, 4, 0)) {
    return Error(kCniIncompatibleVersion,
                 absl::StrCat("CHECK needs cniVersion 0.4.0 or later, not ",
                              net.cni_version));
  }
  if (auto it = conf.find("prevResult"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) {
      return Error(kCniInvalidConfig, "prevResult must be an object");
    }
    net.prev_result = *it;
  }
  return request;
}

std::vector<std::string> HostInterfaces(const Json& prev_result) {
  std::vector<std::string> out;
  auto interfaces = prev_result.find("interfaces");
  if (interfaces == prev_result.end() || !interfaces->is_array()) return out;
  for (const Json& i : *interfaces) {
    if (!i.is_object() || !i.contains("name") || !i["name"].is_string()) {
      continue;
    }
    auto sandbox = i.find("sandbox");
    if (sandbox != i.end() && sandbox->is_string() &&
        !sandbox->get<std::string>().empty()) {
      continue;  // Inside the container.
    }
    out.push_back(i["name"].get<std::string>());
  }
  return out;
}

std::string CniErrorJson(const CniError& error, const std::string& version) {
  Json out = {{"cniVersion", IsSupported(version) ? version : "1.0.0"},
              {"code", error.code},
              {"msg", error.msg}};
  if (!error.details.empty()) out["details"] = error.details;
  return out.dump();
}

std::string CniVersionJson(const std::string& requested_version) {
  Json out = {{"cniVersion", IsSupported(requested_version)
                                 ? requested_version
                                 : SupportedCniVersions().back()},
              {"supportedVersions", SupportedCniVersions()}};
  return out.dump();
}

std::string CniResultJson(const CniNetConf& conf) {
  Json out = conf.prev_result.value_or(Json::object());
  out["cniVersion"] = conf.cni_version;
  return out.dump();
}

}  // namespace kmesh::cni
