#include "kmesh/ipsec/peer_watcher.h"

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/ipsec/testing/recording_event_sink.h"
#include "kmesh/ipsec/testing/test_nodes.h"
#include "kmesh/kube/testing/mock_kube_client.h"
#include "nlohmann/json.hpp"

namespace kmesh::ipsec {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::SizeIs;

const std::string kBootA = TestBootId(1);
const std::string kBootB = TestBootId(2);

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

class PeerRecordHandlerTest : public ::testing::Test {
 protected:
  RecordingEventSink sink_;
  PeerRecordHandler handler_{"self", &sink_};
};

TEST_F(PeerRecordHandlerTest, DeliversAValidPeer) {
  handler_.OnAdd(Record("node2", 1, "10.0.0.2", kBootB));
  ASSERT_THAT(sink_.upserts(), SizeIs(1));
  const NodeView peer = sink_.upserts()[0];
  EXPECT_EQ(peer.name, "node2");
  EXPECT_EQ(peer.spi, 1);
  EXPECT_THAT(peer.addresses, ElementsAre("10.0.0.2"));
  EXPECT_EQ(peer.boot_id, kBootB);
  EXPECT_THAT(peer.pod_cidrs, ElementsAre(*IpPrefix::Parse("10.244.2.0/24")));
  EXPECT_EQ(handler_.invalid_record_count(), 0);
}

TEST_F(PeerRecordHandlerTest, ParsesTheWireFormatOtherKmeshDaemonsWrite) {
  handler_.OnAdd(R"({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfo",
    "metadata":{"name":"node3","namespace":"kmesh-system",
                "resourceVersion":"77","generation":1},
    "spec":{"spi":2,"addresses":["172.18.0.4","fc00::4"],
            "bootID":"7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
            "podCIDRS":["10.244.3.0/24","fd10:3::/64"]}})");
  ASSERT_THAT(sink_.upserts(), SizeIs(1));
  EXPECT_THAT(sink_.upserts()[0].addresses,
              ElementsAre("172.18.0.4", "fc00::4"));
  EXPECT_THAT(sink_.upserts()[0].pod_cidrs, SizeIs(2));
}

// The own record is never a peer: it is reported as what it is, so the
// controller can repair it when someone else deletes or alters it.
TEST_F(PeerRecordHandlerTest, ReportsTheOwnRecordApartFromPeers) {
  handler_.OnAdd(Record("self", 1, "10.0.0.1", kBootA));
  handler_.OnUpdate(Record("self", 1, "10.0.0.1", kBootA),
                    Record("self", 2, "10.0.0.1", kBootA, "2"));
  handler_.OnDelete(Record("self", 2, "10.0.0.1", kBootA, "2"));
  EXPECT_THAT(sink_.log(),
              ElementsAre("own spi 1", "own spi 2", "own deleted"));
  EXPECT_THAT(sink_.upserts(), ::testing::IsEmpty());
}

TEST_F(PeerRecordHandlerTest, ChangesAreDeliveredAndNoOpUpdatesAreNot) {
  const std::string v1 = Record("node2", 1, "10.0.0.2", kBootB, "1");
  handler_.OnAdd(v1);
  // Only the resourceVersion changed: nothing the controller uses.
  const std::string v2 = Record("node2", 1, "10.0.0.2", kBootB, "2");
  handler_.OnUpdate(v1, v2);
  EXPECT_THAT(sink_.upserts(), SizeIs(1));
  // A new SPI, a new boot ID (reboot), a new address: each delivered.
  const std::string v3 = Record("node2", 2, "10.0.0.2", kBootB, "3");
  handler_.OnUpdate(v2, v3);
  const std::string v4 = Record("node2", 2, "10.0.0.2", kBootA, "4");
  handler_.OnUpdate(v3, v4);
  const std::string v5 = Record("node2", 2, "10.0.0.9", kBootA, "5");
  handler_.OnUpdate(v4, v5);
  ASSERT_THAT(sink_.upserts(), SizeIs(4));
  EXPECT_EQ(sink_.upserts()[1].spi, 2);
  EXPECT_EQ(sink_.upserts()[2].boot_id, kBootA);
  EXPECT_THAT(sink_.upserts()[3].addresses, ElementsAre("10.0.0.9"));
}

TEST_F(PeerRecordHandlerTest, DeleteIsDelivered) {
  const std::string record = Record("node2", 1, "10.0.0.2", kBootB);
  handler_.OnAdd(record);
  handler_.OnDelete(record);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node2 spi 1", "delete node2"));
  // Re-added after a delete: delivered again even though it is unchanged.
  handler_.OnAdd(record);
  EXPECT_THAT(sink_.upserts(), SizeIs(2));
}

TEST_F(PeerRecordHandlerTest, InvalidPeerIsReportedOnceAndOthersAreUnaffected) {
  const std::string bad_v1 = Record("node2", 1, "10.0.0.300", kBootB, "1");
  const std::string bad_v2 = Record("node2", 1, "10.0.0.300", kBootB, "2");
  handler_.OnAdd(bad_v1);
  handler_.OnUpdate(bad_v1, bad_v2);  // Same problem: not reported again.
  handler_.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler_.invalid_record_count(), 1);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node3 spi 1"));

  // Fixed by its daemon: delivered.
  handler_.OnUpdate(bad_v2, Record("node2", 1, "10.0.0.2", kBootB, "3"));
  EXPECT_THAT(sink_.log(),
              ElementsAre("upsert node3 spi 1", "upsert node2 spi 1"));
}

TEST_F(PeerRecordHandlerTest, ShortBootIdIsAnErrorForThatPeerOnly) {
  handler_.OnAdd(Record("node2", 1, "10.0.0.2", kBootB.substr(0, 35)));
  handler_.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler_.invalid_record_count(), 1);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node3 spi 1"));
}

TEST_F(PeerRecordHandlerTest, InvalidUpdateKeepsThePeerAsLastValid) {
  const std::string good = Record("node2", 1, "10.0.0.2", kBootB, "1");
  const std::string bad = Record("node2", 2, "not-an-ip", kBootB, "2");
  handler_.OnAdd(good);
  handler_.OnUpdate(good, bad);
  EXPECT_EQ(handler_.invalid_record_count(), 1);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node2 spi 1"));
  // Deleting it still removes the peer.
  handler_.OnDelete(bad);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node2 spi 1", "delete node2"));
}

TEST_F(PeerRecordHandlerTest, UnreadableJsonIsCountedNotFatal) {
  handler_.OnAdd("{\"spec\": [");
  handler_.OnAdd("{\"spec\": {\"spi\": \"many\"}}");
  handler_.OnDelete("not json");
  handler_.OnAdd(Record("node3", 1, "10.0.0.3", kBootA));
  EXPECT_EQ(handler_.invalid_record_count(), 2);
  EXPECT_THAT(sink_.log(), ElementsAre("upsert node3 spi 1"));
}

// The reflector hands over the decoded object: read as protobuf's JSON
// parser reads the record (numbers as strings, nulls as defaults), without
// a second parse; a field of the wrong type makes it unreadable.
TEST_F(PeerRecordHandlerTest, DecodedObjectsAreReadAsTheJsonCodecReadsThem) {
  nlohmann::json record =
      nlohmann::json::parse(Record("node2", 1, "10.0.0.2", kBootB));
  record["spec"]["spi"] = "3";
  record["metadata"]["labels"] = nullptr;
  handler_.OnAddObject(record, record.dump());
  ASSERT_THAT(sink_.upserts(), SizeIs(1));
  EXPECT_EQ(sink_.upserts()[0].spi, 3);
  EXPECT_THAT(sink_.upserts()[0].addresses, ElementsAre("10.0.0.2"));

  nlohmann::json changed = record;
  changed["spec"]["spi"] = 4.0;
  handler_.OnUpdateObject(record.dump(), changed, changed.dump());
  ASSERT_THAT(sink_.upserts(), SizeIs(2));
  EXPECT_EQ(sink_.upserts()[1].spi, 4);

  for (auto [field, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{
           {"spi", 4.5},
           {"spi", "x"},
           {"addresses", "10.0.0.2"},
           {"addresses", {1}},
           {"bootID", 7},
           {"spi", 4294967296}}) {
    nlohmann::json bad = changed;
    bad["spec"][field] = value;
    handler_.OnUpdateObject(changed.dump(), bad, bad.dump());
  }
  // Each distinct problem once ("x" is another non-integer SPI).
  EXPECT_EQ(handler_.invalid_record_count(), 5);
  EXPECT_THAT(sink_.upserts(), SizeIs(2));
  handler_.OnDeleteObject(changed, changed.dump());
  EXPECT_EQ(sink_.log().back(), "delete node2");
}

TEST_F(PeerRecordHandlerTest, SyncedIsForwarded) {
  handler_.OnSynced();
  EXPECT_EQ(sink_.synced(), 1);
}

// A watch stream fed by the test; Next() blocks until an event or Close().
class FakeWatchStream : public kube::WatchStream {
 public:
  explicit FakeWatchStream(std::vector<kube::WatchEvent> events)
      : events_(events.begin(), events.end()) {}
  absl::StatusOr<kube::WatchEvent> Next(
      std::chrono::milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return closed_ || !events_.empty();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready),
                              absl::FromChrono(timeout))) {
      return absl::DeadlineExceededError("no event yet");
    }
    if (closed_) return absl::CancelledError("closed");
    kube::WatchEvent event = events_.front();
    events_.pop_front();
    return event;
  }
  void Close() override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  absl::Mutex mu_;
  std::deque<kube::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

MATCHER_P(ResourceIs, plural, "") { return arg.plural == plural; }

TEST(PeerWatcherTest, ListsThenWatchesKmeshNodeInfos) {
  kube::MockKubeClient client;
  kube::ObjectList list;
  list.items = {Record("self", 1, "10.0.0.1", kBootA, "10"),
                Record("node2", 1, "10.0.0.2", kBootB, "11")};
  list.resource_version = "11";
  EXPECT_CALL(client, List(ResourceIs("kmeshnodeinfos"), "kmesh-system", _))
      .WillOnce(::testing::Return(list));
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

  RecordingEventSink sink;
  PeerWatcher watcher(&client, "self", &sink);
  std::thread runner([&watcher] { watcher.Run(); });
  const bool arrived = sink.WaitForEvents(6);
  watcher.Stop();
  runner.join();
  ASSERT_TRUE(arrived);
  EXPECT_TRUE(watcher.HasSynced());
  // The own record is reported as such, never as a peer.
  EXPECT_THAT(sink.log(), ElementsAre("upsert node2 spi 1", "own spi 1",
                                      "synced", "upsert node3 spi 1",
                                      "upsert node2 spi 2", "delete node3"));
}

}  // namespace
}  // namespace kmesh::ipsec
