// SimXfrm as the daemon and the data path see it: every XfrmKernel call
// validated, applied to the tables and counted (or failed as planned), the
// per-SA data-path state, the listings, and all of it from several threads.
// The tables' own rules are tested beside them (sa_table_test,
// policy_table_test, xfrm_validation_test, xfrm_format_test).
#include "sim/kernel/xfrm/sim_xfrm.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/kernel_error_assertions.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh::sim {
namespace {

using ::kmesh::testing::Ip;
using ::kmesh::testing::Policy;
using ::kmesh::testing::Sa;
using ::kmesh::testing::Tmpl;

// --- XfrmKernel calls against a newest-first walk ---------------------------

// The reference for everything SimXfrm finds by (dst, SPI): every live SA in
// insertion order, walked newest first with __xfrm_state_lookup's test, as
// Linux's byspi chain is (and as SimXfrm did before its index).
class NewestFirstSaModel {
 public:
  struct Entry {
    uint32_t tag;  // The reqid, unique per added SA.
    IpAddress dst;
    uint32_t spi;
    uint8_t proto;
    XfrmMark mark;  // Value stored under its mask, as Linux does.
    XfrmMark output_mark;
  };

  // The newest SA with (dst, spi, proto) and (mark & sa.mask) == sa.value;
  // counts every match into *matches when given.
  const Entry* Find(const IpAddress& dst, uint32_t spi, uint8_t proto,
                    uint32_t mark, int* matches = nullptr) const {
    const int i = FindIndex(dst, spi, proto, mark, matches);
    return i < 0 ? nullptr : &entries_[i];
  }
  // What AddSa / UpdateSa / DeleteSa return (validation only for what the
  // random SAs can get wrong: the protocol and SPI 0).
  absl::StatusCode Add(const XfrmSa& sa) {
    if (sa.proto != kIpProtoEsp || sa.spi == 0) {
      return absl::StatusCode::kInvalidArgument;
    }
    if (FindIndex(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask) >=
        0) {
      return absl::StatusCode::kAlreadyExists;
    }
    entries_.push_back(Entry{
        sa.reqid, sa.dst, sa.spi, sa.proto,
        XfrmMark{sa.mark.value & sa.mark.mask, sa.mark.mask}, sa.output_mark});
    return absl::StatusCode::kOk;
  }
  absl::StatusCode Update(const XfrmSa& sa) {
    if (sa.proto != kIpProtoEsp || sa.spi == 0) {
      return absl::StatusCode::kInvalidArgument;
    }
    const int i =
        FindIndex(sa.dst, sa.spi, sa.proto, sa.mark.value & sa.mark.mask);
    if (i < 0) return absl::StatusCode::kNotFound;
    if (sa.output_mark.value != 0 || sa.output_mark.mask != 0) {
      entries_[i].output_mark = sa.output_mark;
    }
    return absl::StatusCode::kOk;
  }
  // Sets *deleted_tag to the removed SA's tag.
  absl::StatusCode Delete(const XfrmSaId& id, uint32_t* deleted_tag) {
    const int i =
        FindIndex(id.dst, id.spi, id.proto, id.mark.value & id.mark.mask);
    if (i < 0) return absl::StatusCode::kNotFound;
    *deleted_tag = entries_[i].tag;
    entries_.erase(entries_.begin() + i);
    return absl::StatusCode::kOk;
  }
  // Oldest first.
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  int FindIndex(const IpAddress& dst, uint32_t spi, uint8_t proto,
                uint32_t mark, int* matches = nullptr) const {
    int found = -1;
    for (int i = static_cast<int>(entries_.size()) - 1; i >= 0; --i) {
      const Entry& e = entries_[i];
      if (e.dst != dst || e.spi != spi || e.proto != proto ||
          (mark & e.mark.mask) != e.mark.value) {
        continue;
      }
      if (found < 0) found = i;
      if (matches == nullptr) break;
      ++*matches;
    }
    return found;
  }

  std::vector<Entry> entries_;
};

std::string Describe(const NewestFirstSaModel::Entry* sa) {
  if (sa == nullptr) return "none";
  return absl::StrFormat("tag %u dst %s spi %u proto %u mark 0x%x/0x%x",
                         sa->tag, sa->dst.ToString(), sa->spi, sa->proto,
                         sa->mark.value, sa->mark.mask);
}

TEST(SimXfrmTest, LookupBySpiEqualsNewestFirstWalkUnderRandomChanges) {
  testing::RandomSas random(20261126);
  SimXfrm x;
  NewestFirstSaModel model;
  std::vector<XfrmSa> seen;  // SAs tried before, to update or delete again.
  std::map<uint32_t, SaHandle> handles;  // By tag, as lookups return them.
  std::map<std::string, int> outcomes;
  int ambiguous = 0;  // Lookups that more than one SA matched.
  uint32_t next_tag = 1;
  for (int step = 0; step < 4000; ++step) {
    const int op = random.Below(10);
    XfrmSa sa = (seen.empty() || random.Below(2) == 0)
                    ? random.NextSa(next_tag++)
                    : seen[random.Below(seen.size())];
    if (op < 5) {  // Add: a new SA, or one tried before under a new tag.
      sa.reqid = next_tag++;
      const absl::StatusCode want = model.Add(sa);
      const absl::Status got = x.AddSa(sa);
      ASSERT_EQ(got.code(), want) << "step " << step << ": add " << got;
      ++outcomes[absl::StrCat("add ", absl::StatusCodeToString(want))];
    } else if (op < 7) {  // Update, possibly with a new output mark.
      if (random.Below(2) == 0) sa.output_mark = {0x40u + step % 8, 0xff};
      const absl::StatusCode want = model.Update(sa);
      const absl::Status got = x.UpdateSa(sa);
      ASSERT_EQ(got.code(), want) << "step " << step << ": update " << got;
      ++outcomes[absl::StrCat("update ", absl::StatusCodeToString(want))];
    } else {  // Delete by the SA's identity or by a random mark.
      XfrmSaId id = sa.id();
      if (random.Below(3) == 0) id.mark = random.Mark();
      uint32_t tag = 0;
      const absl::StatusCode want = model.Delete(id, &tag);
      const absl::Status got = x.DeleteSa(id);
      ASSERT_EQ(got.code(), want) << "step " << step << ": delete " << got;
      ++outcomes[absl::StrCat("delete ", absl::StatusCodeToString(want))];
      if (auto h = handles.find(tag);
          want == absl::StatusCode::kOk && h != handles.end()) {
        // The deleted SA's handle is dead.
        EXPECT_TRUE(absl::IsNotFound(x.GetSaStats(h->second).status()));
        handles.erase(h);
      }
    }
    seen.push_back(sa);
    ASSERT_EQ(x.sa_count(), model.entries().size()) << "step " << step;
    // Packets: live SAs' own marks (of every SA every 25 steps, else of ten
    // random ones) and random marks to (dst, SPI, proto)s of the pools.
    std::vector<std::tuple<IpAddress, uint32_t, uint8_t, uint32_t>> packets;
    const std::vector<NewestFirstSaModel::Entry>& live = model.entries();
    for (size_t i = 0; i < live.size() && (step % 25 == 0 || i < 10); ++i) {
      const NewestFirstSaModel::Entry& s =
          step % 25 == 0 ? live[i] : live[random.Below(live.size())];
      packets.emplace_back(s.dst, s.spi, s.proto, s.mark.value);
    }
    for (int i = 0; i < 20; ++i) {
      const XfrmSa probe = random.NextSa(0);
      packets.emplace_back(probe.dst, probe.spi, probe.proto,
                           random.PacketMark());
    }
    for (const auto& [dst, spi, proto, mark] : packets) {
      int matches = 0;
      const NewestFirstSaModel::Entry* want =
          model.Find(dst, spi, proto, mark, &matches);
      const std::optional<SaRef> got = x.LookupInboundSa(dst, spi, proto, mark);
      ASSERT_EQ(got.has_value(), want != nullptr)
          << "step " << step << ": dst " << dst.ToString() << " spi " << spi
          << " proto " << int{proto} << " mark 0x" << std::hex << mark
          << std::dec << ": want " << Describe(want);
      if (want == nullptr) continue;
      if (matches > 1) ++ambiguous;
      ASSERT_EQ(got->sa.reqid, want->tag)
          << "step " << step << ": mark 0x" << std::hex << mark << std::dec
          << " want " << Describe(want) << ", got tag " << got->sa.reqid;
      EXPECT_EQ(got->sa.mark, want->mark);
      EXPECT_EQ(got->sa.output_mark, want->output_mark) << "step " << step;
      auto [h, inserted] = handles.emplace(want->tag, got->handle);
      EXPECT_TRUE(inserted || h->second == got->handle) << "step " << step;
    }
    if (step % 50 != 0) continue;
    // The table itself, newest first.
    absl::StatusOr<std::vector<XfrmSa>> dump = x.DumpSas();
    ASSERT_TRUE(dump.ok());
    std::vector<uint32_t> dumped;
    for (const XfrmSa& s : *dump) dumped.push_back(s.reqid);
    std::vector<uint32_t> modelled;
    for (auto it = model.entries().rbegin(); it != model.entries().rend();
         ++it) {
      modelled.push_back(it->tag);
    }
    ASSERT_EQ(dumped, modelled) << "step " << step;
  }
  // Every outcome happened often, and newest-first mattered: many lookups
  // matched more than one SA.
  for (const char* outcome :
       {"add OK", "add ALREADY_EXISTS", "add INVALID_ARGUMENT", "update OK",
        "update NOT_FOUND", "delete OK", "delete NOT_FOUND"}) {
    EXPECT_GT(outcomes[outcome], 20) << outcome;
  }
  EXPECT_GT(ambiguous, 500);
}

TEST(SimXfrmTest, UpdateIsValidatedLikeAdd) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  ASSERT_TRUE(x.AddSa(sa).ok());
  sa.aead_key = ::kmesh::testing::KeyOfSize(30);
  EXPECT_TRUE(testing::IsKernelError(x.UpdateSa(sa), EINVAL));
}

TEST(SimXfrmTest, PolicyChangesAreValidatedAndARefusedOneChangesNothing) {
  SimXfrm x;
  const XfrmPolicy in =
      Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
             ::kmesh::testing::kDecrypted, 7, {Tmpl("10.0.0.3", "10.0.0.1")});
  ASSERT_TRUE(x.AddPolicy(in).ok());
  XfrmPolicy seven_templates = in;
  seven_templates.templates.resize(7, in.templates[0]);
  EXPECT_TRUE(testing::IsKernelError(x.UpdatePolicy(seven_templates), EINVAL));
  XfrmPolicy other = seven_templates;
  other.dir = XfrmDir::kFwd;
  EXPECT_TRUE(testing::IsKernelError(x.AddPolicy(other), EINVAL));
  EXPECT_EQ(x.policy_count(), 1u);
  const std::optional<XfrmPolicy> found = x.LookupPolicy(
      XfrmDir::kIn, Ip("10.244.1.2"), Ip("10.244.0.3"), 17, 0xd0);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->templates.size(), 1u);
}

TEST(SimXfrmTest, DumpListsNewestFirstAndReturnsCopies) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 40)).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 41)).ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 ::kmesh::testing::kDecrypted))
                  .ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kFwd, "0.0.0.0/0", "10.244.0.0/24",
                                 ::kmesh::testing::kDecrypted))
                  .ok());
  auto sas = x.DumpSas();
  ASSERT_TRUE(sas.ok());
  ASSERT_EQ(sas->size(), 2u);
  EXPECT_EQ((*sas)[0].spi, 41u);
  EXPECT_EQ((*sas)[1].spi, 40u);
  (*sas)[0].spi = 99;
  EXPECT_EQ((*x.DumpSas())[0].spi, 41u);
  auto policies = x.DumpPolicies();
  ASSERT_TRUE(policies.ok());
  ASSERT_EQ(policies->size(), 2u);
  EXPECT_EQ((*policies)[0].dir, XfrmDir::kFwd);
  EXPECT_EQ((*policies)[1].dir, XfrmDir::kIn);
}

TEST(SimXfrmTest, LastSaChangeMovesOnlyWhenTheTableChanges) {
  using SteadyClock = std::chrono::steady_clock;
  SimXfrm x;
  EXPECT_EQ(x.last_sa_change(), SteadyClock::time_point());
  const auto before_add = SteadyClock::now();
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 40)).ok());
  const auto added = x.last_sa_change();
  EXPECT_GE(added, before_add);
  EXPECT_LE(added, SteadyClock::now());
  // Refused, failed or read-only operations leave it where it was.
  EXPECT_FALSE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 40)).ok());  // EEXIST
  EXPECT_FALSE(x.DeleteSa(XfrmSaId{Ip("10.0.0.8"), 99}).ok());
  x.FailNext(XfrmOp::kAddSa, 1, absl::UnavailableError("ENOBUFS"));
  EXPECT_FALSE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 41)).ok());
  ASSERT_TRUE(x.DumpSas().ok());
  x.VisitSas([](const XfrmSa&) {});
  EXPECT_EQ(x.last_sa_change(), added);
  const auto before_delete = SteadyClock::now();
  ASSERT_TRUE(x.DeleteSa(XfrmSaId{Ip("10.0.0.8"), 40}).ok());
  EXPECT_GE(x.last_sa_change(), before_delete);
}

TEST(SimXfrmTest, VisitSeesWhatDumpListsWithoutCountingAnOperation) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 40)).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.9", 41)).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 42)).ok());
  ASSERT_TRUE(x.DeleteSa(XfrmSaId{Ip("10.0.0.8"), 40}).ok());
  x.ResetOperationCounts();
  // A failure planned for dumps does not reach the visitor either.
  x.FailNext(XfrmOp::kDumpSas, 1, absl::UnavailableError("EINTR"));
  std::vector<std::pair<std::string, uint32_t>> seen;
  x.VisitSas([&seen](const XfrmSa& sa) {
    seen.emplace_back(sa.dst.ToString(), sa.spi);
  });
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, uint32_t>>{
                      {"10.0.0.8", 42}, {"10.0.0.9", 41}}));
  EXPECT_EQ(x.OperationCount(XfrmOp::kDumpSas), 0u);
  EXPECT_FALSE(x.DumpSas().ok());  // The planned failure is still there.
}

// --- Data path
// ----------------------------------------------------------------

TEST(SimXfrmDataPathTest, InboundTemplateCheckFollowsXfrmStateOk) {
  const XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 5);
  EXPECT_TRUE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.1"), sa));
  EXPECT_TRUE(InboundTemplateMatches(Tmpl("0.0.0.0", "10.0.0.1"), sa));
  EXPECT_TRUE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.1", 0), sa));
  EXPECT_TRUE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.1", 1, 5), sa));
  EXPECT_FALSE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.1", 1, 6), sa));
  EXPECT_FALSE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.1", 2), sa));
  EXPECT_FALSE(InboundTemplateMatches(Tmpl("10.0.0.3", "10.0.0.1"), sa));
  EXPECT_FALSE(InboundTemplateMatches(Tmpl("10.0.0.2", "10.0.0.9"), sa));
}

TEST(SimXfrmDataPathTest, OutputMarkReplacesOnlyMaskedBits) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  sa.output_mark = {0xd0, 0xffffffff};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0xd0u);
  sa.output_mark = {0xd0, 0xff};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0x123456d0u);
  sa.output_mark = {};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0x12345678u);
}

// Linux looks the outbound SA up with the policy's mark (value & mask), not
// the packet's (xfrm_state_find). Found by the differential lookup test in
// the VM: a packet marked 0x1e0 hit a policy 0xe0/0xff whose template's SA
// was marked 0x1e0/0xfff; the simulator encrypted it, Linux counted
// XfrmOutNoStates.
TEST(SimXfrmDataPathTest, TheOutboundSaIsFoundByThePolicysMarkNotThePackets) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "10.1.0.0/17", "8.0.0.0/5",
                                 {0xe0, 0xff}, 1000,
                                 {Tmpl("10.0.18.1", "10.0.16.3", 2)}))
                  .ok());
  XfrmSa sa = Sa("10.0.18.1", "10.0.16.3", 2, {0x1e0, 0xfff});
  sa.reqid = 2;
  ASSERT_TRUE(x.AddSa(sa).ok());
  using Verdict = SimXfrm::OutboundDecision::Verdict;
  // The packet's mark would match the SA; the policy's (0xe0) does not.
  EXPECT_EQ(x.ResolveOutbound(Ip("10.1.2.1"), Ip("10.2.2.1"), 6, 0x1e0).verdict,
            Verdict::kNoStates);
  // An SA the policy's mark matches is used, whatever else the packet's
  // mark carries.
  XfrmSa fits = Sa("10.0.18.1", "10.0.16.3", 3, {0xe0, 0xfff});
  fits.reqid = 2;
  ASSERT_TRUE(x.AddSa(fits).ok());
  const SimXfrm::OutboundDecision d =
      x.ResolveOutbound(Ip("10.1.2.1"), Ip("10.2.2.1"), 6, 0x1e0);
  ASSERT_EQ(d.verdict, Verdict::kTransform);
  ASSERT_EQ(d.bundle.size(), 1u);
  EXPECT_EQ(d.bundle[0].sa.spi, 3u);
}

// An SA given no selector gets its own family's (copy_from_user_state), and
// xfrm_state_look_at skips an SA whose selector family is not the packet's:
// an IPv4 tunnel carries IPv6 only with an IPv6 selector. Found by the
// differential lookup test (seed 20261207, cases 23, 25 and 54).
TEST(SimXfrmDataPathTest, AnSaWithoutASelectorCarriesOnlyItsOwnFamily) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "fd00::/16", "fd01::/16", {}, 0,
                                 {Tmpl("10.0.0.1", "10.0.0.2", 1)}))
                  .ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.1", "10.0.0.2", 1)).ok());
  using Verdict = SimXfrm::OutboundDecision::Verdict;
  EXPECT_EQ(x.ResolveOutbound(Ip("fd00::1"), Ip("fd01::1"), 17, 0).verdict,
            Verdict::kNoStates);
  XfrmSa inner_v6 = Sa("10.0.0.1", "10.0.0.2", 2);
  inner_v6.selector = XfrmSelector{*IpPrefix::Parse("fd00::/16"),
                                   *IpPrefix::Parse("fd01::/16"), 0};
  ASSERT_TRUE(x.AddSa(inner_v6).ok());
  const SimXfrm::OutboundDecision d =
      x.ResolveOutbound(Ip("fd00::1"), Ip("fd01::1"), 17, 0);
  ASSERT_EQ(d.verdict, Verdict::kTransform);
  EXPECT_EQ(d.bundle[0].sa.spi, 2u);
}

// A template naming an SPI that an SA at the remote end holds, but which the
// template cannot use (another reqid), is xfrm_state_find's EEXIST
// (XfrmOutPolError), not a missing SA. Found by the differential lookup
// test (seed 20261207, cases 29 and 59).
TEST(SimXfrmDataPathTest, ATemplateSpiTakenByAnSaThatDoesNotFitIsAnError) {
  SimXfrm x;
  ASSERT_TRUE(
      x.AddPolicy(Policy(XfrmDir::kOut, "10.244.0.0/16", "10.245.0.0/16", {}, 0,
                         {Tmpl("10.0.0.1", "10.0.0.2", 1, 5)}))
          .ok());
  using Verdict = SimXfrm::OutboundDecision::Verdict;
  EXPECT_EQ(x.ResolveOutbound(Ip("10.244.0.1"), Ip("10.245.0.1"), 6, 0).verdict,
            Verdict::kNoStates);
  XfrmSa other_reqid = Sa("10.0.0.1", "10.0.0.2", 5);
  other_reqid.reqid = 2;
  ASSERT_TRUE(x.AddSa(other_reqid).ok());
  EXPECT_EQ(x.ResolveOutbound(Ip("10.244.0.1"), Ip("10.245.0.1"), 6, 0).verdict,
            Verdict::kPolError);
}

// --- Per-SA data-path state ----------------------------------------------

// The handle of the SA src -> dst an outbound packet finds.
SaHandle OutboundHandle(const SimXfrm& x, const std::string& src,
                        const std::string& dst) {
  const std::optional<SaRef> sa =
      x.FindOutboundSa(Tmpl(src, dst), Ip("10.244.0.1"), Ip("10.244.1.1"), 0);
  EXPECT_TRUE(sa.has_value()) << src << " -> " << dst;
  return sa.has_value() ? sa->handle : SaHandle{};
}

TEST(SimXfrmStateTest, OutputSequenceStartsAtOneAndNeverWraps) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.1", "10.0.0.2", 1)).ok());
  const SaHandle sa = OutboundHandle(x, "10.0.0.1", "10.0.0.2");
  EXPECT_EQ(x.NextOutputSeq(sa).value(), 1u);
  EXPECT_EQ(x.NextOutputSeq(sa).value(), 2u);
  ASSERT_TRUE(x.SetOutputSeq(sa, 0xfffffffeull).ok());
  EXPECT_EQ(x.NextOutputSeq(sa).value(), 0xffffffffull);
  const absl::StatusOr<uint64_t> over = x.NextOutputSeq(sa);
  EXPECT_TRUE(absl::IsOutOfRange(over.status())) << over.status();
  EXPECT_EQ(x.GetSaStats(sa)->output_seq, 0xffffffffull);
}

TEST(SimXfrmStateTest, EsnOutputSequenceGoesPast32Bits) {
  SimXfrm x;
  XfrmSa esn = Sa("10.0.0.1", "10.0.0.2", 1);
  esn.esn = true;
  esn.replay_window = 1024;
  ASSERT_TRUE(x.AddSa(esn).ok());
  const SaHandle sa = OutboundHandle(x, "10.0.0.1", "10.0.0.2");
  ASSERT_TRUE(x.SetOutputSeq(sa, 0xffffffffull).ok());
  EXPECT_EQ(x.NextOutputSeq(sa).value(), 0x100000000ull);
}

// CheckReplay, then AdvanceReplay when the packet is accepted: what the
// data path does once the ICV verified.
ReplayVerdict Receive(SimXfrm& x, SaHandle sa, uint32_t seq_low) {
  const absl::StatusOr<ReplayCheck> check = x.CheckReplay(sa, seq_low);
  EXPECT_TRUE(check.ok()) << check.status();
  if (!check.ok()) return ReplayVerdict::kTooOld;
  if (check->verdict == ReplayVerdict::kOk) {
    EXPECT_TRUE(x.AdvanceReplay(sa, check->seq).ok());
  }
  return check->verdict;
}

TEST(SimXfrmStateTest, ReplayCheckAndCountersPerSa) {
  SimXfrm x;
  XfrmSa in = Sa("10.0.0.2", "10.0.0.1", 1);
  in.replay_window = 64;
  ASSERT_TRUE(x.AddSa(in).ok());
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(Receive(x, sa->handle, 1), ReplayVerdict::kOk);
  EXPECT_EQ(Receive(x, sa->handle, 1), ReplayVerdict::kReplayed);
  // Two-phase: check, then advance after the ICV verified.
  const ReplayCheck c = x.CheckReplay(sa->handle, 200).value();
  ASSERT_EQ(c.verdict, ReplayVerdict::kOk);
  EXPECT_EQ(x.CheckReplay(sa->handle, 200)->verdict, ReplayVerdict::kOk);
  ASSERT_TRUE(x.AdvanceReplay(sa->handle, c.seq).ok());
  EXPECT_EQ(x.CheckReplay(sa->handle, 100)->verdict, ReplayVerdict::kTooOld);
  // (With ESN the same number would be taken for 2^32 + 100, as RFC 4303
  // and Linux do, and fail the ICV instead.)
  ASSERT_TRUE(x.CountPacket(sa->handle, 100).ok());
  ASSERT_TRUE(x.CountPacket(sa->handle, 50).ok());
  ASSERT_TRUE(x.CountIntegrityFailure(sa->handle).ok());
  const SaStats stats = x.GetSaStats(sa->handle).value();
  EXPECT_EQ(stats.replay_top, 200u);
  EXPECT_EQ(stats.replayed, 1u);
  EXPECT_EQ(stats.replay_window, 1u);
  EXPECT_EQ(stats.packets, 2u);
  EXPECT_EQ(stats.bytes, 150u);
  EXPECT_EQ(stats.integrity_failed, 1u);
}

TEST(SimXfrmStateTest, KmeshStyleSaWithoutWindowAcceptsRepeats) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(Receive(x, sa->handle, 5), ReplayVerdict::kOk);
  EXPECT_EQ(Receive(x, sa->handle, 5), ReplayVerdict::kOk);
}

TEST(SimXfrmStateTest, ADeletedSasHandleIsNotFound) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  ASSERT_TRUE(sa.has_value());
  ASSERT_TRUE(x.DeleteSa(sa->sa.id()).ok());
  EXPECT_TRUE(absl::IsNotFound(x.NextOutputSeq(sa->handle).status()));
  EXPECT_TRUE(absl::IsNotFound(x.CheckReplay(sa->handle, 1).status()));
  EXPECT_TRUE(absl::IsNotFound(x.GetSaStats(sa->handle).status()));
}

// --- Counters and listings ------------------------------------------------

TEST(SimXfrmCountersTest, DumpShowsTheLastOutputSequenceNumberAndLifetime) {
  SimXfrm x;
  XfrmSa added = Sa("10.0.0.1", "10.0.0.2", 1);
  // What a caller passes as counters is not the kernel's business.
  added.counters.output_seq = 99;
  added.counters.packets = 99;
  added.counters.bytes = 99;
  ASSERT_TRUE(x.AddSa(added).ok());
  std::vector<XfrmSa> fresh = x.DumpSas().value();
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].counters.output_seq, 0u);
  EXPECT_EQ(fresh[0].counters.packets, 0u);
  EXPECT_EQ(fresh[0].counters.bytes, 0u);

  auto sa = x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2"), Ip("10.244.1.2"),
                             Ip("10.244.2.3"), 0);
  ASSERT_TRUE(sa.has_value());
  constexpr uint64_t kPackets = 5;
  for (uint64_t i = 0; i < kPackets; ++i) {
    ASSERT_TRUE(x.NextOutputSeq(sa->handle).ok());
    ASSERT_TRUE(x.CountPacket(sa->handle, 100).ok());
  }
  // Updates neither reset nor set them.
  ASSERT_TRUE(x.UpdateSa(added).ok());
  std::vector<XfrmSa> dumped = x.DumpSas().value();
  ASSERT_EQ(dumped.size(), 1u);
  EXPECT_EQ(dumped[0].counters.output_seq, kPackets);
  EXPECT_EQ(dumped[0].counters.packets, kPackets);
  EXPECT_EQ(dumped[0].counters.bytes, kPackets * 100);
  // `ip xfrm state ... replay-oseq` moves it as Linux's oseq moves.
  ASSERT_TRUE(x.SetOutputSeq(sa->handle, 0x100000000ull).ok());
  EXPECT_EQ(x.DumpSas().value()[0].counters.output_seq, 0x100000000ull);
}

TEST(SimXfrmCountersTest, ReadStatsListsXfrmStatInLinuxsOrder) {
  SimXfrm x;
  XfrmStats before = x.ReadStats().value();
  ASSERT_EQ(before.size(), kXfrmStatCount);
  for (size_t i = 0; i < kXfrmStatCount; ++i) {
    EXPECT_EQ(before[i].first, XfrmStatName(static_cast<XfrmStat>(i)));
    EXPECT_EQ(before[i].second, 0u);
  }
  EXPECT_EQ(before.front().first, "XfrmInError");
  EXPECT_EQ(before[26].first, "XfrmOutStateInvalid");
  x.IncrementStat(XfrmStat::kInNoStates, 3);
  XfrmStats after = x.ReadStats().value();
  EXPECT_EQ(after[3], (std::pair<std::string, uint64_t>{"XfrmInNoStates", 3}));
  // Not an XfrmOp: not counted.
  for (size_t op = 0; op < kXfrmOpCount; ++op) {
    EXPECT_EQ(x.OperationCount(static_cast<XfrmOp>(op)), 0u);
  }
}

TEST(SimXfrmListingTest, CountersFormatAsProc) {
  SimXfrm x;
  x.IncrementStat(XfrmStat::kInNoStates);
  x.IncrementStat(XfrmStat::kInNoStates);
  EXPECT_EQ(x.Stat(XfrmStat::kInNoStates), 2u);
  EXPECT_NE(x.FormatXfrmStat().find("XfrmInNoStates          \t2\n"),
            std::string::npos);
}

TEST(SimXfrmListingTest, StatesAndPoliciesAreListedNewestFirst) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.3", "10.0.0.1", 1)).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.4", "10.0.0.1", 2)).ok());
  const std::string states = x.FormatStates();
  EXPECT_LT(states.find("src 10.0.0.4 dst 10.0.0.1"),
            states.find("src 10.0.0.3 dst 10.0.0.1"))
      << states;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 ::kmesh::testing::kDecrypted, 7))
                  .ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "10.0.0.0/8", "10.244.0.0/24",
                                 ::kmesh::testing::kNoMark))
                  .ok());
  const std::string policies = x.FormatPolicies();
  EXPECT_LT(policies.find("src 10.0.0.0/8 dst 10.244.0.0/24\n\tdir out"),
            policies.find("src 0.0.0.0/0 dst 10.244.0.0/24\n\tdir in"))
      << policies;
}

// --- Test hooks -------------------------------------------------------------

TEST(SimXfrmHookTest, InjectedFailuresHitTheNextCallsAndChangeNothing) {
  SimXfrm x;
  x.FailNext(XfrmOp::kAddSa, 2,
             absl::ResourceExhaustedError("ENOBUFS: injected"));
  const XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  EXPECT_TRUE(absl::IsResourceExhausted(x.AddSa(sa)));
  EXPECT_TRUE(absl::IsResourceExhausted(x.AddSa(sa)));
  EXPECT_EQ(x.sa_count(), 0u);
  EXPECT_TRUE(x.AddSa(sa).ok());
  EXPECT_EQ(x.OperationCount(XfrmOp::kAddSa), 3u);
  // Other operations are not affected.
  EXPECT_TRUE(x.DumpSas().ok());
  x.FailNext(XfrmOp::kDumpPolicies, 1, absl::UnavailableError("EINTR"));
  EXPECT_TRUE(absl::IsUnavailable(x.DumpPolicies().status()));
  EXPECT_TRUE(x.DumpPolicies().ok());
  // Clearing a plan.
  x.FailNext(XfrmOp::kDeleteSa, 5, absl::InternalError("x"));
  x.FailNext(XfrmOp::kDeleteSa, 0, absl::InternalError("x"));
  EXPECT_TRUE(x.DeleteSa(sa.id()).ok());
}

TEST(SimXfrmHookTest, OperationsAreCountedPerKind) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  EXPECT_FALSE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  ASSERT_TRUE(x.UpdatePolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.0.0.0/8",
                                    ::kmesh::testing::kNoMark, 0))
                  .ok());
  ASSERT_TRUE(x.DumpSas().ok());
  EXPECT_EQ(x.OperationCount(XfrmOp::kAddSa), 2u);
  EXPECT_EQ(x.OperationCount(XfrmOp::kUpdatePolicy), 1u);
  EXPECT_EQ(x.OperationCount(XfrmOp::kDumpSas), 1u);
  EXPECT_EQ(x.OperationCount(XfrmOp::kDeleteSa), 0u);
  x.ResetOperationCounts();
  EXPECT_EQ(x.OperationCount(XfrmOp::kAddSa), 0u);
}

TEST(SimXfrmThreadTest, DataPathReadsWhileControlPlaneWrites) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  std::atomic<bool> done{false};
  std::atomic<uint64_t> found{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
      if (sa.has_value() && x.NextOutputSeq(sa->handle).ok()) ++found;
    }
  });
  for (uint32_t spi = 2; spi < 300; ++spi) {
    ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", spi)).ok());
    ASSERT_TRUE(x.DeleteSa(XfrmSaId{Ip("10.0.0.1"), spi, kIpProtoEsp,
                                    ::kmesh::testing::kNoMark})
                    .ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(x.sa_count(), 1u);
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(x.GetSaStats(sa->handle)->output_seq, found.load());
}

}  // namespace
}  // namespace kmesh::sim
