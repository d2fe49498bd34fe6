// MockXfrmKernel (testonly): a gMock of XfrmKernel for injecting the kernel
// failures a simulator does not model (ENOBUFS, EPERM, a failing dump).
#ifndef KMESH_IPSEC_MOCK_XFRM_KERNEL_H_
#define KMESH_IPSEC_MOCK_XFRM_KERNEL_H_

#include <vector>

#include "gmock/gmock.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh::ipsec {

class MockXfrmKernel : public XfrmKernel {
 public:
  MOCK_METHOD(absl::Status, AddSa, (const XfrmSa& sa), (override));
  MOCK_METHOD(absl::Status, UpdateSa, (const XfrmSa& sa), (override));
  MOCK_METHOD(absl::Status, DeleteSa, (const XfrmSaId& id), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<XfrmSa>>, DumpSas, (), (override));
  MOCK_METHOD(absl::Status, AddPolicy, (const XfrmPolicy& policy), (override));
  MOCK_METHOD(absl::Status, UpdatePolicy, (const XfrmPolicy& policy),
              (override));
  MOCK_METHOD(absl::Status, DeletePolicy, (const XfrmPolicyId& id), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<XfrmPolicy>>, DumpPolicies, (),
              (override));
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_MOCK_XFRM_KERNEL_H_
