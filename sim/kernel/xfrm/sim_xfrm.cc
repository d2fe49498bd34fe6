#include "sim/kernel/xfrm/sim_xfrm.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/kernel/xfrm/xfrm_format.h"
#include "sim/kernel/xfrm/xfrm_validation.h"

namespace kmesh {
namespace sim {

bool InboundTemplateMatches(const XfrmTemplate& tmpl, const XfrmSa& sa) {
  if (sa.proto != tmpl.proto || sa.mode != tmpl.mode) return false;
  if (tmpl.spi != 0 && sa.spi != tmpl.spi) return false;
  if (tmpl.reqid != 0 && sa.reqid != tmpl.reqid) return false;
  if (sa.mode != XfrmMode::kTransport) {
    // xfrm_state_addr_cmp.
    if (tmpl.dst != sa.dst) return false;
    if (!tmpl.src.IsUnspecified() && tmpl.src != sa.src) return false;
  }
  return true;
}

bool InboundTemplatesAccept(const std::vector<XfrmTemplate>& templates,
                            const std::vector<XfrmSa>& sec_path) {
  size_t next = 0;  // The first SA of the path not yet consumed.
  for (auto tmpl = templates.rbegin(); tmpl != templates.rend(); ++tmpl) {
    if (tmpl->optional && tmpl->mode == XfrmMode::kTransport) continue;
    bool consumed = false;
    for (size_t i = next; i < sec_path.size(); ++i) {
      if (InboundTemplateMatches(*tmpl, sec_path[i])) {
        next = i + 1;
        consumed = true;
        break;
      }
      if (sec_path[i].mode != XfrmMode::kTransport) break;
    }
    if (!consumed && !tmpl->optional) return false;
  }
  for (size_t i = next; i < sec_path.size(); ++i) {
    if (sec_path[i].mode != XfrmMode::kTransport) return false;
  }
  return true;
}

uint32_t ApplyOutputMark(const XfrmSa& sa, uint32_t packet_mark) {
  return (sa.output_mark.value & sa.output_mark.mask) |
         (packet_mark & ~sa.output_mark.mask);
}

absl::Status SimXfrm::BeginOp(XfrmOp op) {
  const size_t i = static_cast<size_t>(op);
  ++op_counts_[i];
  Fault& fault = faults_[i];
  if (fault.remaining > 0) {
    --fault.remaining;
    return fault.status;
  }
  return absl::OkStatus();
}

// --- XfrmKernel
// ---------------------------------------------------------------

absl::Status SimXfrm::AddSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kAddSa); !s.ok()) return s;
  if (absl::Status s = ValidateSa(sa); !s.ok()) return s;
  if (absl::Status s = sas_.Add(sa); !s.ok()) return s;
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::Status SimXfrm::UpdateSa(const XfrmSa& sa) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kUpdateSa); !s.ok()) return s;
  // XFRM_MSG_UPDSA builds and checks a complete state first, like NEWSA.
  if (absl::Status s = ValidateSa(sa); !s.ok()) return s;
  if (absl::Status s = sas_.Update(sa); !s.ok()) return s;
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::Status SimXfrm::DeleteSa(const XfrmSaId& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDeleteSa); !s.ok()) return s;
  if (absl::Status s = sas_.Delete(id); !s.ok()) return s;
  last_sa_change_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<XfrmSa>> SimXfrm::DumpSas() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDumpSas); !s.ok()) return s;
  std::vector<XfrmSa> out;
  out.reserve(sas_.size());
  sas_.VisitNewestFirst([&out](const SaTable::Entry& e) {
    out.push_back(e.sa);
    // As Linux dumps them: oseq is the last sequence number sent (0 before
    // the first packet), packets and bytes are curlft.
    out.back().counters.output_seq = e.output_seq;
    out.back().counters.packets = e.stats.packets;
    out.back().counters.bytes = e.stats.bytes;
  });
  return out;
}

absl::Status SimXfrm::AddPolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kAddPolicy); !s.ok()) return s;
  if (absl::Status s = ValidatePolicy(policy); !s.ok()) return s;
  return policies_.Add(policy);
}

absl::Status SimXfrm::UpdatePolicy(const XfrmPolicy& policy) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kUpdatePolicy); !s.ok()) return s;
  if (absl::Status s = ValidatePolicy(policy); !s.ok()) return s;
  policies_.Update(policy);
  return absl::OkStatus();
}

absl::Status SimXfrm::DeletePolicy(const XfrmPolicyId& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDeletePolicy); !s.ok()) return s;
  return policies_.Delete(id);
}

absl::StatusOr<std::vector<XfrmPolicy>> SimXfrm::DumpPolicies() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = BeginOp(XfrmOp::kDumpPolicies); !s.ok()) return s;
  std::vector<XfrmPolicy> out;
  out.reserve(policies_.size());
  for (const XfrmPolicy* p : policies_.NewestFirst()) out.push_back(*p);
  return out;
}

absl::StatusOr<XfrmStats> SimXfrm::ReadStats() {
  XfrmStats out;
  out.reserve(kXfrmStatCount);
  for (size_t i = 0; i < kXfrmStatCount; ++i) {
    const auto stat = static_cast<XfrmStat>(i);
    out.emplace_back(XfrmStatName(stat), stats_.Get(stat));
  }
  return out;
}

// --- Data path lookups ------------------------------------------------------

std::optional<SaRef> SimXfrm::LookupInboundSa(const IpAddress& dst,
                                              uint32_t spi, uint8_t proto,
                                              uint32_t packet_mark) const {
  absl::MutexLock lock(&mu_);
  const SaTable::Entry* entry = sas_.Lookup(dst, spi, proto, packet_mark);
  if (entry == nullptr) return std::nullopt;
  return SaRef{SaHandle{entry->handle}, entry->sa};
}

std::optional<SaRef> SimXfrm::FindOutboundSa(const XfrmTemplate& tmpl,
                                             const IpAddress& src,
                                             const IpAddress& dst,
                                             uint32_t policy_mark,
                                             uint8_t proto) const {
  absl::MutexLock lock(&mu_);
  const SaTable::Entry* entry =
      sas_.FindOutbound(tmpl, src, dst, policy_mark, proto);
  if (entry == nullptr) return std::nullopt;
  return SaRef{SaHandle{entry->handle}, entry->sa};
}

std::optional<XfrmPolicy> SimXfrm::LookupPolicy(XfrmDir dir,
                                                const IpAddress& src,
                                                const IpAddress& dst,
                                                uint8_t proto,
                                                uint32_t packet_mark) const {
  absl::MutexLock lock(&mu_);
  const XfrmPolicy* p = policies_.Lookup(dir, src, dst, proto, packet_mark);
  if (p == nullptr) return std::nullopt;
  return *p;
}

SimXfrm::OutboundDecision SimXfrm::ResolveOutbound(const IpAddress& src,
                                                   const IpAddress& dst,
                                                   uint8_t proto,
                                                   uint32_t packet_mark) const {
  using Verdict = OutboundDecision::Verdict;
  // One lock for the whole decision, as xfrm_state_find looks at one table.
  absl::MutexLock lock(&mu_);
  OutboundDecision decision;
  const XfrmPolicy* policy =
      policies_.Lookup(XfrmDir::kOut, src, dst, proto, packet_mark);
  if (policy == nullptr) return decision;
  if (policy->action == XfrmAction::kBlock) {
    decision.verdict = Verdict::kBlock;
    return decision;
  }
  const uint32_t policy_mark = policy->mark.value & policy->mark.mask;
  for (const XfrmTemplate& tmpl : policy->templates) {
    const SaTable::Entry* sa =
        sas_.FindOutbound(tmpl, src, dst, policy_mark, proto);
    if (sa == nullptr) {
      if (tmpl.optional) continue;
      // xfrm_state_find: a template SPI already taken at the remote end by
      // an SA this template cannot use is EEXIST, not a missing SA.
      const IpAddress& remote = tmpl.mode == XfrmMode::kTunnel ? tmpl.dst : dst;
      decision.verdict =
          tmpl.spi != 0 && sas_.Lookup(remote, tmpl.spi, tmpl.proto,
                                       policy_mark) != nullptr
              ? Verdict::kPolError
              : Verdict::kNoStates;
      decision.bundle.clear();
      return decision;
    }
    decision.bundle.push_back(SaRef{SaHandle{sa->handle}, sa->sa});
  }
  if (!decision.bundle.empty()) decision.verdict = Verdict::kTransform;
  return decision;
}

// --- Per-SA state -----------------------------------------------------------

absl::StatusOr<uint64_t> SimXfrm::NextOutputSeq(SaHandle handle) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  SaTable::Entry& e = **entry;
  const uint64_t limit = e.sa.esn ? std::numeric_limits<uint64_t>::max()
                                  : std::numeric_limits<uint32_t>::max();
  if (e.output_seq >= limit) {
    return absl::OutOfRangeError(
        absl::StrCat("EOVERFLOW: output sequence numbers of SA ",
                     SaIdText(e.sa.dst, e.sa.spi, e.sa.proto, e.sa.mark),
                     " are exhausted; an SA must not wrap (RFC 4303)"));
  }
  return ++e.output_seq;
}

absl::StatusOr<ReplayCheck> SimXfrm::CheckReplay(SaHandle handle,
                                                 uint32_t seq_low) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  SaTable::Entry& e = **entry;
  const ReplayCheck check = e.replay.Check(seq_low);
  if (check.verdict == ReplayVerdict::kReplayed) ++e.stats.replayed;
  if (check.verdict == ReplayVerdict::kTooOld) ++e.stats.replay_window;
  return check;
}

absl::Status SimXfrm::AdvanceReplay(SaHandle handle, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->replay.Advance(seq);
  return absl::OkStatus();
}

absl::Status SimXfrm::CountPacket(SaHandle handle, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->stats.bytes += bytes;
  ++(*entry)->stats.packets;
  return absl::OkStatus();
}

absl::Status SimXfrm::CountIntegrityFailure(SaHandle handle) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  ++(*entry)->stats.integrity_failed;
  return absl::OkStatus();
}

absl::StatusOr<SaStats> SimXfrm::GetSaStats(SaHandle handle) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<const SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  SaStats stats = (*entry)->stats;
  stats.output_seq = (*entry)->output_seq;
  stats.replay_top = (*entry)->replay.top();
  return stats;
}

absl::Status SimXfrm::SetOutputSeq(SaHandle handle, uint64_t last_sent) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<SaTable::Entry*> entry = sas_.Find(handle);
  if (!entry.ok()) return entry.status();
  (*entry)->output_seq = last_sent;
  return absl::OkStatus();
}

// --- Listings ---------------------------------------------------------------

std::string SimXfrm::FormatStates() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  sas_.VisitNewestFirst([&out](const SaTable::Entry& e) {
    out += FormatIpXfrmState(e.sa, e.replay, e.output_seq);
  });
  return out;
}

std::string SimXfrm::FormatPolicies() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const XfrmPolicy* p : policies_.NewestFirst()) {
    out += FormatIpXfrmPolicy(*p);
  }
  return out;
}

// --- Test hooks -------------------------------------------------------------

void SimXfrm::FailNext(XfrmOp op, int count, absl::Status status) {
  absl::MutexLock lock(&mu_);
  Fault& fault = faults_[static_cast<size_t>(op)];
  fault.remaining = (count > 0 && !status.ok()) ? count : 0;
  fault.status = std::move(status);
}

uint64_t SimXfrm::OperationCount(XfrmOp op) const {
  absl::MutexLock lock(&mu_);
  return op_counts_[static_cast<size_t>(op)];
}

void SimXfrm::ResetOperationCounts() {
  absl::MutexLock lock(&mu_);
  op_counts_.fill(0);
}

size_t SimXfrm::sa_count() const {
  absl::MutexLock lock(&mu_);
  return sas_.size();
}

size_t SimXfrm::policy_count() const {
  absl::MutexLock lock(&mu_);
  return policies_.size();
}

void SimXfrm::VisitSas(absl::FunctionRef<void(const XfrmSa&)> visit) const {
  absl::MutexLock lock(&mu_);
  sas_.VisitNewestFirst([&visit](const SaTable::Entry& e) { visit(e.sa); });
}

std::chrono::steady_clock::time_point SimXfrm::last_sa_change() const {
  absl::MutexLock lock(&mu_);
  return last_sa_change_;
}

}  // namespace sim
}  // namespace kmesh
