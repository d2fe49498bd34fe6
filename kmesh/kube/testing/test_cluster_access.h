// ClusterAccess for tests: a server URL and "test kubeconfig" as where it
// came from; no credentials, no CA (add what a test needs). Test-only.
#ifndef KMESH_KUBE_TESTING_TEST_CLUSTER_ACCESS_H_
#define KMESH_KUBE_TESTING_TEST_CLUSTER_ACCESS_H_

#include <string>

#include "kmesh/kube/kubeconfig.h"

namespace kmesh::kube::testing {

inline ClusterAccess TestClusterAccess(const std::string& server) {
  ClusterAccess access;
  access.server = server;
  access.source = "test kubeconfig";
  return access;
}

}  // namespace kmesh::kube::testing

#endif  // KMESH_KUBE_TESTING_TEST_CLUSTER_ACCESS_H_
