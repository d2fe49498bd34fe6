#include "sim/cluster/sim_network.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/kernel/esp_transform.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

// The send in progress on this thread, so the synchronous wire delivery can
// report the receiver's fate to SendFromPod().
thread_local SendResult* current_send = nullptr;

IpAddress V4(int a, int b, int c, int d) {
  return IpAddress::V4((uint32_t(a) << 24) | (uint32_t(b) << 16) |
                       (uint32_t(c) << 8) | uint32_t(d));
}

IpAddress V6(const std::string& text) { return *IpAddress::Parse(text); }

// Pod CIDR slot n (1-based) -> 10.(244 + n / 256).(n % 256).0/24.
IpPrefix PodCidrV4(int n) {
  return IpPrefix(V4(10, 244 + n / 256, n % 256, 0), 24);
}
IpPrefix PodCidrV6(int n) {
  return *IpPrefix::Parse(absl::StrFormat("fd00:10:244:%x::/64", n));
}

// Host number `host` (>= 1) inside `cidr`.
IpAddress HostIn(const IpPrefix& cidr, uint32_t host) {
  std::array<uint8_t, 16> bytes = cidr.address().bytes();
  const int len = cidr.address().byte_length();
  for (int i = len - 1; i >= 0 && host != 0; --i) {
    const uint32_t sum = bytes[i] + (host & 0xff);
    bytes[i] = static_cast<uint8_t>(sum);
    host = (host >> 8) + (sum >> 8);
  }
  return IpAddress::FromBytes(cidr.family(), bytes.data());
}

}  // namespace

bool SendResult::delivered() const {
  if (dropped_on_wire) return false;
  if (receiver_fate) return *receiver_fate == PacketFate::kDelivered;
  return sender_fate == PacketFate::kDelivered;
}

std::string SendResult::loss_cause() const {
  if (delivered()) return "";
  if (dropped_on_wire) return "WireDrop";
  if (receiver_fate) return PacketFateName(*receiver_fate);
  if (sender_fate == PacketFate::kTransmitted) {
    return "NoReceiver";  // Left the node; no node owns the next hop.
  }
  return PacketFateName(sender_fate);
}

// --- WireMonitor ------------------------------------------------------------

void WireMonitor::Observe(const std::string& from_node,
                          const std::string& to_node,
                          absl::Span<const uint8_t> packet) {
  Key key;
  key.from_node = from_node;
  key.to_node = to_node;
  auto ip = ParseIpHeader(packet);
  absl::MutexLock lock(&mu_);
  if (!ip.ok()) {
    ++malformed_;
    return;
  }
  key.src = ip->src;
  key.dst = ip->dst;
  key.proto = ip->proto;
  if (ip->proto == kIpProtoEspNumber && ip->fragment_offset > 0) {
    key.esp = true;  // A later fragment of an ESP packet: SPI unknown (0).
  } else if (ip->proto == kIpProtoEspNumber) {
    auto esp = ParseEspHeader(packet);
    if (!esp.ok()) {
      ++malformed_;
      return;
    }
    key.esp = true;
    key.spi = esp->spi;
  }
  if (key.esp) {
    esp_pairs_.emplace(from_node, to_node);
  } else if (esp_pairs_.count({from_node, to_node}) != 0) {
    ++plaintext_after_esp_[{key.src, key.dst}];
  }
  Counts& c = counts_[key];
  ++c.packets;
  c.bytes += packet.size();
}

std::map<WireMonitor::Key, WireMonitor::Counts> WireMonitor::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

uint64_t WireMonitor::EspPackets(std::optional<uint32_t> spi) const {
  absl::MutexLock lock(&mu_);
  uint64_t n = 0;
  for (const auto& [key, c] : counts_) {
    if (key.esp && (!spi || key.spi == *spi)) n += c.packets;
  }
  return n;
}

uint64_t WireMonitor::PlaintextPackets(const IpAddress& src,
                                       const IpAddress& dst) const {
  absl::MutexLock lock(&mu_);
  uint64_t n = 0;
  for (const auto& [key, c] : counts_) {
    if (!key.esp && key.src == src && key.dst == dst) n += c.packets;
  }
  return n;
}

uint64_t WireMonitor::PlaintextAfterEsp(const IpAddress& src,
                                        const IpAddress& dst) const {
  absl::MutexLock lock(&mu_);
  auto it = plaintext_after_esp_.find({src, dst});
  return it == plaintext_after_esp_.end() ? 0 : it->second;
}

uint64_t WireMonitor::PlaintextPackets() const {
  absl::MutexLock lock(&mu_);
  uint64_t n = 0;
  for (const auto& [key, c] : counts_) {
    if (!key.esp) n += c.packets;
  }
  return n;
}

uint64_t WireMonitor::MalformedPackets() const {
  absl::MutexLock lock(&mu_);
  return malformed_;
}

std::vector<uint32_t> WireMonitor::Spis() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint32_t> spis;
  for (const auto& [key, c] : counts_) {
    if (key.esp && (spis.empty() || spis.back() != key.spi)) {
      spis.push_back(key.spi);
    }
  }
  std::sort(spis.begin(), spis.end());
  spis.erase(std::unique(spis.begin(), spis.end()), spis.end());
  return spis;
}

void WireMonitor::Reset() {
  absl::MutexLock lock(&mu_);
  counts_.clear();
  esp_pairs_.clear();
  plaintext_after_esp_.clear();
  malformed_ = 0;
}

// --- SimNetwork -------------------------------------------------------------

struct SimNetwork::Node {
  SimNodeInfo info;
  std::shared_ptr<SimKernel> kernel;
  // Next host number per pod CIDR (same for both families).
  uint32_t next_pod_host = 2;
};

struct SimNetwork::Capture {
  absl::Mutex mu;
  std::deque<std::string> lines ABSL_GUARDED_BY(mu);
  std::FILE* log ABSL_GUARDED_BY(mu) = nullptr;
  std::optional<PcapWriter> pcap ABSL_GUARDED_BY(mu);
  std::string log_path;
  std::string pcap_path;
  ~Capture() {
    if (log != nullptr) std::fclose(log);
  }
};

SimNetwork::SimNetwork(SimNetworkOptions options)
    : options_(std::move(options)) {}

SimNetwork::~SimNetwork() {
  // Detach every kernel from this object before it goes away: a kernel may
  // outlive the network in a shared_ptr held elsewhere.
  std::map<std::string, std::unique_ptr<Node>> nodes;
  {
    absl::MutexLock lock(&mu_);
    nodes.swap(nodes_);
  }
  for (auto& [name, node] : nodes) {
    node->kernel->SetUplink(nullptr);
    node->kernel->SetCaptureSink(nullptr);
  }
}

std::shared_ptr<SimKernel> SimNetwork::NewKernel(const Node& node) {
  auto kernel = std::make_shared<SimKernel>(
      node.info.name, static_cast<uint32_t>(node.info.index + 1) * 1000);
  for (const IpAddress& a : node.info.addresses) kernel->AddNodeAddress(a);
  return kernel;
}

void SimNetwork::ConnectKernel(const Node& node, SimKernel& kernel) {
  const std::string name = node.info.name;
  kernel.SetUplink([this, name](const IpAddress& hop, std::vector<uint8_t> p) {
    OnWire(name, hop, std::move(p));
  });
  kernel.SetCaptureSink(
      [this, name](const CapturedPacket& c) { OnCapture(name, c); });
}

absl::StatusOr<SimNodeInfo> SimNetwork::AddNode(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("empty node name");
  absl::MutexLock lock(&mu_);
  if (nodes_.count(name)) {
    return absl::AlreadyExistsError(absl::StrCat("node ", name, " exists"));
  }
  const int index = next_index_;
  if (index + 2 > 0xfffe || 244 + (index + 1) / 256 > 255) {
    return absl::ResourceExhaustedError("no more node addresses");
  }
  auto node = std::make_unique<Node>();
  node->info.name = name;
  node->info.index = index;
  const int host = index + 2;
  node->info.addresses.push_back(V4(172, 18, host / 256, host % 256));
  node->info.pod_cidrs.push_back(PodCidrV4(index + 1));
  if (options_.dual_stack) {
    node->info.addresses.push_back(
        V6(absl::StrFormat("fd00:172:18::%x", host)));
    node->info.pod_cidrs.push_back(PodCidrV6(index + 1));
  }
  node->kernel = NewKernel(*node);
  // Routes both ways between the new node and every existing one.
  for (auto& [other_name, other] : nodes_) {
    for (size_t f = 0; f < node->info.addresses.size(); ++f) {
      other->kernel->SetRoute(node->info.pod_cidrs[f], node->info.addresses[f]);
      node->kernel->SetRoute(other->info.pod_cidrs[f],
                             other->info.addresses[f]);
    }
  }
  for (const IpAddress& a : node->info.addresses) address_owner_[a] = name;
  ConnectKernel(*node, *node->kernel);
  CaptureFor(name);
  ++next_index_;
  SimNodeInfo info = node->info;
  nodes_[name] = std::move(node);
  return info;
}

absl::Status SimNetwork::RemoveNode(const std::string& name) {
  std::unique_ptr<Node> node;
  {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) {
      return absl::NotFoundError(absl::StrCat("no node ", name));
    }
    node = std::move(it->second);
    nodes_.erase(it);
    for (const IpAddress& a : node->info.addresses) address_owner_.erase(a);
    for (auto& [other_name, other] : nodes_) {
      for (const IpPrefix& cidr : node->info.pod_cidrs) {
        other->kernel->RemoveRoute(cidr);
      }
    }
    for (auto it = pods_.begin(); it != pods_.end();) {
      it = it->second.node == name ? pods_.erase(it) : std::next(it);
    }
  }
  node->kernel->SetUplink(nullptr);
  node->kernel->SetCaptureSink(nullptr);
  return absl::OkStatus();
}

absl::Status SimNetwork::RebootNode(const std::string& name) {
  std::shared_ptr<SimKernel> old_kernel;
  {
    absl::MutexLock lock(&mu_);
    auto it = nodes_.find(name);
    if (it == nodes_.end()) {
      return absl::NotFoundError(absl::StrCat("no node ", name));
    }
    Node& node = *it->second;
    auto kernel = NewKernel(node);
    for (auto& [other_name, other] : nodes_) {
      if (other_name == name) continue;
      for (size_t f = 0;
           f < other->info.addresses.size() && f < node.info.addresses.size();
           ++f) {
        kernel->SetRoute(other->info.pod_cidrs[f], other->info.addresses[f]);
      }
    }
    for (const auto& [key, pod] : pods_) {
      if (pod.node != name) continue;
      for (const IpAddress& ip : pod.ips) {
        SimPodInfo copy = pod;
        kernel->AddPod(pod.name, ip, [this, copy](absl::Span<const uint8_t> p) {
          DeliveryHandler handler;
          {
            absl::MutexLock lock(&mu_);
            handler = delivery_handler_;
          }
          if (handler) handler(copy, p);
        });
      }
    }
    ConnectKernel(node, *kernel);
    old_kernel = std::move(node.kernel);
    node.kernel = std::move(kernel);
  }
  old_kernel->SetUplink(nullptr);
  old_kernel->SetCaptureSink(nullptr);
  return absl::OkStatus();
}

std::optional<SimNodeInfo> SimNetwork::node(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return std::nullopt;
  return it->second->info;
}

std::vector<SimNodeInfo> SimNetwork::nodes() const {
  absl::MutexLock lock(&mu_);
  std::vector<SimNodeInfo> out;
  for (const auto& [name, node] : nodes_) out.push_back(node->info);
  std::sort(out.begin(), out.end(),
            [](const SimNodeInfo& a, const SimNodeInfo& b) {
              return a.index < b.index;
            });
  return out;
}

std::shared_ptr<SimKernel> SimNetwork::kernel(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : it->second->kernel;
}

std::string SimNetwork::NodeOwning(const IpAddress& address) const {
  absl::MutexLock lock(&mu_);
  auto it = address_owner_.find(address);
  return it == address_owner_.end() ? "" : it->second;
}

absl::StatusOr<SimPodInfo> SimNetwork::AddPod(const std::string& ns,
                                              const std::string& name,
                                              const std::string& node_name) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(node_name);
  if (it == nodes_.end()) {
    return absl::NotFoundError(absl::StrCat("no node ", node_name));
  }
  SimPodInfo pod{ns, name, node_name, {}};
  if (pods_.count(pod.key())) {
    return absl::AlreadyExistsError(absl::StrCat("pod ", pod.key(), " exists"));
  }
  Node& node = *it->second;
  if (node.next_pod_host > 254) {
    return absl::ResourceExhaustedError(
        absl::StrCat("node ", node_name, " has no free pod address"));
  }
  const uint32_t host = node.next_pod_host++;
  for (const IpPrefix& cidr : node.info.pod_cidrs) {
    pod.ips.push_back(HostIn(cidr, host));
  }
  for (const IpAddress& ip : pod.ips) {
    node.kernel->AddPod(name, ip, [this, pod](absl::Span<const uint8_t> p) {
      DeliveryHandler handler;
      {
        absl::MutexLock lock(&mu_);
        handler = delivery_handler_;
      }
      if (handler) handler(pod, p);
    });
  }
  pods_[pod.key()] = pod;
  return pod;
}

absl::Status SimNetwork::RemovePod(const std::string& ns,
                                   const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(ns + "/" + name);
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("no pod ", ns, "/", name));
  }
  auto node = nodes_.find(it->second.node);
  if (node != nodes_.end()) {
    for (const IpAddress& ip : it->second.ips)
      node->second->kernel->RemovePod(ip);
  }
  pods_.erase(it);
  return absl::OkStatus();
}

std::optional<SimPodInfo> SimNetwork::pod(const std::string& ns,
                                          const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(ns + "/" + name);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::vector<SimPodInfo> SimNetwork::pods() const {
  absl::MutexLock lock(&mu_);
  std::vector<SimPodInfo> out;
  for (const auto& [key, pod] : pods_) out.push_back(pod);
  return out;
}

void SimNetwork::SetDeliveryHandler(DeliveryHandler handler) {
  absl::MutexLock lock(&mu_);
  delivery_handler_ = std::move(handler);
}

void SimNetwork::SetWireFilter(WireFilter filter) {
  absl::MutexLock lock(&mu_);
  wire_filter_ = std::move(filter);
}

SendResult SimNetwork::SendFromPod(const std::string& ns,
                                   const std::string& name,
                                   std::vector<uint8_t> packet) {
  SendResult result;
  std::shared_ptr<SimKernel> kernel;
  IpAddress src;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_.find(ns + "/" + name);
    if (it == pods_.end()) return result;  // kNoRoute: no such pod.
    auto ip = ParseIpHeader(packet);
    if (!ip.ok()) {
      result.sender_fate = PacketFate::kMalformed;
      return result;
    }
    // The veth the packet enters by: the pod's address of the packet's
    // family (the packet's own source may be forged).
    bool found = false;
    for (const IpAddress& own : it->second.ips) {
      if (own.family() == ip->family) {
        src = own;
        found = true;
        break;
      }
    }
    if (!found) return result;  // kNoRoute: no address of that family.
    auto node = nodes_.find(it->second.node);
    if (node == nodes_.end()) return result;
    kernel = node->second->kernel;
  }
  SendResult* const outer = current_send;
  current_send = &result;
  result.sender_fate = kernel->SendFromPod(src, std::move(packet));
  current_send = outer;
  return result;
}

void SimNetwork::OnWire(const std::string& from, const IpAddress& next_hop,
                        std::vector<uint8_t> packet) {
  std::shared_ptr<SimKernel> to_kernel;
  std::string to;
  WireFilter filter;
  {
    absl::MutexLock lock(&mu_);
    auto owner = address_owner_.find(next_hop);
    if (owner != address_owner_.end()) {
      to = owner->second;
      to_kernel = nodes_.at(to)->kernel;
    }
    filter = wire_filter_;
  }
  if (filter && !filter(from, to, packet)) {
    if (current_send != nullptr) current_send->dropped_on_wire = true;
    return;
  }
  wire_.Observe(from, to, packet);
  if (!to_kernel) return;  // Nobody on the wire owns that address.
  const PacketFate fate = to_kernel->ReceiveFromWire(std::move(packet));
  if (current_send != nullptr) {
    current_send->receiver_node = to;
    current_send->receiver_fate = fate;
  }
}

// --- Capture
// ------------------------------------------------------------------

std::string SimNetwork::NameOf(const IpAddress& address) const {
  return NodeOwning(address);
}

SimNetwork::Capture* SimNetwork::CaptureFor(const std::string& node) {
  absl::MutexLock lock(&capture_mu_);
  auto& slot = captures_[node];
  if (!slot) {
    slot = std::make_unique<Capture>();
    if (!options_.capture_dir.empty()) {
      ::mkdir(options_.capture_dir.c_str(), 0755);
      // A new capture each time the network starts, as tcpdump -w does.
      slot->log_path = absl::StrCat(options_.capture_dir, "/", node, ".log");
      slot->log = std::fopen(slot->log_path.c_str(), "w");
      if (options_.write_pcap) {
        slot->pcap_path =
            absl::StrCat(options_.capture_dir, "/", node, ".pcap");
        auto writer = PcapWriter::Create(slot->pcap_path);
        if (writer.ok()) slot->pcap.emplace(*std::move(writer));
      }
    }
  }
  return slot.get();
}

void SimNetwork::OnCapture(const std::string& node,
                           const CapturedPacket& packet) {
  Capture* capture = CaptureFor(node);
  const std::string line = FormatTcpdumpLine(
      packet, [this](const IpAddress& a) { return NameOf(a); });
  absl::MutexLock lock(&capture->mu);
  if (options_.capture_lines_kept > 0) {
    capture->lines.push_back(line);
    while (capture->lines.size() > options_.capture_lines_kept) {
      capture->lines.pop_front();
    }
  }
  if (capture->log != nullptr) {
    std::fputs(line.c_str(), capture->log);
    std::fputc('\n', capture->log);
    std::fflush(capture->log);
  }
  if (capture->pcap) (void)capture->pcap->Write(packet);
}

std::vector<std::string> SimNetwork::CaptureLines(
    const std::string& node) const {
  Capture* capture = nullptr;
  {
    absl::MutexLock lock(&capture_mu_);
    auto it = captures_.find(node);
    if (it == captures_.end()) return {};
    capture = it->second.get();
  }
  absl::MutexLock lock(&capture->mu);
  return {capture->lines.begin(), capture->lines.end()};
}

std::string SimNetwork::CaptureLogPath(const std::string& node) const {
  if (options_.capture_dir.empty()) return "";
  return absl::StrCat(options_.capture_dir, "/", node, ".log");
}

std::string SimNetwork::PcapPath(const std::string& node) const {
  if (options_.capture_dir.empty() || !options_.write_pcap) return "";
  return absl::StrCat(options_.capture_dir, "/", node, ".pcap");
}

absl::Status SimNetwork::FlushCaptures() {
  absl::MutexLock lock(&capture_mu_);
  absl::Status status;
  for (auto& [node, capture] : captures_) {
    absl::MutexLock capture_lock(&capture->mu);
    if (capture->log != nullptr && std::fflush(capture->log) != 0) {
      status.Update(absl::InternalError(
          absl::StrCat("flush ", capture->log_path, ": ", strerror(errno))));
    }
    if (capture->pcap) status.Update(capture->pcap->Flush());
  }
  return status;
}

}  // namespace kmesh::sim
