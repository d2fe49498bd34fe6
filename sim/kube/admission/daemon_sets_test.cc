#include "sim/kube/admission/daemon_sets.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

json DaemonSet() {
  json ds = json::parse(R"({
    "metadata": {"name": "kmesh", "namespace": "kmesh-system"},
    "spec": {
      "selector": {"matchLabels": {"app": "kmesh"}},
      "template": {
        "metadata": {"labels": {"app": "kmesh", "tier": "node"}},
        "spec": {
          "containers": [{
            "name": "kmesh", "image": "kmesh-ipsec:dev",
            "env": [{"name": "NODE_NAME",
                     "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "volumeMounts": [{"name": "key", "mountPath": "/kmesh/kmesh-ipsec"}]
          }],
          "volumes": [{"name": "key", "secret": {"secretName": "kmesh-ipsec"}}]
        }
      }
    }
  })");
  DefaultDaemonSet(ds, nullptr);
  return ds;
}

TEST(DaemonSetAdmissionTest, AWellFormedDaemonSetIsValid) {
  EXPECT_THAT(ValidateDaemonSet(DaemonSet()), IsEmpty());
}

TEST(DaemonSetAdmissionTest, DefaultsAreTheApiServers) {
  json ds = DaemonSet();
  const json& pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Always");
  EXPECT_EQ(pod["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"], "RollingUpdate");
  EXPECT_EQ(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"], 1);
  EXPECT_EQ(ds["spec"]["revisionHistoryLimit"], 10);
  // A tagged image is pulled if not present; an untagged one always.
  EXPECT_EQ(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(
      pod["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
      "v1");
  EXPECT_EQ(pod["volumes"][0]["secret"]["defaultMode"], 420);
  EXPECT_EQ(ds["status"]["desiredNumberScheduled"], 0);

  json untagged = DaemonSet();
  untagged["spec"]["template"]["spec"]["containers"][0].erase(
      "imagePullPolicy");
  untagged["spec"]["template"]["spec"]["containers"][0]["image"] =
      "registry:5000/kmesh";
  DefaultDaemonSet(untagged, nullptr);
  EXPECT_EQ(
      untagged["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
      "Always");
}

// A well-formed DaemonSet with one mistake, and the field error the real
// server reports for it.
TEST(DaemonSetAdmissionTest, EachMistakeIsTheServersFieldError) {
  const std::string kSelectorMismatch =
      "spec.template.metadata.labels: Invalid value: "
      "map[string]string{\"app\":\"kmesh\", \"tier\":\"node\"}: "
      "`selector` does not match template `labels`";
  const struct {
    const char* mistake;
    std::function<void(json&)> make;
    std::string error;
  } cases[] = {
      {"a selector that does not match the template's labels",
       [](json& ds) { ds["spec"]["selector"]["matchLabels"]["app"] = "other"; },
       kSelectorMismatch},
      {"no selector, which selects nothing",
       [](json& ds) { ds["spec"].erase("selector"); }, kSelectorMismatch},
      {"an empty selector",
       [](json& ds) { ds["spec"]["selector"] = json::object(); },
       "spec.selector: Invalid value: "
       "v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
       ": empty selector is invalid for daemonset"},
      {"a volume mount that names no volume",
       [](json& ds) {
         ds["spec"]["template"]["spec"]["volumes"][0]["name"] = "other";
       },
       "spec.template.spec.containers[0].volumeMounts[0].name: Not found: "
       "\"key\""},
      {"a restart policy other than Always",
       [](json& ds) {
         ds["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure";
       },
       "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": "
       "supported values: \"Always\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mistake);
    json ds = DaemonSet();
    c.make(ds);
    EXPECT_THAT(ValidateDaemonSet(ds), ElementsAre(c.error));
  }
}

TEST(DaemonSetAdmissionTest, SelectorExpressionsAreMatchedAndChecked) {
  json ds = DaemonSet();
  ds["spec"]["selector"] = {
      {"matchExpressions",
       {{{"key", "tier"}, {"operator", "In"}, {"values", {"node", "edge"}}}}}};
  EXPECT_THAT(ValidateDaemonSet(ds), IsEmpty());
  ds["spec"]["selector"]["matchExpressions"][0]["operator"] = "Near";
  EXPECT_THAT(ValidateDaemonSet(ds),
              ElementsAre("spec.selector.matchExpressions[0].operator: Invalid "
                          "value: \"Near\": not a valid selector operator"));
}

TEST(DaemonSetAdmissionTest, ContainersNeedNamesAndImages) {
  json ds = DaemonSet();
  json& containers = ds["spec"]["template"]["spec"]["containers"];
  containers[0].erase("image");
  containers.push_back({{"image", "busybox"}});
  EXPECT_THAT(
      ValidateDaemonSet(ds),
      ElementsAre("spec.template.spec.containers[0].image: Required value",
                  "spec.template.spec.containers[1].name: Required value"));
  containers = json::array();
  EXPECT_THAT(ValidateDaemonSet(ds),
              ElementsAre("spec.template.spec.containers: Required value"));
}

TEST(DaemonSetAdmissionTest, SelectorIsImmutable) {
  json old = DaemonSet();
  json ds = DaemonSet();
  ds["spec"]["template"]["spec"]["containers"][0]["image"] = "kmesh-ipsec:v2";
  EXPECT_THAT(ValidateDaemonSetUpdate(ds, old), IsEmpty());
  ds["spec"]["selector"]["matchLabels"]["tier"] = "node";
  EXPECT_THAT(ValidateDaemonSetUpdate(ds, old),
              ElementsAre("spec.selector: Invalid value: "
                          "v1.LabelSelector{MatchLabels:map[string]string{"
                          "\"app\":\"kmesh\", \"tier\":\"node\"}, "
                          "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
                          ": field is immutable"));
}

TEST(DaemonSetAdmissionTest, StatusIsKeptAcrossUpdates) {
  json old = DaemonSet();
  old["status"]["numberReady"] = 2;
  json ds = DaemonSet();
  DefaultDaemonSet(ds, old);
  EXPECT_EQ(ds["status"]["numberReady"], 2);
}

}  // namespace
}  // namespace kmesh::sim::kube
