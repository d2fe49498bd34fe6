#include "sim/kube/apps_rbac_admission.h"

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

TEST(DaemonSetAdmissionTest, SelectorMustMatchTemplateLabels) {
  json ds = DaemonSet();
  ds["spec"]["selector"]["matchLabels"]["app"] = "other";
  EXPECT_THAT(
      ValidateDaemonSet(ds),
      ElementsAre("spec.template.metadata.labels: Invalid value: "
                  "map[string]string{\"app\":\"kmesh\", \"tier\":\"node\"}: "
                  "`selector` does not match template `labels`"));
}

TEST(DaemonSetAdmissionTest, MissingSelectorSelectsNothing) {
  json ds = DaemonSet();
  ds["spec"].erase("selector");
  EXPECT_THAT(
      ValidateDaemonSet(ds),
      ElementsAre("spec.template.metadata.labels: Invalid value: "
                  "map[string]string{\"app\":\"kmesh\", \"tier\":\"node\"}: "
                  "`selector` does not match template `labels`"));
}

TEST(DaemonSetAdmissionTest, EmptySelectorIsInvalid) {
  json ds = DaemonSet();
  ds["spec"]["selector"] = json::object();
  EXPECT_THAT(
      ValidateDaemonSet(ds),
      ElementsAre("spec.selector: Invalid value: "
                  "v1.LabelSelector{MatchLabels:map[string]string(nil), "
                  "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
                  ": empty selector is invalid for daemonset"));
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

TEST(DaemonSetAdmissionTest, VolumeMountsMustNameAVolume) {
  json ds = DaemonSet();
  ds["spec"]["template"]["spec"]["volumes"][0]["name"] = "other";
  EXPECT_THAT(ValidateDaemonSet(ds),
              ElementsAre("spec.template.spec.containers[0].volumeMounts[0]."
                          "name: Not found: \"key\""));
}

TEST(DaemonSetAdmissionTest, RestartPolicyMustBeAlways) {
  json ds = DaemonSet();
  ds["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure";
  EXPECT_THAT(
      ValidateDaemonSet(ds),
      ElementsAre("spec.template.spec.restartPolicy: Unsupported "
                  "value: \"OnFailure\": supported values: \"Always\""));
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

TEST(RbacAdmissionTest, RulesNeedVerbsGroupsAndResources) {
  json role = {
      {"rules",
       {{{"apiGroups", {""}}, {"resources", {"pods"}}}, {{"verbs", {"get"}}}}}};
  EXPECT_THAT(
      ValidateRole(role, /*namespaced=*/true),
      ElementsAre(
          "rules[0].verbs: Required value: verbs must contain at least one "
          "value",
          "rules[1].apiGroups: Required value: resource rules must supply at "
          "least one api group",
          "rules[1].resources: Required value: resource rules must supply at "
          "least one resource"));
}

TEST(RbacAdmissionTest, OnlyClusterRolesMayNameNonResourceUrls) {
  json role = {{"rules", {{{"verbs", {"get"}}, {"nonResourceURLs", {"/x"}}}}}};
  EXPECT_THAT(ValidateRole(role, /*namespaced=*/false), IsEmpty());
  EXPECT_THAT(ValidateRole(role, /*namespaced=*/true),
              ElementsAre("rules[0].nonResourceURLs: Invalid value: "
                          "[]string{\"/x\"}: namespaced rules cannot apply to "
                          "non-resource URLs"));
}

json ClusterRoleBinding() {
  json binding = {
      {"roleRef", {{"kind", "ClusterRole"}, {"name", "kmesh-ipsec"}}},
      {"subjects",
       {{{"kind", "ServiceAccount"},
         {"name", "kmesh"},
         {"namespace", "kmesh-system"}},
        {{"kind", "User"}, {"name", "alice"}}}}};
  DefaultRoleBinding(binding);
  return binding;
}

TEST(RbacAdmissionTest, BindingsAreDefaultedThenValid) {
  json binding = ClusterRoleBinding();
  EXPECT_EQ(binding["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ(binding["subjects"][1]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_FALSE(binding["subjects"][0].contains("apiGroup"));
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/false), IsEmpty());
}

TEST(RbacAdmissionTest, ClusterRoleBindingsBindClusterRolesOnly) {
  json binding = ClusterRoleBinding();
  binding["roleRef"]["kind"] = "Role";
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/false),
              ElementsAre("roleRef.kind: Unsupported value: \"Role\": "
                          "supported values: \"ClusterRole\""));
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/true), IsEmpty());
}

TEST(RbacAdmissionTest, ServiceAccountSubjectsOfClusterBindingsNeedNamespace) {
  json binding = ClusterRoleBinding();
  binding["subjects"][0].erase("namespace");
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/false),
              ElementsAre("subjects[0].namespace: Required value"));
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/true), IsEmpty());
  binding["subjects"][0]["kind"] = "Robot";
  EXPECT_THAT(ValidateRoleBinding(binding, /*namespaced=*/true),
              ElementsAre("subjects[0].kind: Unsupported value: \"Robot\": "
                          "supported values: \"ServiceAccount\", \"User\", "
                          "\"Group\""));
}

TEST(RbacAdmissionTest, RoleRefCannotChange) {
  json old = ClusterRoleBinding();
  json binding = ClusterRoleBinding();
  binding["subjects"].erase(1);
  EXPECT_THAT(ValidateRoleBindingUpdate(binding, old), IsEmpty());
  binding["roleRef"]["name"] = "cluster-admin";
  EXPECT_THAT(
      ValidateRoleBindingUpdate(binding, old),
      ElementsAre("roleRef: Invalid value: "
                  "rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", "
                  "Kind:\"ClusterRole\", Name:\"cluster-admin\"}: "
                  "cannot change roleRef"));
}

TEST(RbacAdmissionTest, NamesArePathSegments) {
  EXPECT_EQ(RbacNameError("system:kube-proxy"), "");
  EXPECT_EQ(RbacNameError("a/b"), "may not contain '/'");
  EXPECT_EQ(RbacNameError(".."), "may not be '..'");
}

}  // namespace
}  // namespace kmesh::sim::kube
