// XFRM operations as data, and random sequences of them, for the
// differential tests that send the same sequence to Linux (NetlinkXfrm) and
// to the simulator (SimXfrm) and compare what each answers. An operation is
// one XfrmKernel call (XfrmOp) with its argument; RandomXfrmOperations draws
// sequences from small pools (so SAs and policies collide, marks overlap and
// deletes hit), mostly valid-looking, with a share of deliberately invalid
// ones (unknown AEADs, wrong key and ICV sizes, ESN without a window, too
// many templates, non-IPsec templates, ...). The same seed gives the same
// sequences. SPI 0 is never drawn: the simulator refuses it on purpose
// (xfrm_validation.h) where Linux accepts it.
#ifndef SIM_KERNEL_TESTING_XFRM_OPERATIONS_H_
#define SIM_KERNEL_TESTING_XFRM_OPERATIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmesh/kernel/xfrm.h"
#include "sim/kernel/testing/random_xfrm.h"

namespace kmesh::sim::testing {

// One XfrmKernel call. Which argument is used depends on `op`: `sa` for
// kAddSa/kUpdateSa, `sa_id` for kDeleteSa, `policy` for kAddPolicy/
// kUpdatePolicy, `policy_id` for kDeletePolicy; dumps take none.
struct XfrmOperation {
  XfrmOp op = XfrmOp::kDumpSas;
  XfrmSa sa;
  XfrmSaId sa_id;
  XfrmPolicy policy;
  XfrmPolicyId policy_id;
};

// What a kernel answered to one operation: the status, and for a dump its
// objects in canonical form (see CanonicalSa), sorted.
struct XfrmOutcome {
  absl::Status status;
  std::vector<std::string> dumped;
};

// Runs `op` on `kernel`.
XfrmOutcome Apply(XfrmKernel& kernel, const XfrmOperation& op);

// Every field of an SA or policy in one line, counters included; keys shown
// only by size and a label for the pool key they equal ("key36#2"), never
// their bytes. Equal text means equal objects.
std::string CanonicalSa(const XfrmSa& sa);
std::string CanonicalPolicy(const XfrmPolicy& policy);

// "add SA <canonical SA>", "delete policy out 10.0.0.0/8 -> ...", ...
std::string Describe(const XfrmOperation& op);

class RandomXfrmOperations {
 public:
  struct Options {
    bool sas = true;
    bool policies = true;
    // Out of 100: how often an added or updated object is made invalid.
    int invalid_percent = 12;
  };

  RandomXfrmOperations(uint32_t seed, Options options);

  // `length` operations; objects made earlier in the stream (also in earlier
  // sequences) are reused for updates and deletes.
  std::vector<XfrmOperation> Sequence(int length);

 private:
  XfrmOperation Next();
  XfrmSa NewSa();
  XfrmSa ChangedSa(XfrmSa sa);
  XfrmPolicy NewPolicy();
  XfrmTemplate NewTemplate(IpFamily family);
  XfrmSaId SomeSaId();
  XfrmPolicyId SomePolicyId();

  const Options options_;
  RandomPicks picks_;
  RandomSas sas_;
  RandomPolicies policies_;
  std::vector<XfrmSa> made_sas_;
  std::vector<XfrmPolicy> made_policies_;
};

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_XFRM_OPERATIONS_H_
