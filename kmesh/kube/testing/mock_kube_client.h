// MockKubeClient: a gMock KubeClient for tests that need to script what the
// API server answers, e.g. a 409 Conflict on the first update, a 500, or an
// AlreadyExists race, which are awkward to provoke in the simulated server.
#ifndef KMESH_KUBE_TESTING_MOCK_KUBE_CLIENT_H_
#define KMESH_KUBE_TESTING_MOCK_KUBE_CLIENT_H_

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kube {

class MockKubeClient : public KubeClient {
 public:
  MOCK_METHOD(absl::StatusOr<std::string>, Get,
              (const ResourceKind& kind, const std::string& ns,
               const std::string& name),
              (override));
  MOCK_METHOD(absl::StatusOr<ObjectList>, List,
              (const ResourceKind& kind, const std::string& ns,
               const ListOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<std::string>, Create,
              (const ResourceKind& kind, const std::string& ns,
               const std::string& object),
              (override));
  MOCK_METHOD(absl::StatusOr<std::string>, Update,
              (const ResourceKind& kind, const std::string& ns,
               const std::string& name, const std::string& object),
              (override));
  MOCK_METHOD(absl::Status, Delete,
              (const ResourceKind& kind, const std::string& ns,
               const std::string& name),
              (override));
  MOCK_METHOD(absl::StatusOr<std::unique_ptr<WatchStream>>, Watch,
              (const ResourceKind& kind, const std::string& ns,
               const ListOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<ProxyResponse>, ProxyGet,
              (const std::string& ns, const std::string& pod, int port,
               const std::string& path_and_query),
              (override));
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_TESTING_MOCK_KUBE_CLIENT_H_
