#include "kmesh/ipsec/peer_watcher.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/ipsec/key_deriver.h"

namespace kmesh::ipsec {
namespace {

// The record as a NodeView usable for key derivation, or why not.
absl::StatusOr<NodeView> PeerViewFromRecord(
    const kmesh::api::KmeshNodeInfo& info) {
  absl::StatusOr<NodeView> view = NodeViewFromKmeshNodeInfo(info);
  if (!view.ok()) return view.status();
  if (view->boot_id.size() < kBootIdPrefixLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KmeshNodeInfo ", view->name, ": spec.bootID is ", view->boot_id.size(),
        " characters long; the key derivation needs at "
        "least ",
        kBootIdPrefixLength));
  }
  return view;
}

// The fields of a KmeshNodeInfo the controller reads, taken from its decoded
// JSON as protobuf's JSON parser (kmesh/api/json_codec.h) reads them into a
// kmesh::api::KmeshNodeInfo: a missing or null field has its default, one of
// the wrong type makes the record unreadable. Other fields are not looked at
// (the parser ignores unknown ones), so the reflector's one parse of the
// event is the only one.
class RecordDecoder {
 public:
  absl::StatusOr<kmesh::api::KmeshNodeInfo> Decode(
      const nlohmann::json& object) {
    kmesh::api::KmeshNodeInfo info;
    if (!object.is_object()) {
      Invalid("the record", "an object");
      return error_;
    }
    const nlohmann::json* metadata = Member(object, "metadata", "metadata");
    if (metadata != nullptr) {
      String(*metadata, "name", "metadata.name",
             info.mutable_metadata()->mutable_name());
    }
    const nlohmann::json* spec = Member(object, "spec", "spec");
    if (spec != nullptr) {
      kmesh::api::KmeshNodeInfoSpec& out = *info.mutable_spec();
      Int32(*spec, "spi", "spec.spi", &out);
      Strings(*spec, "addresses", "spec.addresses", out.mutable_addresses());
      String(*spec, "bootID", "spec.bootID", out.mutable_boot_id());
      Strings(*spec, "podCIDRS", "spec.podCIDRS", out.mutable_pod_cidrs());
    }
    if (!error_.ok()) return error_;
    return info;
  }

 private:
  // Records the first problem found.
  void Invalid(const std::string& field, const char* expected) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError(
          absl::StrCat("KmeshNodeInfo JSON: ", field, " is not ", expected));
    }
  }
  // The member `key` of `parent` when present and not null; an error when
  // it is not an object.
  const nlohmann::json* Member(const nlohmann::json& parent, const char* key,
                               const char* field) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    if (!it->is_object()) {
      Invalid(field, "an object");
      return nullptr;
    }
    return &*it;
  }
  void String(const nlohmann::json& parent, const char* key, const char* field,
              std::string* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_string()) {
      Invalid(field, "a string");
      return;
    }
    *out = it->get_ref<const std::string&>();
  }
  void Strings(const nlohmann::json& parent, const char* key, const char* field,
               google::protobuf::RepeatedPtrField<std::string>* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_array()) {
      Invalid(field, "an array");
      return;
    }
    for (const nlohmann::json& item : *it) {
      if (!item.is_string()) {
        Invalid(field, "an array of strings");
        return;
      }
      out->Add(std::string(item.get_ref<const std::string&>()));
    }
  }
  // A number with no fraction or a string holding one, within int32.
  void Int32(const nlohmann::json& parent, const char* key, const char* field,
             kmesh::api::KmeshNodeInfoSpec* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    int64_t value = 0;
    if (it->is_number_integer()) {
      value = it->get<int64_t>();
      if (it->is_number_unsigned() &&
          it->get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) {
        value = int64_t{INT32_MAX} + 1;
      }
    } else if (it->is_number_float()) {
      const double d = it->get<double>();
      if (d != static_cast<double>(static_cast<int64_t>(d)) || d > 1e12 ||
          d < -1e12) {
        Invalid(field, "an integer");
        return;
      }
      value = static_cast<int64_t>(d);
    } else if (it->is_string()) {
      if (!absl::SimpleAtoi(it->get_ref<const std::string&>(), &value)) {
        Invalid(field, "an integer");
        return;
      }
    } else {
      Invalid(field, "an integer");
      return;
    }
    if (value < INT32_MIN || value > INT32_MAX) {
      Invalid(field, "a 32-bit integer");
      return;
    }
    out->set_spi(static_cast<int32_t>(value));
  }

  absl::Status error_;
};

}  // namespace

PeerRecordHandler::PeerRecordHandler(std::string own_node_name,
                                     IpsecEventSink* sink)
    : own_node_name_(std::move(own_node_name)), sink_(sink) {}

// Text (tests, and clients that hand over no decoded object): parsed once
// here, then as decoded.
void PeerRecordHandler::OnAdd(const std::string& object) {
  Upsert(ParseText(object));
}

void PeerRecordHandler::OnUpdate(const std::string& old_object,
                                 const std::string& new_object) {
  (void)old_object;
  Upsert(ParseText(new_object));
}

void PeerRecordHandler::OnDelete(const std::string& last_known) {
  OnDeleteObject(ParseText(last_known), last_known);
}

nlohmann::json PeerRecordHandler::ParseText(const std::string& text) {
  // Unparseable text: a value Upsert() and OnDeleteObject() refuse.
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

void PeerRecordHandler::OnAddObject(const nlohmann::json& object,
                                    const std::string& /*text*/) {
  Upsert(object);
}

void PeerRecordHandler::OnUpdateObject(const std::string& /*old_text*/,
                                       const nlohmann::json& new_object,
                                       const std::string& /*new_text*/) {
  Upsert(new_object);
}

void PeerRecordHandler::Upsert(const nlohmann::json& object) {
  absl::StatusOr<kmesh::api::KmeshNodeInfo> info =
      object.is_discarded()
          ? absl::InvalidArgumentError("KmeshNodeInfo: not JSON")
          : RecordDecoder().Decode(object);
  if (!info.ok()) {
    ReportInvalid("", std::string(info.status().message()));
    return;
  }
  const std::string& name = info->metadata().name();
  if (name == own_node_name_) {
    absl::StatusOr<NodeView> own = NodeViewFromKmeshNodeInfo(*info);
    sink_->OnOwnRecord(own.ok() ? std::optional<NodeView>(*std::move(own))
                                : std::nullopt);
    return;
  }
  absl::StatusOr<NodeView> view = PeerViewFromRecord(*info);
  if (!view.ok()) {
    ReportInvalid(name, std::string(view.status().message()));
    return;
  }
  if (reported_.erase(name) > 0) {
    LOG(INFO) << "KmeshNodeInfo " << name << " is valid again";
  }
  auto it = delivered_.find(name);
  if (it != delivered_.end() && it->second == *view) return;
  NodeView& delivered = delivered_[name];
  delivered = *std::move(view);
  sink_->OnPeerUpsert(delivered);
}

void PeerRecordHandler::OnDeleteObject(const nlohmann::json& last_known,
                                       const std::string& /*text*/) {
  absl::StatusOr<kmesh::api::KmeshNodeInfo> info =
      last_known.is_discarded() ? absl::InvalidArgumentError("not JSON")
                                : RecordDecoder().Decode(last_known);
  if (!info.ok() || info->metadata().name().empty()) {
    LOG(ERROR) << "Ignoring the deletion of an unreadable KmeshNodeInfo: "
               << (info.ok() ? "no metadata.name" : info.status().message());
    return;
  }
  const std::string& name = info->metadata().name();
  if (name == own_node_name_) {
    sink_->OnOwnRecord(std::nullopt);
    return;
  }
  reported_.erase(name);
  delivered_.erase(name);
  // Delivered even for a peer never seen valid in this run: the controller
  // may hold state adopted from a previous run for it.
  sink_->OnPeerDelete(name);
}

void PeerRecordHandler::OnSynced() { sink_->OnPeersSynced(); }

void PeerRecordHandler::ReportInvalid(const std::string& key,
                                      const std::string& error) {
  auto it = reported_.find(key);
  if (it != reported_.end() && it->second == error) return;
  reported_[key] = error;
  invalid_records_.fetch_add(1);
  LOG(ERROR) << "Ignoring invalid peer record: " << error
             << (delivered_.count(key) > 0
                     ? "; keeping the peer as last validly published"
                     : "");
}

PeerWatcher::PeerWatcher(kube::KubeClient* client, std::string own_node_name,
                         IpsecEventSink* sink, std::string ns,
                         kube::ReflectorOptions options)
    : handler_(std::move(own_node_name), sink),
      reflector_(client, kube::KmeshNodeInfosKind(), std::move(ns), &handler_,
                 std::move(options)) {}

}  // namespace kmesh::ipsec
