#include "kmesh/ipsec/peer_watcher.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/kube/testing/mock_kube_client.h"

namespace kmesh::ipsec {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Return;
using ::testing::SizeIs;

constexpr char kBootA[] = "0b1b5f2a-6d3c-4e8f-9a7b-1c2d3e4f5a6b";
constexpr char kBootB[] = "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b";

// Records what the handler delivers; safe to read while a reflector thread
// delivers, through WaitFor().
class RecordingSink : public IpsecEventSink {
 public:
  void OnKeyChanged(int32_t, const XfrmKey&) override {}
  void OnKeyFileError(const absl::Status&) override {}
  void OnPeerUpsert(const NodeView& peer) override {
    std::lock_guard<std::mutex> lock(mu);
    upserts.push_back(peer);
    log.push_back("upsert " + peer.name);
    cv.notify_all();
  }
  void OnPeerDelete(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    deletes.push_back(name);
    log.push_back("delete " + name);
    cv.notify_all();
  }
  void OnPeersSynced() override {
    std::lock_guard<std::mutex> lock(mu);
    ++synced;
    log.push_back("synced");
    cv.notify_all();
  }
  // Waits (bounded, for a broken build not to hang) until `n` calls arrived.
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20),
                       [&] { return log.size() >= n; });
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<NodeView> upserts;
  std::vector<std::string> deletes;
  std::vector<std::string> log;
  int synced = 0;
};

std::string Record(const std::string& name, int32_t spi,
                   const std::string& address, const std::string& boot_id,
                   const std::string& resource_version = "1") {
  kmesh::api::KmeshNodeInfo info;
  info.set_api_version("kmesh.net/v1alpha1");
  info.set_kind("KmeshNodeInfo");
  info.mutable_metadata()->set_name(name);
  info.mutable_metadata()->set_namespace_("kmesh-system");
  info.mutable_metadata()->set_resource_version(resource_version);
  info.mutable_spec()->set_spi(spi);
  info.mutable_spec()->add_addresses(address);
  info.mutable_spec()->set_boot_id(boot_id);
  info.mutable_spec()->add_pod_cidrs("10.244.2.0/24");
  return kmesh::api::ToJson(info);
}

TEST(PeerRecordHandlerTest, DeliversAValidPeer) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnAdd(Record("node2", 1, "10.0.0.2", kBootB));
  ASSERT_THAT(sink.upserts, SizeIs(1));
  const NodeView& peer = sink.upserts[0];
  EXPECT_EQ(peer.name, "node2");
  EXPECT_EQ(peer.spi, 1);
  EXPECT_THAT(peer.addresses, ElementsAre("10.0.0.2"));
  EXPECT_EQ(peer.boot_id, kBootB);
  EXPECT_THAT(peer.pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.2.0/24")));
  EXPECT_EQ(handler.invalid_record_count(), 0);
}

TEST(PeerRecordHandlerTest, ParsesTheWireFormatOtherKmeshDaemonsWrite) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnAdd(R"({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfo",
    "metadata":{"name":"node3","namespace":"kmesh-system",
                "resourceVersion":"77","generation":1},
    "spec":{"spi":2,"addresses":["172.18.0.4","fc00::4"],
            "bootID":"7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
            "podCIDRS":["10.244.3.0/24","fd10:3::/64"]}})");
  ASSERT_THAT(sink.upserts, SizeIs(1));
  EXPECT_THAT(sink.upserts[0].addresses, ElementsAre("172.18.0.4", "fc00::4"));
  EXPECT_THAT(sink.upserts[0].pod_cidrs, SizeIs(2));
}

TEST(PeerRecordHandlerTest, SkipsTheOwnNode) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnAdd(Record("self", 1, "10.0.0.1", kBootA));
  handler.OnUpdate(Record("self", 1, "10.0.0.1", kBootA),
                   Record("self", 2, "10.0.0.1", kBootA, "2"));
  handler.OnDelete(Record("self", 2, "10.0.0.1", kBootA, "2"));
  EXPECT_THAT(sink.log, IsEmpty());
}

TEST(PeerRecordHandlerTest, ChangesAreDeliveredAndNoOpUpdatesAreNot) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  const std::string v1 = Record("node2", 1, "10.0.0.2", kBootB, "1");
  handler.OnAdd(v1);
  // Only the resourceVersion changed: nothing the controller uses.
  const std::string v2 = Record("node2", 1, "10.0.0.2", kBootB, "2");
  handler.OnUpdate(v1, v2);
  EXPECT_THAT(sink.upserts, SizeIs(1));
  // A new SPI, a new boot ID (reboot), a new address: each delivered.
  const std::string v3 = Record("node2", 2, "10.0.0.2", kBootB, "3");
  handler.OnUpdate(v2, v3);
  const std::string v4 = Record("node2", 2, "10.0.0.2", kBootA, "4");
  handler.OnUpdate(v3, v4);
  const std::string v5 = Record("node2", 2, "10.0.0.9", kBootA, "5");
  handler.OnUpdate(v4, v5);
  ASSERT_THAT(sink.upserts, SizeIs(4));
  EXPECT_EQ(sink.upserts[1].spi, 2);
  EXPECT_EQ(sink.upserts[2].boot_id, kBootA);
  EXPECT_THAT(sink.upserts[3].addresses, ElementsAre("10.0.0.9"));
}

TEST(PeerRecordHandlerTest, DeleteIsDelivered) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  const std::string record = Record("node2", 1, "10.0.0.2", kBootB);
  handler.OnAdd(record);
  handler.OnDelete(record);
  EXPECT_THAT(sink.log, ElementsAre("upsert node2", "delete node2"));
  // Re-added after a delete: delivered again even though it is unchanged.
  handler.OnAdd(record);
  EXPECT_THAT(sink.upserts, SizeIs(2));
}

TEST(PeerRecordHandlerTest, InvalidPeerIsReportedOnceAndOthersAreUnaffected) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  const std::string bad_v1 = Record("node2", 1, "10.0.0.300", kBootB, "1");
  const std::string bad_v2 = Record("node2", 1, "10.0.0.300", kBootB, "2");
  handler.OnAdd(bad_v1);
  handler.OnUpdate(bad_v1, bad_v2);  // Same problem: not reported again.
  handler.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler.invalid_record_count(), 1);
  EXPECT_THAT(sink.log, ElementsAre("upsert node3"));

  // Fixed by its daemon: delivered.
  handler.OnUpdate(bad_v2, Record("node2", 1, "10.0.0.2", kBootB, "3"));
  EXPECT_THAT(sink.log, ElementsAre("upsert node3", "upsert node2"));
}

TEST(PeerRecordHandlerTest, ShortBootIdIsAnErrorForThatPeerOnly) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnAdd(Record("node2", 1, "10.0.0.2", std::string(kBootB, 35)));
  handler.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler.invalid_record_count(), 1);
  EXPECT_THAT(sink.log, ElementsAre("upsert node3"));
}

TEST(PeerRecordHandlerTest, InvalidUpdateKeepsThePeerAsLastValid) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  const std::string good = Record("node2", 1, "10.0.0.2", kBootB, "1");
  const std::string bad = Record("node2", 2, "not-an-ip", kBootB, "2");
  handler.OnAdd(good);
  handler.OnUpdate(good, bad);
  EXPECT_EQ(handler.invalid_record_count(), 1);
  EXPECT_THAT(sink.log, ElementsAre("upsert node2"));
  // Deleting it still removes the peer.
  handler.OnDelete(bad);
  EXPECT_THAT(sink.log, ElementsAre("upsert node2", "delete node2"));
}

TEST(PeerRecordHandlerTest, UnreadableJsonIsCountedNotFatal) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnAdd("{\"spec\": [");
  handler.OnAdd("{\"spec\": {\"spi\": \"many\"}}");
  handler.OnDelete("not json");
  handler.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler.invalid_record_count(), 2);
  EXPECT_THAT(sink.log, ElementsAre("upsert node3"));
}

TEST(PeerRecordHandlerTest, SyncedIsForwarded) {
  RecordingSink sink;
  PeerRecordHandler handler("self", &sink);
  handler.OnSynced();
  EXPECT_EQ(sink.synced, 1);
}

// A watch stream fed by the test; Next() blocks until an event or Close().
class FakeWatchStream : public kube::WatchStream {
 public:
  explicit FakeWatchStream(std::vector<kube::WatchEvent> events)
      : events_(events.begin(), events.end()) {}
  absl::StatusOr<kube::WatchEvent> Next(
      std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout,
                      [&] { return closed_ || !events_.empty(); })) {
      return absl::DeadlineExceededError("no event yet");
    }
    if (closed_) return absl::CancelledError("closed");
    kube::WatchEvent event = events_.front();
    events_.pop_front();
    return event;
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<kube::WatchEvent> events_;
  bool closed_ = false;
};

MATCHER_P(ResourceIs, plural, "") { return arg.plural == plural; }

TEST(PeerWatcherTest, ListsThenWatchesKmeshNodeInfos) {
  kube::MockKubeClient client;
  kube::ObjectList list;
  list.items = {Record("self", 1, "10.0.0.1", kBootA, "10"),
                Record("node2", 1, "10.0.0.2", kBootB, "11")};
  list.resource_version = "11";
  EXPECT_CALL(client, List(ResourceIs("kmeshnodeinfos"), "kmesh-system", _))
      .WillOnce(Return(list));
  std::vector<kube::WatchEvent> events = {
      {kube::WatchEventType::kAdded,
       Record("node3", 1, "10.0.0.3", kBootA, "12")},
      {kube::WatchEventType::kModified,
       Record("node2", 2, "10.0.0.2", kBootB, "13")},
      {kube::WatchEventType::kDeleted,
       Record("node3", 1, "10.0.0.3", kBootA, "14")},
  };
  // The first watch delivers the events; a later one (after a reconnect)
  // delivers nothing.
  int watches = 0;
  EXPECT_CALL(client, Watch(ResourceIs("kmeshnodeinfos"), "kmesh-system", _))
      .WillRepeatedly(
          [&](const kube::ResourceKind&, const std::string&,
              const kube::ListOptions& options)
              -> absl::StatusOr<std::unique_ptr<kube::WatchStream>> {
            if (watches++ > 0) {
              return std::make_unique<FakeWatchStream>(
                  std::vector<kube::WatchEvent>());
            }
            EXPECT_EQ(options.resource_version, "11");
            return std::make_unique<FakeWatchStream>(events);
          });

  RecordingSink sink;
  PeerWatcher watcher(&client, "self", &sink);
  std::thread runner([&watcher] { watcher.Run(); });
  const bool arrived = sink.WaitFor(5);
  watcher.Stop();
  runner.join();
  ASSERT_TRUE(arrived);
  EXPECT_TRUE(watcher.HasSynced());
  std::lock_guard<std::mutex> lock(sink.mu);
  EXPECT_THAT(sink.log, ElementsAre("upsert node2", "synced", "upsert node3",
                                    "upsert node2", "delete node3"));
  EXPECT_EQ(sink.upserts[2].spi, 2);
}

}  // namespace
}  // namespace kmesh::ipsec
