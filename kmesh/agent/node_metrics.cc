#include "kmesh/agent/node_metrics.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kmesh/ipsec/node_view.h"
#include "kmesh/kernel/kernel_error.h"
#include "prometheus/text_serializer.h"

namespace kmesh::agent {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

double Seconds(Duration d) {
  return std::chrono::duration_cast<std::chrono::duration<double>>(d).count();
}

class Families {
 public:
  MetricFamily& Family(const std::string& name, const std::string& help,
                       MetricType type) {
    for (MetricFamily& f : out_) {
      if (f.name == name) return f;
    }
    MetricFamily& f = out_.emplace_back();
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
  }
  void Gauge(const std::string& name, const std::string& help, double value,
             Labels labels = {}) {
    ClientMetric& m =
        Family(name, help, MetricType::Gauge).metric.emplace_back();
    m.label = std::move(labels);
    m.gauge.value = value;
  }
  void Counter(const std::string& name, const std::string& help, double value,
               Labels labels = {}) {
    ClientMetric& m =
        Family(name, help, MetricType::Counter).metric.emplace_back();
    m.label = std::move(labels);
    m.counter.value = value;
  }
  std::vector<MetricFamily> Take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
};

// "ENOBUFS" from "ENOBUFS (No buffer space available)"; "none" for 0.
// "ENOBUFS"; the number for an errno glibc has no name for (e.g. the
// kernel-internal 524), so two unknown errnos never share a label.
std::string ErrnoLabel(int err) {
  if (err == 0) return "none";
  if (const char* name = strerrorname_np(err); name != nullptr) return name;
  return absl::StrCat(err);
}

std::string PeerState(const ipsec::IpsecControllerSnapshot::Peer& p) {
  if (!p.problem.empty() || p.unprogrammable) return "error";
  if (!p.has_record) return "receive_only";
  if (p.outbound_spi == 0) return "waiting";
  return "programmed";
}

constexpr char kPoliciesHelp[] =
    "XFRM policies this daemon owns, by direction (and SPI for out policies; "
    "block = the catch-all drop policies).";
constexpr char kStatesHelp[] =
    "XFRM SAs this daemon owns, by SPI and direction.";

}  // namespace

std::vector<MetricFamily> NodeMetricFamilies(
    const std::optional<NodeStatus>& status, double unix_now) {
  Families f;
  f.Gauge("kmesh_ipsec_up",
          "1 when the node's IPsec agent runs (it has read its Node and "
          "started), else 0.",
          status ? 1 : 0);
  if (!status) return f.Take();
  const ipsec::IpsecControllerSnapshot& c = status->controller;
  // A steady-clock time as Unix seconds.
  auto unix_time = [&](TimePoint t) {
    return unix_now - Seconds(status->now - t);
  };

  f.Gauge("kmesh_ipsec_advertised_spi",
          "The SPI this node's KmeshNodeInfo advertises (0: none yet).",
          c.advertised_spi);
  f.Gauge("kmesh_ipsec_target_spi",
          "The SPI of the newest key this node holds (0: no key).",
          c.target_spi);
  f.Gauge("kmesh_ipsec_keys_held", "Pre-shared keys this node holds.",
          static_cast<double>(c.held_spis.size()));
  if (c.target_learnt_at != TimePoint{}) {
    f.Gauge("kmesh_ipsec_key_learnt_timestamp_seconds",
            "When this daemon learnt the newest key (Unix time); the key "
            "epoch's age is time() minus this.",
            unix_time(c.target_learnt_at));
  }
  f.Gauge("kmesh_ipsec_peers_synced",
          "1 once the lists of KmeshNodeInfos and Nodes were complete once.",
          c.peers_synced ? 1 : 0);

  std::map<std::string, int> peer_states{
      {"programmed", 0}, {"waiting", 0}, {"receive_only", 0}, {"error", 0}};
  for (const auto& p : c.peers) ++peer_states[PeerState(p)];
  for (const auto& [state, count] : peer_states) {
    f.Gauge("kmesh_ipsec_peers",
            "Peer nodes by state: programmed (sent to and received from), "
            "waiting (published, nothing can be sent yet), receive_only (no "
            "KmeshNodeInfo yet), error.",
            count, {{"state", state}});
  }
  // Every reason, so a dashboard sees 0 rather than no series.
  std::map<std::string, int> rejected;
  for (ipsec::RecordProblem problem :
       {ipsec::RecordProblem::kNoNode, ipsec::RecordProblem::kAddressNotOnNode,
        ipsec::RecordProblem::kPodCidrNotOnNode,
        ipsec::RecordProblem::kPodCidrOverlap}) {
    rejected[ipsec::RecordProblemName(problem)] = 0;
  }
  for (const auto& r : c.rejected_records) ++rejected[r.reason];
  for (const auto& [reason, count] : rejected) {
    f.Gauge("kmesh_ipsec_peer_records_rejected",
            "Peer KmeshNodeInfos not used because they disagree with their "
            "Node objects, by reason: no_node, address_not_on_node "
            "(not an InternalIP of the Node), pod_cidr_not_on_node (not "
            "within its spec.podCIDRs), pod_cidr_overlap (another node's).",
            count, {{"reason", reason}});
  }
  f.Counter("kmesh_ipsec_peer_record_rejections_total",
            "Times a peer KmeshNodeInfo was rejected (each distinct problem "
            "of a record once).",
            static_cast<double>(c.stats.records_rejected));
  f.Gauge("kmesh_ipsec_peers_without_index",
          "Peers waiting for a free peer index (all 65535 taken); each gets "
          "one when an index is freed.",
          static_cast<double>(c.peers_without_index));
  f.Counter("kmesh_ipsec_peer_index_exhaustions_total",
            "Times a peer found no free peer index.",
            static_cast<double>(c.stats.index_exhaustions));
  f.Gauge("kmesh_ipsec_pending_reclaims",
          "Old SPIs whose grace period runs (their SAs go when it ends).",
          static_cast<double>(c.pending_reclaims.size()));
  for (const auto& r : c.pending_reclaims) {
    f.Gauge("kmesh_ipsec_reclaim_due_timestamp_seconds",
            "When an old SPI's SAs are reclaimed (Unix time).",
            unix_time(r.due), {{"spi", absl::StrCat(r.spi)}});
  }

  for (const auto& s : status->spis) {
    const std::string spi = absl::StrCat(s.spi);
    f.Gauge("kmesh_ipsec_xfrm_states", kStatesHelp, s.inbound_sas,
            {{"direction", "in"}, {"spi", spi}});
    f.Gauge("kmesh_ipsec_xfrm_states", kStatesHelp, s.outbound_sas,
            {{"direction", "out"}, {"spi", spi}});
    f.Gauge("kmesh_ipsec_xfrm_policies", kPoliciesHelp, s.out_policies,
            {{"direction", "out"}, {"spi", spi}});
  }
  f.Gauge("kmesh_ipsec_xfrm_policies", kPoliciesHelp, status->in_policies,
          {{"direction", "in"}, {"spi", ""}});
  f.Gauge("kmesh_ipsec_xfrm_policies", kPoliciesHelp, status->fwd_policies,
          {{"direction", "fwd"}, {"spi", ""}});
  f.Gauge("kmesh_ipsec_xfrm_policies", kPoliciesHelp, status->block_policies,
          {{"direction", "block"}, {"spi", ""}});
  for (const auto& o : status->outbound_sas) {
    // dst too: a dual-stack peer has one outbound SA per family with the
    // same SPI, and SAs to addresses of no known peer share peer="".
    const Labels labels{
        {"dst", o.dst}, {"peer", o.peer}, {"spi", absl::StrCat(o.spi)}};
    f.Gauge("kmesh_ipsec_outbound_sa_output_seq",
            "The last ESP sequence number an outbound SA used.",
            static_cast<double>(o.output_seq), labels);
    f.Gauge("kmesh_ipsec_outbound_sa_seq_used_ratio",
            "How much of an outbound SA's sequence space is used (1: it "
            "cannot send any more).",
            o.seq_used, labels);
  }
  f.Gauge("kmesh_ipsec_kernel_readable",
          "1 when the XFRM tables and xfrm_stat could be read for this "
          "scrape.",
          status->kernel_error.empty() ? 1 : 0);
  for (const auto& s : status->xfrm_stats) {
    f.Counter("kmesh_ipsec_xfrm_stat_total",
              "The node's /proc/net/xfrm_stat counters (all IPsec on the "
              "node, not only Kmesh's).",
              static_cast<double>(s.value), {{"stat", s.name}});
  }

  f.Counter("kmesh_ipsec_key_changes_total",
            "Keys installed (rotations, the first key, epoch resets).",
            c.stats.key_changes);
  f.Counter("kmesh_ipsec_key_file_errors_total",
            "Unusable key files seen (the last good key is kept).",
            c.stats.key_file_errors);
  f.Counter("kmesh_ipsec_spis_reclaimed_total",
            "Old SPIs whose SAs were removed after the grace period.",
            c.stats.spis_reclaimed);
  f.Counter("kmesh_ipsec_reclaim_holds_total",
            "Samples that found an old SPI still received with after its "
            "grace period (a peer's view of this node is behind): kept.",
            c.stats.reclaim_holds);
  f.Counter("kmesh_ipsec_reclaims_forced_total",
            "Old SPIs removed at the end of their hold while a peer still "
            "sent with them (or their counters could not be read).",
            c.stats.reclaims_forced);
  f.Counter("kmesh_ipsec_full_reconciles_total",
            "Full dump-and-reconcile passes of the XFRM tables.",
            c.stats.full_reconciles);
  if (c.last_good_full_reconcile != TimePoint{}) {
    f.Gauge("kmesh_ipsec_last_full_reconcile_success_timestamp_seconds",
            "When the last full reconcile succeeded (Unix time).",
            unix_time(c.last_good_full_reconcile));
  }
  f.Family("kmesh_ipsec_reconcile_errors_total",
           "Failed XFRM operations by operation and errno (none: refused "
           "before reaching the kernel).",
           MetricType::Counter);
  for (const auto& [key, count] : c.xfrm_errors_by_op) {
    f.Counter("kmesh_ipsec_reconcile_errors_total", "",
              static_cast<double>(count),
              {{"errno", ErrnoLabel(key.second)},
               {"operation", XfrmOpName(key.first)}});
  }
  f.Counter("kmesh_ipsec_publish_errors_total",
            "Failed publications of this node's KmeshNodeInfo.",
            c.stats.publish_errors);
  f.Counter("kmesh_ipsec_own_record_repairs_total",
            "Times this node's KmeshNodeInfo was found deleted or altered "
            "and was published again.",
            c.stats.own_record_repairs);
  f.Counter("kmesh_ipsec_marker_errors_total",
            "Failed marker operations (map updates, tc attach and detach).",
            static_cast<double>(status->marker_errors + c.stats.marker_errors));
  f.Gauge("kmesh_ipsec_encrypt_marked_pods",
          "Local managed pods with the encrypt marker attached.",
          static_cast<double>(status->managed_local_pods));
  f.Gauge("kmesh_ipsec_unmanaged_pods",
          "Known-unmanaged pod addresses left in clear.",
          static_cast<double>(status->unmanaged_pods));
  f.Gauge("kmesh_ipsec_marker_pending_retries",
          "Failed marker operations waiting for a retry.",
          static_cast<double>(status->marker_pending_retries));
  for (const auto& w : status->watches) {
    f.Counter("kmesh_ipsec_watch_lists_total",
              "Lists of a resource (the first, then every relist after a "
              "410 Gone or an error).",
              w.lists, {{"resource", w.resource}});
    f.Counter("kmesh_ipsec_watches_total",
              "Watches opened on a resource (each restart is one more).",
              w.watches, {{"resource", w.resource}});
  }
  std::vector<MetricFamily> out = f.Take();
  // A family without samples is not exported.
  out.erase(
      std::remove_if(out.begin(), out.end(),
                     [](const MetricFamily& m) { return m.metric.empty(); }),
      out.end());
  return out;
}

std::vector<MetricFamily> NodeMetrics::Collect() const {
  const double unix_now =
      std::chrono::duration_cast<std::chrono::duration<double>>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  return NodeMetricFamilies(source_(), unix_now);
}

std::string PrometheusText(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace kmesh::agent
