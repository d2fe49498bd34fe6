#include "sim/kernel/sim_xfrm.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {
namespace sim {
namespace {

IpAddress Ip(const std::string& text) { return IpAddress::Parse(text).value(); }
IpPrefix Cidr(const std::string& text) { return IpPrefix::Parse(text).value(); }

XfrmKey KeyOfSize(size_t size, uint8_t fill = 0x5a) {
  std::vector<uint8_t> bytes(size, fill);
  return XfrmKey(bytes.data(), bytes.size());
}

// An inbound-style ESP tunnel SA as the product programs it.
XfrmSa Sa(const std::string& src, const std::string& dst, uint32_t spi,
          XfrmMark mark = {}) {
  XfrmSa sa;
  sa.src = Ip(src);
  sa.dst = Ip(dst);
  sa.spi = spi;
  sa.reqid = 1;
  sa.aead_key = KeyOfSize(36);
  sa.mark = mark;
  sa.selector.src = IpPrefix::Any(sa.src.family());
  sa.selector.dst = IpPrefix::Any(sa.src.family());
  return sa;
}

XfrmTemplate Tmpl(const std::string& src, const std::string& dst,
                  uint32_t reqid = 1, uint32_t spi = 0) {
  XfrmTemplate t;
  t.src = Ip(src);
  t.dst = Ip(dst);
  t.reqid = reqid;
  t.spi = spi;
  return t;
}

XfrmPolicy Policy(XfrmDir dir, const std::string& src, const std::string& dst,
                  XfrmMark mark, uint32_t priority,
                  std::vector<XfrmTemplate> templates = {}) {
  XfrmPolicy p;
  p.dir = dir;
  p.selector.src = Cidr(src);
  p.selector.dst = Cidr(dst);
  p.mark = mark;
  p.priority = priority;
  p.templates = std::move(templates);
  return p;
}

constexpr XfrmMark kNoMark{0, 0};
constexpr XfrmMark kDecrypted{0xd0, 0xffffffff};

// --- SA identity --------------------------------------------------------

TEST(SimXfrmSaTest, DuplicateUnmarkedSaIsAlreadyExists) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  // A different source does not make it a different SA.
  const absl::Status s = x.AddSa(Sa("10.0.0.3", "10.0.0.1", 1));
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ(KernelErrno(s), EEXIST) << s;
  EXPECT_EQ(x.sa_count(), 1u);
}

TEST(SimXfrmSaTest, MarkedSaAfterUnmarkedOneCollides) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  // (0x1d0 & 0xffffffff) & 0 == 0: the unmarked SA matches any mark.
  EXPECT_TRUE(absl::IsAlreadyExists(
      x.AddSa(Sa("10.0.0.3", "10.0.0.1", 1, {0x1d0, 0xffffffff}))));
}

TEST(SimXfrmSaTest, UnmarkedSaAfterMarkedOneIsAcceptedAsOnLinux) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 2, {0x1d0, 0xffffffff})).ok());
  // (0 & 0) & 0xffffffff != 0x1d0: Linux's check is one-sided.
  EXPECT_TRUE(x.AddSa(Sa("10.0.0.3", "10.0.0.1", 2)).ok());
  EXPECT_EQ(x.sa_count(), 2u);
}

TEST(SimXfrmSaTest, DistinctMarksUnderOneMaskCoexist) {
  SimXfrm x;
  EXPECT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 3, {0x1d0, 0xffff})).ok());
  EXPECT_TRUE(x.AddSa(Sa("10.0.0.3", "10.0.0.1", 3, {0x2d0, 0xffff})).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(
      x.AddSa(Sa("10.0.0.4", "10.0.0.1", 3, {0x2d0, 0xffff}))));
  EXPECT_EQ(x.sa_count(), 2u);
}

TEST(SimXfrmSaTest, SameSpiToDifferentDestinationsCoexist) {
  SimXfrm x;
  EXPECT_TRUE(x.AddSa(Sa("10.0.0.1", "10.0.0.2", 1)).ok());
  EXPECT_TRUE(x.AddSa(Sa("10.0.0.1", "10.0.0.3", 1)).ok());
  EXPECT_TRUE(x.AddSa(Sa("fd00::1", "fd00::2", 1)).ok());
}

// --- Inbound lookup -----------------------------------------------------

TEST(SimXfrmLookupTest, InboundLookupPicksTheSaByPacketMark) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.3", "10.0.0.1", 1, {0x2d0, 0xffff})).ok());
  auto b = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  auto c = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0xabcd02d0);
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(b->sa.src, Ip("10.0.0.2"));
  EXPECT_EQ(c->sa.src, Ip("10.0.0.3"));
  EXPECT_FALSE(b->handle == c->handle);
  EXPECT_FALSE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x3d0));
  EXPECT_FALSE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0));
  EXPECT_FALSE(x.LookupInboundSa(Ip("10.0.0.1"), 2, kIpProtoEsp, 0x1d0));
  EXPECT_FALSE(x.LookupInboundSa(Ip("10.0.0.9"), 1, kIpProtoEsp, 0x1d0));
}

TEST(SimXfrmLookupTest, UnmarkedSaMatchesAnyPacketMark) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1)).ok());
  EXPECT_TRUE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0));
  EXPECT_TRUE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x12345678));
}

TEST(SimXfrmLookupTest, NewestSaWinsWhenSeveralMatch) {
  SimXfrm x;
  XfrmSa older = Sa("10.0.0.2", "10.0.0.1", 4, {0x10, 0xf0});
  older.reqid = 11;
  XfrmSa newer = Sa("10.0.0.3", "10.0.0.1", 4, {0x1, 0x0f});
  newer.reqid = 22;
  ASSERT_TRUE(x.AddSa(older).ok());
  ASSERT_TRUE(x.AddSa(newer).ok());
  // Linux 6.1: `ip xfrm state get ... mark 0x11` returns reqid 22.
  auto both = x.LookupInboundSa(Ip("10.0.0.1"), 4, kIpProtoEsp, 0x11);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->sa.reqid, 22u);
  auto only_older = x.LookupInboundSa(Ip("10.0.0.1"), 4, kIpProtoEsp, 0x10);
  ASSERT_TRUE(only_older.has_value());
  EXPECT_EQ(only_older->sa.reqid, 11u);
}

// --- Update and delete ---------------------------------------------------

TEST(SimXfrmSaTest, UpdateOfAbsentSaIsNotFound) {
  SimXfrm x;
  const absl::Status s = x.UpdateSa(Sa("10.0.0.2", "10.0.0.9", 7));
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(KernelErrno(s), ESRCH) << s;
}

TEST(SimXfrmSaTest, DeleteOfAbsentSaIsNotFound) {
  SimXfrm x;
  const absl::Status s = x.DeleteSa(XfrmSaId{Ip("10.0.0.9"), 7, kIpProtoEsp});
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(KernelErrno(s), ESRCH) << s;
}

TEST(SimXfrmSaTest, DeleteWithoutMarkDoesNotFindMarkedSa) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 3, {0x1d0, 0xffff})).ok());
  EXPECT_TRUE(absl::IsNotFound(
      x.DeleteSa(XfrmSaId{Ip("10.0.0.1"), 3, kIpProtoEsp, kNoMark})));
  EXPECT_TRUE(
      x.DeleteSa(XfrmSaId{Ip("10.0.0.1"), 3, kIpProtoEsp, {0x1d0, 0xffff}})
          .ok());
  EXPECT_EQ(x.sa_count(), 0u);
}

TEST(SimXfrmSaTest, DeleteRemovesOnlyTheMatchingSaAndKillsItsHandle) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.1", 1, {0x1d0, 0xffff})).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.3", "10.0.0.1", 1, {0x2d0, 0xffff})).ok());
  auto b = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(x.DeleteSa(b->sa.id()).ok());
  EXPECT_FALSE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0));
  EXPECT_TRUE(x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x2d0));
  EXPECT_TRUE(absl::IsNotFound(x.NextOutputSeq(b->handle).status()));
  EXPECT_TRUE(absl::IsNotFound(x.CheckAndUpdateReplay(b->handle, 1).status()));
}

TEST(SimXfrmSaTest, UpdateChangesOnlyTheOutputMarkAsLinuxDoes) {
  SimXfrm x;
  XfrmSa original = Sa("10.0.0.2", "10.0.0.5", 8);
  original.output_mark = {0xd0, 0xffffffff};
  ASSERT_TRUE(x.AddSa(original).ok());
  XfrmSa update = original;
  update.src = Ip("10.0.0.7");
  update.reqid = 5;
  update.aead_key = KeyOfSize(36, 0x77);
  update.icv_bits = 96;
  update.replay_window = 32;
  update.output_mark = {0xe0, 0xffffffff};
  ASSERT_TRUE(x.UpdateSa(update).ok());
  auto dump = x.DumpSas();
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 1u);
  const XfrmSa& now = (*dump)[0];
  EXPECT_EQ(now.output_mark, (XfrmMark{0xe0, 0xffffffff}));
  EXPECT_TRUE(now.aead_key == original.aead_key);
  EXPECT_EQ(now.src, original.src);
  EXPECT_EQ(now.reqid, 1u);
  EXPECT_EQ(now.icv_bits, 128u);
  EXPECT_EQ(now.replay_window, 0u);
  // An update without an output mark leaves the current one.
  update.output_mark = {};
  ASSERT_TRUE(x.UpdateSa(update).ok());
  EXPECT_EQ((*x.DumpSas())[0].output_mark, (XfrmMark{0xe0, 0xffffffff}));
}

TEST(SimXfrmSaTest, UpdateIsValidatedLikeAdd) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  ASSERT_TRUE(x.AddSa(sa).ok());
  sa.aead_key = KeyOfSize(30);
  EXPECT_TRUE(absl::IsInvalidArgument(x.UpdateSa(sa)));
}

// --- The (dst, SPI) index against a newest-first walk ----------------------

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

// Random SAs, identities and packet marks from small pools, so that (dst,
// SPI) chains are long, masks overlap (0xff inside 0xffff and 0xffff00ff,
// 0xffff0000 and 0xffff00ff share the high half), marks collide and several
// SAs of different masks match one packet.
class RandomSas {
 public:
  explicit RandomSas(uint32_t seed) : rng_(seed) {}

  int Below(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }
  XfrmSa NextSa(uint32_t tag) {
    static const char* const kDsts[][2] = {{"10.0.0.2", "10.0.0.1"},
                                           {"10.0.0.3", "10.0.0.2"},
                                           {"fd00::2", "fd00::1"}};
    const auto& pair = kDsts[Below(3)];
    XfrmSa sa = Sa(pair[0], pair[1], Spi(), Mark());
    sa.reqid = tag;
    sa.proto = Proto();
    static const XfrmMark kOutputMarks[] = {
        {0, 0}, {0xd0, 0xffff00ff}, {0x7, 0xff}, {0xe0, 0xffffffff}};
    sa.output_mark = kOutputMarks[Below(4)];
    return sa;
  }
  uint32_t Spi() {
    static const uint32_t kSpis[] = {1, 2, 0x1000, 1, 2, 0x1000, 0};
    return kSpis[Below(7)];
  }
  uint8_t Proto() { return Below(8) == 0 ? uint8_t{51} : kIpProtoEsp; }
  XfrmMark Mark() {
    // Mask 0 (unmarked) is rarer: it collides with every later SA of its
    // (dst, SPI).
    static const uint32_t kMasks[] = {0xffffffff, 0xffff00ff, 0xff,
                                      0xffff,     0xffff0000, 0xffff00ff,
                                      0xffffffff, 0xff,       0};
    return XfrmMark{PacketMark(), kMasks[Below(9)]};
  }
  uint32_t PacketMark() {
    static const uint32_t kMarks[] = {0,       0xd0,       0x100d0, 0x200d0,
                                      0x1d0,   0x100e0,    0x10000, 0x2ff00d0,
                                      0x20000, 0xffffffff, 0xe0,    0x300d0};
    return kMarks[Below(12)];
  }

 private:
  std::mt19937 rng_;
};

std::string Describe(const NewestFirstSaModel::Entry* sa) {
  if (sa == nullptr) return "none";
  return absl::StrFormat("tag %u dst %s spi %u proto %u mark 0x%x/0x%x",
                         sa->tag, sa->dst.ToString(), sa->spi, sa->proto,
                         sa->mark.value, sa->mark.mask);
}

TEST(SimXfrmLookupTest, LookupBySpiEqualsNewestFirstWalkUnderRandomChanges) {
  RandomSas random(20261126);
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

// --- SA validation -------------------------------------------------------

TEST(SimXfrmValidationTest, SpiZeroIsRejected) {
  SimXfrm x;
  const absl::Status s = x.AddSa(Sa("10.0.0.2", "10.0.0.1", 0));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(KernelErrno(s), EINVAL) << s;
}

TEST(SimXfrmValidationTest, KeyLengthMustFitRfc4106AndIsNeverPrinted) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 21);
  sa.aead_key = KeyOfSize(30, 0xab);
  const absl::Status s = x.AddSa(sa);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("30 bytes"), absl::string_view::npos) << s;
  EXPECT_EQ(s.message().find("abab"), absl::string_view::npos) << s;
  sa.aead_key = KeyOfSize(1);
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddSa(sa)));
  // AES-128 and AES-192 with salt are valid on Linux too.
  sa.aead_key = KeyOfSize(20);
  EXPECT_TRUE(x.AddSa(sa).ok());
  sa.spi = 22;
  sa.aead_key = KeyOfSize(28);
  EXPECT_TRUE(x.AddSa(sa).ok());
}

TEST(SimXfrmValidationTest, UnknownAeadOrIcvIsEnosys) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 22);
  sa.icv_bits = 100;
  absl::Status s = x.AddSa(sa);
  EXPECT_TRUE(absl::IsUnimplemented(s)) << s;
  EXPECT_EQ(KernelErrno(s), ENOSYS) << s;
  sa.icv_bits = 128;
  sa.aead_name = "gcm(aes)";
  EXPECT_TRUE(absl::IsUnimplemented(x.AddSa(sa)));
  sa.aead_name = "rfc4106(gcm(aes))";
  for (uint32_t icv : {64u, 96u, 128u}) {
    sa.icv_bits = icv;
    sa.spi = 100 + icv;
    EXPECT_TRUE(x.AddSa(sa).ok()) << icv;
  }
  sa.aead_name.clear();
  sa.spi = 99;
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddSa(sa)));
}

TEST(SimXfrmValidationTest, SourceAndDestinationFamiliesMustAgree) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  sa.src = Ip("fd00::2");
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddSa(sa)));
}

TEST(SimXfrmValidationTest, EsnNeedsAReplayWindow) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.6", 9);
  sa.esn = true;
  sa.replay_window = 0;
  const absl::Status s = x.AddSa(sa);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("ESN"), absl::string_view::npos) << s;
  sa.replay_window = 1024;
  EXPECT_TRUE(x.AddSa(sa).ok());
}

TEST(SimXfrmValidationTest, ReplayWindowAbove4096IsRejected) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.6", 12);
  sa.replay_window = 4097;
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddSa(sa)));
  sa.replay_window = 4096;
  EXPECT_TRUE(x.AddSa(sa).ok());
}

TEST(SimXfrmValidationTest, ProtocolsOtherThanEspAreRejected) {
  SimXfrm x;
  for (uint8_t proto : {uint8_t{51}, uint8_t{108}, uint8_t{6}}) {
    XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 5);
    sa.proto = proto;
    EXPECT_TRUE(absl::IsInvalidArgument(x.AddSa(sa))) << int{proto};
  }
}

TEST(SimXfrmValidationTest, OnlyTunnelModeCanChangeFamily) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.7", 30);
  sa.selector.src = Cidr("fd00::/64");
  sa.selector.dst = Cidr("fd01::/64");
  sa.mode = XfrmMode::kTransport;
  const absl::Status s = x.AddSa(sa);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_EQ(KernelErrno(s), EPROTONOSUPPORT) << s;
  sa.mode = XfrmMode::kTunnel;
  EXPECT_TRUE(x.AddSa(sa).ok());
}

TEST(SimXfrmSaTest, DumpListsNewestFirstAndReturnsCopies) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 40)).ok());
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.2", "10.0.0.8", 41)).ok());
  auto dump = x.DumpSas();
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 2u);
  EXPECT_EQ((*dump)[0].spi, 41u);
  EXPECT_EQ((*dump)[1].spi, 40u);
  (*dump)[0].spi = 99;
  EXPECT_EQ((*x.DumpSas())[0].spi, 41u);
}

TEST(SimXfrmSaTest, LastSaChangeMovesOnlyWhenTheTableChanges) {
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

TEST(SimXfrmSaTest, VisitSeesWhatDumpListsWithoutCountingAnOperation) {
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

// --- Outbound selection ---------------------------------------------------

TEST(SimXfrmLookupTest, OutboundSaIsSelectedByTemplateAndMark) {
  SimXfrm x;
  XfrmSa to_b = Sa("10.0.0.1", "10.0.0.2", 1, {0xe0, 0xff});
  XfrmSa to_b_new = Sa("10.0.0.1", "10.0.0.2", 2, {0xe0, 0xff});
  XfrmSa to_c = Sa("10.0.0.1", "10.0.0.3", 1, {0xe0, 0xff});
  ASSERT_TRUE(x.AddSa(to_b).ok());
  ASSERT_TRUE(x.AddSa(to_b_new).ok());
  ASSERT_TRUE(x.AddSa(to_c).ok());
  const IpAddress pod_a = Ip("10.244.0.5");
  const IpAddress pod_b = Ip("10.244.1.5");
  // SPI pinned by the template.
  auto spi1 =
      x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2", 1, 1), pod_a, pod_b, 0xe0);
  ASSERT_TRUE(spi1.has_value());
  EXPECT_EQ(spi1->sa.spi, 1u);
  // Any SPI: the newest SA.
  auto any = x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2"), pod_a, pod_b, 0xe0);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->sa.spi, 2u);
  // Wildcard template source.
  auto wild = x.FindOutboundSa(Tmpl("0.0.0.0", "10.0.0.3"), pod_a, pod_b, 0xe0);
  ASSERT_TRUE(wild.has_value());
  EXPECT_EQ(wild->sa.dst, Ip("10.0.0.3"));
  // Mark, reqid (compared exactly, 0 included) and addresses all count.
  EXPECT_FALSE(x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2"), pod_a, pod_b, 0));
  EXPECT_FALSE(
      x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2", 0), pod_a, pod_b, 0xe0));
  EXPECT_FALSE(
      x.FindOutboundSa(Tmpl("10.0.0.9", "10.0.0.2"), pod_a, pod_b, 0xe0));
  EXPECT_FALSE(
      x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2", 1, 3), pod_a, pod_b, 0xe0));
  XfrmTemplate transport = Tmpl("10.0.0.1", "10.0.0.2");
  transport.mode = XfrmMode::kTransport;
  EXPECT_FALSE(x.FindOutboundSa(transport, pod_a, pod_b, 0xe0));
}

TEST(SimXfrmLookupTest, OutboundSaSelectorMustMatchThePacket) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.1", "10.0.0.2", 1);
  sa.selector.src = Cidr("10.244.0.0/24");
  sa.selector.dst = Cidr("10.244.1.0/24");
  ASSERT_TRUE(x.AddSa(sa).ok());
  const XfrmTemplate t = Tmpl("10.0.0.1", "10.0.0.2");
  EXPECT_TRUE(
      x.FindOutboundSa(t, Ip("10.244.0.5"), Ip("10.244.1.5"), 0).has_value());
  EXPECT_FALSE(
      x.FindOutboundSa(t, Ip("10.244.0.5"), Ip("10.244.2.5"), 0).has_value());
}

TEST(SimXfrmLookupTest, InboundTemplateCheckFollowsXfrmStateOk) {
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

TEST(SimXfrmLookupTest, OutputMarkReplacesOnlyMaskedBits) {
  XfrmSa sa = Sa("10.0.0.2", "10.0.0.1", 1);
  sa.output_mark = {0xd0, 0xffffffff};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0xd0u);
  sa.output_mark = {0xd0, 0xff};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0x123456d0u);
  sa.output_mark = {};
  EXPECT_EQ(ApplyOutputMark(sa, 0x12345678), 0x12345678u);
}

// --- Policies ---------------------------------------------------------------

TEST(SimXfrmPolicyTest, IdentityIgnoresPriority) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0, {Tmpl("10.0.0.2", "10.0.0.1")}))
                  .ok());
  const absl::Status s =
      x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24", kDecrypted,
                         5, {Tmpl("10.0.0.3", "10.0.0.1")}));
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ(KernelErrno(s), EEXIST) << s;
  EXPECT_EQ(x.policy_count(), 1u);
}

TEST(SimXfrmPolicyTest, UpdateReplacesThePolicyWithTheSameIdentity) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0, {Tmpl("10.0.0.2", "10.0.0.1")}))
                  .ok());
  ASSERT_TRUE(
      x.UpdatePolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                            kDecrypted, 7, {Tmpl("10.0.0.3", "10.0.0.1")}))
          .ok());
  auto dump = x.DumpPolicies();
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 1u);
  EXPECT_EQ((*dump)[0].priority, 7u);
  ASSERT_EQ((*dump)[0].templates.size(), 1u);
  EXPECT_EQ((*dump)[0].templates[0].src, Ip("10.0.0.3"));
}

TEST(SimXfrmPolicyTest, UpdateOfAbsentPolicyAddsIt) {
  SimXfrm x;
  EXPECT_TRUE(x.UpdatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                    {0xe0, 0xffffffff}, 0))
                  .ok());
  EXPECT_EQ(x.policy_count(), 1u);
}

TEST(SimXfrmPolicyTest, MarkValueAndMaskAreComparedExactly) {
  SimXfrm x;
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0))
                  .ok());
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 {0xd0, 0xff}, 0))
                  .ok());
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kNoMark, 0))
                  .ok());
  // Other direction, other identity.
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kFwd, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0))
                  .ok());
  EXPECT_EQ(x.policy_count(), 4u);
}

TEST(SimXfrmPolicyTest, DeleteOfAbsentPolicyIsNotFound) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0))
                  .ok());
  XfrmPolicyId other_mask{
      XfrmDir::kIn, {Cidr("0.0.0.0/0"), Cidr("10.244.0.0/24")}, {0xd0, 0xfff}};
  const absl::Status s = x.DeletePolicy(other_mask);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(KernelErrno(s), ENOENT) << s;
  XfrmPolicyId exact = other_mask;
  exact.mark = kDecrypted;
  EXPECT_TRUE(x.DeletePolicy(exact).ok());
  EXPECT_TRUE(absl::IsNotFound(x.DeletePolicy(exact)));
}

TEST(SimXfrmPolicyTest, LookupPrefersLowerPriorityThenFirstInserted) {
  SimXfrm x;
  const XfrmMark e0{0xe0, 0xffffffff};
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.0.0/16",
                                 e0, 10, {Tmpl("10.0.0.1", "10.0.0.9")}))
                  .ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                 e0, 5, {Tmpl("10.0.0.1", "10.0.0.2")}))
                  .ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "10.0.0.0/8", "10.244.1.0/24",
                                 e0, 5, {Tmpl("10.0.0.1", "10.0.0.3")}))
                  .ok());
  auto p =
      x.LookupPolicy(XfrmDir::kOut, Ip("10.1.1.1"), Ip("10.244.1.7"), 6, 0xe0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->templates[0].dst, Ip("10.0.0.2"));  // Priority 5, first.
  p = x.LookupPolicy(XfrmDir::kOut, Ip("10.1.1.1"), Ip("10.244.2.7"), 6, 0xe0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->templates[0].dst, Ip("10.0.0.9"));
  // Replacing the first with an unchanged priority keeps its place...
  ASSERT_TRUE(x.UpdatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                    e0, 5, {Tmpl("10.0.0.1", "10.0.0.4")}))
                  .ok());
  p = x.LookupPolicy(XfrmDir::kOut, Ip("10.1.1.1"), Ip("10.244.1.7"), 6, 0xe0);
  EXPECT_EQ(p->templates[0].dst, Ip("10.0.0.4"));
  // ...a new priority moves it behind the others of that priority.
  ASSERT_TRUE(x.UpdatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                    e0, 6, {Tmpl("10.0.0.1", "10.0.0.4")}))
                  .ok());
  ASSERT_TRUE(x.UpdatePolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                    e0, 5, {Tmpl("10.0.0.1", "10.0.0.4")}))
                  .ok());
  p = x.LookupPolicy(XfrmDir::kOut, Ip("10.1.1.1"), Ip("10.244.1.7"), 6, 0xe0);
  EXPECT_EQ(p->templates[0].dst, Ip("10.0.0.3"));
}

TEST(SimXfrmPolicyTest, LookupNeedsMarkDirectionAndFamily) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                                 {0xe0, 0xffffffff}, 0))
                  .ok());
  EXPECT_TRUE(
      x.LookupPolicy(XfrmDir::kOut, Ip("10.0.0.1"), Ip("10.244.1.1"), 6, 0xe0));
  EXPECT_FALSE(
      x.LookupPolicy(XfrmDir::kOut, Ip("10.0.0.1"), Ip("10.244.1.1"), 6, 0));
  EXPECT_FALSE(x.LookupPolicy(XfrmDir::kOut, Ip("10.0.0.1"), Ip("10.244.1.1"),
                              6, 0x1e0));
  EXPECT_FALSE(
      x.LookupPolicy(XfrmDir::kFwd, Ip("10.0.0.1"), Ip("10.244.1.1"), 6, 0xe0));
  EXPECT_FALSE(
      x.LookupPolicy(XfrmDir::kOut, Ip("fd00::1"), Ip("fd01::1"), 6, 0xe0));
}

TEST(SimXfrmPolicyTest, BlockPolicyIsFoundAndMayCarryTemplates) {
  SimXfrm x;
  XfrmPolicy catch_all =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", {0xe0, 0xffffffff}, 100);
  catch_all.action = XfrmAction::kBlock;
  ASSERT_TRUE(x.AddPolicy(catch_all).ok());
  XfrmPolicy fwd_block = Policy(XfrmDir::kFwd, "0.0.0.0/0", "0.0.0.0/0",
                                kNoMark, 3, {Tmpl("1.1.1.1", "2.2.2.2")});
  fwd_block.action = XfrmAction::kBlock;
  EXPECT_TRUE(x.AddPolicy(fwd_block).ok());
  ASSERT_TRUE(
      x.AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "10.244.1.0/24",
                         {0xe0, 0xffffffff}, 0, {Tmpl("10.0.0.1", "10.0.0.2")}))
          .ok());
  auto specific = x.LookupPolicy(XfrmDir::kOut, Ip("10.244.0.3"),
                                 Ip("10.244.1.3"), 17, 0xe0);
  ASSERT_TRUE(specific.has_value());
  EXPECT_EQ(specific->action, XfrmAction::kAllow);
  auto blocked = x.LookupPolicy(XfrmDir::kOut, Ip("10.244.0.3"),
                                Ip("10.244.9.3"), 17, 0xe0);
  ASSERT_TRUE(blocked.has_value());
  EXPECT_EQ(blocked->action, XfrmAction::kBlock);
}

TEST(SimXfrmPolicyTest, ValidationFollowsLinux) {
  SimXfrm x;
  // Optional tunnel template in an out policy.
  XfrmTemplate optional = Tmpl("1.1.1.1", "2.2.2.2");
  optional.optional = true;
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(Policy(
      XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", kNoMark, 0, {optional}))));
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "0.0.0.0/0",
                                 kNoMark, 0, {optional}))
                  .ok());
  // Tunnel templates may change family, transport ones may not.
  XfrmTemplate v6 = Tmpl("fd00::1", "fd00::2");
  EXPECT_TRUE(x.AddPolicy(Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0",
                                 kNoMark, 0, {v6}))
                  .ok());
  v6.mode = XfrmMode::kTransport;
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(
      Policy(XfrmDir::kFwd, "0.0.0.0/0", "0.0.0.0/0", kNoMark, 0, {v6}))));
  // Selector families must agree.
  XfrmPolicy mixed =
      Policy(XfrmDir::kOut, "0.0.0.0/0", "0.0.0.0/0", kNoMark, 1);
  mixed.selector.dst = Cidr("::/0");
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(mixed)));
  // At most XFRM_MAX_DEPTH templates.
  std::vector<XfrmTemplate> seven(7, Tmpl("1.1.1.1", "2.2.2.2"));
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(
      Policy(XfrmDir::kIn, "10.0.0.0/8", "0.0.0.0/0", kNoMark, 0, seven))));
  // Template protocol must be an IPsec one.
  XfrmTemplate tcp = Tmpl("1.1.1.1", "2.2.2.2");
  tcp.proto = 6;
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(
      Policy(XfrmDir::kIn, "10.0.0.0/8", "0.0.0.0/0", kNoMark, 0, {tcp}))));
  // Direction must be in, out or fwd.
  XfrmPolicy bad_dir =
      Policy(XfrmDir::kIn, "10.1.0.0/16", "0.0.0.0/0", kNoMark, 0);
  bad_dir.dir = static_cast<XfrmDir>(3);
  EXPECT_TRUE(absl::IsInvalidArgument(x.AddPolicy(bad_dir)));
}

TEST(SimXfrmPolicyTest, DumpListsNewestFirst) {
  SimXfrm x;
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0))
                  .ok());
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kFwd, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 0))
                  .ok());
  auto dump = x.DumpPolicies();
  ASSERT_TRUE(dump.ok());
  ASSERT_EQ(dump->size(), 2u);
  EXPECT_EQ((*dump)[0].dir, XfrmDir::kFwd);
  EXPECT_EQ((*dump)[1].dir, XfrmDir::kIn);
}

// --- Per-SA data-path state ----------------------------------------------

TEST(SimXfrmStateTest, OutputSequenceStartsAtOneAndNeverWraps) {
  SimXfrm x;
  ASSERT_TRUE(x.AddSa(Sa("10.0.0.1", "10.0.0.2", 1)).ok());
  auto sa = x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2"), Ip("10.244.0.1"),
                             Ip("10.244.1.1"), 0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(x.NextOutputSeq(sa->handle).value(), 1u);
  EXPECT_EQ(x.NextOutputSeq(sa->handle).value(), 2u);
  ASSERT_TRUE(x.SetOutputSeq(sa->handle, 0xfffffffeull).ok());
  EXPECT_EQ(x.NextOutputSeq(sa->handle).value(), 0xffffffffull);
  const absl::StatusOr<uint64_t> over = x.NextOutputSeq(sa->handle);
  EXPECT_TRUE(absl::IsOutOfRange(over.status())) << over.status();
  EXPECT_EQ(x.GetSaStats(sa->handle)->output_seq, 0xffffffffull);
}

TEST(SimXfrmStateTest, EsnOutputSequenceGoesPast32Bits) {
  SimXfrm x;
  XfrmSa esn = Sa("10.0.0.1", "10.0.0.2", 1);
  esn.esn = true;
  esn.replay_window = 1024;
  ASSERT_TRUE(x.AddSa(esn).ok());
  auto sa = x.FindOutboundSa(Tmpl("10.0.0.1", "10.0.0.2"), Ip("10.244.0.1"),
                             Ip("10.244.1.1"), 0);
  ASSERT_TRUE(sa.has_value());
  ASSERT_TRUE(x.SetOutputSeq(sa->handle, 0xffffffffull).ok());
  EXPECT_EQ(x.NextOutputSeq(sa->handle).value(), 0x100000000ull);
}

TEST(SimXfrmStateTest, ReplayCheckAndCountersPerSa) {
  SimXfrm x;
  XfrmSa in = Sa("10.0.0.2", "10.0.0.1", 1);
  in.replay_window = 64;
  ASSERT_TRUE(x.AddSa(in).ok());
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(x.CheckAndUpdateReplay(sa->handle, 1)->verdict, ReplayVerdict::kOk);
  EXPECT_EQ(x.CheckAndUpdateReplay(sa->handle, 1)->verdict,
            ReplayVerdict::kReplayed);
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
  EXPECT_EQ(x.CheckAndUpdateReplay(sa->handle, 5)->verdict, ReplayVerdict::kOk);
  EXPECT_EQ(x.CheckAndUpdateReplay(sa->handle, 5)->verdict, ReplayVerdict::kOk);
}

// --- Counters, dumps, hooks ---------------------------------------------

TEST(SimXfrmStatTest, CountersFormatAsProc) {
  SimXfrm x;
  x.IncrementStat(XfrmStat::kInNoStates);
  x.IncrementStat(XfrmStat::kInNoStates);
  EXPECT_EQ(x.Stat(XfrmStat::kInNoStates), 2u);
  EXPECT_NE(x.FormatXfrmStat().find("XfrmInNoStates          \t2\n"),
            std::string::npos);
}

TEST(SimXfrmFormatTest, StatesPrintLikeIpXfrmStateWithoutKeys) {
  SimXfrm x;
  XfrmSa sa = Sa("10.0.0.3", "10.0.0.1", 1, {0x1d0, 0xffff});
  sa.output_mark = {0xd0, 0xffffffff};
  sa.aead_key = KeyOfSize(36, 0xc3);
  ASSERT_TRUE(x.AddSa(sa).ok());
  EXPECT_EQ(x.FormatStates(),
            "src 10.0.0.3 dst 10.0.0.1\n"
            "\tproto esp spi 0x00000001 reqid 1 mode tunnel\n"
            "\treplay-window 0\n"
            "\tmark 0x1d0/0xffff\n"
            "\toutput-mark 0xd0/0xffffffff\n"
            "\taead rfc4106(gcm(aes)) <hidden> 128\n"
            "\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000\n"
            "\tsel src 0.0.0.0/0 dst 0.0.0.0/0\n");
  XfrmSa esn = Sa("10.0.0.4", "10.0.0.1", 2);
  esn.esn = true;
  esn.replay_window = 64;
  ASSERT_TRUE(x.AddSa(esn).ok());
  const std::string text = x.FormatStates();
  EXPECT_NE(text.find("\treplay-window 0 flag esn\n\taead"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("c3c3"), std::string::npos);
  EXPECT_NE(text.find("\t replay_window 64, bitmap-length 2\n"
                      "\t 00000000 00000000\n"),
            std::string::npos)
      << text;
}

TEST(SimXfrmFormatTest, PoliciesPrintLikeIpXfrmPolicy) {
  SimXfrm x;
  XfrmTemplate t = Tmpl("10.0.0.3", "10.0.0.1");
  ASSERT_TRUE(x.AddPolicy(Policy(XfrmDir::kIn, "0.0.0.0/0", "10.244.0.0/24",
                                 kDecrypted, 7, {t}))
                  .ok());
  XfrmPolicy block =
      Policy(XfrmDir::kOut, "10.0.0.0/8", "10.244.0.0/24", kNoMark, 0);
  block.action = XfrmAction::kBlock;
  ASSERT_TRUE(x.AddPolicy(block).ok());
  EXPECT_EQ(x.FormatPolicies(),
            "src 10.0.0.0/8 dst 10.244.0.0/24\n"
            "\tdir out action block priority 0 ptype main\n"
            "src 0.0.0.0/0 dst 10.244.0.0/24\n"
            "\tdir in priority 7 ptype main\n"
            "\tmark 0xd0/0xffffffff\n"
            "\ttmpl src 10.0.0.3 dst 10.0.0.1\n"
            "\t\tproto esp reqid 1 mode tunnel\n");
}

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
  ASSERT_TRUE(x.UpdatePolicy(
                   Policy(XfrmDir::kIn, "0.0.0.0/0", "10.0.0.0/8", kNoMark, 0))
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
    ASSERT_TRUE(
        x.DeleteSa(XfrmSaId{Ip("10.0.0.1"), spi, kIpProtoEsp, kNoMark}).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(x.sa_count(), 1u);
  auto sa = x.LookupInboundSa(Ip("10.0.0.1"), 1, kIpProtoEsp, 0x1d0);
  ASSERT_TRUE(sa.has_value());
  EXPECT_EQ(x.GetSaStats(sa->handle)->output_seq, found.load());
}

}  // namespace
}  // namespace sim
}  // namespace kmesh

namespace kmesh::sim {
namespace {

// Linux keeps an SA's mark value ANDed with its mask: bits outside the mask
// are dropped when the SA is added, as a real dump shows (checked in the VM,
// e2e/vm/netlink_esp_sa_test.cc).
TEST(SimXfrmMarkTest, MarkValueIsStoredUnderItsMask) {
  SimXfrm x;
  XfrmSa sa;
  sa.src = *IpAddress::Parse("10.0.0.2");
  sa.dst = *IpAddress::Parse("10.0.0.1");
  sa.spi = 1;
  std::vector<uint8_t> key(36, 1);
  sa.aead_key = XfrmKey(key.data(), key.size());
  sa.mark = XfrmMark{0x10d0, 0xffff00ff};
  ASSERT_TRUE(x.AddSa(sa).ok());
  auto dumped = x.DumpSas();
  ASSERT_TRUE(dumped.ok());
  ASSERT_EQ(dumped->size(), 1u);
  EXPECT_EQ((*dumped)[0].mark, (XfrmMark{0xd0, 0xffff00ff}));
  EXPECT_TRUE(x.LookupInboundSa(sa.dst, 1, kIpProtoEsp, 0xd0).has_value());
}

}  // namespace
}  // namespace kmesh::sim
