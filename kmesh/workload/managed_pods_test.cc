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
  ManagedPodTrackerTest() : tracker_("node-a", &maps_, &attachment_) {}
  // The pods left in clear: every other destination in an IPsec peer's pod
  // CIDR is encrypted.
  std::vector<IpAddress> Unmanaged() { return *maps_.DumpUnmanagedPods(); }

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
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.3")));
  EXPECT_THAT(attachment_.attached, IsEmpty());

  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  EXPECT_THAT(Unmanaged(), IsEmpty());
  EXPECT_THAT(attachment_.attached, ElementsAre("default/local"));

  tracker_.UpsertNamespace(Namespace("default", ""));
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.3")));
  EXPECT_THAT(attachment_.attached, IsEmpty());
}

TEST_F(ManagedPodTrackerTest, PodOptOutAndPodOptIn) {
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "out", "node-b", "10.244.2.3", "none"));
  tracker_.UpsertNamespace(Namespace("other", ""));
  tracker_.UpsertPod(Pod("other", "in", "node-b", "10.244.2.4", "Kmesh"));
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.3")));
}

// Fail-closed: a pod is left in clear only once it is known to be unmanaged.
// Without a label of its own, that needs its namespace; until the namespace
// is seen (the two come from different watches), and after it is deleted,
// the pod is encrypted to.
TEST_F(ManagedPodTrackerTest, APodOfAnUnknownNamespaceIsNotLeftInClear) {
  tracker_.UpsertPod(Pod("late", "p", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("late", "out", "node-b", "10.244.2.4", "none"));
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.4")));
  tracker_.UpsertNamespace(Namespace("late", ""));
  EXPECT_THAT(Unmanaged(),
              UnorderedElementsAre(Ip("10.244.2.3"), Ip("10.244.2.4")));
  tracker_.DeleteNamespace("late");
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.4")));
}

// Known unmanaged pods on any other node are entries, whether that node runs
// IPsec or not (the encrypt CIDRs decide which nodes are encrypted to; a
// node that starts running IPsec finds its unmanaged pods already known).
// This node's own pods never are: its pod CIDR is never an encrypt CIDR.
TEST_F(ManagedPodTrackerTest, KnownUnmanagedPodsOfEveryOtherNodeAreEntries) {
  tracker_.UpsertNamespace(Namespace("default", ""));
  tracker_.UpsertPod(Pod("default", "a", "node-a", "10.244.1.3"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("default", "c", "node-c", "10.244.3.3"));
  EXPECT_THAT(Unmanaged(),
              UnorderedElementsAre(Ip("10.244.2.3"), Ip("10.244.3.3")));
  api::Pod host = Pod("default", "h", "node-b", "192.168.1.2");
  host.mutable_spec()->set_host_network(true);
  tracker_.UpsertPod(host);
  EXPECT_THAT(Unmanaged(),
              UnorderedElementsAre(Ip("10.244.2.3"), Ip("10.244.3.3")));
}

TEST_F(ManagedPodTrackerTest, DeletedAndMovedPodsLeaveNothingBehind) {
  tracker_.UpsertNamespace(Namespace("default", ""));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.3"));
  tracker_.UpsertPod(Pod("default", "b", "node-b", "10.244.2.9"));  // New IP.
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.9")));
  // The address is reused by another pod before the old one is deleted.
  tracker_.UpsertPod(Pod("default", "b2", "node-b", "10.244.2.9"));
  tracker_.DeletePod("default", "b");
  EXPECT_THAT(Unmanaged(), ElementsAre(Ip("10.244.2.9")));
  tracker_.DeletePod("default", "b2");
  EXPECT_THAT(Unmanaged(), IsEmpty());
  tracker_.UpsertNamespace(Namespace("default", "Kmesh"));
  tracker_.UpsertPod(Pod("default", "l", "node-a", "10.244.1.2"));
  tracker_.DeletePod("default", "l");
  EXPECT_THAT(attachment_.attached, IsEmpty());
}

TEST_F(ManagedPodTrackerTest, FailedOperationsAreRetriedOnTheNextEvent) {
  MemoryMarkerMaps tiny(65535, 1);  // Room for one unmanaged pod only.
  RecordingAttachment attachment;
  ManagedPodTracker tracker("node-a", &tiny, &attachment);
  tracker.UpsertNamespace(Namespace("default", ""));
  tracker.UpsertPod(Pod("default", "b1", "node-b", "10.244.2.3"));
  tracker.UpsertPod(Pod("default", "b2", "node-b", "10.244.2.4"));
  EXPECT_EQ(tracker.errors(), 1u);
  EXPECT_EQ(tiny.DumpUnmanagedPods()->size(), 1u);
  tracker.DeletePod("default", "b1");  // Frees room; the failed one retries.
  EXPECT_THAT(*tiny.DumpUnmanagedPods(), ElementsAre(Ip("10.244.2.4")));

  attachment.fail = true;
  tracker.UpsertPod(Pod("default", "l", "node-a", "10.244.1.2", "Kmesh"));
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

TEST(ManagedPodTrackerRetryTest, FullUnmanagedMapHealsOnTheTimer) {
  ManualClock clock;
  MemoryMarkerMaps tiny(65535, 1);  // Room for one unmanaged pod only.
  RecordingAttachment attachment;
  ManagedPodTracker tracker("node-a", &tiny, &attachment, &clock);
  tracker.UpsertNamespace(Namespace("plain", ""));
  tracker.UpsertPod(Pod("plain", "b1", "node-b", "10.244.2.3"));
  tracker.UpsertPod(Pod("plain", "b2", "node-b", "10.244.2.4"));
  EXPECT_EQ(tracker.pending_retries(), 1u);
  // Room is made outside the tracker (an operator, another writer).
  ASSERT_TRUE(tiny.DeleteUnmanagedPod(Ip("10.244.2.3")).ok());
  clock.Advance(std::chrono::milliseconds(500));
  tracker.RetryFailed();
  EXPECT_THAT(*tiny.DumpUnmanagedPods(), ElementsAre(Ip("10.244.2.4")));
  EXPECT_EQ(tracker.pending_retries(), 0u);
}

}  // namespace
}  // namespace kmesh::workload
