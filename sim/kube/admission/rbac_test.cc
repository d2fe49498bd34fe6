#include "sim/kube/admission/rbac.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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
