#include "sim/kube/selector.h"

#include <initializer_list>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

bool LabelsMatch(const std::string& selector, const json& labels) {
  absl::StatusOr<LabelSelector> parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
  return parsed.ok() && parsed->Matches(labels);
}

// Each selector of `cases` against `labels`: whether it matches.
void ExpectMatches(const json& labels,
                   std::initializer_list<std::pair<const char*, bool>> cases) {
  for (const auto& [selector, matches] : cases) {
    EXPECT_EQ(LabelsMatch(selector, labels), matches)
        << "\"" << selector << "\" on " << labels.dump();
  }
}

TEST(LabelSelectorTest, EmptySelectorMatchesEverything) {
  ExpectMatches(json(), {{"", true}});
  ExpectMatches({{"a", "b"}}, {{"  ", true}});
}

TEST(LabelSelectorTest, EqualityAndInequality) {
  ExpectMatches({{"istio.io/dataplane-mode", "Kmesh"}, {"app", "web"}},
                {{"istio.io/dataplane-mode=Kmesh", true},
                 {"app==web", true},
                 {"app=db", false},
                 {"app!=db", true},
                 {"app!=web", false},
                 // != also matches objects without the label, as in
                 // Kubernetes.
                 {"tier!=db", true},
                 {"app=web, istio.io/dataplane-mode=Kmesh", true},
                 {"app=web,istio.io/dataplane-mode=none", false}});
}

TEST(LabelSelectorTest, ExistenceAndAbsence) {
  ExpectMatches(
      {{"app", "web"}},
      {{"app", true}, {"tier", false}, {"!tier", true}, {"!app", false}});
  ExpectMatches(json(), {{"app", false}});
}

TEST(LabelSelectorTest, SetMembership) {
  ExpectMatches({{"env", "prod"}}, {{"env in (prod,staging)", true},
                                    {"env in ( dev , prod )", true},
                                    {"env in (dev)", false},
                                    {"env notin (dev,test)", true},
                                    {"env notin (prod)", false},
                                    {"tier notin (db)", true},
                                    {"env in (prod),!tier", true}});
}

TEST(LabelSelectorTest, NumericComparison) {
  ExpectMatches({{"replicas", "3"}},
                {{"replicas>2", true}, {"replicas<2", false}});
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
  const json pod = {{"metadata", {{"name", "p1"}, {"namespace", "default"}}},
                    {"spec", {{"nodeName", "node1"}}}};
  const std::vector<std::string> allowed = {"metadata.name", "spec.nodeName"};
  for (const auto& [selector, matches] :
       std::vector<std::pair<const char*, bool>>{
           {"spec.nodeName=node1", true},
           {"spec.nodeName==node2", false},
           {"metadata.name!=p1", false}}) {
    absl::StatusOr<FieldSelector> parsed =
        FieldSelector::Parse(selector, allowed);
    ASSERT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
    EXPECT_EQ(parsed->Matches(pod), matches) << selector;
  }
}

TEST(FieldSelectorTest, RejectsUnknownFieldsAndSyntax) {
  EXPECT_FALSE(FieldSelector::Parse("spec.x=1", {"metadata.name"}).ok());
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", {"metadata.name"}).ok());
}

}  // namespace
}  // namespace kmesh::sim::kube
