// Marker cost per packet: each marker program and an empty tc program run
// with BPF_PROG_TEST_RUN and a large repeat count, interleaved round by round
// in one process, so the difference to the empty program is what the marker
// adds to a packet (parsing, the key, the lookups, the mark write). The maps
// hold --peers peers: their addresses, one IPv4 /24 and one IPv6 /64 pod
// CIDR each as encrypt CIDRs, and --unmanaged unmanaged pods of each family
// spread over those CIDRs, so lookups hit populated tables. Run as root:
//   bazel run //bpf:marker_benchmark
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "bpf/marker_test_packets.h"
#include "bpf/tc_test_run.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kmesh/base/ip_address.h"
#include "kmesh/linux/bpf_marker_loader.h"

DEFINE_int32(repeat, 2000000, "BPF_PROG_TEST_RUN repeat count per sample");
DEFINE_int32(rounds, 9, "samples per program (the median is reported)");
DEFINE_int32(unmanaged, 10000, "unmanaged pod IPs per family");
DEFINE_int32(peers, 1000, "addresses in the peer map");
DEFINE_string(encrypt_object, "bpf/encrypt_marker.bpf.o", "encrypt marker");
DEFINE_string(decrypt_object, "bpf/decrypt_marker.bpf.o", "decrypt marker");
DEFINE_string(empty_object, "bpf/empty_tc.bpf.o", "empty tc program");

namespace kmesh {
namespace {

using ::kmesh::linux_backend::BpfMarkerLoader;
using ::kmesh::linux_backend::BpfMarkerMaps;
using ::kmesh::linux_backend::MarkerProgram;
using ::kmesh::testing::Ip;
using ::kmesh::testing::IpFrame;
using ::kmesh::testing::kProtoEsp;

struct Workload {
  std::string name;
  int program_fd;
  std::vector<uint8_t> frame;
  uint32_t mark_in;
  uint32_t want_mark;
  std::vector<double> samples;
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int Run() {
  if (geteuid() != 0) {
    std::fprintf(stderr, "marker_benchmark needs root (BPF_PROG_TEST_RUN)\n");
    return 1;
  }
  absl::StatusOr<std::unique_ptr<BpfMarkerLoader>> loader =
      BpfMarkerLoader::Load({.encrypt_object_path = FLAGS_encrypt_object,
                             .decrypt_object_path = FLAGS_decrypt_object});
  if (!loader.ok()) {
    std::fprintf(stderr, "%s\n", loader.status().ToString().c_str());
    return 1;
  }
  bpf_object* empty =
      bpf_object__open_file(FLAGS_empty_object.c_str(), nullptr);
  if (empty == nullptr || bpf_object__load(empty) != 0) {
    std::fprintf(stderr, "cannot load %s\n", FLAGS_empty_object.c_str());
    return 1;
  }
  const int empty_fd = bpf_program__fd(
      bpf_object__find_program_by_name(empty, "kmesh_empty_tc"));

  // Populate the maps: peer i has pod CIDRs 10.(96 + i / 256).(i % 256).0/24
  // and fd00:96:<i>::/64, and address 172.16.x.y (index 1..).
  BpfMarkerMaps& maps = (*loader)->maps();
  const auto v4_pod = [](int peer, int host) {
    return IpAddress::V4(0x0a600000u + (peer << 8) + host);
  };
  const auto v6_pod = [](int peer, int host) {
    return *IpAddress::Parse(absl::StrFormat("fd00:96:%x::%x", peer, host));
  };
  for (int i = 0; i < FLAGS_peers; ++i) {
    if (!maps.UpsertPeer(IpAddress::V4(0xac100000u + i), 1 + i % 65535).ok() ||
        !maps.UpsertEncryptCidr(IpPrefix(v4_pod(i, 0), 24)).ok() ||
        !maps.UpsertEncryptCidr(IpPrefix(v6_pod(i, 0), 64)).ok()) {
      std::fprintf(stderr, "peer %d: upsert failed\n", i);
      return 1;
    }
  }
  // Unmanaged pods: hosts 100.. of each peer's CIDRs.
  for (int i = 0; i < FLAGS_unmanaged; ++i) {
    const int peer = i % FLAGS_peers;
    const int host = 100 + i / FLAGS_peers;
    if (!maps.UpsertUnmanagedPod(v4_pod(peer, host)).ok() ||
        !maps.UpsertUnmanagedPod(v6_pod(peer, host)).ok()) {
      std::fprintf(stderr, "unmanaged pod %d: upsert failed\n", i);
      return 1;
    }
  }
  const int encrypt = (*loader)->program_fd(MarkerProgram::kEncrypt);
  const int decrypt = (*loader)->program_fd(MarkerProgram::kDecrypt);
  const IpAddress pod = Ip("10.244.0.7");
  const IpAddress pod6 = Ip("fd00::7");
  const int peer_of_target = FLAGS_peers / 2;
  const IpAddress peer = IpAddress::V4(0xac100000u + FLAGS_peers / 2);
  const uint32_t peer_mark = ((1 + FLAGS_peers / 2 % 65535) << 16) | 0xd0;
  std::vector<Workload> workloads = {
      {"empty tc program",
       empty_fd,
       IpFrame(pod, v4_pod(peer_of_target, 5), 6),
       0,
       0,
       {}},
      {"encrypt, IPv4 to peer pod",
       encrypt,
       IpFrame(pod, v4_pod(peer_of_target, 5), 6),
       0,
       0xe0,
       {}},
      {"encrypt, IPv4 unmanaged",
       encrypt,
       IpFrame(pod, v4_pod(peer_of_target, 100), 6),
       0,
       0,
       {}},
      {"encrypt, IPv4 no CIDR",
       encrypt,
       IpFrame(pod, Ip("10.95.0.1"), 6),
       0,
       0,
       {}},
      {"encrypt, IPv6 to peer pod",
       encrypt,
       IpFrame(pod6, v6_pod(peer_of_target, 5), 6),
       0,
       0xe0,
       {}},
      {"encrypt, IPv6 unmanaged",
       encrypt,
       IpFrame(pod6, v6_pod(peer_of_target, 100), 6),
       0,
       0,
       {}},
      {"encrypt, IPv6 no CIDR",
       encrypt,
       IpFrame(pod6, Ip("fd00:1::5"), 6),
       0,
       0,
       {}},
      {"decrypt, ESP from peer",
       decrypt,
       IpFrame(peer, Ip("172.16.255.1"), kProtoEsp),
       0,
       peer_mark,
       {}},
      {"decrypt, non-ESP",
       decrypt,
       IpFrame(peer, Ip("172.16.255.1"), 6),
       0,
       0,
       {}},
      {"decrypt, decrypted (0xd0)",
       decrypt,
       IpFrame(Ip("10.244.1.5"), pod, 6),
       0xd0,
       0xd0,
       {}},
  };
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (Workload& w : workloads) {
      absl::StatusOr<TcTestRunResult> result =
          TcTestRun(w.program_fd, w.frame, w.mark_in, FLAGS_repeat);
      if (!result.ok()) {
        std::fprintf(stderr, "%s: %s\n", w.name.c_str(),
                     result.status().ToString().c_str());
        return 1;
      }
      if (result->mark != w.want_mark) {
        std::fprintf(stderr, "%s: mark 0x%x, expected 0x%x\n", w.name.c_str(),
                     result->mark, w.want_mark);
        return 1;
      }
      w.samples.push_back(result->duration_ns);
    }
  }
  const double baseline = Median(workloads[0].samples);
  std::printf("BPF_PROG_TEST_RUN, %d x %d runs each, median ns/packet\n",
              FLAGS_rounds, FLAGS_repeat);
  std::printf(
      "(maps: %d peers with a v4 and a v6 CIDR each, %d unmanaged pods per "
      "family)\n\n",
      FLAGS_peers, FLAGS_unmanaged);
  std::printf("%-28s %8s %8s %8s %10s\n", "program", "median", "min", "max",
              "vs empty");
  for (const Workload& w : workloads) {
    const double median = Median(w.samples);
    std::printf("%-28s %8.1f %8.1f %8.1f %+10.1f\n", w.name.c_str(), median,
                *std::min_element(w.samples.begin(), w.samples.end()),
                *std::max_element(w.samples.begin(), w.samples.end()),
                median - baseline);
  }
  bpf_object__close(empty);
  return 0;
}

}  // namespace
}  // namespace kmesh

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return kmesh::Run();
}
