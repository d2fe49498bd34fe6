// The marker decision table through the real eBPF programs, loaded with the
// Linux loader and run with BPF_PROG_TEST_RUN; and the programs compared with
// the C++ build of the same decisions (marker_decision_host.h) on thousands of
// mutated frames. Needs root and BPF; skips otherwise.
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bpf/marker_decision.h"
#include "bpf/marker_decision_table.h"
#include "bpf/marker_key.h"
#include "bpf/marker_test_packets.h"
#include "bpf/tc_test_run.h"
#include "gtest/gtest.h"
#include "kmesh/linux/bpf_marker_loader.h"
#include "kmesh/linux/testing/private_bpf_filesystem.h"
#include "kmesh/linux/testing/test_markers.h"
#include "sim/kernel/marker_decision_host.h"
#include "sim/kernel/memory_marker_maps.h"

namespace kmesh {
namespace {

using ::kmesh::linux_backend::BpfMarkerLoader;
using ::kmesh::linux_backend::MarkerProgram;
using ::kmesh::testing::Ip;
using ::kmesh::testing::IpFrame;
using ::kmesh::testing::kProtoEsp;
using ::kmesh::testing::kProtoUdp;
using ::kmesh::testing::Marker;
using ::kmesh::testing::MarkerCase;

constexpr size_t kEthernetHeader = 14;

// The index word of an IPv4 address (the key's addr[0]).
uint32_t MarkerWord(const IpAddress& address) {
  return MarkerKeyFor(address).addr[0];
}

// BPF_PROG_TEST_RUN refuses (EINVAL) a frame shorter than an Ethernet header,
// and an IPv4 or IPv6 frame whose fixed IP header is incomplete; the table's
// truncated-header cases are therefore checked on the C++ build only (the
// verifier already proves the program never reads past the data).
bool KernelTestRunAccepts(const std::vector<uint8_t>& frame) {
  if (frame.size() < kEthernetHeader) return false;
  const uint16_t ethertype = frame[12] << 8 | frame[13];
  if (ethertype == 0x0800) return frame.size() >= kEthernetHeader + 20;
  if (ethertype == 0x86dd) return frame.size() >= kEthernetHeader + 40;
  return true;
}

class MarkerBpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
        linux_backend::testing::LoadTestMarkers();
    if (absl::IsPermissionDenied(loader.status())) {
      GTEST_SKIP() << loader.status().message();
    }
    ASSERT_TRUE(loader.ok()) << loader.status();
    loader_ = *std::move(loader);
    ASSERT_TRUE(testing::FillTableMaps(loader_->maps()).ok());
    ASSERT_TRUE(testing::FillTableMaps(memory_maps_).ok());
  }

  // The mark the real program leaves; fails the test on a kernel error or a
  // verdict other than TC_ACT_OK.
  uint32_t RunBpf(Marker marker, const std::vector<uint8_t>& frame,
                  uint32_t mark) {
    absl::StatusOr<TcTestRunResult> result =
        TcTestRun(loader_->program_fd(marker == Marker::kEncrypt
                                          ? MarkerProgram::kEncrypt
                                          : MarkerProgram::kDecrypt),
                  frame, mark);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return ~0u;
    EXPECT_EQ(result->retval, static_cast<uint32_t>(TC_ACT_OK));
    return result->mark;
  }

  uint32_t RunHost(Marker marker, const std::vector<uint8_t>& frame,
                   uint32_t mark) {
    return marker == Marker::kEncrypt
               ? RunEncryptMarkerOnFrame(memory_maps_, frame, mark)
               : RunDecryptMarkerOnFrame(memory_maps_, frame, mark);
  }

  std::unique_ptr<BpfMarkerLoader> loader_;
  MemoryMarkerMaps memory_maps_;
};

TEST_F(MarkerBpfTest, ProgramsFollowTheDecisionTable) {
  int ran = 0;
  for (const MarkerCase& c : testing::MarkerDecisionTable()) {
    if (!KernelTestRunAccepts(c.frame)) continue;
    SCOPED_TRACE(c.name);
    const uint32_t mark = RunBpf(c.marker, c.frame, c.mark_in);
    EXPECT_EQ(mark, c.want_mark) << std::hex << "mark 0x" << mark;
    ++ran;
  }
  EXPECT_GT(ran, 30);
}

TEST_F(MarkerBpfTest, KernelRefusesTheTablesTruncatedHeaderFrames) {
  // So skipping them above is the kernel's limit, not a gap in the table.
  int refused = 0;
  for (const MarkerCase& c : testing::MarkerDecisionTable()) {
    if (KernelTestRunAccepts(c.frame)) continue;
    SCOPED_TRACE(c.name);
    EXPECT_EQ(
        TcTestRun(loader_->program_fd(MarkerProgram::kEncrypt), c.frame, 0)
            .status()
            .code(),
        absl::StatusCode::kInvalidArgument);
    ++refused;
  }
  EXPECT_GT(refused, 0);
}

TEST_F(MarkerBpfTest, ProgramsAndHostBuildAgreeOnMutatedFrames) {
  std::vector<std::vector<uint8_t>> seeds;
  for (const MarkerCase& c : testing::MarkerDecisionTable()) {
    if (KernelTestRunAccepts(c.frame)) seeds.push_back(c.frame);
  }
  // Offsets the decisions read: ethertype, version/IHL, protocol and next
  // header, and bytes of each address field.
  const size_t hot[] = {12,      13,      14,      14 + 6,  14 + 9,
                        14 + 12, 14 + 15, 14 + 16, 14 + 19, 14 + 8,
                        14 + 23, 14 + 24, 14 + 39};
  const uint8_t values[] = {0x00, 0x08, 0x86, 0xdd, 0x45, 0x44, 0x46,
                            0x60, 0x65, 50,   17,   0xff, 192,  10};
  const uint32_t marks[] = {0,       0xd0,    0xe0,       0x1234,
                            0x100d0, 0x700d0, 0xffff00d0, 0x12d0};
  std::mt19937 random(20261126);  // Fixed seed: deterministic.
  int marked = 0;
  int compared = 0;
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint8_t> frame = seeds[random() % std::size(seeds)];
    const int mutations = random() % 3;
    for (int m = 0; m < mutations; ++m) {
      const size_t offset = hot[random() % std::size(hot)];
      if (offset < frame.size()) {
        frame[offset] = values[random() % std::size(values)];
      }
    }
    if (random() % 4 == 0) {
      frame.resize(kEthernetHeader +
                   random() % (frame.size() - kEthernetHeader + 1));
    }
    if (!KernelTestRunAccepts(frame)) continue;
    const uint32_t mark = random() % 8 == 0
                              ? static_cast<uint32_t>(random())
                              : marks[random() % std::size(marks)];
    for (Marker marker : {Marker::kEncrypt, Marker::kDecrypt}) {
      const uint32_t bpf = RunBpf(marker, frame, mark);
      const uint32_t host = RunHost(marker, frame, mark);
      ASSERT_EQ(bpf, host) << "frame " << i << " marker "
                           << (marker == Marker::kEncrypt ? "encrypt"
                                                          : "decrypt")
                           << std::hex << " mark in 0x" << mark;
      ++compared;
      if (bpf != mark) ++marked;
    }
  }
  EXPECT_GT(compared, 6000);
  // The corpus exercises the marking branches, not only pass-through.
  EXPECT_GT(marked, 500);
}

TEST_F(MarkerBpfTest, MapUpdatesTakeEffectOnTheNextPacket) {
  const std::vector<uint8_t> to_pod =
      IpFrame(Ip("10.244.0.7"), Ip("10.244.1.5"), kProtoUdp);
  const std::vector<uint8_t> esp =
      IpFrame(Ip("fd00:1::3"), Ip("fd00:1::1"), kProtoEsp);
  ASSERT_EQ(RunBpf(Marker::kEncrypt, to_pod, 0), 0xe0u);
  ASSERT_EQ(RunBpf(Marker::kDecrypt, esp, 0), 0x700d0u);

  ASSERT_TRUE(loader_->maps().UpsertUnmanagedPod(Ip("10.244.1.5")).ok());
  ASSERT_TRUE(loader_->maps().UpsertPeer(Ip("fd00:1::3"), 300).ok());
  EXPECT_EQ(RunBpf(Marker::kEncrypt, to_pod, 0), 0u);
  EXPECT_EQ(RunBpf(Marker::kDecrypt, esp, 0), 0x12c00d0u);

  ASSERT_TRUE(loader_->maps().DeletePeer(Ip("fd00:1::3")).ok());
  EXPECT_EQ(RunBpf(Marker::kDecrypt, esp, 0xd0), 0u);
  ASSERT_TRUE(loader_->maps().DeleteUnmanagedPod(Ip("10.244.1.5")).ok());
  EXPECT_EQ(RunBpf(Marker::kEncrypt, to_pod, 0), 0xe0u);

  // The peer CIDR goes: nothing in it is marked. Its length was the only /24,
  // so this also takes the length out of the list.
  const IpPrefix cidr = *IpPrefix::Parse("10.244.1.0/24");
  ASSERT_TRUE(loader_->maps().DeleteEncryptCidr(cidr).ok());
  EXPECT_EQ(RunBpf(Marker::kEncrypt, to_pod, 0), 0u);
  EXPECT_EQ(RunBpf(Marker::kEncrypt,
                   IpFrame(Ip("10.244.0.7"), Ip("10.250.0.70"), kProtoUdp), 0),
            0xe0u);  // The /26 stays.
  ASSERT_TRUE(loader_->maps().UpsertEncryptCidr(cidr).ok());
  EXPECT_EQ(RunBpf(Marker::kEncrypt, to_pod, 0), 0xe0u);
}

// The map refuses a fifth prefix length per family (the program tries four)
// and a second length for one network address, the same way the simulator's
// maps do.
TEST_F(MarkerBpfTest, EncryptCidrLimitsMatchTheSimulator) {
  MemoryMarkerMaps& memory = memory_maps_;
  linux_backend::BpfMarkerMaps& bpf = loader_->maps();
  for (const char* text :
       {"10.1.0.0/16", "10.2.0.0/20", "10.244.1.0/25", "10.3.0.0/20",
        "0.0.0.0/0", "fd00:7::/48", "fd00:8::/96", "fd00:9::/100"}) {
    SCOPED_TRACE(text);
    const IpPrefix cidr = *IpPrefix::Parse(text);
    const absl::Status m = memory.UpsertEncryptCidr(cidr);
    const absl::Status b = bpf.UpsertEncryptCidr(cidr);
    EXPECT_EQ(m.code(), b.code()) << m << " / " << b;
  }
  // A fifth IPv4 length (24, 26, 16 and 20 are in)...
  EXPECT_EQ(bpf.UpsertEncryptCidr(*IpPrefix::Parse("10.4.0.0/12")).code(),
            absl::StatusCode::kResourceExhausted);
  // ...and 10.244.1.0/25 shares 10.244.1.0/24's network address.
  EXPECT_EQ(bpf.UpsertEncryptCidr(*IpPrefix::Parse("10.244.1.0/25")).code(),
            absl::StatusCode::kAlreadyExists);
  std::vector<IpPrefix> m = *memory.DumpEncryptCidrs();
  std::vector<IpPrefix> b = *bpf.DumpEncryptCidrs();
  std::sort(m.begin(), m.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(m, b);
}

// IPv4 addresses 10.x.y.z whose index bucket is the one of `first`.
std::vector<IpAddress> SameBucket(uint32_t first, uint32_t buckets,
                                  size_t count) {
  const auto word = [](uint32_t host_order) {
    return MarkerWord(IpAddress::V4(host_order));
  };
  const uint32_t bucket = kmesh_marker_index_bucket_of(word(first), buckets);
  std::vector<IpAddress> out = {IpAddress::V4(first)};
  for (uint32_t a = 0x0a000001u; out.size() < count && a < 0x0b000000u; ++a) {
    if (a != first &&
        kmesh_marker_index_bucket_of(word(a), buckets) == bucket) {
      out.push_back(IpAddress::V4(a));
    }
  }
  return out;
}

// More unmanaged pods in one index bucket than it has slots: the overflow
// goes to the hash map, every one of them is still left in clear, other
// addresses are not, and deleting entries promotes overflowed ones back into
// the index.
TEST_F(MarkerBpfTest, UnmanagedPodsBeyondAnIndexBucketAreStillLeftInClear) {
  const std::vector<IpAddress> same =
      SameBucket(0x0a600005u, KMESH_UNMANAGED_INDEX_BUCKETS, 11);
  ASSERT_EQ(same.size(), 11u);
  const IpAddress pod = Ip("10.244.0.7");
  const auto marked = [&](const IpAddress& dst) {
    return RunBpf(Marker::kEncrypt, IpFrame(pod, dst, kProtoUdp), 0) == 0xe0;
  };
  linux_backend::BpfMarkerMaps& maps = loader_->maps();
  ASSERT_TRUE(maps.UpsertEncryptCidr(*IpPrefix::Parse("10.0.0.0/8")).ok());
  const auto before = maps.unmanaged_index_stats();
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(maps.UpsertUnmanagedPod(same[i]).ok());
  auto stats = maps.unmanaged_index_stats();
  EXPECT_EQ(stats.indexed - before.indexed, 7u);
  EXPECT_EQ(stats.overflowed, 3u);
  EXPECT_EQ(stats.overflow_buckets - before.overflow_buckets, 1u);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(marked(same[i])) << i;
  EXPECT_TRUE(marked(same[10]));  // Same bucket, not known unmanaged.

  // Free two slots: two overflowed entries move into the index.
  ASSERT_TRUE(maps.DeleteUnmanagedPod(same[0]).ok());
  ASSERT_TRUE(maps.DeleteUnmanagedPod(same[1]).ok());
  stats = maps.unmanaged_index_stats();
  EXPECT_EQ(stats.overflowed, 1u);
  EXPECT_TRUE(marked(same[0]));
  EXPECT_TRUE(marked(same[1]));
  for (int i = 2; i < 10; ++i) EXPECT_FALSE(marked(same[i])) << i;

  // The last overflowed entry gone: the bucket is exact again.
  ASSERT_TRUE(maps.DeleteUnmanagedPod(same[2]).ok());
  stats = maps.unmanaged_index_stats();
  EXPECT_EQ(stats.overflowed, 0u);
  EXPECT_EQ(stats.overflow_buckets, before.overflow_buckets);
  EXPECT_TRUE(marked(same[2]));
  for (int i = 3; i < 10; ++i) EXPECT_FALSE(marked(same[i])) << i;
}

// IPv6 addresses fd00:96::<n> whose IPv6 index bucket is the one of the
// first.
std::vector<IpAddress> SameBucket6(uint32_t buckets, size_t count) {
  const auto address = [](uint32_t n) {
    return *IpAddress::Parse(absl::StrCat("fd00:96::", absl::Hex(n >> 16), ":",
                                          absl::Hex(n & 0xffff)));
  };
  const auto bucket_of = [&](const IpAddress& a) {
    return kmesh_marker_index6_bucket_of(MarkerKeyFor(a).addr, buckets);
  };
  const uint32_t bucket = bucket_of(address(1));
  std::vector<IpAddress> out = {address(1)};
  for (uint32_t n = 2; out.size() < count && n < (1u << 26); ++n) {
    if (bucket_of(address(n)) == bucket) out.push_back(address(n));
  }
  return out;
}

// The same for IPv6 keys and their own index: entries beyond a bucket's five
// overflow to the hash map, every unmanaged pod stays in clear, and peers
// keep their own index through value changes and deletions.
TEST_F(MarkerBpfTest, Ipv6KeysBeyondAnIndexBucketKeepTheirAnswers) {
  const std::vector<IpAddress> same =
      SameBucket6(KMESH_UNMANAGED_INDEX6_BUCKETS, 9);
  ASSERT_EQ(same.size(), 9u);
  const IpAddress pod = Ip("fd00:244::7");
  const auto marked = [&](const IpAddress& dst) {
    return RunBpf(Marker::kEncrypt, IpFrame(pod, dst, kProtoUdp), 0) == 0xe0;
  };
  linux_backend::BpfMarkerMaps& maps = loader_->maps();
  ASSERT_TRUE(maps.UpsertEncryptCidr(*IpPrefix::Parse("fd00:96::/64")).ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(maps.UpsertUnmanagedPod(same[i]).ok());
  }
  auto stats = maps.unmanaged_index_stats();
  EXPECT_EQ(stats.indexed6, 5u + 1u);  // fd00:244:1::6 of the table too.
  EXPECT_EQ(stats.overflowed6, 3u);
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(marked(same[i])) << i;
  EXPECT_TRUE(marked(same[8]));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(maps.DeleteUnmanagedPod(same[i]).ok());
  }
  stats = maps.unmanaged_index_stats();
  EXPECT_EQ(stats.overflowed6, 0u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(marked(same[i])) << i;
  for (int i = 3; i < 8; ++i) EXPECT_FALSE(marked(same[i])) << i;

  const std::vector<IpAddress> peers =
      SameBucket6(KMESH_PEER_INDEX6_BUCKETS, 8);
  const auto esp_mark = [&](const IpAddress& src) {
    return RunBpf(Marker::kDecrypt, IpFrame(src, Ip("fd00:1::1"), kProtoEsp),
                  0);
  };
  for (int round : {100, 200}) {
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(maps.UpsertPeer(peers[i], round + i).ok());
    }
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(esp_mark(peers[i]), ((round + i) << 16) | 0xd0u) << i;
    }
  }
  EXPECT_EQ(maps.peer_index_stats().overflowed6, 3u);
  for (int i = 0; i < 8; i += 2) ASSERT_TRUE(maps.DeletePeer(peers[i]).ok());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(esp_mark(peers[i]), i % 2 == 0 ? 0u : ((200u + i) << 16) | 0xd0)
        << i;
  }
  EXPECT_EQ(maps.peer_index_stats().overflowed6, 0u);
}

TEST_F(MarkerBpfTest, PeersBeyondAnIndexBucketKeepTheirOwnIndex) {
  const std::vector<IpAddress> same =
      SameBucket(0xc0a80102u, KMESH_PEER_INDEX_BUCKETS, 10);
  ASSERT_EQ(same.size(), 10u);
  const auto esp_mark = [&](const IpAddress& src) {
    return RunBpf(Marker::kDecrypt, IpFrame(src, Ip("192.168.1.1"), kProtoEsp),
                  0);
  };
  linux_backend::BpfMarkerMaps& maps = loader_->maps();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(maps.UpsertPeer(same[i], 100 + i).ok());
  }
  EXPECT_GE(maps.peer_index_stats().overflowed, 3u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(esp_mark(same[i]), ((100u + i) << 16) | 0xd0) << i;
  }
  // A new index takes effect wherever the peer lives (slot or overflow).
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(maps.UpsertPeer(same[i], 200 + i).ok());
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(esp_mark(same[i]), ((200u + i) << 16) | 0xd0) << i;
  }
  for (int i = 0; i < 10; i += 2) ASSERT_TRUE(maps.DeletePeer(same[i]).ok());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(esp_mark(same[i]), i % 2 == 0 ? 0u : ((200u + i) << 16) | 0xd0)
        << i;
  }
  EXPECT_EQ(maps.peer_index_stats().overflowed, 0u);
}

// Opening the maps repairs an index that disagrees with its hash map (a crash
// between the two writes of an update, or a stale pinned index): missing tags
// come back, tags of keys the hash map lacks go; and the list of prefix
// lengths is rebuilt from the CIDR map.
TEST_F(MarkerBpfTest, OpeningTheMapsRepairsTheIndex) {
  absl::StatusOr<std::unique_ptr<linux_backend::testing::PrivateBpfFilesystem>>
      bpffs = linux_backend::testing::PrivateBpfFilesystem::Create();
  if (!bpffs.ok()) {
    GTEST_SKIP() << "no bpf filesystem of its own: " << bpffs.status();
  }
  const std::string dir = absl::StrCat((*bpffs)->path(), "/kmesh-ipsec");
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> pinned =
      linux_backend::testing::LoadTestMarkers(dir);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  const int program = (*pinned)->program_fd(MarkerProgram::kEncrypt);
  const IpAddress pod = Ip("10.244.0.7");
  const IpAddress unmanaged = Ip("10.96.7.7");
  const IpAddress stranger = Ip("10.96.8.8");
  const auto mark = [&](const IpAddress& dst) {
    absl::StatusOr<TcTestRunResult> r =
        TcTestRun(program, IpFrame(pod, dst, kProtoUdp), 0);
    return r.ok() ? r->mark : ~0u;
  };
  ASSERT_TRUE((*pinned)
                  ->maps()
                  .UpsertEncryptCidr(*IpPrefix::Parse("10.96.0.0/16"))
                  .ok());
  ASSERT_TRUE((*pinned)->maps().UpsertUnmanagedPod(unmanaged).ok());
  ASSERT_EQ(mark(unmanaged), 0u);
  ASSERT_EQ(mark(stranger), 0xe0u);

  // Break the invariant behind the maps' back: drop the unmanaged pod's tag,
  // and add a tag for an address the hash map does not hold.
  const std::string index_pin =
      absl::StrCat(dir, "/", linux_backend::kUnmanagedIndexMapName);
  const int index = bpf_obj_get(index_pin.c_str());
  ASSERT_GE(index, 0);
  kmesh_marker_index_bucket empty{};
  uint32_t bucket = kmesh_marker_index_bucket_of(MarkerWord(unmanaged),
                                                 KMESH_UNMANAGED_INDEX_BUCKETS);
  ASSERT_EQ(bpf_map_update_elem(index, &bucket, &empty, BPF_ANY), 0);
  kmesh_marker_index_bucket stale{};
  stale.slot[3] = kmesh_marker_index_tag(MarkerWord(stranger), 0);
  bucket = kmesh_marker_index_bucket_of(MarkerWord(stranger),
                                        KMESH_UNMANAGED_INDEX_BUCKETS);
  ASSERT_EQ(bpf_map_update_elem(index, &bucket, &stale, BPF_ANY), 0);
  close(index);
  const uint32_t broken_unmanaged = mark(unmanaged);
  const uint32_t broken_stranger = mark(stranger);
  // And lose the length list.
  const std::string lengths_pin =
      absl::StrCat(dir, "/", linux_backend::kCidrLengthsMapName);
  const int lengths = bpf_obj_get(lengths_pin.c_str());
  ASSERT_GE(lengths, 0);
  kmesh_marker_cidr_lengths no_lengths{};
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(lengths, &zero, &no_lengths, BPF_ANY), 0);
  close(lengths);
  const uint32_t broken_lengths = mark(Ip("10.96.9.9"));

  // A restarted daemon opens the pinned maps.
  (*pinned).reset();
  absl::StatusOr<std::unique_ptr<linux_backend::BpfMarkerMaps>> reopened =
      linux_backend::BpfMarkerMaps::OpenPinned(dir);
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> restarted =
      linux_backend::testing::LoadTestMarkers(dir);
  // The breakage was real: the programs trust the index and the list.
  EXPECT_EQ(broken_unmanaged, 0xe0u);
  EXPECT_EQ(broken_stranger, 0u);
  EXPECT_EQ(broken_lengths, 0u);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  const int repaired = (*restarted)->program_fd(MarkerProgram::kEncrypt);
  for (const auto& [dst, want] :
       std::vector<std::pair<IpAddress, uint32_t>>{{unmanaged, 0u},
                                                   {stranger, 0xe0u},
                                                   {Ip("10.96.9.9"), 0xe0u},
                                                   {Ip("10.97.0.1"), 0u}}) {
    absl::StatusOr<TcTestRunResult> r =
        TcTestRun(repaired, IpFrame(pod, dst, kProtoUdp), 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->mark, want) << dst.ToString();
  }
  EXPECT_EQ((*reopened)->unmanaged_index_stats().indexed, 1u);
}

}  // namespace
}  // namespace kmesh
