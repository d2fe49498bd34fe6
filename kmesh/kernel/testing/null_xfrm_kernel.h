// NullXfrmKernel (testonly): an XfrmKernel that accepts every change and
// keeps nothing (its dumps, and its list of xfrm_stat counters, are always
// empty). Benchmarks use it to measure the daemon's own time and memory
// without a kernel's tables.
#ifndef KMESH_KERNEL_TESTING_NULL_XFRM_KERNEL_H_
#define KMESH_KERNEL_TESTING_NULL_XFRM_KERNEL_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {

class NullXfrmKernel : public XfrmKernel {
 public:
  absl::Status AddSa(const XfrmSa&) override { return absl::OkStatus(); }
  absl::Status UpdateSa(const XfrmSa&) override { return absl::OkStatus(); }
  absl::Status DeleteSa(const XfrmSaId&) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override {
    return std::vector<XfrmSa>{};
  }
  absl::Status AddPolicy(const XfrmPolicy&) override {
    return absl::OkStatus();
  }
  absl::Status UpdatePolicy(const XfrmPolicy&) override {
    return absl::OkStatus();
  }
  absl::Status DeletePolicy(const XfrmPolicyId&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override {
    return std::vector<XfrmPolicy>{};
  }
  absl::StatusOr<XfrmStats> ReadStats() override { return XfrmStats{}; }
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_TESTING_NULL_XFRM_KERNEL_H_
