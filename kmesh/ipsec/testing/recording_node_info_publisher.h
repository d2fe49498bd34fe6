// RecordingNodeInfoPublisher (testonly): a NodeInfoPublisher that keeps every
// publication in memory, optionally hands each one to a callback (a test's
// in-process "API server" fan-out to the other nodes), and can be told to
// fail.
#ifndef KMESH_IPSEC_TESTING_RECORDING_NODE_INFO_PUBLISHER_H_
#define KMESH_IPSEC_TESTING_RECORDING_NODE_INFO_PUBLISHER_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kmesh/ipsec/node_info_publisher.h"

namespace kmesh::ipsec {

class RecordingNodeInfoPublisher : public NodeInfoPublisher {
 public:
  absl::Status Publish(const NodeView& self) override {
    if (!fail_with.ok()) return fail_with;
    published.push_back(self);
    current = self;
    if (on_publish) on_publish(self);
    return absl::OkStatus();
  }
  absl::Status Withdraw(const std::string& node_name) override {
    if (!fail_with.ok()) return fail_with;
    withdrawn.push_back(node_name);
    current.reset();
    if (on_withdraw) on_withdraw(node_name);
    return absl::OkStatus();
  }

  std::vector<NodeView> published;
  std::vector<std::string> withdrawn;
  std::optional<NodeView> current;
  absl::Status fail_with;
  std::function<void(const NodeView&)> on_publish;
  std::function<void(const std::string&)> on_withdraw;
};

}  // namespace kmesh::ipsec

#endif  // KMESH_IPSEC_TESTING_RECORDING_NODE_INFO_PUBLISHER_H_
