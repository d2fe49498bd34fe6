// Fuzz target: a whole API server answer as the REST client reads it
// (rest_kube_client): a list (items, resourceVersion, continue token), a
// single object, a write's answer, a pod proxy answer, and any non-2xx
// answer's metav1.Status. Input: byte 0 picks the call, byte 1 the HTTP
// status (mostly 200), the rest is the body.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmesh/kube/fuzz/fake_transport.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/rest_kube_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int status = kmesh::kube::fuzz::StatusFromByte(data[1]);
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  kmesh::kube::RestKubeClientOptions options;
  options.max_attempts = 1;
  options.sleep = [](std::chrono::milliseconds) {};
  kmesh::kube::RestKubeClient client(
      std::make_unique<kmesh::kube::fuzz::FakeTransport>(status, body,
                                                         body.size()),
      options);
  bool ok = false;
  switch (data[0] % 5) {
    case 0: {
      kmesh::kube::ListOptions list;
      list.limit = 10;
      ok = client.List(kmesh::kube::KmeshNodeInfosKind(), "", list).ok();
      break;
    }
    case 1:
      ok = client.Get(kmesh::kube::SecretsKind(), "kmesh-system", "kmesh-ipsec")
               .ok();
      break;
    case 2:
      ok = client.Create(kmesh::kube::KmeshNodeInfosKind(), "", "{}").ok();
      break;
    case 3:
      ok = client.Delete(kmesh::kube::KmeshNodeInfosKind(), "", "node-1").ok();
      break;
    default:
      ok = client.ProxyGet("kmesh-system", "kmesh-abc", 15020, "/metrics").ok();
      break;
  }
  static_cast<void>(ok);
  return 0;
}
