// Fuzz target: a watch's body as the REST client reads it (rest_kube_client:
// RestWatchStream): split into lines across arbitrary chunk boundaries,
// each line decoded as a watch event, the queue bounded (pausing and
// resuming), then each event's object taken as the reflector's handlers take
// it (as text, and decoded into the product's messages). Input: byte 0 the
// chunk size, byte 1 the HTTP status (mostly 200), the rest the body.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/kube/fuzz/fake_transport.h"
#include "kmesh/kube/kube_client.h"
#include "kmesh/kube/rest_kube_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 64;
  const int status = kmesh::kube::fuzz::StatusFromByte(data[1]);
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);

  kmesh::kube::RestKubeClientOptions options;
  options.max_attempts = 1;
  options.sleep = [](std::chrono::milliseconds) {};
  options.max_watch_line = 2048;  // Small, so inputs reach the limit.
  options.max_queued_events = 3;  // Small, so the stream pauses.
  kmesh::kube::RestKubeClient client(
      std::make_unique<kmesh::kube::fuzz::FakeTransport>(status, body, piece),
      options);
  kmesh::kube::ListOptions list;
  list.resource_version = "1";
  absl::StatusOr<std::unique_ptr<kmesh::kube::WatchStream>> watch =
      client.Watch(kmesh::kube::NodesKind(), "", list);
  if (!watch.ok()) return 0;
  for (int i = 0; i < 100000; ++i) {
    absl::StatusOr<kmesh::kube::WatchEvent> event =
        (*watch)->Next(std::chrono::milliseconds(0));
    if (!event.ok()) break;
    const std::string text = event->ObjectText();
    const auto node = kmesh::api::ParseJson<kmesh::api::Node>(text);
    const auto info = kmesh::api::ParseJson<kmesh::api::KmeshNodeInfo>(text);
    static_cast<void>(node.ok() && info.ok());
  }
  (*watch)->Close();
  return 0;
}
