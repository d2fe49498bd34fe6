#include "kmesh/api/json_codec.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/ipsec_key.pb.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/api/kube.pb.h"

namespace kmesh::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A fixed 36-byte key (hex 50d678fd...0784dd) whose base64 has both '+' and
// '/', and the JSON Go's json.Marshal writes for Kmesh's IpSecKey with it
// (checked with Go 1.19: json.Marshal(IpSecKey{1, "rfc4106(gcm(aes))", key,
// 128}) printed exactly kIpSecKeyJson). The base64 computed independently:
//   printf %s
//   50d678fd3cdf5c8e367166ccccfb174faae8f9f0cc82c4876f8c24a0d2c35a8a7e0784dd
//     | xxd -r -p | base64 -w0
constexpr char kKeyBase64[] =
    "UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td";
constexpr char kIpSecKeyJson[] =
    R"J({"spi":1,"aeadKeyName":"rfc4106(gcm(aes))","aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td","length":128})J";
// printf %s "$kIpSecKeyJson" | base64 -w0: the Secret's data.ipSec.
constexpr char kIpSecKeyJsonBase64[] =
    "eyJzcGkiOjEsImFlYWRLZXlOYW1lIjoicmZjNDEwNihnY20oYWVzKSkiLCJhZWFkS2V5Ijoi"
    "VU5aNC9UemZYSTQyY1diTXpQc1hUNnJvK2ZETWdzU0hiNHdrb05MRFdvcCtCNFRkIiwibGVu"
    "Z3RoIjoxMjh9";

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

const std::string kKeyBytes = Unhex(
    "50d678fd3cdf5c8e367166ccccfb174faae8f9f0cc82c4876f8c24a0d2c35a8a7e0784dd");

TEST(JsonCodecTest, IpSecKeyIsByteIdenticalToGoJsonMarshal) {
  IpSecKey key;
  key.set_spi(1);
  key.set_aead_key_name("rfc4106(gcm(aes))");
  key.set_aead_key(kKeyBytes);
  key.set_length(128);
  EXPECT_EQ(ToJson(key), kIpSecKeyJson);
}

// The expected JSON carries the independently computed base64 of the key.
TEST(JsonCodecTest, IpSecKeyJsonCarriesTheKeyBase64) {
  const std::string field = std::string("\"aeadKey\":\"") + kKeyBase64 + "\"";
  EXPECT_THAT(kIpSecKeyJson, ::testing::HasSubstr(field));
}

TEST(JsonCodecTest, ParsesIpSecKey) {
  absl::StatusOr<IpSecKey> key = ParseJson<IpSecKey>(kIpSecKeyJson);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->spi(), 1);
  EXPECT_EQ(key->aead_key_name(), "rfc4106(gcm(aes))");
  EXPECT_EQ(key->aead_key(), kKeyBytes);
  EXPECT_EQ(key->length(), 128);
}

// As the API server returns it (GET /api/v1/namespaces/kmesh-system/secrets/
// kmesh-ipsec): fields in Go's order, managedFields present.
constexpr char kSecretFromApiServer[] = R"J({
  "kind": "Secret",
  "apiVersion": "v1",
  "metadata": {
    "name": "kmesh-ipsec",
    "namespace": "kmesh-system",
    "uid": "2f8e4c1a-3b5d-4e6f-8a9b-0c1d2e3f4a5b",
    "resourceVersion": "48213",
    "creationTimestamp": "2024-10-10T08:00:00Z",
    "managedFields": [
      {
        "manager": "kmeshctl",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2024-10-10T08:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:ipSec": {}}, "f:type": {}}
      }
    ]
  },
  "data": {
    "ipSec": "eyJzcGkiOjEsImFlYWRLZXlOYW1lIjoicmZjNDEwNihnY20oYWVzKSkiLCJhZWFkS2V5IjoiVU5aNC9UemZYSTQyY1diTXpQc1hUNnJvK2ZETWdzU0hiNHdrb05MRFdvcCtCNFRkIiwibGVuZ3RoIjoxMjh9"
  },
  "type": "Opaque"
})J";

TEST(JsonCodecTest, ParsesSecretAndItsIpSecPayload) {
  absl::StatusOr<Secret> secret = ParseJson<Secret>(kSecretFromApiServer);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->kind(), "Secret");
  EXPECT_EQ(secret->api_version(), "v1");
  EXPECT_EQ(secret->metadata().name(), "kmesh-ipsec");
  EXPECT_EQ(secret->metadata().namespace_(), "kmesh-system");
  EXPECT_EQ(secret->metadata().resource_version(), "48213");
  EXPECT_EQ(secret->metadata().creation_timestamp(), "2024-10-10T08:00:00Z");
  EXPECT_EQ(secret->type(), "Opaque");
  ASSERT_EQ(secret->data().count("ipSec"), 1u);
  // data values are base64 in JSON and raw bytes here: Kmesh's JSON.
  EXPECT_EQ(secret->data().at("ipSec"), kIpSecKeyJson);
}

TEST(JsonCodecTest, WritesSecretBackWithTheSameNamesAndBase64) {
  absl::StatusOr<Secret> secret = ParseJson<Secret>(kSecretFromApiServer);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(ToJson(*secret),
            std::string(R"J({"apiVersion":"v1","kind":"Secret","metadata":{)J"
                        R"J("name":"kmesh-ipsec","namespace":"kmesh-system",)J"
                        R"J("uid":"2f8e4c1a-3b5d-4e6f-8a9b-0c1d2e3f4a5b",)J"
                        R"J("resourceVersion":"48213",)J"
                        R"J("creationTimestamp":"2024-10-10T08:00:00Z"},)J"
                        R"J("type":"Opaque","data":{"ipSec":")J") +
                kIpSecKeyJsonBase64 + R"J("}})J");
}

TEST(JsonCodecTest, BuildsANewSecretAsKubernetesExpectsIt) {
  Secret secret;
  secret.set_api_version("v1");
  secret.set_kind("Secret");
  secret.mutable_metadata()->set_name("kmesh-ipsec");
  secret.mutable_metadata()->set_namespace_("kmesh-system");
  secret.set_type("Opaque");
  (*secret.mutable_data())["ipSec"] = kIpSecKeyJson;
  EXPECT_EQ(ToJson(secret),
            std::string(R"J({"apiVersion":"v1","kind":"Secret",)J"
                        R"J("metadata":{"name":"kmesh-ipsec",)J"
                        R"J("namespace":"kmesh-system"},"type":"Opaque",)J"
                        R"J("data":{"ipSec":")J") +
                kIpSecKeyJsonBase64 + R"J("}})J");
}

constexpr char kKmeshNodeInfo[] = R"J({
  "apiVersion": "kmesh.net/v1alpha1",
  "kind": "KmeshNodeInfo",
  "metadata": {
    "creationTimestamp": "2024-10-10T08:01:00Z",
    "generation": 3,
    "managedFields": [{"manager": "kmesh-daemon", "operation": "Update"}],
    "name": "node1",
    "namespace": "kmesh-system",
    "resourceVersion": "48250",
    "uid": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
  },
  "spec": {
    "spi": 1,
    "addresses": ["10.0.0.1"],
    "bootID": "b6c5a4d3-e2f1-4a0b-9c8d-7e6f5a4b3c2d",
    "podCIDRS": ["10.244.1.0/24"]
  }
})J";

TEST(JsonCodecTest, ParsesKmeshNodeInfo) {
  absl::StatusOr<KmeshNodeInfo> info = ParseJson<KmeshNodeInfo>(kKmeshNodeInfo);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->api_version(), "kmesh.net/v1alpha1");
  EXPECT_EQ(info->kind(), "KmeshNodeInfo");
  EXPECT_EQ(info->metadata().name(), "node1");
  EXPECT_EQ(info->metadata().resource_version(), "48250");
  EXPECT_EQ(info->spec().spi(), 1);
  ASSERT_EQ(info->spec().addresses_size(), 1);
  EXPECT_EQ(info->spec().addresses(0), "10.0.0.1");
  EXPECT_EQ(info->spec().boot_id(), "b6c5a4d3-e2f1-4a0b-9c8d-7e6f5a4b3c2d");
  ASSERT_EQ(info->spec().pod_cidrs_size(), 1);
  EXPECT_EQ(info->spec().pod_cidrs(0), "10.244.1.0/24");
}

TEST(JsonCodecTest, WritesKmeshNodeInfoWithKmeshsFieldNames) {
  absl::StatusOr<KmeshNodeInfo> info = ParseJson<KmeshNodeInfo>(kKmeshNodeInfo);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(ToJson(*info),
            R"J({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfo",)J"
            R"J("metadata":{"name":"node1","namespace":"kmesh-system",)J"
            R"J("uid":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",)J"
            R"J("resourceVersion":"48250",)J"
            R"J("creationTimestamp":"2024-10-10T08:01:00Z"},)J"
            R"J("spec":{"spi":1,"addresses":["10.0.0.1"],)J"
            R"J("bootID":"b6c5a4d3-e2f1-4a0b-9c8d-7e6f5a4b3c2d",)J"
            R"J("podCIDRS":["10.244.1.0/24"]}})J");
}

TEST(JsonCodecTest, ParsesKmeshNodeInfoList) {
  absl::StatusOr<KmeshNodeInfoList> list = ParseJson<KmeshNodeInfoList>(
      R"J({"apiVersion":"kmesh.net/v1alpha1","kind":"KmeshNodeInfoList",)J"
      R"J("metadata":{"continue":"","resourceVersion":"48300"},)J"
      R"J("items":[{"metadata":{"name":"node1"},"spec":{"spi":1}},)J"
      R"J({"metadata":{"name":"node2"},"spec":{"spi":2,"addresses":)J"
      R"J(["10.0.0.2","fd00::2"]}}]})J");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->metadata().resource_version(), "48300");
  ASSERT_EQ(list->items_size(), 2);
  EXPECT_EQ(list->items(1).metadata().name(), "node2");
  EXPECT_EQ(list->items(1).spec().spi(), 2);
  EXPECT_EQ(list->items(1).spec().addresses(1), "fd00::2");
}

// A kind worker as `kubectl get node -o json` shows it, abridged but with the
// fields we do not model left in.
constexpr char kNode[] = R"J({
  "apiVersion": "v1",
  "kind": "Node",
  "metadata": {
    "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                    "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock"},
    "creationTimestamp": "2024-10-10T07:00:00Z",
    "labels": {"kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
               "kubernetes.io/hostname": "kind-worker"},
    "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
    "name": "kind-worker",
    "resourceVersion": "1043",
    "uid": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
  },
  "spec": {
    "podCIDR": "10.244.1.0/24",
    "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"],
    "providerID": "kind://docker/kind/kind-worker"
  },
  "status": {
    "addresses": [
      {"address": "172.18.0.3", "type": "InternalIP"},
      {"address": "fc00:f853:ccd:e793::3", "type": "InternalIP"},
      {"address": "kind-worker", "type": "Hostname"}
    ],
    "allocatable": {"cpu": "2", "memory": "8Gi"},
    "conditions": [{"type": "Ready", "status": "True"}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
    "images": [{"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 321520}],
    "nodeInfo": {
      "architecture": "amd64",
      "bootID": "4e6f8a9b-0c1d-4e2f-8a3b-5c6d7e8f9a0b",
      "containerRuntimeVersion": "containerd://1.7.1",
      "kernelVersion": "6.1.0-13-amd64",
      "kubeProxyVersion": "v1.27.3",
      "kubeletVersion": "v1.27.3",
      "machineID": "5b9a1c2d3e4f40718293a4b5c6d7e8f9",
      "operatingSystem": "linux",
      "osImage": "Debian GNU/Linux 12 (bookworm)",
      "systemUUID": "7c1f2e3d-4b5a-4968-8776-655443322110"
    }
  }
})J";

TEST(JsonCodecTest, ParsesNodeBootIdAddressesAndPodCidrs) {
  absl::StatusOr<Node> node = ParseJson<Node>(kNode);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->status().node_info().boot_id(),
            "4e6f8a9b-0c1d-4e2f-8a3b-5c6d7e8f9a0b");
  ASSERT_EQ(node->status().addresses_size(), 3);
  EXPECT_EQ(node->status().addresses(0).type(), "InternalIP");
  EXPECT_EQ(node->status().addresses(0).address(), "172.18.0.3");
  EXPECT_EQ(node->status().addresses(1).address(), "fc00:f853:ccd:e793::3");
  EXPECT_EQ(node->status().addresses(2).type(), "Hostname");
  ASSERT_EQ(node->spec().pod_cidrs_size(), 2);
  EXPECT_EQ(node->spec().pod_cidrs(0), "10.244.1.0/24");
  EXPECT_EQ(node->spec().pod_cidrs(1), "fd00:10:244:1::/64");
  EXPECT_EQ(node->spec().pod_cidr(), "10.244.1.0/24");
  EXPECT_EQ(node->metadata().labels().at("kubernetes.io/hostname"),
            "kind-worker");
}

TEST(JsonCodecTest, WritesNodeWithSortedMapKeysAndNoUnknownFields) {
  absl::StatusOr<Node> node = ParseJson<Node>(kNode);
  ASSERT_TRUE(node.ok()) << node.status();
  // Map keys sorted as Go's encoding/json sorts them; unknown fields gone.
  EXPECT_EQ(
      ToJson(*node),
      R"J({"apiVersion":"v1","kind":"Node","metadata":{"name":"kind-worker",)J"
      R"J("uid":"0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a",)J"
      R"J("resourceVersion":"1043","creationTimestamp":"2024-10-10T07:00:00Z",)J"
      R"J("labels":{"beta.kubernetes.io/arch":"amd64",)J"
      R"J("kubernetes.io/hostname":"kind-worker","kubernetes.io/os":"linux"},)J"
      R"J("annotations":{"kubeadm.alpha.kubernetes.io/cri-socket":)J"
      R"J("unix:///run/containerd/containerd.sock",)J"
      R"J("node.alpha.kubernetes.io/ttl":"0"}},)J"
      R"J("spec":{"podCIDR":"10.244.1.0/24",)J"
      R"J("podCIDRs":["10.244.1.0/24","fd00:10:244:1::/64"],)J"
      R"J("providerID":"kind://docker/kind/kind-worker"},)J"
      R"J("status":{"addresses":[{"type":"InternalIP","address":"172.18.0.3"},)J"
      R"J({"type":"InternalIP","address":"fc00:f853:ccd:e793::3"},)J"
      R"J({"type":"Hostname","address":"kind-worker"}],)J"
      R"J("nodeInfo":{"machineID":"5b9a1c2d3e4f40718293a4b5c6d7e8f9",)J"
      R"J("systemUUID":"7c1f2e3d-4b5a-4968-8776-655443322110",)J"
      R"J("bootID":"4e6f8a9b-0c1d-4e2f-8a3b-5c6d7e8f9a0b",)J"
      R"J("kernelVersion":"6.1.0-13-amd64",)J"
      R"J("osImage":"Debian GNU/Linux 12 (bookworm)",)J"
      R"J("kubeletVersion":"v1.27.3"}}})J");
}

TEST(JsonCodecTest, MapKeysAreSortedWhateverTheInsertionOrder) {
  Namespace ns;
  auto& labels = *ns.mutable_metadata()->mutable_labels();
  for (const char* key : {"z", "b", "y", "a", "x", "c", "w", "d", "v", "e"}) {
    labels[key] = "1";
  }
  EXPECT_EQ(ToJson(ns),
            R"J({"metadata":{"labels":{"a":"1","b":"1","c":"1","d":"1",)J"
            R"J("e":"1","v":"1","w":"1","x":"1","y":"1","z":"1"}}})J");
}

constexpr char kPod[] = R"J({
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "generateName": "sleep-7b9f8c6d5-",
    "labels": {"app": "sleep", "istio.io/dataplane-mode": "Kmesh",
               "pod-template-hash": "7b9f8c6d5"},
    "name": "sleep-7b9f8c6d5-x2x9k",
    "namespace": "default",
    "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true,
                         "controller": true, "kind": "ReplicaSet",
                         "name": "sleep-7b9f8c6d5",
                         "uid": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}],
    "resourceVersion": "2210",
    "uid": "6d5c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a"
  },
  "spec": {
    "containers": [{"name": "sleep", "image": "curlimages/curl",
                    "command": ["/bin/sleep", "infinity"]}],
    "hostNetwork": false,
    "nodeName": "kind-worker",
    "volumes": [{"name": "kube-api-access", "projected": {"sources": []}}]
  },
  "status": {
    "conditions": [{"type": "Ready", "status": "True"}],
    "hostIP": "172.18.0.3",
    "hostIPs": [{"ip": "172.18.0.3"}],
    "phase": "Running",
    "podIP": "10.244.1.5",
    "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}],
    "qosClass": "BestEffort",
    "startTime": "2024-10-10T08:05:00Z"
  }
})J";

TEST(JsonCodecTest, ParsesPod) {
  absl::StatusOr<Pod> pod = ParseJson<Pod>(kPod);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->metadata().name(), "sleep-7b9f8c6d5-x2x9k");
  EXPECT_EQ(pod->metadata().namespace_(), "default");
  EXPECT_EQ(pod->metadata().labels().at("istio.io/dataplane-mode"), "Kmesh");
  ASSERT_EQ(pod->metadata().owner_references_size(), 1);
  EXPECT_EQ(pod->metadata().owner_references(0).kind(), "ReplicaSet");
  EXPECT_EQ(pod->spec().node_name(), "kind-worker");
  EXPECT_FALSE(pod->spec().host_network());
  EXPECT_EQ(pod->status().phase(), "Running");
  EXPECT_EQ(pod->status().host_ip(), "172.18.0.3");
  EXPECT_EQ(pod->status().pod_ip(), "10.244.1.5");
  ASSERT_EQ(pod->status().pod_ips_size(), 2);
  EXPECT_EQ(pod->status().pod_ips(1).ip(), "fd00:10:244:1::5");
  EXPECT_THAT(ToJson(*pod), HasSubstr(R"J("podIPs":[{"ip":"10.244.1.5"},)J"
                                      R"J({"ip":"fd00:10:244:1::5"}])J"));
}

TEST(JsonCodecTest, ParsesNamespaceLabels) {
  absl::StatusOr<Namespace> ns = ParseJson<Namespace>(R"J({
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
      "creationTimestamp": "2024-10-10T07:00:00Z",
      "labels": {"istio.io/dataplane-mode": "Kmesh",
                 "kubernetes.io/metadata.name": "default"},
      "managedFields": [{"manager": "kubectl-label", "operation": "Update"}],
      "name": "default",
      "resourceVersion": "3001",
      "uid": "3c2b1a0f-9e8d-4c7b-6a5f-4e3d2c1b0a9f"
    },
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": "Active"}
  })J");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ(ns->metadata().name(), "default");
  EXPECT_EQ(ns->metadata().labels().at("istio.io/dataplane-mode"), "Kmesh");
  EXPECT_EQ(
      ToJson(*ns),
      R"J({"apiVersion":"v1","kind":"Namespace","metadata":{)J"
      R"J("name":"default","uid":"3c2b1a0f-9e8d-4c7b-6a5f-4e3d2c1b0a9f",)J"
      R"J("resourceVersion":"3001",)J"
      R"J("creationTimestamp":"2024-10-10T07:00:00Z",)J"
      R"J("labels":{"istio.io/dataplane-mode":"Kmesh",)J"
      R"J("kubernetes.io/metadata.name":"default"}}})J");
}

// The body of the 409 the API server returns for a stale resourceVersion.
constexpr char kConflictStatus[] =
    R"J({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)J"
    R"J("message":"Operation cannot be fulfilled on secrets \"kmesh-ipsec\": )J"
    R"J(the object has been modified; please apply your changes to the )J"
    R"J(latest version and try again","reason":"Conflict",)J"
    R"J("details":{"name":"kmesh-ipsec","kind":"secrets"},"code":409})J";

TEST(JsonCodecTest, ParsesConflictStatus) {
  absl::StatusOr<Status> status = ParseJson<Status>(kConflictStatus);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status(), "Failure");
  EXPECT_EQ(status->reason(), "Conflict");
  EXPECT_EQ(status->code(), 409);
  EXPECT_EQ(status->details().name(), "kmesh-ipsec");
  EXPECT_EQ(status->details().kind(), "secrets");
  EXPECT_THAT(status->message(),
              HasSubstr("Operation cannot be fulfilled on secrets "
                        "\"kmesh-ipsec\": the object has been modified"));
  // Written back: same names, Go's escaping of the quotes in the message.
  EXPECT_EQ(ToJson(*status),
            R"J({"apiVersion":"v1","kind":"Status","metadata":{},)J"
            R"J("status":"Failure","message":"Operation cannot be fulfilled )J"
            R"J(on secrets \"kmesh-ipsec\": the object has been modified; )J"
            R"J(please apply your changes to the latest version and try )J"
            R"J(again","reason":"Conflict",)J"
            R"J("details":{"name":"kmesh-ipsec","kind":"secrets"},)J"
            R"J("code":409})J");
}

TEST(JsonCodecTest, ErrorsNameTheTypeAndProtobufsReason) {
  absl::Status status =
      ParseJson<Node>(R"J({"spec":{"unschedulable":"maybe"}})J").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("cannot parse kmesh.api.Node from JSON: "));
  status = ParseJson<KmeshNodeInfo>(R"J({"spec":{"spi":"one"}})J").status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("kmesh.api.KmeshNodeInfo"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("spi"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("TYPE_INT32"));
  status = ParseJson<Secret>("").status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("kmesh.api.Secret"));
  status = ParseJson<Secret>("[1,2]").status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("kmesh.api.Secret"));
}

TEST(JsonCodecTest, ErrorsDoNotQuoteTheInput) {
  // A bad base64 value: protobuf would quote it.
  absl::Status status =
      ParseJson<Secret>(R"J({"data":{"ipSec":"S3cr3t-Key!*"}})J").status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("S3cr3t")));
  EXPECT_THAT(std::string(status.message()), HasSubstr("TYPE_BYTES"));
  // A syntax error next to a key: protobuf would show the surrounding text.
  status =
      ParseJson<IpSecKey>(
          R"J({"aeadKey":"UNZ4/TzfXI42cWbMzPsXT6ro+fDMgsSHb4wkoNLDWop+B4Td" "length":128})J")
          .status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("UNZ4")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("B4Td")));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n")));
}

// The Secret (and its ipSec payload, the key file) nested deeper than
// kMaxJsonDepth is refused before protobuf's recursive parser sees it.
TEST(JsonCodecTest, DeeplyNestedJsonIsRefusedWithAClearError) {
  const std::string deep =
      std::string(1000000, '[') + std::string(1000000, ']');
  absl::StatusOr<Secret> secret =
      ParseJson<Secret>(R"({"metadata":{"name":"s"},"x":)" + deep + "}");
  ASSERT_FALSE(secret.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(secret.status()));
  EXPECT_THAT(secret.status().message(),
              HasSubstr("nested more than 100 levels deep"));
}

TEST(JsonCodecTest, ParseReplacesWhatTheMessageHeld) {
  IpSecKey key;
  key.set_length(64);
  key.set_aead_key_name("old");
  ASSERT_TRUE(ParseJsonInto(R"J({"spi":3})J", &key).ok());
  EXPECT_EQ(key.spi(), 3);
  EXPECT_EQ(key.length(), 0);
  EXPECT_EQ(key.aead_key_name(), "");
}

}  // namespace
}  // namespace kmesh::api
