#include "kmesh/ipsec/ipsec_events.h"

#include <vector>

#include "gtest/gtest.h"

namespace kmesh::ipsec {
namespace {

// A sink that only implements the required methods still compiles and gets
// the no-op OnPeersSynced.
class CountingSink : public IpsecEventSink {
 public:
  void OnKeyChanged(int32_t spi, const XfrmKey&) override {
    spis.push_back(spi);
  }
  void OnKeyFileError(const absl::Status&) override { ++errors; }
  void OnPeerUpsert(const NodeView& peer) override {
    names.push_back(peer.name);
  }
  void OnPeerDelete(const std::string& name) override {
    names.push_back("-" + name);
  }
  std::vector<int32_t> spis;
  std::vector<std::string> names;
  int errors = 0;
};

TEST(IpsecEventSinkTest, EventsReachTheSinkThroughTheInterface) {
  CountingSink sink;
  IpsecEventSink& events = sink;
  const uint8_t bytes[36] = {1};
  events.OnKeyChanged(1, XfrmKey(bytes, sizeof(bytes)));
  events.OnKeyFileError(absl::InvalidArgumentError("bad json"));
  NodeView peer;
  peer.name = "node-b";
  events.OnPeerUpsert(peer);
  events.OnPeerDelete("node-b");
  events.OnPeersSynced();
  EXPECT_EQ(sink.spis, std::vector<int32_t>{1});
  EXPECT_EQ(sink.errors, 1);
  EXPECT_EQ(sink.names, (std::vector<std::string>{"node-b", "-node-b"}));
}

}  // namespace
}  // namespace kmesh::ipsec
