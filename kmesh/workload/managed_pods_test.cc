#include "kmesh/workload/managed_pods.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/testing/ip_literals.h"
#include "sim/kernel/memory_marker_maps.h"

namespace kmesh::workload {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using ::kmesh::testing::Ip;

api::Pod Pod(const std::string& ns, const std::string& name,
             const std::string& node, const std::string& ip,
             const std::string& mode = "") {
  api::Pod p;
  p.mutable_metadata()->set_namespace_(ns);
  p.mutable_metadata()->set_name(name);
  if (!mode.empty()) {
    (*p.mutable_metadata()->mutable_labels())[kDataplaneModeLabel] = mode;
  }
  p.mutable_spec()->set_node_name(node);
  p.mutable_status()->set_pod_ip(ip);
  p.mutable_status()->add_pod_ips()->set_ip(ip);
  return p;
}

api::Namespace Namespace(const std::string& name, const std::string& mode) {
  api::Namespace n;
  n.mutable_metadata()->set_name(name);
  if (!mode.empty()) {
    (*n.mutable_metadata()->mutable_labels())[kDataplaneModeLabel] = mode;
  }
  return n;
}

class RecordingAttachment : public EncryptMarkerAttachment {
 public:
  absl::Status Attach(const LocalPod& pod) override {
    if (fail) return absl::UnavailableError("injected");
    attached.insert(pod.ns + "/" + pod.name);
    return absl::OkStatus();
  }
  absl::Status Detach(const LocalPod& pod) override {
    attached.erase(pod.ns + "/" + pod.name);
    return absl::OkStatus();
  }
  std::set<std::string> attached;
  bool fail = false;
};

class ManagedPodTrackerTest : public ::testing::Test {
 protected:
  ManagedPodTrackerTest() : tracker_("node-a", &maps_, &attachment_) {
    tracker_.SetIpsecNodes({"node-b"});
  }
  std::vector<IpAddress> Targets() { return *maps_.DumpEncryptTargets(); }

  MemoryMarkerMaps maps_;
  RecordingAttachment attachment_;
  ManagedPodTracker tracker_;
};

TEST(IsManagedTest, PodLabelWinsOverNamespaceLabel) {
  google::protobuf::Map<std::string, std::string> kmesh, none, empty;
  kmesh[kDataplaneModeLabel] = "Kmesh";
  none[kDataplaneModeLabel] = "none";
  EXPECT_TRUE(IsManaged(kmesh, nullptr));
  EXPECT_TRUE(IsManaged(empty, &kmesh));
  EXPECT_FALSE(IsManaged(none, &kmesh));
  EXPECT_TRUE(IsManaged(kmesh, &none));
  EXPECT_FALSE(IsManaged(empty, &empty));
  EXPECT_FALSE(IsManaged(empty, nullptr));
}

TEST_F(ManagedPodTrackerTest, LabellingANamespaceTakesEffectBothWays) {
  tracker_.UpsertNamespace(Namespace("default", ""));
  tracker_.UpsertPod(Pod("default", "local", "node-a", "10.244.1.2"));
  tracker_.UpsertPod(Pod("default", "remote", "node-b", "10.244.2.3"));
  EXPECT_THAT(Targets(), IsEmpty());
  EXPECT_THAT(attachment_.attached, IsEmpty());

  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.2.3")));
  EXPECT_THAT(attachment_.attached, ElementsAre("default/local"));

  tracker_.UpsertNamespace(Namespace("default", ""));
  EXPECT_THAT(Targets(), IsEmpty());
  EXPECT_THAT(attachment_.attached, IsEmpty());
}

TEST_F(ManagedPodTrackerTest, PodOptOutAndPodOptIn) {
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "out", "node-b", "10.244.2.3", "none"));
  tracker_.UpsertNamespace(Namespace("other", ""));
  tracker_.UpsertPod(Pod("other", "in", "node-b", "10.244.2.4", "Kmesh"));
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.2.4")));
}

TEST_F(ManagedPodTrackerTest, OnlyNodesThatRunIpsecContributeTargets) {
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("default", "c", "node-c", "10.244.3.3"));
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.2.3")));
  tracker_.SetIpsecNodes({"node-b", "node-c"});
  EXPECT_THAT(Targets(),
              UnorderedElementsAre(Ip("10.244.2.3"), Ip("10.244.3.3")));
  tracker_.SetIpsecNodes({"node-c"});
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.3.3")));
}

// The agent hands over changes of the set as they happen; the result is the
// same as giving the whole set, and a change that changes nothing (a node
// joining twice) is harmless.
TEST_F(ManagedPodTrackerTest, IpsecNodeChangesApplyInOrder) {
  tracker_.SetIpsecNodes({});
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("default", "c", "node-c", "10.244.3.3"));
  EXPECT_THAT(Targets(), IsEmpty());
  tracker_.UpdateIpsecNodes({{"node-c", true}, {"node-b", true}});
  EXPECT_THAT(Targets(),
              UnorderedElementsAre(Ip("10.244.2.3"), Ip("10.244.3.3")));
  tracker_.UpdateIpsecNodes({{"node-b", false}, {"node-c", true}});
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.3.3")));
  // Leaves, then comes back, within one batch.
  tracker_.UpdateIpsecNodes({{"node-c", false}, {"node-c", true}});
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.3.3")));
  tracker_.UpdateIpsecNodes({{"node-c", false}});
  EXPECT_THAT(Targets(), IsEmpty());
}

TEST_F(ManagedPodTrackerTest, DeletedAndMovedPodsLeaveNothingBehind) {
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.9"));  // New IP.
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.2.9")));
  // The address is reused by another pod before the old one is deleted.
  tracker_.UpsertPod(Pod("default", "b2", "node-b", "10.244.2.9"));
  tracker_.DeletePod("default", "b");
  EXPECT_THAT(Targets(), ElementsAre(Ip("10.244.2.9")));
  tracker_.DeletePod("default", "b2");
  EXPECT_THAT(Targets(), IsEmpty());
  tracker_.UpsertPod(Pod("default", "l", "node-a", "10.244.1.2"));
  tracker_.DeletePod("default", "l");
  EXPECT_THAT(attachment_.attached, IsEmpty());
}

TEST_F(ManagedPodTrackerTest, FailedOperationsAreRetriedOnTheNextEvent) {
  MemoryMarkerMaps tiny(65535, 1);  // Room for one target only.
  RecordingAttachment attachment;
  ManagedPodTracker tracker("node-a", &tiny, &attachment);
  tracker.SetIpsecNodes({"node-b"});
  tracker.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker.UpsertPod(Pod("default", "b1", "node-b", "10.244.2.3"));
  tracker.UpsertPod(Pod("default", "b2", "node-b", "10.244.2.4"));
  EXPECT_EQ(tracker.errors(), 1u);
  EXPECT_EQ(tiny.DumpEncryptTargets()->size(), 1u);
  tracker.DeletePod("default", "b1");  // Frees room; the failed one retries.
  EXPECT_THAT(*tiny.DumpEncryptTargets(), ElementsAre(Ip("10.244.2.4")));

  attachment.fail = true;
  tracker.UpsertPod(Pod("default", "l", "node-a", "10.244.1.2"));
  EXPECT_THAT(attachment.attached, IsEmpty());
  attachment.fail = false;
  tracker.UpsertNamespace(Namespace("unrelated", ""));
  EXPECT_THAT(attachment.attached, ElementsAre("default/l"));
}

// In a quiet cluster no event comes to retry a failed attach: the timer
// does, with a backoff of 0.5 s doubling up to 30 s, reset after success.
TEST(ManagedPodTrackerRetryTest, FailedAttachHealsOnTheTimerWithBackoff) {
  ManualClock clock;
  MemoryMarkerMaps maps;
  RecordingAttachment attachment;
  ManagedPodTracker tracker("node-a", &maps, &attachment, &clock);
  tracker.UpsertNamespace(Namespace("default", "Kmesh"));
  attachment.fail = true;
  tracker.UpsertPod(Pod("default", "l", "node-a", "10.244.1.2"));
  EXPECT_THAT(attachment.attached, IsEmpty());
  ASSERT_TRUE(tracker.next_retry().has_value());
  EXPECT_EQ(*tracker.next_retry() - clock.Now(),
            std::chrono::milliseconds(500));

  // Not yet due: nothing happens.
  clock.Advance(std::chrono::milliseconds(499));
  tracker.RetryFailed();
  EXPECT_EQ(tracker.errors(), 1u);

  // Due, still failing: each wait doubles, up to 30 s.
  std::vector<Duration> waits;
  clock.Advance(std::chrono::milliseconds(1));
  for (int i = 0; i < 9; ++i) {
    tracker.RetryFailed();
    ASSERT_TRUE(tracker.next_retry().has_value());
    waits.push_back(*tracker.next_retry() - clock.Now());
    clock.Advance(waits.back());
  }
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  EXPECT_THAT(waits, ElementsAre(seconds(1), seconds(2), seconds(4), seconds(8),
                                 seconds(16), seconds(30), seconds(30),
                                 seconds(30), seconds(30)));
  EXPECT_EQ(tracker.errors(), 10u);

  // The kernel accepts again: the next due retry attaches, with no event.
  attachment.fail = false;
  tracker.RetryFailed();
  EXPECT_THAT(attachment.attached, ElementsAre("default/l"));
  EXPECT_FALSE(tracker.next_retry().has_value());
  EXPECT_EQ(tracker.pending_retries(), 0u);

  // A later failure starts again from 0.5 s.
  attachment.fail = true;
  tracker.UpsertPod(Pod("default", "m", "node-a", "10.244.1.3"));
  ASSERT_TRUE(tracker.next_retry().has_value());
  EXPECT_EQ(*tracker.next_retry() - clock.Now(), milliseconds(500));
}

TEST(ManagedPodTrackerRetryTest, FullTargetMapHealsOnTheTimer) {
  ManualClock clock;
  MemoryMarkerMaps tiny(65535, 1);  // Room for one target only.
  RecordingAttachment attachment;
  ManagedPodTracker tracker("node-a", &tiny, &attachment, &clock);
  tracker.SetIpsecNodes({"node-b"});
  tracker.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker.UpsertPod(Pod("default", "b1", "node-b", "10.244.2.3"));
  tracker.UpsertPod(Pod("default", "b2", "node-b", "10.244.2.4"));
  EXPECT_EQ(tracker.pending_retries(), 1u);
  // Room is made outside the tracker (an operator, another writer).
  ASSERT_TRUE(tiny.DeleteEncryptTarget(Ip("10.244.2.3")).ok());
  clock.Advance(std::chrono::milliseconds(500));
  tracker.RetryFailed();
  EXPECT_THAT(*tiny.DumpEncryptTargets(), ElementsAre(Ip("10.244.2.4")));
  EXPECT_EQ(tracker.pending_retries(), 0u);
}

}  // namespace
}  // namespace kmesh::workload
