// The simulator against the real kernel on inputs nobody chose: seeded random
// sequences of XFRM operations (sim/kernel/testing/xfrm_operations.h), each
// sent to Linux through the product's NetlinkXfrm, in a network namespace
// of its own, and to a fresh SimXfrm; every answer (success or errno) and
// every dump must be the same, and so must the tables at the end. A
// difference fails the test with the sequence shrunk to the operations that
// show it and the seed that reproduces it. Then packets, in namespaces set
// up as a node: outbound lookups, inbound packets for the host and for its
// pods (the in and fwd policy checks), and packets forwarded from a pod out
// through a tunnel, compared frame by frame (docs/sim-fidelity.md).
//
// Policies need only root; SAs need a kernel with ESP (the e2e VM), so on a
// host without ESP the SA case skips saying so. Budget (environment):
// KMESH_XFRM_DIFF_SEED (default 20261207), KMESH_XFRM_DIFF_SEQUENCES
// (default 1500 per case), KMESH_XFRM_DIFF_SECONDS (default 120 per
// sequence case, three fifths of 150 per packet case; whichever ends
// first). Each case prints one line "xfrm differential (<case>): ...".
#include "sim/kernel/testing/xfrm_differential.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "e2e/vm/kernel_test_env.h"
#include "gtest/gtest.h"
#include "kmesh/kernel/kernel_error.h"
#include "kmesh/kernel/testing/xfrm_objects.h"
#include "kmesh/kernel/xfrm.h"
#include "kmesh/linux/netlink_xfrm.h"
#include "kmesh/linux/testing/private_namespaces.h"
#include "sim/kernel/testing/inbound_lookup_cases.h"
#include "sim/kernel/testing/outbound_datapath_cases.h"
#include "sim/kernel/testing/outbound_lookup_cases.h"
#include "sim/kernel/testing/planted_xfrm_bugs.h"
#include "sim/kernel/testing/xfrm_operations.h"
#include "sim/kernel/testing/xfrm_probe_sequence.h"
#include "sim/kernel/xfrm/sim_xfrm.h"
#include "sim/net/ip_packet.h"

namespace kmesh {
namespace {

using ::kmesh::sim::testing::DescribeFailure;
using ::kmesh::sim::testing::KernelPair;
using ::kmesh::sim::testing::KernelPairFactory;
using ::kmesh::sim::testing::RandomXfrmOperations;
using ::kmesh::sim::testing::RunDifferential;
using ::kmesh::sim::testing::Shrink;
using ::kmesh::sim::testing::XfrmOperation;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  uint64_t value = 0;
  if (text == nullptr || !absl::SimpleAtoi(text, &value)) return fallback;
  return value;
}

// Linux in a new network namespace of the calling thread (the previous
// sequence's namespace goes with its socket), and an empty simulator.
absl::StatusOr<KernelPair> FreshPair() {
  if (absl::Status s = linux_backend::testing::EnterNewNetworkNamespace();
      !s.ok()) {
    return s;
  }
  auto opened = linux_backend::NetlinkXfrm::Open();
  if (!opened.ok()) return opened.status();
  return KernelPair{*std::move(opened), std::make_unique<sim::SimXfrm>()};
}

// Linux against a simulator with a bug planted.
template <typename Planted>
absl::StatusOr<KernelPair> FreshPairWithPlantedBug() {
  auto pair = FreshPair();
  if (pair.ok()) pair->candidate = std::make_unique<Planted>();
  return pair;
}

// The first difference against a planted bug (seed 20261207, sequences of
// 20 operations).
template <typename Planted>
sim::testing::FirstDifference FindPlantedBug(
    RandomXfrmOperations::Options options) {
  RandomXfrmOperations generator(20261207, options);
  return sim::testing::FindFirstDifference(FreshPairWithPlantedBug<Planted>,
                                           generator, 20);
}

// Whether this kernel takes an ESP SA (the host's may lack the AEAD).
absl::Status EspAvailable() {
  auto pair = FreshPair();
  if (!pair.ok()) return pair.status();
  const XfrmSa sa = ::kmesh::testing::Sa("10.0.0.1", "10.0.0.2", 1);
  return pair->reference->AddSa(sa);
}

void RunCase(const std::string& name, RandomXfrmOperations::Options options) {
  const uint64_t seed = EnvOr("KMESH_XFRM_DIFF_SEED", 20261207);
  const uint64_t max_sequences = EnvOr("KMESH_XFRM_DIFF_SEQUENCES", 1500);
  const auto budget =
      std::chrono::seconds(EnvOr("KMESH_XFRM_DIFF_SECONDS", 120));
  const auto start = std::chrono::steady_clock::now();
  RandomXfrmOperations generator(static_cast<uint32_t>(seed), options);
  const KernelPairFactory factory = FreshPair;
  uint64_t sequences = 0;
  uint64_t operations = 0;
  int differences = 0;
  sim::testing::XfrmOutcomeCounts outcomes;
  while (sequences < max_sequences &&
         std::chrono::steady_clock::now() - start < budget) {
    // Lengths from 1 to 40, short ones as often as long ones.
    const int length = 1 + static_cast<int>((sequences * 7919) % 40);
    const std::vector<XfrmOperation> ops = generator.Sequence(length);
    ++sequences;
    operations += ops.size();
    auto result = RunDifferential(factory, ops, &outcomes);
    ASSERT_TRUE(result.ok()) << result.status();
    if (!result->has_value()) continue;
    ++differences;
    auto shrunk = Shrink(factory, ops);
    ASSERT_TRUE(shrunk.ok()) << shrunk.status();
    auto again = RunDifferential(factory, *shrunk);
    ASSERT_TRUE(again.ok()) << again.status();
    ADD_FAILURE() << "Linux and the simulator differ (seed " << seed
                  << ", sequence " << sequences << ", " << ops.size()
                  << " operations, shrunk to " << shrunk->size() << "):\n"
                  << (again->has_value() ? DescribeFailure(*shrunk, **again)
                                         : DescribeFailure(ops, **result));
    if (differences >= 5) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "xfrm differential (%s): %llu sequences, %llu operations, %d "
      "differences, seed %llu, %.1f s (Linux answered: %s)\n",
      name.c_str(), static_cast<unsigned long long>(sequences),
      static_cast<unsigned long long>(operations), differences,
      static_cast<unsigned long long>(seed), seconds,
      sim::testing::DescribeOutcomes(outcomes).c_str());
  std::fflush(stdout);
  EXPECT_GT(sequences, 0u);
}

// The hand-picked cases (xfrm_probe_sequence.h): this kernel gives the
// recorded answers, and the simulator the same as this kernel.
void RunProbe(const std::vector<sim::testing::ProbeStep>& steps) {
  std::vector<XfrmOperation> ops;
  auto pair = FreshPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  for (const sim::testing::ProbeStep& step : steps) {
    ops.push_back(step.op);
    const absl::Status s =
        sim::testing::Apply(*pair->reference, step.op).status;
    const std::string answer =
        s.ok() ? "OK" : ErrnoName(KernelErrno(s).value_or(0));
    EXPECT_EQ(answer.substr(0, answer.find(' ')), step.linux_answer)
        << sim::testing::Describe(step.op);
  }
  auto result = RunDifferential(FreshPair, ops);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->has_value()) << DescribeFailure(ops, **result);
}

TEST(XfrmDifferentialOnLinuxTest, PolicyProbesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  RunProbe(sim::testing::PolicyProbeSequence());
}

TEST(XfrmDifferentialOnLinuxTest, SaProbesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  RunProbe(sim::testing::SaProbeSequence());
}

TEST(XfrmDifferentialOnLinuxTest, PolicySequencesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  RunCase("policies", {.sas = false, .policies = true});
}

// The proof that the comparison with Linux catches a simulator bug: with the
// priority of policies planted away, the first sequence that adds a policy
// of non-zero priority differs, and shrinks to that one add.
TEST(XfrmDifferentialOnLinuxTest, APlantedSimulatorBugIsCaught) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  const sim::testing::FirstDifference d =
      FindPlantedBug<sim::testing::ForgetsPolicyPriority>(
          {.sas = false, .policies = true});
  std::printf(
      "planted bug (policy priority dropped): found in sequence %d, "
      "shrunk to %zu operation(s)\n%s\n",
      d.sequence, d.shrunk_size, d.report.c_str());
  ASSERT_GT(d.sequence, 0) << "not found in 200 sequences";
  EXPECT_LE(d.sequence, 3);
  EXPECT_EQ(d.shrunk_size, 1u) << d.report;
}

// The same with an SA bug: a duplicate SA accepted.
TEST(XfrmDifferentialOnLinuxTest, APlantedDuplicateSaIsCaught) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  const sim::testing::FirstDifference d =
      FindPlantedBug<sim::testing::AcceptsDuplicateSa>({});
  std::printf(
      "planted bug (duplicate SA accepted): found in sequence %d, "
      "shrunk to %zu operation(s)\n%s\n",
      d.sequence, d.shrunk_size, d.report.c_str());
  ASSERT_GT(d.sequence, 0) << "not found in 200 sequences";
  EXPECT_LE(d.sequence, 10);
  EXPECT_EQ(d.shrunk_size, 2u) << d.report;
}

// --- Outbound lookups -------------------------------------------------------

using ::kmesh::sim::testing::OutboundCase;
using ::kmesh::sim::testing::OutboundPacket;

absl::Status WriteSysctl(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value << "\n";
  if (!f.flush())
    return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Runs `ip` with each of `commands` in order; the first one's complaint.
absl::Status RunIpCommands(const std::vector<std::string>& commands) {
  for (const std::string& args : commands) {
    const std::string out = e2e::RunIp(args);
    if (!out.empty()) {
      return absl::InternalError(absl::StrCat("ip ", args, ": ", out));
    }
  }
  return absl::OkStatus();
}

// Writes each (path, value) of /proc/sys, in order.
absl::Status WriteSysctls(
    const std::vector<std::pair<std::string, std::string>>& settings) {
  for (const auto& [path, value] : settings) {
    if (absl::Status s = WriteSysctl(path, value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// An interface's MAC address, and as `ip` writes one ("aa:bb:cc:dd:ee:ff").
absl::StatusOr<std::array<uint8_t, 6>> MacOf(const char* ifname) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr = {};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  const bool ok = fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
  const int err = errno;
  if (fd >= 0) close(fd);
  if (!ok) {
    return absl::InternalError(
        absl::StrCat(ifname, "'s MAC address: ", strerror(err)));
  }
  std::array<uint8_t, 6> mac;
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  return mac;
}
std::string MacText(const std::array<uint8_t, 6>& m) {
  char text[18];
  std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
                m[2], m[3], m[4], m[5]);
  return text;
}

// A packet socket reading every frame `ifname` receives (non-blocking);
// -1 on failure, with errno.
int OpenCapture(const char* ifname) {
  const int fd =
      socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) return -1;
  sockaddr_ll at = {};
  at.sll_family = AF_PACKET;
  at.sll_protocol = htons(ETH_P_ALL);
  at.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  if (at.sll_ifindex == 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Makes the namespace FreshPair entered able to send anywhere: a veth pair
// (the VM's kernel has no dummy devices) with default routes of both
// families through one end (what arrives at the other end is not for this
// host and is dropped: forwarding is off), and sockets allowed to bind
// addresses that are not local (the packets' sources come from the random
// pools).
absl::Status PrepareToSend() {
  if (absl::Status s = RunIpCommands(
          {"link add d0 type veth peer name d1", "link set d0 up",
           "link set d1 up", "link set lo up", "route add default dev d0",
           "-6 route add default dev d0"});
      !s.ok()) {
    return s;
  }
  return WriteSysctls({{"/proc/sys/net/ipv4/ip_nonlocal_bind", "1"},
                       {"/proc/sys/net/ipv6/ip_nonlocal_bind", "1"}});
}

socklen_t ToSockaddr(const IpAddress& a, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (a.family() == IpFamily::kV4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, a.bytes().data(), 4);
    return sizeof(*sin);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  std::memcpy(&sin6->sin6_addr, a.bytes().data(), 16);
  return sizeof(*sin6);
}

// Sends one packet of `p.proto` from p.src to p.dst with p.mark through a
// raw socket (transparent, so that the source need not be local); 0 or the
// errno of the first call that failed.
int SendRaw(const OutboundPacket& p) {
  const bool v4 = p.src.family() == IpFamily::kV4;
  const int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, p.proto);
  if (fd < 0) return errno;
  int err = 0;
  const int one = 1;
  const uint32_t mark = p.mark;
  sockaddr_storage src, dst;
  const socklen_t src_len = ToSockaddr(p.src, &src);
  const socklen_t dst_len = ToSockaddr(p.dst, &dst);
  const char payload[16] = {};
  if (setsockopt(fd, v4 ? SOL_IP : SOL_IPV6,
                 v4 ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one,
                 sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&src), src_len) != 0 ||
      sendto(fd, payload, sizeof(payload), 0,
             reinterpret_cast<const sockaddr*>(&dst), dst_len) < 0) {
    err = errno;
  }
  close(fd);
  return err;
}

using ::kmesh::sim::testing::StatOf;

// What Linux did with `p`: the xfrm_stat counter that rose, or the SA whose
// packet counter moved, or nothing ("clear").
absl::StatusOr<std::string> LinuxOutboundVerdict(XfrmKernel& kernel,
                                                 const OutboundPacket& p) {
  auto sas_before = kernel.DumpSas();
  auto stats_before = kernel.ReadStats();
  if (!sas_before.ok()) return sas_before.status();
  if (!stats_before.ok()) return stats_before.status();
  const int err = SendRaw(p);
  auto sas_after = kernel.DumpSas();
  auto stats_after = kernel.ReadStats();
  if (!sas_after.ok()) return sas_after.status();
  if (!stats_after.ok()) return stats_after.status();
  std::string verdict;
  static const std::pair<const char*, const char*> kDrops[] = {
      {"XfrmOutPolBlock", "block"},
      {"XfrmOutNoStates", "nostates"},
      {"XfrmOutPolError", "polerror"}};
  for (const auto& [stat, name] : kDrops) {
    if (StatOf(*stats_after, stat) != StatOf(*stats_before, stat)) {
      verdict = name;
    }
  }
  if (verdict.empty()) {
    std::map<std::string, uint64_t> before;
    for (const XfrmSa& sa : *sas_before) {
      before[sim::testing::SaIdentity(sa)] = sa.counters.packets;
    }
    for (const XfrmSa& sa : *sas_after) {
      const std::string id = sim::testing::SaIdentity(sa);
      if (sa.counters.packets != before[id]) {
        absl::StrAppend(&verdict, verdict.empty() ? "" : " + ", id);
      }
    }
  }
  if (verdict.empty()) verdict = "clear";
  // A block is refused with EPERM, a template SPI taken by an SA that does
  // not fit with EEXIST; anything else should have been sent.
  if (err != 0 && !(verdict == "block" && err == EPERM) &&
      !(verdict == "polerror" && err == EEXIST)) {
    absl::StrAppend(&verdict, " (send: ", ErrnoName(err), ")");
  }
  return verdict;
}

// A lookup case's tables, one line each.
std::string DescribeTables(const std::vector<XfrmPolicy>& policies,
                           const std::vector<XfrmSa>& sas) {
  std::string text;
  for (const XfrmPolicy& p : policies) {
    absl::StrAppend(&text, "\n  ", sim::testing::CanonicalPolicy(p));
  }
  for (const XfrmSa& sa : sas) {
    absl::StrAppend(&text, "\n  ", sim::testing::CanonicalSa(sa));
  }
  return text;
}

// The seed and budget of a packet case (KMESH_XFRM_DIFF_*): a fifth of the
// sequences, as tables, or three fifths of the seconds (there are four
// packet cases, and CI's budget is shared), whichever ends first; and at
// most five differences.
struct LookupBudget {
  uint64_t seed = EnvOr("KMESH_XFRM_DIFF_SEED", 20261207);
  uint64_t max_cases = EnvOr("KMESH_XFRM_DIFF_SEQUENCES", 1500) / 5;
  std::chrono::seconds budget{EnvOr("KMESH_XFRM_DIFF_SECONDS", 150) * 3 / 5};
  std::chrono::steady_clock::time_point start =
      std::chrono::steady_clock::now();

  bool More(uint64_t cases, int differences) const {
    return cases < max_cases &&
           std::chrono::steady_clock::now() - start < budget && differences < 5;
  }
};

TEST(XfrmDifferentialOnLinuxTest, OutboundLookupsMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  const LookupBudget limits;
  const uint64_t seed = limits.seed;
  sim::testing::RandomOutboundCases cases(static_cast<uint32_t>(seed));
  uint64_t n_cases = 0;
  uint64_t n_packets = 0;
  uint64_t n_local = 0;
  int differences = 0;
  std::map<std::string, uint64_t> verdicts;
  while (limits.More(n_cases, differences)) {
    const OutboundCase c = cases.Next();
    ++n_cases;
    auto pair = FreshPair();
    ASSERT_TRUE(pair.ok()) << pair.status();
    ASSERT_TRUE(PrepareToSend().ok()) << PrepareToSend();
    // A tunnel's outer packet leaves from its template's source, which must
    // be an address of this host (as a node's own address is).
    std::set<std::string> sources;
    std::set<IpAddress> local;
    for (const XfrmPolicy& p : c.policies) {
      for (const XfrmTemplate& t : p.templates) {
        local.insert(t.src);
        sources.insert(t.src.family() == IpFamily::kV4
                           ? t.src.ToString() + "/32 dev d0"
                           : t.src.ToString() + "/128 dev d0 nodad");
      }
    }
    for (const std::string& source : sources) {
      const std::string out = e2e::RunIp("addr add " + source);
      ASSERT_TRUE(out.empty()) << "ip addr add " << source << ": " << out;
    }
    auto& sim_xfrm = static_cast<sim::SimXfrm&>(*pair->candidate);
    for (const XfrmPolicy& p : c.policies) {
      const absl::Status l = pair->reference->AddPolicy(p);
      const absl::Status m = sim_xfrm.AddPolicy(p);
      ASSERT_EQ(l.ok(), m.ok()) << l << " / " << m;
    }
    for (const XfrmSa& sa : c.sas) {
      const absl::Status l = pair->reference->AddSa(sa);
      const absl::Status m = sim_xfrm.AddSa(sa);
      ASSERT_EQ(l.ok(), m.ok()) << l << " / " << m;
    }
    for (const OutboundPacket& p : c.packets) {
      // A packet for an address of this host is delivered through the
      // loopback device, whose routes skip XFRM (disable_xfrm); SimKernel
      // delivers to its own pods before asking SimXfrm. Not a lookup.
      if (local.count(p.dst) != 0) {
        ++n_local;
        continue;
      }
      ++n_packets;
      auto on_linux = LinuxOutboundVerdict(*pair->reference, p);
      ASSERT_TRUE(on_linux.ok()) << on_linux.status();
      const std::string on_sim = sim::testing::SimOutboundVerdict(sim_xfrm, p);
      ++verdicts[on_linux->substr(0, on_linux->find(' '))];
      if (*on_linux != on_sim) {
        ++differences;
        ADD_FAILURE() << "outbound lookup differs (seed " << seed << ", case "
                      << n_cases << ") for packet " << p.ToString()
                      << "\n  Linux:     " << *on_linux
                      << "\n  simulator: " << on_sim
                      << "\ntable:" << DescribeTables(c.policies, c.sas);
        break;
      }
    }
  }
  std::string counts;
  for (const auto& [v, n] : verdicts) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", v, " ", n);
  }
  std::printf(
      "xfrm differential (outbound lookups): %llu tables, %llu packets, %d "
      "differences, seed %llu (Linux: %s; %llu for a local address not "
      "sent)\n",
      static_cast<unsigned long long>(n_cases),
      static_cast<unsigned long long>(n_packets), differences,
      static_cast<unsigned long long>(seed), counts.c_str(),
      static_cast<unsigned long long>(n_local));
  std::fflush(stdout);
}

// --- Inbound: packets from the wire ----------------------------------------

using ::kmesh::sim::testing::InboundCase;
using ::kmesh::sim::testing::InboundPacket;

// This host's side of the wire in the namespace PrepareToSend made: packets
// are written, with their mark, to d1 through a packet socket addressed to
// d0's MAC, so they arrive on d0 as from another node (within one
// namespace the veth keeps the skb mark); what is delivered is read from
// UDP sockets on both families' wildcard addresses.
class InboundWire {
 public:
  // `pods`: also a veth i0 / i1 with the pods behind i0 (routes and
  // permanent neighbours), forwarding on, and what is forwarded to them read
  // on i1 (and dropped there by an `ip rule`).
  absl::Status Open(const std::vector<IpAddress>& pods = {}) {
    if (!pods.empty()) {
      if (absl::Status s = OpenPods(pods); !s.ok()) return s;
    }
    inject_ = socket(AF_PACKET, SOCK_DGRAM, 0);
    udp4_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    udp6_ = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (inject_ < 0 || udp4_ < 0 || udp6_ < 0) {
      return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
    }
    const int one = 1;
    setsockopt(udp6_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    // What the datagram's IP header said on arrival: TOS / traffic class
    // and TTL / hop limit, as control messages.
    setsockopt(udp4_, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
    setsockopt(udp4_, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
    setsockopt(udp6_, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
    setsockopt(udp6_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
    sockaddr_in a4 = {};
    a4.sin_family = AF_INET;
    a4.sin_port = htons(sim::testing::kInboundUdpPort);
    sockaddr_in6 a6 = {};
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(sim::testing::kInboundUdpPort);
    if (bind(udp4_, reinterpret_cast<sockaddr*>(&a4), sizeof(a4)) != 0 ||
        bind(udp6_, reinterpret_cast<sockaddr*>(&a6), sizeof(a6)) != 0) {
      return absl::InternalError(absl::StrCat("bind: ", strerror(errno)));
    }
    absl::StatusOr<std::array<uint8_t, 6>> d0_mac = MacOf("d0");
    if (!d0_mac.ok()) return d0_mac.status();
    d0_mac_ = *d0_mac;
    d1_ = if_nametoindex("d1");
    if (d1_ == 0) return absl::InternalError("no d1");
    return absl::OkStatus();
  }
  ~InboundWire() {
    for (int fd : {inject_, udp4_, udp6_, pods_}) {
      if (fd >= 0) close(fd);
    }
  }

  // Sends `p` and waits (up to a second) for the datagram to be delivered
  // or for an XfrmIn counter to rise; Linux's verdict, as InboundVerdict.
  absl::StatusOr<std::string> Verdict(XfrmKernel& kernel,
                                      const InboundPacket& p) {
    auto sas_before = kernel.DumpSas();
    auto stats_before = kernel.ReadStats();
    if (!sas_before.ok()) return sas_before.status();
    if (!stats_before.ok()) return stats_before.status();
    const uint32_t mark = p.mark;
    sockaddr_ll to = {};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(d1_);
    to.sll_protocol = htons((p.wire[0] >> 4) == 4 ? ETH_P_IP : ETH_P_IPV6);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, d0_mac_.data(), 6);
    if (setsockopt(inject_, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
      return absl::InternalError(absl::StrCat("SO_MARK: ", strerror(errno)));
    }
    const std::vector<std::vector<uint8_t>> frames =
        p.fragments.empty() ? std::vector<std::vector<uint8_t>>{p.wire}
                            : p.fragments;
    for (const std::vector<uint8_t>& frame : frames) {
      if (sendto(inject_, frame.data(), frame.size(), 0,
                 reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
        return absl::InternalError(absl::StrCat("inject: ", strerror(errno)));
      }
    }
    std::string delivered_note;
    std::optional<sim::testing::Delivery> delivered;
    absl::StatusOr<XfrmStats> stats_after;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (;;) {
      pollfd fds[3] = {
          {udp4_, POLLIN, 0}, {udp6_, POLLIN, 0}, {pods_, POLLIN, 0}};
      poll(fds, pods_ >= 0 ? 3 : 2, 5);
      if (pods_ >= 0 && (fds[2].revents & POLLIN) != 0) {
        ReadForwarded(p, &delivered, &delivered_note);
      }
      for (const pollfd& f : {fds[0], fds[1]}) {
        if ((f.revents & POLLIN) == 0) continue;
        uint8_t buf[2048];
        alignas(cmsghdr) char control[256];
        iovec iov = {buf, sizeof(buf)};
        msghdr msg = {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        const ssize_t n = recvmsg(f.fd, &msg, 0);
        if (n < 0) continue;
        delivered = sim::testing::Delivery{};
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
             c = CMSG_NXTHDR(&msg, c)) {
          const unsigned char* data = CMSG_DATA(c);
          int value = 0;
          if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
            delivered->tos = data[0];
          } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
            std::memcpy(&value, data, sizeof(value));
            delivered->ttl = static_cast<uint8_t>(value);
          } else if (c->cmsg_level == IPPROTO_IPV6 &&
                     c->cmsg_type == IPV6_TCLASS) {
            std::memcpy(&value, data, sizeof(value));
            delivered->tos = static_cast<uint8_t>(value);
          } else if (c->cmsg_level == IPPROTO_IPV6 &&
                     c->cmsg_type == IPV6_HOPLIMIT) {
            std::memcpy(&value, data, sizeof(value));
            delivered->ttl = static_cast<uint8_t>(value);
          }
        }
        if (std::vector<uint8_t>(buf, buf + n) != p.payload) {
          delivered_note = " (payload differs)";
        }
      }
      stats_after = kernel.ReadStats();
      if (!stats_after.ok()) return stats_after.status();
      const bool dropped =
          sim::testing::AnyInboundDropRose(*stats_before, *stats_after);
      if (delivered.has_value() || dropped ||
          std::chrono::steady_clock::now() > deadline) {
        break;
      }
    }
    auto sas_after = kernel.DumpSas();
    if (!sas_after.ok()) return sas_after.status();
    return sim::testing::InboundVerdict(*sas_before, *stats_before, *sas_after,
                                        *stats_after, delivered) +
           delivered_note;
  }

 private:
  absl::Status OpenPods(const std::vector<IpAddress>& pods) {
    if (absl::Status s = RunIpCommands({"link add i0 type veth peer name i1",
                                        "link set i0 up", "link set i1 up",
                                        "rule add iif i1 blackhole",
                                        "-6 rule add iif i1 blackhole"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            WriteSysctls({{"/proc/sys/net/ipv4/ip_forward", "1"},
                          {"/proc/sys/net/ipv6/conf/all/forwarding", "1"}});
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::array<uint8_t, 6>> mac = MacOf("i1");
    if (!mac.ok()) return mac.status();
    std::vector<std::string> commands;
    for (const IpAddress& pod : pods) {
      const bool v4 = pod.family() == IpFamily::kV4;
      commands.push_back(absl::StrCat(v4 ? "" : "-6 ", "route add ",
                                      pod.ToString(), v4 ? "/32" : "/128",
                                      " dev i0"));
      commands.push_back(absl::StrCat(v4 ? "" : "-6 ", "neigh add ",
                                      pod.ToString(), " lladdr ", MacText(*mac),
                                      " dev i0 nud permanent"));
    }
    if (absl::Status s = RunIpCommands(commands); !s.ok()) return s;
    pods_ = OpenCapture("i1");
    if (pods_ < 0) {
      return absl::InternalError(absl::StrCat("i1: ", strerror(errno)));
    }
    return absl::OkStatus();
  }

  // Reads what reached i1: the datagram `p` carries, as forwarded to its
  // pod (other frames, the link's own chatter, are skipped).
  void ReadForwarded(const InboundPacket& p,
                     std::optional<sim::testing::Delivery>* delivered,
                     std::string* note) {
    for (;;) {
      uint8_t buf[4096];
      sockaddr_ll from = {};
      socklen_t from_len = sizeof(from);
      const ssize_t n = recvfrom(pods_, buf, sizeof(buf), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      auto udp = sim::ParseUdpPacket(absl::MakeConstSpan(buf, n));
      if (!udp.ok() || udp->dst_port != sim::testing::kInboundUdpPort) {
        continue;
      }
      *delivered = sim::testing::Delivery{udp->ip.tos, udp->ip.ttl,
                                          std::vector<uint8_t>(buf, buf + n)};
      if (std::vector<uint8_t>(udp->payload.begin(), udp->payload.end()) !=
          p.payload) {
        *note = " (payload differs)";
      }
    }
  }

  int inject_ = -1;
  int udp4_ = -1;
  int udp6_ = -1;
  int pods_ = -1;
  unsigned d1_ = 0;
  std::array<uint8_t, 6> d0_mac_ = {};
};

std::string DescribeHost(const InboundCase& c) {
  std::string text = "\n  host:";
  for (const IpAddress& a : c.local) absl::StrAppend(&text, " ", a.ToString());
  return text + DescribeTables(c.policies, c.sas);
}

// Inbound packets to `target` (the host, or its pods behind a veth) on both
// kernels; the summary line names the case `what`.
void RunInbound(sim::testing::InboundTarget target, const char* what) {
  const LookupBudget limits;
  const uint64_t seed = limits.seed;
  sim::testing::RandomInboundCases cases(static_cast<uint32_t>(seed), target);
  uint64_t n_cases = 0;
  uint64_t n_packets = 0;
  uint64_t n_fragmented = 0;  // Arriving as IPv4 fragments.
  int differences = 0;
  std::map<std::string, uint64_t> verdicts;
  while (limits.More(n_cases, differences)) {
    const InboundCase c = cases.Next();
    ++n_cases;
    auto pair = FreshPair();
    ASSERT_TRUE(pair.ok()) << pair.status();
    const absl::Status prepared = PrepareToSend();
    ASSERT_TRUE(prepared.ok()) << prepared;
    for (const IpAddress& a : c.local) {
      const std::string address = a.family() == IpFamily::kV4
                                      ? a.ToString() + "/32 dev d0"
                                      : a.ToString() + "/128 dev d0 nodad";
      const std::string out = e2e::RunIp("addr add " + address);
      ASSERT_TRUE(out.empty()) << "ip addr add " << address << ": " << out;
    }
    InboundWire wire;
    const absl::Status opened = wire.Open(c.pods);
    ASSERT_TRUE(opened.ok()) << opened;
    sim::testing::SimInboundHost sim_host = sim::testing::MakeSimInboundHost(c);
    size_t added = 0;
    for (const XfrmSa& sa : c.sas) {
      const absl::Status l = pair->reference->AddSa(sa);
      const absl::Status& m = sim_host.added[added++];
      ASSERT_EQ(l.ok(), m.ok()) << l << " / " << m;
    }
    for (const XfrmPolicy& p : c.policies) {
      const absl::Status l = pair->reference->AddPolicy(p);
      const absl::Status& m = sim_host.added[added++];
      ASSERT_EQ(l.ok(), m.ok()) << l << " / " << m;
    }
    for (const InboundPacket& p : c.packets) {
      ++n_packets;
      if (!p.fragments.empty()) ++n_fragmented;
      auto on_linux = wire.Verdict(*pair->reference, p);
      ASSERT_TRUE(on_linux.ok()) << on_linux.status();
      const std::string on_sim = sim::testing::SimInboundVerdict(sim_host, p);
      const bool delivered = on_linux->find("delivered") != std::string::npos;
      ++verdicts[delivered ? "delivered"
                           : on_linux->substr(on_linux->rfind(' ') + 1)];
      if (*on_linux != on_sim) {
        ++differences;
        ADD_FAILURE() << what << ": packet differs (seed " << seed << ", case "
                      << n_cases << ") for " << p.description
                      << "\n  Linux:     " << *on_linux
                      << "\n  simulator: " << on_sim
                      << "\ntable:" << DescribeHost(c);
        break;
      }
    }
  }
  std::string counts;
  for (const auto& [v, n] : verdicts) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", v, " ", n);
  }
  std::printf(
      "xfrm differential (%s): %llu tables, %llu packets (%llu in "
      "fragments), %d differences, seed %llu (Linux: %s)\n",
      what, static_cast<unsigned long long>(n_cases),
      static_cast<unsigned long long>(n_packets),
      static_cast<unsigned long long>(n_fragmented), differences,
      static_cast<unsigned long long>(seed), counts.c_str());
  std::fflush(stdout);
}

TEST(XfrmDifferentialOnLinuxTest, InboundPacketsMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  RunInbound(sim::testing::InboundTarget::kHost, "inbound packets");
}

// Decrypted packets for a pod: forwarded, through the fwd policy check.
TEST(XfrmDifferentialOnLinuxTest, InboundPacketsForPodsMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  RunInbound(sim::testing::InboundTarget::kPods, "inbound packets for pods");
}

// --- Outbound datapath: packets forwarded from a pod ------------------------

using ::kmesh::sim::testing::DatapathCase;
using ::kmesh::sim::testing::DatapathOutput;
using ::kmesh::sim::testing::DatapathPacket;

// The SNMP counters a datapath verdict reports, as /proc/net/snmp and
// /proc/net/snmp6 of this thread's namespace list them ("Ip" + "FragOKs").
std::map<std::string, uint64_t> ReadSnmp() {
  std::map<std::string, uint64_t> counters;
  {
    std::ifstream f("/proc/thread-self/net/snmp");
    std::string names, values;
    while (std::getline(f, names) && std::getline(f, values)) {
      std::vector<std::string> n =
          absl::StrSplit(names, ' ', absl::SkipEmpty());
      std::vector<std::string> v =
          absl::StrSplit(values, ' ', absl::SkipEmpty());
      if (n.empty() || v.size() != n.size()) continue;
      const std::string prefix = n[0].substr(0, n[0].size() - 1);  // "Ip"
      for (size_t i = 1; i < n.size(); ++i) {
        uint64_t value = 0;
        if (absl::SimpleAtoi(v[i], &value)) counters[prefix + n[i]] = value;
      }
    }
  }
  std::ifstream f6("/proc/thread-self/net/snmp6");
  std::string name;
  uint64_t value = 0;
  while (f6 >> name >> value) counters[name] = value;
  return counters;
}

// A node forwarding a pod's packets to the wire, in the namespace FreshPair
// entered: i0 is the pod's veth (the pod's packets are written to i1, and
// what comes back to the pod is read there), d0 is eth0 with the node's
// address, the case's MTU and the peer behind it (what leaves is read on
// d1). Forwarding is on, ICMP errors are not rate limited, and whatever
// arrives on i1 or d1 is dropped by an `ip rule` so nothing read there
// comes back. Permanent neighbours stand in for ARP / ND.
class ForwardingNode {
 public:
  absl::Status Open(const DatapathCase& c) {
    const bool v4 = c.node.family() == IpFamily::kV4;
    const std::string f = v4 ? "" : "-6 ";
    const std::string host = v4 ? "/32" : "/128";
    // The pods may be of the other family (a tunnel that changes family):
    // their routes are of theirs, the one to the peer's pods without a
    // gateway of another family.
    const bool pods_v4 = c.pod.family() == IpFamily::kV4;
    const std::string pf = pods_v4 ? "" : "-6 ";
    const std::string pod_host = pods_v4 ? "/32" : "/128";
    const std::string to_remote =
        pods_v4 == v4 ? absl::StrCat(" via ", c.peer.ToString(), " dev d0")
                      : std::string(" dev d0");
    std::vector<std::string> commands = {
        "link add d0 type veth peer name d1",
        "link add i0 type veth peer name i1",
        absl::StrCat("link set d0 mtu ", c.mtu),
        absl::StrCat("link set d1 mtu ", c.mtu),
        "link set i0 mtu 9000",
        "link set i1 mtu 9000",
        "link set lo up",
        "link set d0 up",
        "link set d1 up",
        "link set i0 up",
        "link set i1 up",
        absl::StrCat(pf, "route add ", c.pod.ToString(), pod_host, " dev i0"),
        absl::StrCat(f, "route add ", c.peer.ToString(), host, " dev d0"),
        absl::StrCat(pf, "route add ", c.remote.ToString(), to_remote),
        "rule add iif d1 blackhole",
        "-6 rule add iif d1 blackhole",
        "rule add iif i1 blackhole",
        "-6 rule add iif i1 blackhole"};
    for (const IpAddress& a : c.node_addresses) {
      commands.push_back(
          a.is_v4()
              ? absl::StrCat("addr add ", a.ToString(), "/32 dev d0")
              : absl::StrCat("addr add ", a.ToString(), "/128 dev d0 nodad"));
    }
    if (absl::Status s = RunIpCommands(commands); !s.ok()) return s;
    if (absl::Status s =
            WriteSysctls({{"/proc/sys/net/ipv4/ip_forward", "1"},
                          {"/proc/sys/net/ipv6/conf/all/forwarding", "1"},
                          {"/proc/sys/net/ipv4/icmp_ratemask", "0"},
                          {"/proc/sys/net/ipv6/icmp/ratelimit", "0"}});
        !s.ok()) {
      return s;
    }
    inject_ = socket(AF_PACKET, SOCK_DGRAM, 0);
    wire_ = OpenCapture("d1");
    pod_ = OpenCapture("i1");
    i1_ = if_nametoindex("i1");
    if (inject_ < 0 || wire_ < 0 || pod_ < 0 || i1_ == 0) {
      return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
    }
    absl::StatusOr<std::array<uint8_t, 6>> i0_mac = MacOf("i0");
    absl::StatusOr<std::array<uint8_t, 6>> d1_mac = MacOf("d1");
    absl::StatusOr<std::array<uint8_t, 6>> i1_mac = MacOf("i1");
    for (const auto* mac : {&i0_mac, &d1_mac, &i1_mac}) {
      if (!mac->ok()) return mac->status();
    }
    i0_mac_ = *i0_mac;
    return RunIpCommands(
        {absl::StrCat(f, "neigh add ", c.peer.ToString(), " lladdr ",
                      MacText(*d1_mac), " dev d0 nud permanent"),
         absl::StrCat(pf, "neigh add ", c.pod.ToString(), " lladdr ",
                      MacText(*i1_mac), " dev i0 nud permanent")});
  }
  ~ForwardingNode() {
    for (int fd : {inject_, wire_, pod_}) {
      if (fd >= 0) close(fd);
    }
  }

  // Writes `p` to i1 and reads what comes out on d1 and back on i1 until
  // nothing more has come for 50 ms (a second at most); the counters
  // that rose meanwhile.
  absl::StatusOr<DatapathOutput> Send(XfrmKernel& kernel,
                                      const DatapathPacket& p) {
    auto read = [&kernel]() -> absl::StatusOr<std::map<std::string, uint64_t>> {
      std::map<std::string, uint64_t> counters = ReadSnmp();
      auto stats = kernel.ReadStats();
      if (!stats.ok()) return stats.status();
      counters.merge(sim::testing::StatMap(*stats));
      return counters;
    };
    DatapathOutput out;
    Drain(wire_, nullptr);
    Drain(pod_, nullptr);
    auto before = read();
    if (!before.ok()) return before.status();
    sockaddr_ll to = {};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(i1_);
    to.sll_protocol = htons((p.inner[0] >> 4) == 4 ? ETH_P_IP : ETH_P_IPV6);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, i0_mac_.data(), 6);
    if (sendto(inject_, p.inner.data(), p.inner.size(), 0,
               reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
      return absl::InternalError(absl::StrCat("inject: ", strerror(errno)));
    }
    const auto start = std::chrono::steady_clock::now();
    auto last = start;
    for (;;) {
      pollfd fds[2] = {{wire_, POLLIN, 0}, {pod_, POLLIN, 0}};
      poll(fds, 2, 5);
      const size_t seen = out.wire.size() + out.to_pod.size();
      Drain(wire_, &out.wire);
      Drain(pod_, &out.to_pod);
      const auto now = std::chrono::steady_clock::now();
      if (out.wire.size() + out.to_pod.size() != seen) last = now;
      const bool any = !out.wire.empty() || !out.to_pod.empty();
      if ((any && now - last > std::chrono::milliseconds(50)) ||
          now - start > std::chrono::seconds(1)) {
        break;
      }
    }
    auto after = read();
    if (!after.ok()) return after.status();
    out.risen = sim::testing::CountersRisen(*before, *after);
    return out;
  }

 private:
  // Reads every IP packet waiting on `fd` that arrived (not one this side
  // sent), leaving out the link's own chatter: IGMP, and IPv6 hop-by-hop
  // (MLD) and informational ICMPv6 (neighbour and router discovery).
  static void Drain(int fd, std::vector<std::vector<uint8_t>>* into) {
    for (;;) {
      uint8_t buf[10000];
      sockaddr_ll from = {};
      socklen_t from_len = sizeof(from);
      const ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;
      if (into == nullptr || from.sll_pkttype == PACKET_OUTGOING) continue;
      const uint16_t type = ntohs(from.sll_protocol);
      if (type == ETH_P_IP && n >= 20 && buf[9] == 2) continue;
      if (type == ETH_P_IPV6 && n >= 41 &&
          (buf[6] == 0 || (buf[6] == 58 && buf[40] >= 128))) {
        continue;
      }
      if (type != ETH_P_IP && type != ETH_P_IPV6) continue;
      into->emplace_back(buf, buf + n);
    }
  }

  int inject_ = -1;
  int wire_ = -1;
  int pod_ = -1;
  unsigned i1_ = 0;
  std::array<uint8_t, 6> i0_mac_ = {};
};

TEST(XfrmDifferentialOnLinuxTest, ForwardedPacketsLeaveAsOnLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s << ")";
  }
  const LookupBudget limits;
  const uint64_t seed = limits.seed;
  sim::testing::RandomDatapathCases cases(static_cast<uint32_t>(seed));
  uint64_t n_cases = 0;
  uint64_t n_packets = 0;
  uint64_t n_frames = 0;
  int differences = 0;
  std::map<std::string, uint64_t> outcomes;  // What Linux sent.
  while (limits.More(n_cases, differences)) {
    const DatapathCase c = cases.Next();
    ++n_cases;
    auto pair = FreshPair();
    ASSERT_TRUE(pair.ok()) << pair.status();
    ForwardingNode node;
    const absl::Status opened = node.Open(c);
    ASSERT_TRUE(opened.ok()) << opened;
    ASSERT_TRUE(pair->reference->AddSa(c.sa).ok());
    ASSERT_TRUE(pair->reference->AddPolicy(c.policy).ok());
    sim::testing::SimDatapathHost sim_host =
        sim::testing::MakeSimDatapathHost(c);
    ASSERT_TRUE(sim_host.added.ok()) << sim_host.added;
    for (const DatapathPacket& p : c.packets) {
      ++n_packets;
      auto on_linux = node.Send(*pair->reference, p);
      ASSERT_TRUE(on_linux.ok()) << on_linux.status();
      n_frames += on_linux->wire.size() + on_linux->to_pod.size();
      ++outcomes[on_linux->wire.size() > 1    ? "fragmented"
                 : on_linux->wire.size() == 1 ? "one frame"
                 : !on_linux->to_pod.empty()  ? "ICMP error"
                                              : "nothing"];
      const std::string linux_verdict =
          sim::testing::DatapathVerdict(c, *on_linux);
      const std::string sim_verdict = sim::testing::DatapathVerdict(
          c, sim::testing::SimDatapathOutput(sim_host, p));
      if (linux_verdict != sim_verdict) {
        ++differences;
        ADD_FAILURE() << "forwarded packet differs (seed " << seed << ", case "
                      << n_cases << ") for " << p.description << "\n  policy: "
                      << sim::testing::CanonicalPolicy(c.policy)
                      << "\n  sa: " << sim::testing::CanonicalSa(c.sa)
                      << "\nLinux:" << linux_verdict
                      << "\nsimulator:" << sim_verdict;
        break;
      }
    }
  }
  std::string counts;
  for (const auto& [o, n] : outcomes) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", o, " ", n);
  }
  std::printf(
      "xfrm differential (forwarded packets): %llu tunnels, %llu packets, "
      "%llu frames and errors compared, %d differences, seed %llu (Linux: "
      "%s)\n",
      static_cast<unsigned long long>(n_cases),
      static_cast<unsigned long long>(n_packets),
      static_cast<unsigned long long>(n_frames), differences,
      static_cast<unsigned long long>(seed), counts.c_str());
  std::fflush(stdout);
}

TEST(XfrmDifferentialOnLinuxTest, SaAndPolicySequencesMatchLinux) {
  if (absl::Status s = FreshPair().status(); !s.ok()) GTEST_SKIP() << s;
  if (absl::Status s = EspAvailable(); !s.ok()) {
    if (e2e::EspRequired()) FAIL() << "ESP SA refused: " << s;
    GTEST_SKIP() << "this kernel has no ESP (" << s
                 << "); e2e/vm runs this test under a Debian kernel";
  }
  RunCase("SAs and policies", {});
}

}  // namespace
}  // namespace kmesh
