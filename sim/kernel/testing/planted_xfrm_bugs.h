// Simulators with one bug planted each, to prove that the differential tests
// (xfrm_differential.h) catch what they are meant to catch: each passes every
// call to a SimXfrm except the one it gets wrong.
//
// - AcceptsDuplicateSa: a second SA with a taken identity is answered OK
//   (and not added); Linux says EEXIST.
// - ForgetsPolicyPriority: policies are stored with priority 0.
// - ForgivesMissingSa: deleting an SA that is not there succeeds; Linux says
//   ESRCH.
#ifndef SIM_KERNEL_TESTING_PLANTED_XFRM_BUGS_H_
#define SIM_KERNEL_TESTING_PLANTED_XFRM_BUGS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/xfrm/sim_xfrm.h"

namespace kmesh::sim::testing {

// Passes every call to a SimXfrm of its own.
class ForwardingXfrm : public XfrmKernel {
 public:
  absl::Status AddSa(const XfrmSa& sa) override { return inner_.AddSa(sa); }
  absl::Status UpdateSa(const XfrmSa& sa) override {
    return inner_.UpdateSa(sa);
  }
  absl::Status DeleteSa(const XfrmSaId& id) override {
    return inner_.DeleteSa(id);
  }
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override {
    return inner_.DumpSas();
  }
  absl::Status AddPolicy(const XfrmPolicy& p) override {
    return inner_.AddPolicy(p);
  }
  absl::Status UpdatePolicy(const XfrmPolicy& p) override {
    return inner_.UpdatePolicy(p);
  }
  absl::Status DeletePolicy(const XfrmPolicyId& id) override {
    return inner_.DeletePolicy(id);
  }
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override {
    return inner_.DumpPolicies();
  }
  absl::StatusOr<XfrmStats> ReadStats() override { return inner_.ReadStats(); }

 protected:
  SimXfrm inner_;
};

class AcceptsDuplicateSa : public ForwardingXfrm {
 public:
  absl::Status AddSa(const XfrmSa& sa) override {
    absl::Status s = inner_.AddSa(sa);
    return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
  }
};

class ForgetsPolicyPriority : public ForwardingXfrm {
 public:
  absl::Status AddPolicy(const XfrmPolicy& p) override {
    XfrmPolicy copy = p;
    copy.priority = 0;
    return inner_.AddPolicy(copy);
  }
};

class ForgivesMissingSa : public ForwardingXfrm {
 public:
  absl::Status DeleteSa(const XfrmSaId& id) override {
    absl::Status s = inner_.DeleteSa(id);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }
};

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_PLANTED_XFRM_BUGS_H_
