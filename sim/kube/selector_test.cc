#include "sim/kube/selector.h"

#include "gtest/gtest.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

bool LabelsMatch(const std::string& selector, const json& labels) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
  return parsed.ok() && parsed->Matches(labels);
}

TEST(LabelSelectorTest, EmptySelectorMatchesEverything) {
  EXPECT_TRUE(LabelsMatch("", json()));
  EXPECT_TRUE(LabelsMatch("  ", {{"a", "b"}}));
}

TEST(LabelSelectorTest, EqualityAndInequality) {
  json labels = {{"istio.io/dataplane-mode", "Kmesh"}, {"app", "web"}};
  EXPECT_TRUE(LabelsMatch("istio.io/dataplane-mode=Kmesh", labels));
  EXPECT_TRUE(LabelsMatch("app==web", labels));
  EXPECT_FALSE(LabelsMatch("app=db", labels));
  EXPECT_TRUE(LabelsMatch("app!=db", labels));
  EXPECT_FALSE(LabelsMatch("app!=web", labels));
  // != also matches objects without the label, as in Kubernetes.
  EXPECT_TRUE(LabelsMatch("tier!=db", labels));
  EXPECT_TRUE(LabelsMatch("app=web, istio.io/dataplane-mode=Kmesh", labels));
  EXPECT_FALSE(LabelsMatch("app=web,istio.io/dataplane-mode=none", labels));
}

TEST(LabelSelectorTest, ExistenceAndAbsence) {
  json labels = {{"app", "web"}};
  EXPECT_TRUE(LabelsMatch("app", labels));
  EXPECT_FALSE(LabelsMatch("tier", labels));
  EXPECT_TRUE(LabelsMatch("!tier", labels));
  EXPECT_FALSE(LabelsMatch("!app", labels));
  EXPECT_FALSE(LabelsMatch("app", json()));
}

TEST(LabelSelectorTest, SetMembership) {
  json labels = {{"env", "prod"}};
  EXPECT_TRUE(LabelsMatch("env in (prod,staging)", labels));
  EXPECT_TRUE(LabelsMatch("env in ( dev , prod )", labels));
  EXPECT_FALSE(LabelsMatch("env in (dev)", labels));
  EXPECT_TRUE(LabelsMatch("env notin (dev,test)", labels));
  EXPECT_FALSE(LabelsMatch("env notin (prod)", labels));
  EXPECT_TRUE(LabelsMatch("tier notin (db)", labels));
  EXPECT_TRUE(LabelsMatch("env in (prod),!tier", labels));
}

TEST(LabelSelectorTest, NumericComparison) {
  EXPECT_TRUE(LabelsMatch("replicas>2", {{"replicas", "3"}}));
  EXPECT_FALSE(LabelsMatch("replicas<2", {{"replicas", "3"}}));
}

TEST(LabelSelectorTest, RejectsMalformedSelectors) {
  for (const char* bad : {"a=b,", ",a", "a b", "a in x", "a in (x", "a in ()",
                          "=b", "a=b=c", "bad key=x", "a=has space", "-a=b",
                          "a="
                          "x/y",
                          "a>b", "!"}) {
    EXPECT_FALSE(LabelSelector::Parse(bad).ok()) << bad;
  }
}

TEST(FieldSelectorTest, MatchesAllowedFields) {
  json pod = {{"metadata", {{"name", "p1"}, {"namespace", "default"}}},
              {"spec", {{"nodeName", "node1"}}}};
  std::vector<std::string> allowed = {"metadata.name", "spec.nodeName"};
  auto by_node = FieldSelector::Parse("spec.nodeName=node1", allowed);
  ASSERT_TRUE(by_node.ok());
  EXPECT_TRUE(by_node->Matches(pod));
  auto other_node = FieldSelector::Parse("spec.nodeName==node2", allowed);
  ASSERT_TRUE(other_node.ok());
  EXPECT_FALSE(other_node->Matches(pod));
  auto not_p1 = FieldSelector::Parse("metadata.name!=p1", allowed);
  ASSERT_TRUE(not_p1.ok());
  EXPECT_FALSE(not_p1->Matches(pod));
}

TEST(FieldSelectorTest, RejectsUnknownFieldsAndSyntax) {
  EXPECT_FALSE(FieldSelector::Parse("spec.x=1", {"metadata.name"}).ok());
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", {"metadata.name"}).ok());
}

}  // namespace
}  // namespace kmesh::sim::kube
