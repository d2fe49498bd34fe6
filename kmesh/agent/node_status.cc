#include "kmesh/agent/node_status.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kmesh/ipsec/xfrm_layout.h"
#include "nlohmann/json.hpp"

namespace kmesh::agent {
namespace {

double Seconds(Duration d) {
  return std::chrono::duration_cast<std::chrono::duration<double>>(d).count();
}

// Seconds from `from` to `to`, or null when `to` is unset.
nlohmann::json SecondsSince(TimePoint to, TimePoint from) {
  if (to == TimePoint{}) return nullptr;
  return Seconds(from - to);
}

NodeStatus::SpiObjects& SpiEntry(std::map<int32_t, NodeStatus::SpiObjects>& m,
                                 int32_t spi) {
  NodeStatus::SpiObjects& e = m[spi];
  e.spi = spi;
  return e;
}

}  // namespace

void ReadKernelStatus(XfrmKernel& kernel, const XfrmStats& stats_at_start,
                      NodeStatus* status) {
  std::map<std::string, std::string> peer_by_address;
  for (const ipsec::IpsecControllerSnapshot::Peer& p :
       status->controller.peers) {
    for (const std::string& a : p.addresses) peer_by_address[a] = p.name;
  }
  std::map<int32_t, NodeStatus::SpiObjects> by_spi;
  std::vector<std::string> errors;

  absl::StatusOr<std::vector<XfrmSa>> sas = kernel.DumpSas();
  if (!sas.ok()) {
    errors.push_back(absl::StrCat("dump SAs: ", sas.status().message()));
  } else {
    for (const XfrmSa& sa : *sas) {
      if (!ipsec::IsOwnedSa(sa)) continue;
      const int32_t spi = static_cast<int32_t>(sa.spi);
      if (ipsec::IsInboundSa(sa)) {
        ++SpiEntry(by_spi, spi).inbound_sas;
        continue;
      }
      ++SpiEntry(by_spi, spi).outbound_sas;
      NodeStatus::OutboundSa& out = status->outbound_sas.emplace_back();
      out.src = sa.src.ToString();
      out.dst = sa.dst.ToString();
      auto peer = peer_by_address.find(out.dst);
      out.peer = peer == peer_by_address.end() ? "" : peer->second;
      out.spi = spi;
      out.esn = sa.esn;
      out.output_seq = sa.counters.output_seq;
      out.packets = sa.counters.packets;
      out.bytes = sa.counters.bytes;
      // With ESN the space is 64 bits: it never runs out in practice.
      out.seq_used =
          sa.esn ? static_cast<double>(out.output_seq) / 18446744073709551615.0
                 : static_cast<double>(out.output_seq) /
                       static_cast<double>(kSeqSpace32);
    }
  }
  absl::StatusOr<std::vector<XfrmPolicy>> policies = kernel.DumpPolicies();
  if (!policies.ok()) {
    errors.push_back(
        absl::StrCat("dump policies: ", policies.status().message()));
  } else {
    for (const XfrmPolicy& p : *policies) {
      if (!ipsec::IsOwnedPolicy(p)) continue;
      if (ipsec::IsBlockPolicy(p)) {
        ++status->block_policies;
      } else if (p.dir == XfrmDir::kOut) {
        for (const XfrmTemplate& t : p.templates) {
          ++SpiEntry(by_spi, static_cast<int32_t>(t.spi)).out_policies;
        }
      } else if (p.dir == XfrmDir::kIn) {
        ++status->in_policies;
      } else if (p.dir == XfrmDir::kFwd) {
        ++status->fwd_policies;
      }
    }
  }
  for (auto& [spi, objects] : by_spi) status->spis.push_back(objects);
  std::sort(
      status->outbound_sas.begin(), status->outbound_sas.end(),
      [](const NodeStatus::OutboundSa& a, const NodeStatus::OutboundSa& b) {
        return std::tie(a.peer, a.dst, a.spi) < std::tie(b.peer, b.dst, b.spi);
      });

  absl::StatusOr<XfrmStats> stats = kernel.ReadStats();
  if (!stats.ok()) {
    errors.push_back(absl::StrCat("xfrm_stat: ", stats.status().message()));
  } else {
    std::map<std::string, uint64_t> start(stats_at_start.begin(),
                                          stats_at_start.end());
    for (const auto& [name, value] : *stats) {
      // A counter the baseline lacks (no baseline yet) did not rise as far
      // as anyone can tell; one below its baseline was reset (a new netns).
      auto before = start.find(name);
      uint64_t since_start = 0;
      if (before != start.end()) {
        since_start = value >= before->second ? value - before->second : value;
      }
      status->xfrm_stats.push_back({name, value, since_start});
    }
  }
  for (const std::string& e : errors) {
    if (!status->kernel_error.empty()) status->kernel_error += "; ";
    status->kernel_error += e;
  }
}

std::string NodeStatusJson(const NodeStatus& status) {
  const ipsec::IpsecControllerSnapshot& c = status.controller;
  nlohmann::json j;
  j["kind"] = "KmeshIpsecNodeStatus";
  j["apiVersion"] = "v1";
  j["node"] = status.node;
  j["uptimeSeconds"] = Seconds(status.now - status.daemon_started);
  j["started"] = c.started;
  j["peersSynced"] = c.peers_synced;
  j["targetSpi"] = c.target_spi;
  j["advertisedSpi"] = c.advertised_spi;
  j["keyAgeSeconds"] = SecondsSince(c.target_learnt_at, status.now);
  j["heldSpis"] = c.held_spis;
  j["inboundSpis"] = c.inbound_spis;
  j["gracePeriodSeconds"] = Seconds(status.grace_period);
  nlohmann::json reclaims = nlohmann::json::array();
  for (const auto& r : c.pending_reclaims) {
    nlohmann::json reclaim = {
        {"spi", r.spi},
        {"releasableForSeconds", Seconds(status.now - r.releasable_since)},
        {"dueInSeconds", Seconds(r.due - status.now)}};
    if (r.held) {
      // Past its grace period, kept while these peers still send with it.
      reclaim["heldFor"] = r.still_sent_by;
      reclaim["removedAtTheLatestInSeconds"] = Seconds(r.deadline - status.now);
    }
    reclaims.push_back(std::move(reclaim));
  }
  j["pendingReclaims"] = reclaims;
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& p : c.peers) {
    std::string state;
    if (!p.problem.empty() || p.unprogrammable) {
      state = "error";
    } else if (!p.has_record) {
      state = "receive-only";  // Known from its Node; not published yet.
    } else if (p.outbound_spi == 0) {
      state = "waiting";  // Published, but nothing can be sent to it yet.
    } else {
      state = "programmed";
    }
    peers.push_back({{"name", p.name},
                     {"state", state},
                     {"problem", p.problem},
                     {"addresses", p.addresses},
                     {"advertisedSpi", p.advertised_spi},
                     {"index", p.index},
                     {"outboundSpi", p.outbound_spi},
                     {"retiringOutboundSpis", p.retiring_outbound_spis},
                     {"inboundSpisInstalled", p.inbound_installed}});
  }
  j["peers"] = peers;
  nlohmann::json rejected = nlohmann::json::array();
  for (const auto& r : c.rejected_records) {
    rejected.push_back(
        {{"name", r.name}, {"reason", r.reason}, {"detail", r.detail}});
  }
  j["rejectedRecords"] = rejected;
  j["peersWithoutIndex"] = c.peers_without_index;
  nlohmann::json spis = nlohmann::json::array();
  for (const auto& s : status.spis) {
    spis.push_back({{"spi", s.spi},
                    {"inboundSas", s.inbound_sas},
                    {"outboundSas", s.outbound_sas},
                    {"outPolicies", s.out_policies}});
  }
  j["kernel"] = {{"spis", spis},
                 {"inPolicies", status.in_policies},
                 {"fwdPolicies", status.fwd_policies},
                 {"blockPolicies", status.block_policies},
                 {"error", status.kernel_error}};
  nlohmann::json outbound = nlohmann::json::array();
  for (const auto& o : status.outbound_sas) {
    outbound.push_back({{"peer", o.peer},
                        {"src", o.src},
                        {"dst", o.dst},
                        {"spi", o.spi},
                        {"esn", o.esn},
                        {"outputSeq", o.output_seq},
                        {"packets", o.packets},
                        {"bytes", o.bytes},
                        {"seqUsedFraction", o.seq_used}});
  }
  j["kernel"]["outboundSas"] = outbound;
  nlohmann::json stats = nlohmann::json::object();
  nlohmann::json changed = nlohmann::json::object();
  for (const auto& s : status.xfrm_stats) {
    stats[s.name] = s.value;
    if (s.since_start != 0) changed[s.name] = s.since_start;
  }
  j["kernel"]["xfrmStat"] = stats;
  j["kernel"]["xfrmStatChangedSinceStart"] = changed;
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& [key, count] : c.xfrm_errors_by_op) {
    errors.push_back({{"operation", XfrmOpName(key.first)},
                      {"errno", key.second},
                      {"count", count}});
  }
  j["reconcile"] = {{"fullReconciles", c.stats.full_reconciles},
                    {"lastGoodFullReconcileAgeSeconds",
                     SecondsSince(c.last_good_full_reconcile, status.now)},
                    {"xfrmErrors", errors},
                    {"keyChanges", c.stats.key_changes},
                    {"keyFileErrors", c.stats.key_file_errors},
                    {"spisReclaimed", c.stats.spis_reclaimed},
                    {"reclaimHolds", c.stats.reclaim_holds},
                    {"reclaimsForced", c.stats.reclaims_forced},
                    {"publishErrors", c.stats.publish_errors},
                    {"peerErrors", c.stats.peer_errors},
                    {"recordsRejected", c.stats.records_rejected},
                    {"indexExhaustions", c.stats.index_exhaustions}};
  j["markers"] = {{"managedLocalPods", status.managed_local_pods},
                  {"unmanagedPods", status.unmanaged_pods},
                  {"errors", status.marker_errors + c.stats.marker_errors},
                  {"pendingRetries", status.marker_pending_retries}};
  nlohmann::json watches = nlohmann::json::array();
  for (const auto& w : status.watches) {
    watches.push_back(
        {{"resource", w.resource}, {"lists", w.lists}, {"watches", w.watches}});
  }
  j["watches"] = watches;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace kmesh::agent
