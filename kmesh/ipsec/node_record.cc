#include "kmesh/ipsec/node_record.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/ipsec/key_deriver.h"
#include "kmesh/kube/kube_status.h"
#include "nlohmann/json.hpp"

namespace kmesh::ipsec {
namespace {

// The object's JSON with every spec field present even at its zero value
// ("spi":0, "podCIDRS":[]): Kmesh's CRD marks all four required, while the
// protobuf printer omits zero values.
std::string KmeshNodeInfoJson(const kmesh::api::KmeshNodeInfo& info) {
  std::string printed = kmesh::api::ToJson(info);
  nlohmann::json object = nlohmann::json::parse(printed, nullptr, false);
  if (!object.is_object()) return printed;  // Not expected from the printer.
  nlohmann::json& spec = object["spec"];
  if (!spec.contains("spi")) spec["spi"] = 0;
  if (!spec.contains("addresses")) spec["addresses"] = nlohmann::json::array();
  if (!spec.contains("bootID")) spec["bootID"] = "";
  if (!spec.contains("podCIDRS")) spec["podCIDRS"] = nlohmann::json::array();
  return object.dump();
}

}  // namespace

absl::StatusOr<NodeView> NodeViewFromNode(const kmesh::api::Node& node,
                                          int32_t spi) {
  const std::string& name = node.metadata().name();
  if (name.empty()) return absl::InvalidArgumentError("Node has no name");
  if (spi < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SPI for node ", name, " is negative (", spi, ")"));
  }
  NodeView view;
  view.name = name;
  view.spi = spi;

  const auto& addresses = node.status().addresses();
  for (int i = 0; i < addresses.size(); ++i) {
    if (addresses[i].type() != "InternalIP") continue;
    const std::string& text = addresses[i].address();
    if (!IpAddress::Parse(text).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Node ", name, ": status.addresses[", i,
                       "] (InternalIP) \"", text, "\" is not an IP address"));
    }
    view.addresses.push_back(text);
  }
  if (view.addresses.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Node ", name,
                     " has no InternalIP in status.addresses; IPsec needs the "
                     "node's internal address"));
  }

  view.boot_id = node.status().node_info().boot_id();
  if (view.boot_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Node ", name,
                     " has no status.nodeInfo.bootID; IPsec keys are "
                     "derived from it"));
  }
  if (view.boot_id.size() < kBootIdPrefixLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Node ", name, ": status.nodeInfo.bootID is ", view.boot_id.size(),
        " characters long; the key derivation needs at least ",
        kBootIdPrefixLength));
  }

  const auto& spec = node.spec();
  std::vector<std::string> cidrs(spec.pod_cidrs().begin(),
                                 spec.pod_cidrs().end());
  const char* field = "spec.podCIDRs";
  if (cidrs.empty() && !spec.pod_cidr().empty()) {
    cidrs.push_back(spec.pod_cidr());
    field = "spec.podCIDR";
  }
  for (size_t i = 0; i < cidrs.size(); ++i) {
    absl::StatusOr<IpPrefix> prefix = IpPrefix::Parse(cidrs[i]);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Node ", name, ": ", field, " \"", cidrs[i], "\" is not a CIDR"));
    }
    view.pod_cidrs.push_back(*prefix);
  }
  return view;
}

absl::StatusOr<NodeView> LoadOwnNodeView(kube::KubeClient* client,
                                         const std::string& node_name,
                                         int32_t spi) {
  absl::StatusOr<std::string> json =
      client->Get(kube::NodesKind(), "", node_name);
  if (!json.ok()) return json.status();
  absl::StatusOr<kmesh::api::Node> node =
      kmesh::api::ParseJson<kmesh::api::Node>(*json);
  if (!node.ok()) return node.status();
  return NodeViewFromNode(*node, spi);
}

KubeNodeInfoPublisher::KubeNodeInfoPublisher(kube::KubeClient* client)
    : KubeNodeInfoPublisher(client, Options()) {}

KubeNodeInfoPublisher::KubeNodeInfoPublisher(kube::KubeClient* client,
                                             Options options)
    : client_(client), options_(std::move(options)) {}

absl::Status KubeNodeInfoPublisher::Publish(const NodeView& self) {
  const kube::ResourceKind& kind = kube::KmeshNodeInfosKind();
  const kmesh::api::KmeshNodeInfo desired =
      KmeshNodeInfoFromNodeView(self, options_.ns);
  absl::Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    absl::StatusOr<std::string> current =
        client_->Get(kind, options_.ns, self.name);
    if (kube::IsNotFound(current.status())) {
      absl::StatusOr<std::string> created =
          client_->Create(kind, options_.ns, KmeshNodeInfoJson(desired));
      if (created.ok()) {
        LOG(INFO) << "Created KmeshNodeInfo " << options_.ns << "/" << self.name
                  << " (spi " << self.spi << ")";
        return absl::OkStatus();
      }
      if (!kube::IsAlreadyExists(created.status())) return created.status();
      last = created.status();  // Someone created it meanwhile: re-read.
      continue;
    }
    if (!current.ok()) return current.status();

    absl::StatusOr<kmesh::api::KmeshNodeInfo> stored =
        kmesh::api::ParseJson<kmesh::api::KmeshNodeInfo>(*current);
    if (!stored.ok()) {
      return absl::InternalError(
          absl::StrCat("stored KmeshNodeInfo ", options_.ns, "/", self.name,
                       " cannot be read: ", stored.status().message()));
    }
    if (google::protobuf::util::MessageDifferencer::Equals(stored->spec(),
                                                           desired.spec())) {
      return absl::OkStatus();
    }
    // Keep the stored metadata (labels, annotations, uid); the
    // resourceVersion makes a concurrent change a conflict, not a loss.
    kmesh::api::KmeshNodeInfo updated = *stored;
    updated.set_api_version(desired.api_version());
    updated.set_kind(desired.kind());
    *updated.mutable_spec() = desired.spec();
    absl::StatusOr<std::string> written = client_->Update(
        kind, options_.ns, self.name, KmeshNodeInfoJson(updated));
    if (written.ok()) {
      LOG(INFO) << "Updated KmeshNodeInfo " << options_.ns << "/" << self.name
                << " (spi " << self.spi << ")";
      return absl::OkStatus();
    }
    if (!kube::IsConflict(written.status())) return written.status();
    last = written.status();
  }
  return absl::AbortedError(absl::StrCat(
      "KmeshNodeInfo ", options_.ns, "/", self.name, " not written after ",
      options_.max_attempts,
      " attempts, each overtaken by another writer: ", last.message()));
}

absl::Status KubeNodeInfoPublisher::Withdraw(const std::string& node_name) {
  absl::Status status =
      client_->Delete(kube::KmeshNodeInfosKind(), options_.ns, node_name);
  if (status.ok() || kube::IsNotFound(status)) return absl::OkStatus();
  return status;
}

}  // namespace kmesh::ipsec
