// The hand-picked XFRM cases that once lived in linux_xfrm_probe.sh (each an
// `ip xfrm` command and the answer a Debian 6.1 kernel gave), as one
// operation sequence with Linux's recorded answer per operation: the SA
// identity's one-sided mark rule, newest-first lookup, misses, what an
// update keeps, the validation of keys, ICVs, AEAD names, windows and
// families; the policy identity (priority not part of it), update, misses
// and template rules. The differential test runs it on Linux and the
// simulator like any random sequence; the simulator's own test holds it
// against the recorded answers, where no kernel with ESP is at hand.
#ifndef SIM_KERNEL_TESTING_XFRM_PROBE_SEQUENCE_H_
#define SIM_KERNEL_TESTING_XFRM_PROBE_SEQUENCE_H_

#include <string>
#include <vector>

#include "sim/kernel/testing/xfrm_operations.h"

namespace kmesh::sim::testing {

struct ProbeStep {
  XfrmOperation op;
  // Linux's answer: "OK" or the errno's name ("EEXIST", "ESRCH", ...).
  std::string linux_answer;
};

// SA steps (need ESP) and policy steps (any kernel with XFRM).
std::vector<ProbeStep> SaProbeSequence();
std::vector<ProbeStep> PolicyProbeSequence();

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_XFRM_PROBE_SEQUENCE_H_
