// static_node_datapath: programs one node's IPsec datapath from a static
// JSON description, exactly as the daemon would once its controller has
// learnt the same facts from Kubernetes: the XFRM layout (LayoutPeer for
// every peer plus LayoutCatchAll, made true in the kernel by XfrmProgrammer
// over NetlinkXfrm, deleting owned objects no longer wanted) and, when asked,
// the eBPF markers (BpfMarkerLoader: load, pin, attach at tc ingress; the
// peer map and the encrypt-target map filled incrementally). It works in the
// calling network namespace (`ip netns exec NODE static_node_datapath ...`)
// and is stateless: run it again with a new description (e.g. another SPI)
// and it converges to that. The e2e VM scenarios use it in place of the
// daemon's controller; key material comes from the description and is never
// printed.
//
// Usage: static_node_datapath CONFIG.json
// {
//   "self": "node-a",
//   "nodes": [{"name": "node-a", "addresses": ["192.168.100.1"],
//              "boot_id": "<36+ chars>", "pod_cidrs": ["10.244.1.0/24"],
//              "peer_index": 1}, ...],
//   "psks": {"1": "<72 hex digits>"},
//   "inbound_spis": [1],
//   "outbound_spi": {"node-b": 1},
//   "markers": {"encrypt_object": "...", "decrypt_object": "...",
//               "pin_directory": "/bpf/node-a",
//               "encrypt_interfaces": ["hpod-a1"],
//               "decrypt_interfaces": ["und-a"],
//               "encrypt_targets": ["10.244.2.10"]}
// }
// "markers" is optional; without it the markers are left as they are.
// Each encrypt target becomes a host CIDR (/32, /128) of the encrypt-CIDR map:
// exactly those destinations are encrypted, and the unmanaged-pod map is
// left empty.
// Exit status 0 only when every kernel operation succeeded.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/crypto/encoding.h"
#include "kmesh/ipsec/key_ring.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "kmesh/ipsec/xfrm_programmer.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "nlohmann/json.hpp"

namespace kmesh::e2e {
namespace {

using ::nlohmann::json;

struct NodeEntry {
  ipsec::NodeView view;
  uint16_t peer_index = 0;
};

struct MarkerConfig {
  linux_backend::BpfMarkerLoaderOptions options;
  std::vector<std::string> encrypt_interfaces;
  std::vector<std::string> decrypt_interfaces;
  std::vector<IpAddress> encrypt_targets;
};

struct Config {
  std::string self;
  std::vector<NodeEntry> nodes;
  ipsec::KeyRing keys;
  std::vector<int32_t> inbound_spis;
  std::map<std::string, int32_t> outbound_spi;
  bool has_markers = false;
  MarkerConfig markers;
};

absl::StatusOr<std::vector<std::string>> Strings(const json& j,
                                                 const std::string& what) {
  if (!j.is_array()) {
    return absl::InvalidArgumentError(what + " must be an array of strings");
  }
  std::vector<std::string> out;
  for (const json& e : j) {
    if (!e.is_string()) {
      return absl::InvalidArgumentError(what + " must be an array of strings");
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::StatusOr<Config> ParseConfig(const std::string& text) {
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError("config is not a JSON object");
  }
  Config c;
  c.self = StringField(root, "self");
  if (c.self.empty()) return absl::InvalidArgumentError("\"self\" is missing");

  const json nodes = root.value("nodes", json::array());
  for (const json& n : nodes) {
    NodeEntry e;
    e.view.name = StringField(n, "name");
    e.view.boot_id = StringField(n, "boot_id");
    auto addresses =
        Strings(n.value("addresses", json::array()), "nodes[].addresses");
    if (!addresses.ok()) return addresses.status();
    e.view.addresses = *addresses;
    auto cidrs =
        Strings(n.value("pod_cidrs", json::array()), "nodes[].pod_cidrs");
    if (!cidrs.ok()) return cidrs.status();
    for (const std::string& text : *cidrs) {
      auto prefix = IpPrefix::Parse(text);
      if (!prefix.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("node ", e.view.name, ": pod CIDR ", text, ": ",
                         prefix.status().message()));
      }
      e.view.pod_cidrs.push_back(*prefix);
    }
    const int index = n.value("peer_index", 0);
    if (index < 0 || index > 0xffff) {
      return absl::InvalidArgumentError(
          absl::StrCat("node ", e.view.name, ": peer_index out of range"));
    }
    e.peer_index = static_cast<uint16_t>(index);
    c.nodes.push_back(std::move(e));
  }

  const json psks = root.value("psks", json::object());
  for (auto it = psks.begin(); it != psks.end(); ++it) {
    int spi = 0;
    if (!absl::SimpleAtoi(it.key(), &spi) || spi <= 0 ||
        !it.value().is_string()) {
      return absl::InvalidArgumentError(
          "psks must map positive SPIs to hex strings");
    }
    auto secret = crypto::HexDecodeSecret(it.value().get<std::string>());
    if (!secret.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("psk for spi ", spi, ": ", secret.status().message()));
    }
    c.keys.Install(spi, XfrmKey(secret->data(), secret->size()));
  }
  for (const json& s : root.value("inbound_spis", json::array())) {
    if (!s.is_number_integer()) {
      return absl::InvalidArgumentError("inbound_spis must be integers");
    }
    c.inbound_spis.push_back(s.get<int32_t>());
  }
  const json out = root.value("outbound_spi", json::object());
  for (auto it = out.begin(); it != out.end(); ++it) {
    if (!it.value().is_number_integer()) {
      return absl::InvalidArgumentError("outbound_spi values must be integers");
    }
    c.outbound_spi[it.key()] = it.value().get<int32_t>();
  }
  int32_t current = 0;
  for (int32_t spi : c.inbound_spis) current = std::max(current, spi);
  c.keys.SetCurrent(current);

  if (auto m = root.find("markers"); m != root.end() && m->is_object()) {
    c.has_markers = true;
    c.markers.options.encrypt_object_path = StringField(*m, "encrypt_object");
    c.markers.options.decrypt_object_path = StringField(*m, "decrypt_object");
    c.markers.options.pin_directory = StringField(*m, "pin_directory");
    auto enc = Strings(m->value("encrypt_interfaces", json::array()),
                       "markers.encrypt_interfaces");
    auto dec = Strings(m->value("decrypt_interfaces", json::array()),
                       "markers.decrypt_interfaces");
    auto targets = Strings(m->value("encrypt_targets", json::array()),
                           "markers.encrypt_targets");
    if (!enc.ok()) return enc.status();
    if (!dec.ok()) return dec.status();
    if (!targets.ok()) return targets.status();
    c.markers.encrypt_interfaces = *enc;
    c.markers.decrypt_interfaces = *dec;
    for (const std::string& t : *targets) {
      auto ip = IpAddress::Parse(t);
      if (!ip.ok()) {
        return absl::InvalidArgumentError("encrypt target " + t +
                                          " does not parse");
      }
      c.markers.encrypt_targets.push_back(*ip);
    }
  }
  return c;
}

// The XFRM layout for every peer plus the catch-all block policies.
absl::StatusOr<std::map<std::string, ipsec::XfrmObjects>> DesiredXfrm(
    const Config& c) {
  const NodeEntry* self = nullptr;
  for (const NodeEntry& n : c.nodes) {
    if (n.view.name == c.self) self = &n;
  }
  if (self == nullptr) {
    return absl::InvalidArgumentError("\"self\" names no node in \"nodes\"");
  }
  std::map<std::string, ipsec::XfrmObjects> desired;
  desired["catch-all"] = ipsec::LayoutCatchAll();
  for (const NodeEntry& peer : c.nodes) {
    if (&peer == self) continue;
    ipsec::PeerLayoutInput in;
    in.self = &self->view;
    in.peer = &peer.view;
    in.peer_index = peer.peer_index;
    in.keys = &c.keys;
    in.inbound_spis = c.inbound_spis;
    auto spi = c.outbound_spi.find(peer.view.name);
    in.outbound_spi = spi == c.outbound_spi.end() ? 0 : spi->second;
    absl::StatusOr<ipsec::PeerLayout> layout = ipsec::LayoutPeer(in);
    if (!layout.ok()) return layout.status();
    for (const std::string& w : layout->warnings) {
      std::cerr << "warning: " << w << "\n";
    }
    desired["peer/" + peer.view.name] = layout->objects;
  }
  return desired;
}

absl::Status ProgramXfrm(const Config& c) {
  auto desired = DesiredXfrm(c);
  if (!desired.ok()) return desired.status();
  auto kernel = linux_backend::NetlinkXfrm::Open();
  if (!kernel.ok()) return kernel.status();
  ipsec::XfrmProgrammer programmer(kernel->get());
  const ipsec::ApplyResult result =
      programmer.Reconcile(*desired, /*delete_unclaimed=*/true);
  for (const ipsec::XfrmOpError& e : result.errors) {
    std::cerr << "error: " << e.group << ": " << XfrmOpName(e.op) << " "
              << e.object << ": " << e.status.message() << "\n";
  }
  const ipsec::XfrmOpCounts& n = programmer.counts();
  std::cout << "xfrm: " << n.sa_adds << " SA adds, " << n.sa_updates
            << " SA updates, " << n.sa_deletes << " SA deletes, "
            << n.policy_adds << " policy adds, " << n.policy_updates
            << " policy updates, " << n.policy_deletes << " policy deletes\n";
  for (const XfrmSa& sa : programmer.Installed().sas) {
    std::cout << "  " << ipsec::DescribeSa(sa) << "\n";
  }
  for (const XfrmPolicy& p : programmer.Installed().policies) {
    std::cout << "  " << ipsec::DescribePolicy(p) << "\n";
  }
  return result.ToStatus();
}

absl::Status ProgramMarkers(const Config& c) {
  auto loader = linux_backend::BpfMarkerLoader::Load(c.markers.options);
  if (!loader.ok()) return loader.status();
  for (const std::string& i : c.markers.encrypt_interfaces) {
    absl::Status s =
        (*loader)->Attach(linux_backend::MarkerProgram::kEncrypt, i);
    if (!s.ok()) return s;
  }
  for (const std::string& i : c.markers.decrypt_interfaces) {
    absl::Status s =
        (*loader)->Attach(linux_backend::MarkerProgram::kDecrypt, i);
    if (!s.ok()) return s;
  }
  MarkerMaps& maps = (*loader)->maps();
  for (const NodeEntry& n : c.nodes) {
    if (n.view.name == c.self) continue;
    for (const std::string& text : n.view.addresses) {
      auto ip = IpAddress::Parse(text);
      if (!ip.ok()) return ip.status();
      absl::Status s = maps.UpsertPeer(*ip, n.peer_index);
      if (!s.ok()) return s;
    }
  }
  // Encrypt targets: exactly the configured set, as host CIDRs.
  auto present = maps.DumpEncryptCidrs();
  if (!present.ok()) return present.status();
  for (const IpPrefix& cidr : *present) {
    bool wanted = false;
    for (const IpAddress& t : c.markers.encrypt_targets) {
      wanted |= IpPrefix::Host(t) == cidr;
    }
    if (wanted) continue;
    if (absl::Status s = maps.DeleteEncryptCidr(cidr); !s.ok()) return s;
  }
  for (const IpAddress& t : c.markers.encrypt_targets) {
    if (absl::Status s = maps.UpsertEncryptCidr(IpPrefix::Host(t)); !s.ok()) {
      return s;
    }
  }
  std::cout << "markers: encrypt on " << c.markers.encrypt_interfaces.size()
            << " interface(s), decrypt on "
            << c.markers.decrypt_interfaces.size() << ", "
            << c.markers.encrypt_targets.size() << " encrypt target(s)\n";
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: static_node_datapath CONFIG.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "error: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Config> config = ParseConfig(text.str());
  if (!config.ok()) {
    std::cerr << "error: " << argv[1] << ": " << config.status().message()
              << "\n";
    return 1;
  }
  int rc = 0;
  if (absl::Status s = ProgramXfrm(*config); !s.ok()) {
    std::cerr << "error: xfrm: " << s.message() << "\n";
    rc = 1;
  }
  if (config->has_markers) {
    if (absl::Status s = ProgramMarkers(*config); !s.ok()) {
      std::cerr << "error: markers: " << s.message() << "\n";
      rc = 1;
    }
  }
  return rc;
}

}  // namespace
}  // namespace kmesh::e2e

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return kmesh::e2e::Main(argc, argv);
}
