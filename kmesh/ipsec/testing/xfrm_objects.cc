#include "kmesh/ipsec/testing/xfrm_objects.h"

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace kmesh::ipsec::testing {
namespace {

template <typename T, typename Keep>
std::vector<T> Filter(const std::vector<T>& objects, Keep keep) {
  std::vector<T> out;
  for (const T& object : objects) {
    if (keep(object)) out.push_back(object);
  }
  return out;
}

template <typename T>
std::vector<T> ValueOf(absl::StatusOr<std::vector<T>> dumped) {
  if (!dumped.ok()) {
    ADD_FAILURE() << "dump failed: " << dumped.status();
    return {};
  }
  return *std::move(dumped);
}

}  // namespace

std::vector<XfrmSa> InboundSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return IsInboundSa(sa); });
}

std::vector<XfrmSa> OutboundSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return !IsInboundSa(sa); });
}

std::vector<XfrmSa> OwnedSas(const std::vector<XfrmSa>& sas) {
  return Filter(sas, [](const XfrmSa& sa) { return IsOwnedSa(sa); });
}

std::vector<XfrmPolicy> OwnedPolicies(const std::vector<XfrmPolicy>& policies) {
  return Filter(policies, [](const XfrmPolicy& p) { return IsOwnedPolicy(p); });
}

std::vector<XfrmPolicy> PoliciesIn(const std::vector<XfrmPolicy>& policies,
                                   XfrmDir dir) {
  return Filter(policies, [dir](const XfrmPolicy& p) { return p.dir == dir; });
}

void ExpectEachOnce(const std::vector<XfrmSa>& held,
                    const std::vector<XfrmSa>& wanted) {
  for (const XfrmSa& want : wanted) {
    int found = 0;
    for (const XfrmSa& sa : held) found += SameSa(sa, want);
    EXPECT_EQ(found, 1) << DescribeSa(want);
  }
}

void ExpectEachOnce(const std::vector<XfrmPolicy>& held,
                    const std::vector<XfrmPolicy>& wanted) {
  for (const XfrmPolicy& want : wanted) {
    int found = 0;
    for (const XfrmPolicy& p : held) found += SamePolicy(p, want);
    EXPECT_EQ(found, 1) << DescribePolicy(want);
  }
}

std::vector<XfrmSa> DumpedSas(const XfrmKernel& kernel) {
  return ValueOf(const_cast<XfrmKernel&>(kernel).DumpSas());
}

std::vector<XfrmPolicy> DumpedPolicies(const XfrmKernel& kernel) {
  return ValueOf(const_cast<XfrmKernel&>(kernel).DumpPolicies());
}

}  // namespace kmesh::ipsec::testing
