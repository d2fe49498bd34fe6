#include "sim/cluster/timeline_recorder.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/kube/kube_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/object_store.h"

namespace kmesh::sim {
namespace {

constexpr char kKmeshNamespace[] = "kmesh-system";
constexpr char kSecretName[] = "kmesh-ipsec";

uint64_t Rise(uint64_t now, uint64_t before) {
  return now > before ? now - before : 0;
}

const kube::ResourceType* FindType(kube::ObjectStore& store,
                                   const kmesh::kube::ResourceKind& kind) {
  return store.FindType(kind.group, kind.version, kind.plural);
}

// The SPI the stored Secret's key (data.ipSec, Kmesh's JSON) holds, or 0.
int SecretSpi(const nlohmann::json& secret) {
  if (!secret.contains("data") || !secret["data"].is_object()) return 0;
  const nlohmann::json& data = secret["data"];
  if (!data.contains("ipSec") || !data["ipSec"].is_string()) return 0;
  std::string key;
  if (!absl::Base64Unescape(data["ipSec"].get<std::string>(), &key)) return 0;
  const nlohmann::json parsed = nlohmann::json::parse(key, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("spi") ||
      !parsed["spi"].is_number_integer()) {
    return 0;
  }
  return parsed["spi"].get<int>();
}

}  // namespace

TimelineRecorder::TimelineRecorder(SimCluster* cluster, Traffic* traffic,
                                   std::string title,
                                   TimelineRecorderOptions options)
    : cluster_(*cluster),
      traffic_(*traffic),
      options_(std::move(options)),
      start_(std::chrono::steady_clock::now()),
      timeline_(std::move(title)) {
  timeline_.SetTimeAxisLabel(options_.time_axis_label);
}

TimelineRecorder::~TimelineRecorder() { Stop(); }

double TimelineRecorder::Now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start_)
      .count();
}

void TimelineRecorder::Start() {
  {
    absl::MutexLock lock(&sample_mu_);
    if (started_) return;
    start_ = std::chrono::steady_clock::now();
    {
      absl::MutexLock timeline_lock(&mu_);
      for (const std::string& node : cluster_.node_names()) {
        timeline_.AddNode(node);
      }
    }
    Sample();
    started_ = true;
  }
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = false;
  }
  thread_ = std::thread([this] {
    const auto stop_requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                    run_mu_) { return stop_requested_; };
    absl::MutexLock lock(&run_mu_);
    while (!run_mu_.AwaitWithTimeout(absl::Condition(&stop_requested),
                                     absl::FromChrono(options_.period))) {
      run_mu_.Unlock();
      SampleNow();
      run_mu_.Lock();
    }
  });
}

void TimelineRecorder::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stop_requested_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&sample_mu_);
  if (!started_) return;
  Sample();
  started_ = false;
  absl::MutexLock timeline_lock(&mu_);
  timeline_.SetEnd(last_sample_s_);
}

void TimelineRecorder::MarkStep(const std::string& name) {
  const double now = Now();
  absl::MutexLock lock(&mu_);
  timeline_.AddStep(now, name);
}

void TimelineRecorder::SampleNow() {
  absl::MutexLock lock(&sample_mu_);
  if (started_) Sample();
}

std::map<TimelineRecorder::NodePair, TimelineRecorder::PairCounts>
TimelineRecorder::Count() {
  std::map<NodePair, PairCounts> counts;
  const std::vector<std::string> nodes = cluster_.node_names();
  for (const std::string& a : nodes) {
    for (const std::string& b : nodes) {
      if (a != b) counts[{a, b}];
    }
  }
  WireMonitor& wire = cluster_.network().wire();
  for (const auto& [key, c] : wire.Snapshot()) {
    if (!key.esp || key.spi == 0) continue;  // 0: a later fragment.
    auto it = counts.find({key.from_node, key.to_node});
    if (it != counts.end()) it->second.esp_by_spi[key.spi] += c.packets;
  }
  std::map<std::string, SimPodInfo> pods;  // By key().
  for (const SimPodInfo& pod : cluster_.network().pods()) {
    pods[pod.key()] = pod;
  }
  for (const auto& [a_key, a] : pods) {
    if (options_.is_managed && !options_.is_managed(a)) continue;
    for (const auto& [b_key, b] : pods) {
      if (a.node == b.node) continue;
      if (options_.is_managed && !options_.is_managed(b)) continue;
      auto it = counts.find({a.node, b.node});
      if (it == counts.end()) continue;
      for (const IpAddress& src : a.ips) {
        for (const IpAddress& dst : b.ips) {
          if (src.family() != dst.family()) continue;
          it->second.in_clear += wire.PlaintextPackets(src, dst);
          it->second.in_clear_after_esp += wire.PlaintextAfterEsp(src, dst);
        }
      }
    }
  }
  for (const FlowStats& flow : traffic_.Stats()) {
    auto client = pods.find(flow.spec.client_ns + "/" + flow.spec.client);
    auto server = pods.find(flow.spec.server_ns + "/" + flow.spec.server);
    if (client == pods.end() || server == pods.end()) continue;
    const std::string& c = client->second.node;
    const std::string& s = server->second.node;
    if (auto it = counts.find({c, s}); it != counts.end()) {
      it->second.delivered += flow.request.received;
      it->second.lost += flow.request.lost;
    }
    if (auto it = counts.find({s, c}); it != counts.end()) {
      it->second.delivered += flow.response.received;
      it->second.lost += flow.response.lost;
    }
  }
  return counts;
}

void TimelineRecorder::Sample() {
  const double now = Now();
  const bool baseline = !started_;
  std::map<NodePair, PairCounts> counts = Count();
  std::vector<TimelinePairSample> samples;
  if (!baseline) {
    for (const auto& [pair, c] : counts) {
      const PairCounts& before = last_counts_[pair];
      TimelinePairSample s;
      s.from_node = pair.first;
      s.to_node = pair.second;
      s.start_s = last_sample_s_;
      s.end_s = now;
      for (const auto& [spi, n] : c.esp_by_spi) {
        auto was = before.esp_by_spi.find(spi);
        const uint64_t rise =
            Rise(n, was == before.esp_by_spi.end() ? 0 : was->second);
        if (rise > 0) s.esp_packets_by_spi[spi] = rise;
      }
      s.in_clear_after_esp =
          Rise(c.in_clear_after_esp, before.in_clear_after_esp);
      s.in_clear_before_esp = Rise(c.in_clear - c.in_clear_after_esp,
                                   before.in_clear - before.in_clear_after_esp);
      s.delivered = Rise(c.delivered, before.delivered);
      s.lost = Rise(c.lost, before.lost);
      samples.push_back(std::move(s));
    }
  }
  last_counts_ = std::move(counts);
  last_sample_s_ = now;

  // The Secret and the advertisements, from the API server's store.
  std::vector<std::pair<double, uint32_t>> writes;
  std::vector<std::pair<std::string, uint32_t>> advertisements;
  kube::ObjectStore& store = cluster_.api_server().store();
  if (const kube::ResourceType* secrets =
          FindType(store, kmesh::kube::SecretsKind())) {
    auto secret = store.Get(*secrets, kKmeshNamespace, kSecretName);
    if (secret.ok()) {
      const std::string version =
          (*secret)["metadata"].value("resourceVersion", "");
      if (version != secret_version_) {
        secret_version_ = version;
        const int spi = SecretSpi(*secret);
        if (!baseline && spi > 0) {
          writes.push_back({now, static_cast<uint32_t>(spi)});
        }
      }
    }
  }
  if (const kube::ResourceType* infos =
          FindType(store, kmesh::kube::KmeshNodeInfosKind())) {
    auto list = store.List(*infos, kKmeshNamespace, {});
    if (list.ok()) {
      for (const nlohmann::json& info : list->items) {
        const std::string name = info["metadata"].value("name", "");
        const nlohmann::json& spec =
            info.contains("spec") ? info["spec"] : nlohmann::json();
        const int spi = spec.is_object() && spec.contains("spi") &&
                                spec["spi"].is_number_integer()
                            ? spec["spi"].get<int>()
                            : 0;
        if (spi <= 0 || advertised_[name] == spi) continue;
        advertised_[name] = spi;
        advertisements.push_back({name, static_cast<uint32_t>(spi)});
      }
    }
  }

  // Reclaims: an SPI whose last SA left a node's kernel (a rebooted node's
  // new kernel starts a new record).
  std::vector<std::pair<std::string, uint32_t>> reclaims;
  for (const std::string& node : cluster_.node_names()) {
    std::shared_ptr<SimKernel> kernel = cluster_.network().kernel(node);
    if (!kernel) continue;
    std::set<uint32_t> spis;
    kernel->xfrm().VisitSas([&](const XfrmSa& sa) { spis.insert(sa.spi); });
    auto& [seen_kernel, seen_spis] = sa_spis_[node];
    if (seen_kernel == kernel) {
      for (uint32_t spi : seen_spis) {
        if (!spis.count(spi)) reclaims.push_back({node, spi});
      }
    }
    seen_kernel = kernel;
    seen_spis = std::move(spis);
  }

  absl::MutexLock lock(&mu_);
  for (const TimelinePairSample& s : samples) timeline_.AddPairSample(s);
  for (const auto& [time_s, spi] : writes)
    timeline_.AddSecretWrite(time_s, spi);
  for (const auto& [node, spi] : advertisements) {
    timeline_.AddAdvertisement(now, node, spi);
  }
  for (const auto& [node, spi] : reclaims) {
    timeline_.AddReclaim(now, node, spi);
  }
}

uint64_t TimelineRecorder::lost() const {
  absl::MutexLock lock(&mu_);
  return timeline_.lost();
}

uint64_t TimelineRecorder::in_clear_after_esp() const {
  absl::MutexLock lock(&mu_);
  return timeline_.in_clear_after_esp();
}

std::string TimelineRecorder::RenderSvg() const {
  absl::MutexLock lock(&mu_);
  return timeline_.RenderSvg();
}

absl::Status TimelineRecorder::WriteSvg(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return timeline_.WriteSvg(path);
}

}  // namespace kmesh::sim
