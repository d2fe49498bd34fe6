#include "sim/cluster/chaos_soak.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/cluster/daemon_node_agent.h"
#include "sim/cluster/managed_mesh.h"
#include "sim/cluster/sim_cluster.h"
#include "sim/net/ip_packet.h"

namespace kmesh::sim {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using json = nlohmann::json;

constexpr char kNamespace[] = "chaos";
constexpr uint32_t kReqid = 0x4b4d5348;  // "KMSH", xfrm-layout.md.
constexpr size_t kMaxViolations = 40;

std::string PodName(const std::string& node) { return "app-" + node; }

std::string Hex(uint32_t v) { return absl::StrFormat("0x%x", v); }

// What the scheduler can do, with its weight (how often it is picked).
enum class Fault {
  kApi5xx,
  kApiTimeout,
  kWatchCut,
  kWatch410,
  kApiRestart,
  kDumpEnobufs,
  kDumpEintr,
  kAddEexist,
  kDaemonSigterm,
  kDaemonKill9,
  kKeyGarbage,
  kKeyHalfWritten,
  kNodeJoin,
  kNodeLeave,
};
struct FaultKind {
  Fault fault;
  const char* name;
  int weight;
};
constexpr FaultKind kFaults[] = {
    {Fault::kApi5xx, "api_5xx", 6},
    {Fault::kApiTimeout, "api_timeout", 2},
    {Fault::kWatchCut, "watch_cut", 4},
    {Fault::kWatch410, "watch_410", 2},
    {Fault::kApiRestart, "api_restart", 2},
    {Fault::kDumpEnobufs, "netlink_dump_enobufs", 3},
    {Fault::kDumpEintr, "netlink_dump_eintr", 3},
    {Fault::kAddEexist, "netlink_add_eexist", 2},
    {Fault::kDaemonSigterm, "daemon_sigterm", 2},
    {Fault::kDaemonKill9, "daemon_kill9", 2},
    {Fault::kKeyGarbage, "key_file_garbage", 2},
    {Fault::kKeyHalfWritten, "key_file_half_written", 2},
    {Fault::kNodeJoin, "node_join", 1},
    {Fault::kNodeLeave, "node_leave", 1},
};

class Soak {
 public:
  explicit Soak(ChaosSoakOptions options)
      : options_(std::move(options)), rng_(options_.seed) {}

  absl::StatusOr<ChaosSoakReport> Run();

 private:
  struct Endpoint {
    SimPodInfo pod;
    Clock::time_point joined;
  };

  // --- Helpers ---------------------------------------------------------------
  uint64_t Uniform(uint64_t lo, uint64_t hi) {  // [lo, hi]
    return lo + rng_() % (hi - lo + 1);
  }
  double Unit() { return (rng_() >> 11) * (1.0 / 9007199254740992.0); }
  double Seconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }
  void Log(const std::string& line) {
    if (options_.log == nullptr) return;
    absl::MutexLock lock(&log_mu_);
    *options_.log << absl::StrFormat("[%8.3f] ", Seconds()) << line << "\n";
    options_.log->flush();
  }
  void Violation(const std::string& what) {
    absl::MutexLock lock(&mu_);
    if (report_.violations.size() < kMaxViolations) {
      report_.violations.push_back(
          absl::StrFormat("t=%.3fs %s", Seconds(), what));
    }
  }
  // Retries a write of the simulator's own (the faults hit its client too).
  absl::Status Retry(const std::function<absl::Status()>& op) {
    absl::Status status;
    for (int i = 0; i < 100; ++i) {
      status = op();
      if (status.ok()) return status;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return status;
  }
  std::vector<std::string> LiveNodes() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& [node, endpoint] : endpoints_) out.push_back(node);
    return out;
  }
  std::string PickNode() {
    std::vector<std::string> nodes = LiveNodes();
    return nodes[Uniform(0, nodes.size() - 1)];
  }
  void After(milliseconds delay, std::function<void()> action) {
    pending_.emplace(Clock::now() + delay, std::move(action));
  }

  // --- Traffic and the wire check
  // ---------------------------------------------
  void TrafficLoop();
  void SendRound();
  bool OnWire(const std::string& from, const std::string& to,
              const std::vector<uint8_t>& packet);

  // --- Faults
  // -----------------------------------------------------------------
  void InjectFault();
  void Rotate();
  absl::Status AddEndpoint(const std::string& node);
  void JoinNode();
  void LeaveNode();
  // Deletes the node's pods, Node and KmeshNodeInfo, retrying under the
  // faults (what a failed RemoveNode left behind).
  void FinishRemoval(const std::string& node);
  void CorruptKeyFile(const std::string& node, bool half_written);
  void TallyApiLog();

  // --- The desired state
  // --------------------------------------------------------
  std::vector<std::string> DesiredStateDiff();

  const ChaosSoakOptions options_;
  std::mt19937_64 rng_;
  Clock::time_point start_;
  std::unique_ptr<SimCluster> cluster_;
  uint32_t spi_ = 0;
  int joined_ = 0;
  std::multimap<Clock::time_point, std::function<void()>> pending_;

  absl::Mutex log_mu_;
  absl::Mutex round_mu_;  // Held for a whole round of traffic.
  absl::Mutex mu_;
  std::map<std::string, Endpoint> endpoints_ ABSL_GUARDED_BY(mu_);
  std::set<IpAddress> managed_ips_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<IpAddress, IpAddress>> all_pairs_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> esp_seen_ ABSL_GUARDED_BY(mu_);
  ChaosSoakReport report_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_traffic_{false};
  uint64_t seq_ = 0;
};

void Soak::TrafficLoop() {
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options_.rounds_per_second));
  auto next = Clock::now();
  while (!stop_traffic_.load()) {
    SendRound();
    next += period;
    const auto now = Clock::now();
    if (next < now) next = now;
    std::this_thread::sleep_until(next);
  }
}

void Soak::SendRound() {
  absl::MutexLock round(&round_mu_);
  std::map<std::string, Endpoint> endpoints;
  {
    absl::MutexLock lock(&mu_);
    endpoints = endpoints_;
  }
  const auto now = Clock::now();
  for (const auto& [from, a] : endpoints) {
    for (const auto& [to, b] : endpoints) {
      if (from == to) continue;
      const uint8_t payload[16] = {'K', 'M', 'C', 'H'};
      ++seq_;
      auto packet = BuildUdpPacket(a.pod.ips[0], b.pod.ips[0], 40000, 7,
                                   payload, static_cast<uint16_t>(seq_));
      const SendResult result = cluster_->network().SendFromPod(
          kNamespace, a.pod.name, std::move(packet));
      const bool in_window = now - a.joined < options_.join_window ||
                             now - b.joined < options_.join_window;
      absl::MutexLock lock(&mu_);
      ++report_.sent;
      if (result.delivered()) {
        ++report_.delivered;
        continue;
      }
      const std::string cause = result.loss_cause();
      if (in_window) {
        ++report_.lost_in_window;
        ++report_.losses_in_window_by_cause[cause];
        continue;
      }
      ++report_.lost_outside_window;
      ++report_.losses_outside_by_cause[cause];
      if (report_.violations.size() < kMaxViolations) {
        report_.violations.push_back(absl::StrFormat(
            "t=%.3fs lost %s -> %s (%s -> %s): %s", Seconds(), from, to,
            a.pod.ips[0].ToString(), b.pod.ips[0].ToString(), cause));
      }
    }
  }
}

bool Soak::OnWire(const std::string& from, const std::string& to,
                  const std::vector<uint8_t>& packet) {
  if (packet.size() < 20 || (packet[0] >> 4) != 4) return true;
  const uint8_t proto = packet[9];
  absl::MutexLock lock(&mu_);
  if (proto == kIpProtoEsp) {
    esp_seen_.insert({from, to});
    return true;
  }
  const IpAddress src = IpAddress::FromBytes(IpFamily::kV4, &packet[12]);
  const IpAddress dst = IpAddress::FromBytes(IpFamily::kV4, &packet[16]);
  if (managed_ips_.count(src) == 0 || managed_ips_.count(dst) == 0) {
    return true;
  }
  if (esp_seen_.count({from, to}) == 0) return true;  // Before first ESP.
  ++report_.in_clear;
  if (report_.violations.size() < kMaxViolations) {
    report_.violations.push_back(absl::StrFormat(
        "t=%.3fs IN CLEAR on the wire %s -> %s: %s -> %s proto %d", Seconds(),
        from, to, src.ToString(), dst.ToString(), proto));
  }
  return true;
}

absl::Status Soak::AddEndpoint(const std::string& node) {
  absl::StatusOr<SimPodInfo> pod;
  absl::Status status = Retry([&] {
    pod = cluster_->CreatePod(kNamespace, PodName(node), node,
                              {{"app", "chaos"}});
    if (!pod.ok() && absl::IsAlreadyExists(pod.status())) {
      auto existing = cluster_->network().pod(kNamespace, PodName(node));
      if (existing) pod = *existing;
    }
    return pod.status();
  });
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  for (const auto& [other, endpoint] : endpoints_) {
    all_pairs_.push_back({pod->ips[0], endpoint.pod.ips[0]});
    all_pairs_.push_back({endpoint.pod.ips[0], pod->ips[0]});
  }
  managed_ips_.insert(pod->ips[0]);
  endpoints_[node] = Endpoint{*pod, Clock::now()};
  return absl::OkStatus();
}

void Soak::Rotate() {
  const uint32_t spi = spi_ + 1;
  absl::Status s =
      Retry([&] { return cluster_->WriteIpsecSecret(static_cast<int>(spi)); });
  if (!s.ok()) {
    Log(absl::StrCat("rotation to spi ", spi, " failed: ", s.ToString()));
    return;
  }
  spi_ = spi;
  absl::MutexLock lock(&mu_);
  ++report_.rotations;
}

void Soak::JoinNode() {
  const std::string node = absl::StrCat("join", ++joined_);
  absl::Status s = cluster_->AddNode(node);
  if (!s.ok()) {
    // The Node object could not be written, or the daemon did not start
    // under the faults: take whatever exists away again.
    Log(absl::StrCat("join of ", node, " failed: ", s.ToString()));
    if (cluster_->network().node(node)) (void)cluster_->RemoveNode(node);
    FinishRemoval(node);
    return;
  }
  if (absl::Status added = AddEndpoint(node); !added.ok()) {
    Log(absl::StrCat("pod on ", node, " not created: ", added.ToString()));
  }
}

void Soak::LeaveNode() {
  const std::string node = PickNode();
  {
    absl::MutexLock lock(&mu_);
    endpoints_.erase(node);
  }
  { absl::MutexLock round(&round_mu_); }  // The round in flight ends.
  absl::Status s = cluster_->RemoveNode(node);
  if (s.ok()) return;
  Log(absl::StrCat("leave of ", node, ": ", s.ToString(), "; finishing it"));
  FinishRemoval(node);
}

void Soak::FinishRemoval(const std::string& node) {
  // What RemoveNode could not delete through the API under the faults.
  auto gone = [&](const ::kmesh::kube::ResourceKind& kind,
                  const std::string& ns, const std::string& name) {
    (void)Retry([&] {
      absl::Status deleted = cluster_->client().Delete(kind, ns, name);
      return absl::IsNotFound(deleted) ? absl::OkStatus() : deleted;
    });
  };
  gone(::kmesh::kube::PodsKind(), kNamespace, PodName(node));
  gone(::kmesh::kube::PodsKind(), "kmesh-system",
       SimCluster::DaemonPodName(node));
  gone(::kmesh::kube::NodesKind(), "", node);
  gone(::kmesh::kube::KmeshNodeInfosKind(), "kmesh-system", node);
}

void Soak::CorruptKeyFile(const std::string& node, bool half_written) {
  const std::string path = cluster_->key_file_path(node);
  std::string current;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    current = buffer.str();
  }
  std::string garbage;
  const uint64_t variant = Uniform(0, 3);
  if (half_written) {
    garbage = current.substr(0, current.size() / 2);
  } else if (variant == 0) {
    garbage.resize(Uniform(1, 200));
    for (char& c : garbage) c = static_cast<char>(rng_() & 0xff);
  } else if (variant == 1) {
    garbage = "";
  } else if (variant == 2) {
    garbage =
        R"j({"spi":0,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"AAAA","length":128})j";
  } else {
    garbage = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[";
  }
  // In place, through the symlink, as a careless writer would: the daemon
  // may read it at any moment.
  auto write = [&](const std::string& content) {
    std::error_code ec;
    const auto target = std::filesystem::canonical(path, ec);
    if (ec) return;
    ::chmod(target.c_str(), 0600);
    const int fd = ::open(target.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) return;
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n =
          ::write(fd, content.data() + done, content.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  };
  write(garbage);
  if (half_written && !current.empty()) {
    std::this_thread::sleep_for(milliseconds(Uniform(5, 50)));
    write(current);  // The writer finishes.
  }
  // kubelet's next sync of the pod puts the Secret's content back.
  After(milliseconds(Uniform(200, 2000)),
        [this, node] { cluster_->secret_projector().ResyncNow(node); });
}

void Soak::InjectFault() {
  int total = 0;
  for (const FaultKind& k : kFaults) total += k.weight;
  int pick = static_cast<int>(Uniform(0, total - 1));
  const FaultKind* kind = &kFaults[0];
  for (const FaultKind& k : kFaults) {
    if (pick < k.weight) {
      kind = &k;
      break;
    }
    pick -= k.weight;
  }
  const size_t live = LiveNodes().size();
  if (kind->fault == Fault::kNodeJoin &&
      live >= static_cast<size_t>(options_.max_nodes)) {
    return;
  }
  if (kind->fault == Fault::kNodeLeave &&
      live <= static_cast<size_t>(options_.min_nodes)) {
    return;
  }
  kube::ApiServer& api = cluster_->api_server();
  std::string detail;
  switch (kind->fault) {
    case Fault::kApi5xx: {
      static constexpr int kCodes[] = {500, 502, 503, 504};
      const int code = kCodes[Uniform(0, 3)];
      const int count = static_cast<int>(Uniform(1, 6));
      static constexpr const char* kMethods[] = {"", "GET", "PUT", "POST",
                                                 "DELETE"};
      const char* method = kMethods[Uniform(0, 4)];
      api.FailNext(count, code, {method, ""});
      detail =
          absl::StrCat(count, " x ", code, " on ", *method ? method : "any");
      break;
    }
    case Fault::kApiTimeout: {
      const milliseconds delay(options_.request_timeout.count() +
                               Uniform(100, 1000));
      const milliseconds lasting(Uniform(300, 2000));
      // The server ends the fault itself: a callback would wait behind a
      // daemon start that this very fault keeps failing (each start retries
      // reading its Node for up to 30 s), and the fault would last that long.
      api.SetResponseDelay(delay, lasting);
      detail = absl::StrCat(delay.count(), " ms per answer for ",
                            lasting.count(), " ms");
      break;
    }
    case Fault::kWatchCut:
      api.DropWatches();
      break;
    case Fault::kWatch410:
      api.store().CompactHistory();
      api.DropWatches();
      break;
    case Fault::kApiRestart: {
      const milliseconds down(Uniform(100, 2000));
      api.SimulateRestart(down);
      detail = absl::StrCat("down ", down.count(), " ms");
      break;
    }
    case Fault::kDumpEnobufs:
    case Fault::kDumpEintr:
    case Fault::kAddEexist: {
      const std::string node = PickNode();
      auto kernel = cluster_->network().kernel(node);
      if (!kernel) return;
      const int count = static_cast<int>(Uniform(1, 3));
      XfrmOp op;
      int err;
      if (kind->fault == Fault::kAddEexist) {
        op = Uniform(0, 1) == 0 ? XfrmOp::kAddSa : XfrmOp::kAddPolicy;
        err = EEXIST;
      } else {
        op = Uniform(0, 1) == 0 ? XfrmOp::kDumpSas : XfrmOp::kDumpPolicies;
        err = kind->fault == Fault::kDumpEnobufs ? ENOBUFS : EINTR;
      }
      kernel->xfrm().FailNext(
          op, count, KernelError(err, absl::StrCat("XFRM ", XfrmOpName(op))));
      detail = absl::StrCat(node, ": next ", count, " ", XfrmOpName(op));
      break;
    }
    case Fault::kDaemonSigterm:
    case Fault::kDaemonKill9: {
      const std::string node = PickNode();
      const AgentStop mode = kind->fault == Fault::kDaemonSigterm
                                 ? AgentStop::kGraceful
                                 : AgentStop::kKill;
      const milliseconds down(Uniform(50, 1500));
      (void)cluster_->StopAgentOnly(node, mode);
      After(down, [this, node] {
        absl::Status s = cluster_->StartStoppedAgent(node);
        if (!s.ok() && !absl::IsNotFound(s) && !absl::IsFailedPrecondition(s)) {
          Log(absl::StrCat("daemon on ", node, " did not start: ", s.ToString(),
                           "; retrying"));
          // A crash-looping pod: kubelet starts it again.
          pending_.emplace(Clock::now() + milliseconds(500), [this, node] {
            (void)cluster_->StartStoppedAgent(node);
          });
        }
      });
      detail = absl::StrCat(node, " down ", down.count(), " ms");
      break;
    }
    case Fault::kKeyGarbage:
    case Fault::kKeyHalfWritten: {
      const std::string node = PickNode();
      CorruptKeyFile(node, kind->fault == Fault::kKeyHalfWritten);
      detail = node;
      break;
    }
    case Fault::kNodeJoin:
      JoinNode();
      break;
    case Fault::kNodeLeave:
      LeaveNode();
      break;
  }
  {
    absl::MutexLock lock(&mu_);
    ++report_.faults[kind->name];
  }
  Log(absl::StrCat(kind->name, detail.empty() ? "" : ": ", detail));
}

void Soak::TallyApiLog() {
  kube::ApiServer& api = cluster_->api_server();
  const auto log = api.RequestLog();
  api.ClearRequestLog();
  absl::MutexLock lock(&mu_);
  for (const auto& record : log) {
    if (record.code >= 400) ++report_.api_error_codes[record.code];
  }
}

std::vector<std::string> Soak::DesiredStateDiff() {
  std::vector<std::string> diff;
  const std::vector<std::string> nodes = LiveNodes();
  std::map<std::string, SimNodeInfo> info;
  for (const std::string& node : nodes) {
    auto n = cluster_->network().node(node);
    if (!n) {
      diff.push_back(absl::StrCat(node, ": not on the network"));
      return diff;
    }
    info[node] = *n;
  }
  for (const std::string& self : nodes) {
    auto kernel = cluster_->network().kernel(self);
    const SimNodeInfo& me = info[self];
    const std::string n_ip = me.addresses[0].ToString();
    std::set<std::string> want_sas, want_policies, want_peers, want_cidrs;
    want_policies.insert("block out 0.0.0.0/0 -> 0.0.0.0/0 mark 0xe0/0xff");
    want_policies.insert("block out ::/0 -> ::/0 mark 0xe0/0xff");
    for (const std::string& peer : nodes) {
      if (peer == self) continue;
      const SimNodeInfo& p = info[peer];
      const std::string p_ip = p.addresses[0].ToString();
      want_sas.insert(absl::StrCat("in ", p_ip, " -> ", n_ip, " spi ", spi_));
      want_sas.insert(absl::StrCat("out ", n_ip, " -> ", p_ip, " spi ", spi_));
      for (const IpPrefix& cidr : p.pod_cidrs) {
        if (cidr.address().family() != IpFamily::kV4) continue;
        for (const char* dir : {"in", "fwd"}) {
          want_policies.insert(absl::StrCat("allow ", dir, " ", cidr.ToString(),
                                            " -> ", me.pod_cidrs[0].ToString(),
                                            " mark 0xd0/0xff tmpl ", p_ip,
                                            " -> ", n_ip, " spi 0"));
        }
        want_policies.insert(absl::StrCat(
            "allow out 0.0.0.0/0 -> ", cidr.ToString(), " mark 0xe0/0xff tmpl ",
            n_ip, " -> ", p_ip, " spi ", spi_));
        want_cidrs.insert(cidr.ToString());
      }
      for (const IpAddress& a : p.addresses) want_peers.insert(a.ToString());
    }

    // What the node's kernel holds, in the same words.
    std::set<std::string> have_sas, have_policies, have_peers, have_cidrs;
    std::map<std::string, uint16_t> inbound_index;  // Peer address -> index.
    auto sas = kernel->xfrm().DumpSas();
    auto policies = kernel->xfrm().DumpPolicies();
    auto peers = kernel->marker_maps().DumpPeers();
    auto cidrs = kernel->marker_maps().DumpEncryptCidrs();
    auto unmanaged = kernel->marker_maps().DumpUnmanagedPods();
    if (!sas.ok() || !policies.ok() || !peers.ok() || !cidrs.ok() ||
        !unmanaged.ok()) {
      diff.push_back(absl::StrCat(self, ": dump failed"));
      continue;
    }
    for (const XfrmSa& sa : *sas) {
      std::string dir = "?";
      if (sa.mark.mask == 0xffff00ff && (sa.mark.value & 0xff) == 0xd0 &&
          (sa.mark.value >> 16) != 0) {
        dir = "in";
        inbound_index[sa.src.ToString()] = sa.mark.value >> 16;
      } else if (sa.mark.mask == 0xff && sa.mark.value == 0xe0) {
        dir = "out";
      }
      std::string text = absl::StrCat(dir, " ", sa.src.ToString(), " -> ",
                                      sa.dst.ToString(), " spi ", sa.spi);
      if (sa.reqid != kReqid) absl::StrAppend(&text, " reqid ", Hex(sa.reqid));
      have_sas.insert(text);
    }
    for (const XfrmPolicy& policy : *policies) {
      std::string text = absl::StrCat(
          policy.action == XfrmAction::kBlock ? "block " : "allow ",
          XfrmDirName(policy.dir), " ", policy.selector.src.ToString(), " -> ",
          policy.selector.dst.ToString(), " mark ", Hex(policy.mark.value), "/",
          Hex(policy.mark.mask));
      for (const XfrmTemplate& t : policy.templates) {
        absl::StrAppend(&text, " tmpl ", t.src.ToString(), " -> ",
                        t.dst.ToString(), " spi ", t.spi);
      }
      have_policies.insert(text);
    }
    for (const PeerMarkerEntry& entry : *peers) {
      const std::string address = entry.address.ToString();
      have_peers.insert(address);
      auto it = inbound_index.find(address);
      if (it != inbound_index.end() && it->second != entry.peer_index) {
        diff.push_back(absl::StrCat(self, ": decrypt-marker peer ", address,
                                    " has index ", entry.peer_index,
                                    ", its inbound SA ", it->second));
      }
    }
    for (const IpPrefix& cidr : *cidrs) have_cidrs.insert(cidr.ToString());
    for (const IpAddress& pod : *unmanaged) {
      diff.push_back(
          absl::StrCat(self, ": leaked unmanaged-pod entry ", pod.ToString()));
    }
    auto compare = [&](const char* what, const std::set<std::string>& want,
                       const std::set<std::string>& have) {
      for (const std::string& w : want) {
        if (have.count(w) == 0) {
          diff.push_back(absl::StrCat(self, ": missing ", what, " ", w));
        }
      }
      for (const std::string& h : have) {
        if (want.count(h) == 0) {
          diff.push_back(absl::StrCat(self, ": leaked ", what, " ", h));
        }
      }
    };
    compare("SA", want_sas, have_sas);
    compare("policy", want_policies, have_policies);
    compare("decrypt-marker peer", want_peers, have_peers);
    compare("encrypt CIDR", want_cidrs, have_cidrs);
    auto hooked = kernel->InterfaceEncryptMarker("veth-" + PodName(self));
    if (!hooked.ok() || !*hooked) {
      diff.push_back(
          absl::StrCat(self, ": encrypt marker not on veth-", PodName(self)));
    }
  }

  // The records: exactly one per live node, as the node is.
  auto list = cluster_->client().List(::kmesh::kube::KmeshNodeInfosKind(),
                                      "kmesh-system", {});
  if (!list.ok()) {
    diff.push_back(
        absl::StrCat("KmeshNodeInfo list: ", list.status().ToString()));
    return diff;
  }
  std::set<std::string> seen;
  for (const std::string& item : list->items) {
    const json object = json::parse(item, nullptr, false);
    if (object.is_discarded()) continue;
    const std::string name = object["metadata"].value("name", "");
    seen.insert(name);
    if (info.count(name) == 0) {
      diff.push_back(absl::StrCat("leaked KmeshNodeInfo ", name));
      continue;
    }
    const json& spec = object["spec"];
    const SimNodeInfo& node = info[name];
    json want_addresses = json::array();
    for (const IpAddress& a : node.addresses) {
      want_addresses.push_back(a.ToString());
    }
    json want_cidrs = json::array();
    for (const IpPrefix& c : node.pod_cidrs) want_cidrs.push_back(c.ToString());
    if (!spec.is_object() || spec.value("spi", -1) != static_cast<int>(spi_) ||
        spec.value("bootID", "") != cluster_->boot_id(name) ||
        spec.value("addresses", json()) != want_addresses ||
        spec.value("podCIDRS", json()) != want_cidrs) {
      diff.push_back(absl::StrCat("KmeshNodeInfo ", name, " is ", spec.dump(),
                                  "; want spi ", spi_, ", ",
                                  want_addresses.dump(), ", ",
                                  want_cidrs.dump(), ", its boot ID"));
    }
  }
  for (const std::string& node : nodes) {
    if (seen.count(node) == 0) {
      diff.push_back(absl::StrCat("missing KmeshNodeInfo ", node));
    }
  }
  return diff;
}

absl::StatusOr<ChaosSoakReport> Soak::Run() {
  if (options_.state_dir.empty()) {
    return absl::InvalidArgumentError("state_dir is required");
  }
  std::error_code ec;
  std::filesystem::remove_all(options_.state_dir, ec);
  std::filesystem::create_directories(options_.state_dir, ec);
  report_.seed = options_.seed;
  start_ = Clock::now();
  Log(absl::StrCat("chaos soak: seed ", options_.seed, ", ",
                   options_.duration.count() / 1000.0, " s of faults, ",
                   options_.nodes, " nodes"));

  SimClusterOptions cluster_options;
  cluster_options.state_dir = options_.state_dir;
  cluster_options.nodes.clear();
  for (int i = 0; i < options_.nodes; ++i) {
    cluster_options.nodes.push_back(absl::StrCat("node", i));
  }
  cluster_options.ipsec_grace_period = options_.grace_period;
  cluster_options.capture_lines_kept = 0;
  // kubelet syncs each node's secret volume at its own time.
  for (const std::string& node : cluster_options.nodes) {
    cluster_options.key_delays[node] = milliseconds(Uniform(0, 500));
  }
  DaemonNodeAgentOptions daemon;
  daemon.request_timeout = options_.request_timeout;
  auto factory = DaemonNodeAgentFactory(daemon);
  if (!factory.ok()) return factory.status();
  cluster_options.agent_factory = *factory;
  auto cluster = SimCluster::Start(cluster_options);
  if (!cluster.ok()) return cluster.status();
  cluster_ = *std::move(cluster);

  if (absl::Status s = cluster_->CreateNamespace(
          kNamespace, {{kDataplaneModeLabel, "Kmesh"}});
      !s.ok()) {
    return s;
  }
  for (const std::string& node : cluster_->node_names()) {
    if (absl::Status s = AddEndpoint(node); !s.ok()) return s;
  }
  cluster_->network().SetWireFilter([this](const std::string& from,
                                           const std::string& to,
                                           std::vector<uint8_t>& packet) {
    return OnWire(from, to, packet);
  });
  std::thread traffic([this] { TrafficLoop(); });

  // The first key, under traffic, then the faults.
  Rotate();
  const auto fault_end = Clock::now() + options_.duration;
  auto next_fault = Clock::now();
  auto next_rotation = Clock::now() + options_.rotation_interval;
  auto next_tally = Clock::now() + std::chrono::seconds(5);
  auto next_status = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < fault_end) {
    while (!pending_.empty() && pending_.begin()->first <= Clock::now()) {
      auto action = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      action();
    }
    const auto now = Clock::now();
    if (now >= next_rotation) {
      Rotate();
      Log(absl::StrCat("rotation to spi ", spi_));
      next_rotation =
          now + milliseconds(static_cast<int64_t>(
                    options_.rotation_interval.count() * (0.5 + Unit())));
    }
    if (now >= next_fault) {
      InjectFault();
      next_fault =
          now +
          milliseconds(static_cast<int64_t>(
              -std::log(1.0 - Unit()) * options_.mean_fault_interval.count()));
    }
    if (now >= next_tally) {
      TallyApiLog();
      next_tally = now + std::chrono::seconds(5);
    }
    if (now >= next_status) {
      absl::MutexLock lock(&mu_);
      Log(absl::StrCat("status: sent ", report_.sent, ", lost in window ",
                       report_.lost_in_window, ", outside ",
                       report_.lost_outside_window, ", in clear ",
                       report_.in_clear, ", nodes ", endpoints_.size(),
                       ", spi ", spi_));
      next_status = now + std::chrono::seconds(30);
    }
    std::this_thread::sleep_for(milliseconds(5));
  }

  // Quiet phase: undo every fault still in force; kubelet restarts any
  // daemon that is down and syncs every key volume.
  Log("faults stop; quiet phase");
  while (!pending_.empty()) {
    auto action = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    action();
  }
  kube::ApiServer& api = cluster_->api_server();
  api.ClearFaults();
  for (const std::string& node : LiveNodes()) {
    auto kernel = cluster_->network().kernel(node);
    for (size_t op = 0; op < kXfrmOpCount; ++op) {
      kernel->xfrm().FailNext(static_cast<XfrmOp>(op), 0, absl::OkStatus());
    }
    if (cluster_->agent(node) == nullptr) {
      (void)Retry([&] { return cluster_->StartStoppedAgent(node); });
    }
    cluster_->secret_projector().ResyncNow(node);
  }
  const auto quiet_start = Clock::now();
  std::vector<std::string> diff;
  int clean = 0;
  while (Clock::now() - quiet_start < options_.quiet_timeout) {
    diff = DesiredStateDiff();
    clean = diff.empty() ? clean + 1 : 0;
    if (clean >= 3) break;
    std::this_thread::sleep_for(milliseconds(500));
  }
  const auto converged_at = Clock::now();
  // A last stretch of traffic on the converged cluster.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop_traffic_ = true;
  traffic.join();
  cluster_->network().SetWireFilter(nullptr);
  TallyApiLog();

  ChaosSoakReport report;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [src, dst] : all_pairs_) {
      report_.in_clear_wire_monitor +=
          cluster_->network().wire().PlaintextAfterEsp(src, dst);
    }
    report_.converged = clean >= 3;
    report_.convergence_time =
        std::chrono::duration_cast<milliseconds>(converged_at - quiet_start);
    report_.final_diff = diff;
    report_.final_nodes = static_cast<int>(endpoints_.size());
    report_.final_spi = spi_;
    report = report_;
  }
  Log(report.Summary());
  cluster_->Stop();
  cluster_.reset();
  std::filesystem::remove_all(options_.state_dir, ec);
  return report;
}

std::string FormatMap(const std::map<std::string, uint64_t>& m) {
  if (m.empty()) return "none";
  return absl::StrJoin(m, ", ", absl::PairFormatter(" "));
}

}  // namespace

std::string ChaosSoakReport::Summary() const {
  std::string out = absl::StrCat("chaos soak summary (seed ", seed, ")\n");
  uint64_t total = 0;
  for (const auto& [kind, n] : faults) total += n;
  absl::StrAppend(&out, "  faults injected: ", total, " (", FormatMap(faults),
                  "), rotations ", rotations, "\n");
  std::map<std::string, uint64_t> codes;
  for (const auto& [code, n] : api_error_codes) codes[absl::StrCat(code)] = n;
  absl::StrAppend(
      &out, "  API answers >= 400 seen by clients: ", FormatMap(codes), "\n");
  absl::StrAppend(&out, "  packets: sent ", sent, ", delivered ", delivered,
                  ", lost in named windows ", lost_in_window, " (",
                  FormatMap(losses_in_window_by_cause), "), lost outside ",
                  lost_outside_window, " (", FormatMap(losses_outside_by_cause),
                  ")\n");
  absl::StrAppend(&out, "  managed packets in clear after ESP: ", in_clear,
                  " (wire monitor: ", in_clear_wire_monitor, ")\n");
  absl::StrAppend(&out, "  final state: ", final_nodes, " nodes at spi ",
                  final_spi, ", ",
                  converged ? absl::StrCat("converged exactly in ",
                                           convergence_time.count(), " ms")
                            : "NOT converged",
                  "; diff: ", final_diff.empty() ? "none" : "");
  for (const std::string& line : final_diff) {
    absl::StrAppend(&out, "\n    ", line);
  }
  absl::StrAppend(&out, "\n");
  for (const std::string& v : violations) {
    absl::StrAppend(&out, "  violation: ", v, "\n");
  }
  absl::StrAppend(&out, "  verdict: ", ok() ? "PASS" : "FAIL", " (seed ", seed,
                  ")");
  return out;
}

absl::StatusOr<ChaosSoakReport> RunChaosSoak(ChaosSoakOptions options) {
  if (options.seed == 0) options.seed = std::random_device()() | 1;
  Soak soak(std::move(options));
  return soak.Run();
}

}  // namespace kmesh::sim
