#include "kmesh/workload/pod_record.h"

#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/json_codec.h"
#include "kmesh/base/testing/ip_literals.h"
#include "sim/kernel/memory_marker_maps.h"

namespace kmesh::workload {
namespace {

using Json = nlohmann::json;

// A pod as `kubectl get pod -o json` shows one on a kind cluster (a
// Deployment's pod with one container), trimmed of nothing.
constexpr char kRealisticPod[] = R"json({
 "apiVersion": "v1", "kind": "Pod",
 "metadata": {
  "creationTimestamp": "2026-12-01T10:00:00Z",
  "generateName": "cart-7d9c6b8f5d-",
  "labels": {"app": "cart", "pod-template-hash": "7d9c6b8f5d",
             "istio.io/dataplane-mode": "none"},
  "name": "cart-7d9c6b8f5d-x2k8q", "namespace": "shop",
  "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true,
    "controller": true, "kind": "ReplicaSet", "name": "cart-7d9c6b8f5d",
    "uid": "5b0e1c52-8a3e-4f0e-9a57-1f6a2d3c4b5e"}],
  "resourceVersion": "123456",
  "uid": "0f2e6a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
  "managedFields": [
   {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager",
    "operation": "Update", "time": "2026-12-01T10:00:00Z",
    "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {},
      "f:app": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {".": {},
      "k:{\"uid\":\"5b0e1c52-8a3e-4f0e-9a57-1f6a2d3c4b5e\"}": {}}},
     "f:spec": {"f:containers": {"k:{\"name\":\"cart\"}": {".": {},
      "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {".": {},
      "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {},
      "f:containerPort": {}, "f:protocol": {}}}, "f:resources": {},
      "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
      "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {},
      "f:schedulerName": {}, "f:securityContext": {},
      "f:terminationGracePeriodSeconds": {}}}},
   {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet",
    "operation": "Update", "subresource": "status", "time": "2026-12-01T10:00:03Z",
    "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ContainersReady\"}": {
      ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {},
      "f:type": {}}, "k:{\"type\":\"Initialized\"}": {".": {},
      "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {},
      "f:type": {}}, "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {},
      "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
      "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
      "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.7\"}": {".": {}, "f:ip": {}}},
      "f:startTime": {}}}}]
 },
 "spec": {
  "containers": [{"image": "registry.example/shop/cart:1.4.2",
   "imagePullPolicy": "IfNotPresent", "name": "cart",
   "ports": [{"containerPort": 8080, "protocol": "TCP"}],
   "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                 "requests": {"cpu": "100m", "memory": "128Mi"}},
   "terminationMessagePath": "/dev/termination-log",
   "terminationMessagePolicy": "File",
   "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
     "name": "kube-api-access-abcde", "readOnly": true}]}],
  "dnsPolicy": "ClusterFirst", "enableServiceLinks": true,
  "nodeName": "worker-17", "preemptionPolicy": "PreemptLowerPriority",
  "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler",
  "securityContext": {}, "serviceAccount": "default",
  "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
  "tolerations": [
   {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
    "operator": "Exists", "tolerationSeconds": 300},
   {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
    "operator": "Exists", "tolerationSeconds": 300}],
  "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420,
   "sources": [{"serviceAccountToken": {"expirationSeconds": 3607,
     "path": "token"}}, {"configMap": {"items": [{"key": "ca.crt",
     "path": "ca.crt"}], "name": "kube-root-ca.crt"}}, {"downwardAPI": {
     "items": [{"fieldRef": {"apiVersion": "v1",
     "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}}]
 },
 "status": {
  "conditions": [
   {"lastProbeTime": null, "lastTransitionTime": "2026-12-01T10:00:00Z",
    "status": "True", "type": "Initialized"},
   {"lastProbeTime": null, "lastTransitionTime": "2026-12-01T10:00:03Z",
    "status": "True", "type": "Ready"},
   {"lastProbeTime": null, "lastTransitionTime": "2026-12-01T10:00:03Z",
    "status": "True", "type": "ContainersReady"},
   {"lastProbeTime": null, "lastTransitionTime": "2026-12-01T10:00:00Z",
    "status": "True", "type": "PodScheduled"}],
  "containerStatuses": [{"containerID": "containerd://4f1c2e3d4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718293a4b5c6d7e8f90",
   "image": "registry.example/shop/cart:1.4.2",
   "imageID": "registry.example/shop/cart@sha256:8d4f0c1b2a3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796",
   "lastState": {}, "name": "cart", "ready": true, "restartCount": 0,
   "started": true, "state": {"running": {"startedAt": "2026-12-01T10:00:02Z"}}}],
  "hostIP": "172.18.0.19", "phase": "Running", "podIP": "10.244.1.7",
  "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00:10:244:1::7"}],
  "qosClass": "Burstable", "startTime": "2026-12-01T10:00:00Z"
 }
})json";

TEST(PodRecordTest, CompactKeepsWhatTheTrackerReadsAndIsSmall) {
  const Json full = Json::parse(kRealisticPod);
  const Json compact = CompactPod(full);
  EXPECT_EQ(compact, Json::parse(R"({
    "metadata": {"name": "cart-7d9c6b8f5d-x2k8q", "namespace": "shop",
                 "resourceVersion": "123456",
                 "labels": {"istio.io/dataplane-mode": "none"}},
    "spec": {"nodeName": "worker-17"},
    "status": {"podIP": "10.244.1.7",
               "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00:10:244:1::7"}]}
  })"));
  const size_t full_size = full.dump().size();
  const size_t compact_size = compact.dump().size();
  EXPECT_LT(compact_size * 10, full_size)
      << full_size << " bytes -> " << compact_size;
  std::cout << "pod JSON: " << full_size
            << " bytes, compact record: " << compact_size << " bytes\n";
}

// What the tracker gets is what the protobuf JSON parser made of the text
// before (the fields it reads), from the full pod and from its record.
TEST(PodRecordTest, PodFromJsonMatchesTheProtobufParser) {
  absl::StatusOr<api::Pod> parsed = api::ParseJson<api::Pod>(kRealisticPod);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Json full = Json::parse(kRealisticPod);
  for (const Json& source : {full, CompactPod(full)}) {
    const api::Pod pod = PodFromJson(source);
    EXPECT_EQ(pod.metadata().name(), parsed->metadata().name());
    EXPECT_EQ(pod.metadata().namespace_(), parsed->metadata().namespace_());
    EXPECT_EQ(pod.metadata().labels().at("istio.io/dataplane-mode"), "none");
    EXPECT_EQ(pod.spec().node_name(), parsed->spec().node_name());
    EXPECT_EQ(pod.spec().host_network(), parsed->spec().host_network());
    EXPECT_EQ(pod.status().pod_ip(), parsed->status().pod_ip());
    ASSERT_EQ(pod.status().pod_ips_size(), 2);
    EXPECT_EQ(pod.status().pod_ips(1).ip(), parsed->status().pod_ips(1).ip());
  }
}

TEST(PodRecordTest, HostNetworkAndMissingLabelAndOddTypes) {
  const Json pod = Json::parse(R"({
    "metadata": {"name": "p", "namespace": "n", "labels": {"app": "x"},
                 "resourceVersion": 5},
    "spec": {"nodeName": "w", "hostNetwork": true},
    "status": {"podIP": 7, "podIPs": "10.0.0.1"}})");
  const Json compact = CompactPod(pod);
  EXPECT_EQ(compact, Json::parse(R"({
    "metadata": {"name": "p", "namespace": "n"},
    "spec": {"nodeName": "w", "hostNetwork": true},
    "status": {}})"));
  const api::Pod record = PodFromJson(compact);
  EXPECT_TRUE(record.spec().host_network());
  EXPECT_TRUE(record.metadata().labels().empty());
  EXPECT_TRUE(record.status().pod_ip().empty());
  // Not even an object: an empty record, no exception.
  EXPECT_EQ(PodFromJson(Json("text")).metadata().name(), "");
  EXPECT_EQ(CompactPod(Json::array()).dump(),
            R"({"metadata":{},"spec":{},"status":{}})");
}

// The two pod watches of a daemon on node-a, in the orders they may arrive.
class PodWatchMergerTest : public ::testing::Test {
 protected:
  class Attachment : public EncryptMarkerAttachment {
   public:
    absl::Status Attach(const LocalPod& pod) override {
      attached.insert(pod.ns + "/" + pod.name);
      return absl::OkStatus();
    }
    absl::Status Detach(const LocalPod& pod) override {
      attached.erase(pod.ns + "/" + pod.name);
      return absl::OkStatus();
    }
    std::set<std::string> attached;
  };

  PodWatchMergerTest()
      : tracker_("node-a", &maps_, &attachment_),
        merger_(&tracker_, [this](const std::string& key) {
          auto it = other_store_.find(key);
          return it == other_store_.end() ? std::nullopt
                                          : std::optional<Json>(it->second);
        }) {}

  static Json Pod(const std::string& node, const std::string& ip,
                  const std::string& mode) {
    Json pod = {{"metadata",
                 {{"name", "web-0"},
                  {"namespace", "shop"},
                  {"labels", {{"istio.io/dataplane-mode", mode}}}}},
                {"spec", Json::object()},
                {"status", Json::object()}};
    if (!node.empty()) pod["spec"]["nodeName"] = node;
    if (!ip.empty()) pod["status"]["podIP"] = ip;
    return pod;
  }
  std::vector<IpAddress> Unmanaged() { return *maps_.DumpUnmanagedPods(); }

  MemoryMarkerMaps maps_;
  Attachment attachment_;
  ManagedPodTracker tracker_;
  // The other nodes' reflector's store.
  std::map<std::string, Json> other_store_;
  PodWatchMerger merger_;
};

// Bound to this node: the local ADDED may come before the other watch's
// DELETED of the pending pod; that late deletion must not detach it.
TEST_F(PodWatchMergerTest, ALateDeletionFromTheOtherWatchIsIgnored) {
  const Json pending = Pod("", "", "Kmesh");
  other_store_["shop/web-0"] = pending;
  merger_.OtherUpsert(pending);
  const Json bound = Pod("node-a", "10.244.0.9", "Kmesh");
  merger_.LocalUpsert(bound);
  EXPECT_THAT(attachment_.attached, ::testing::ElementsAre("shop/web-0"));
  other_store_.erase("shop/web-0");
  merger_.OtherDelete(pending);
  merger_.OtherUpsert(pending);  // A stale update too.
  EXPECT_THAT(attachment_.attached, ::testing::ElementsAre("shop/web-0"));
}

// A StatefulSet pod deleted here and created again on node-b, unmanaged:
// the other watch's ADDED may come first (ignored while the local watch has
// the pod); the local DELETED then hands over to the other watch's record.
TEST_F(PodWatchMergerTest, ALocalDeletionHandsOverToTheOtherWatchsRecord) {
  merger_.LocalUpsert(Pod("node-a", "10.244.0.9", "Kmesh"));
  const Json moved = Pod("node-b", "10.244.1.4", "none");
  other_store_["shop/web-0"] = moved;
  merger_.OtherUpsert(moved);
  EXPECT_TRUE(Unmanaged().empty());
  merger_.LocalDelete(Pod("node-a", "10.244.0.9", "Kmesh"));
  EXPECT_TRUE(attachment_.attached.empty());
  EXPECT_THAT(Unmanaged(),
              ::testing::ElementsAre(kmesh::testing::Ip("10.244.1.4")));
  // And the other way round: without a record elsewhere it is gone.
  other_store_.clear();
  merger_.OtherDelete(moved);
  EXPECT_TRUE(Unmanaged().empty());
}

}  // namespace
}  // namespace kmesh::workload
