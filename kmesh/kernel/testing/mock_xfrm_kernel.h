// MockXfrmKernel (testonly): a gMock of XfrmKernel for injecting the kernel
// failures a simulator does not model (ENOBUFS, EPERM, a failing dump).
// DelegateTo() makes every call reach a real XfrmKernel (usually
// sim::SimXfrm) unless a test sets an expectation for it.
#ifndef KMESH_KERNEL_TESTING_MOCK_XFRM_KERNEL_H_
#define KMESH_KERNEL_TESTING_MOCK_XFRM_KERNEL_H_

#include <vector>

#include "gmock/gmock.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {

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
  MOCK_METHOD(absl::StatusOr<XfrmStats>, ReadStats, (), (override));

  // By default every call goes to `real` (which must outlive the mock);
  // EXPECT_CALL/ON_CALL still override single methods.
  void DelegateTo(XfrmKernel* real) {
    using ::testing::_;
    using ::testing::Invoke;
    ON_CALL(*this, AddSa(_)).WillByDefault(Invoke(real, &XfrmKernel::AddSa));
    ON_CALL(*this, UpdateSa(_))
        .WillByDefault(Invoke(real, &XfrmKernel::UpdateSa));
    ON_CALL(*this, DeleteSa(_))
        .WillByDefault(Invoke(real, &XfrmKernel::DeleteSa));
    ON_CALL(*this, DumpSas()).WillByDefault(Invoke(real, &XfrmKernel::DumpSas));
    ON_CALL(*this, AddPolicy(_))
        .WillByDefault(Invoke(real, &XfrmKernel::AddPolicy));
    ON_CALL(*this, UpdatePolicy(_))
        .WillByDefault(Invoke(real, &XfrmKernel::UpdatePolicy));
    ON_CALL(*this, DeletePolicy(_))
        .WillByDefault(Invoke(real, &XfrmKernel::DeletePolicy));
    ON_CALL(*this, DumpPolicies())
        .WillByDefault(Invoke(real, &XfrmKernel::DumpPolicies));
    ON_CALL(*this, ReadStats())
        .WillByDefault(Invoke(real, &XfrmKernel::ReadStats));
  }
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_TESTING_MOCK_XFRM_KERNEL_H_
