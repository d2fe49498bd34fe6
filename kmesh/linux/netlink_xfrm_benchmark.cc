// Netlink programming rate: installs and removes N XFRM policies (default
// 10,000) through NetlinkXfrm, and the same policies through iproute2's
// `ip -batch`, in the same run, inside a private network namespace created
// for the run (root). Prints the time of each and the ratio. Usage:
//   bazel run //kmesh/linux:netlink_xfrm_benchmark -- [--policies=N]
//   [--rounds=R]
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "kmesh/linux/netlink_xfrm.h"

DEFINE_int32(policies, 10000, "policies to install and remove per round");
DEFINE_int32(rounds, 5, "rounds; the median is reported");

namespace kmesh::linux_backend {
namespace {

using Clock = std::chrono::steady_clock;

XfrmPolicy PolicyFor(int i) {
  XfrmPolicy p;
  p.dir = XfrmDir::kOut;
  p.selector =
      XfrmSelector{IpPrefix::Any(IpFamily::kV4),
                   IpPrefix(IpAddress::V4(0x0a000000 + (i << 8)), 24), 0};
  p.mark = XfrmMark{0xe0, 0xffffffff};
  p.priority = 100;
  XfrmTemplate t;
  t.src = *IpAddress::Parse("192.0.2.1");
  t.dst = IpAddress::V4(0xc6120000 + i);  // 198.18.0.0/15, benchmark range.
  t.spi = 1;
  t.reqid = 0x6b6d;
  p.templates.push_back(t);
  return p;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run() {
  if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "needs root to create a private network namespace\n");
    return 1;
  }
  auto xfrm = NetlinkXfrm::Open();
  if (!xfrm.ok()) {
    std::fprintf(stderr, "%s\n", xfrm.status().ToString().c_str());
    return 1;
  }
  const int n = FLAGS_policies;
  std::vector<XfrmPolicy> policies;
  for (int i = 0; i < n; ++i) policies.push_back(PolicyFor(i));

  char dir[] = "/tmp/kmesh-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const std::string batch = std::string(dir) + "/batch";
  {
    std::ofstream out(batch);
    for (const XfrmPolicy& p : policies) {
      out << "xfrm policy add src " << p.selector.src.ToString() << " dst "
          << p.selector.dst.ToString()
          << " dir out priority 100 mark 0xe0 mask 0xffffffff tmpl src "
          << p.templates[0].src.ToString() << " dst "
          << p.templates[0].dst.ToString()
          << " proto esp spi 0x1 reqid 27501 mode tunnel\n";
    }
    for (const XfrmPolicy& p : policies) {
      out << "xfrm policy delete src " << p.selector.src.ToString() << " dst "
          << p.selector.dst.ToString()
          << " dir out mark 0xe0 mask 0xffffffff\n";
    }
  }

  std::vector<double> ours, theirs;
  for (int round = 0; round < FLAGS_rounds; ++round) {
    auto start = Clock::now();
    for (const XfrmPolicy& p : policies) {
      if (auto s = (*xfrm)->AddPolicy(p); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    for (const XfrmPolicy& p : policies) {
      if (auto s = (*xfrm)->DeletePolicy(p.id()); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    ours.push_back(std::chrono::duration<double>(Clock::now() - start).count());

    start = Clock::now();
    if (std::system(("ip -batch " + batch).c_str()) != 0) {
      std::fprintf(stderr, "ip -batch failed\n");
      return 1;
    }
    theirs.push_back(
        std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::filesystem::remove_all(dir);

  const double a = Median(ours), b = Median(theirs);
  std::printf("policies per round: %d added + %d removed, rounds: %d\n", n, n,
              FLAGS_rounds);
  std::printf("NetlinkXfrm:  %.3f s  (%.0f ops/s)\n", a, 2 * n / a);
  std::printf("ip -batch:    %.3f s  (%.0f ops/s)\n", b, 2 * n / b);
  std::printf("ratio (ip -batch time / NetlinkXfrm time): %.2f\n", b / a);
  return 0;
}

}  // namespace
}  // namespace kmesh::linux_backend

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return kmesh::linux_backend::Run();
}
