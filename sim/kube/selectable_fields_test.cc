#include "sim/kube/selectable_fields.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "sim/kube/resource_types.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

ResourceType Builtin(const std::string& plural) {
  for (const ResourceType& type : BuiltinResourceTypes()) {
    if (type.plural == plural) return type;
  }
  ADD_FAILURE() << plural;
  return {};
}

TEST(SelectableFieldsTest, PodLabelsAreTheConversionFuncs) {
  const ResourceType pods = Builtin("pods");
  for (const char* label :
       {"metadata.name", "metadata.namespace", "spec.nodeName",
        "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
        "status.nominatedNodeName"}) {
    absl::StatusOr<std::string> converted = ConvertFieldLabel(pods, label);
    ASSERT_TRUE(converted.ok()) << label;
    EXPECT_EQ(*converted, label);
  }
  EXPECT_EQ(*ConvertFieldLabel(pods, "spec.host"), "spec.nodeName");
  EXPECT_EQ(ConvertFieldLabel(pods, "spec.priority").status().message(),
            "field label not supported: spec.priority");
}

TEST(SelectableFieldsTest, NodesNamespacesSecretsAndOthers) {
  EXPECT_TRUE(ConvertFieldLabel(Builtin("nodes"), "spec.unschedulable").ok());
  // Node's conversion func has no metadata.namespace.
  EXPECT_EQ(ConvertFieldLabel(Builtin("nodes"), "metadata.namespace")
                .status()
                .message(),
            "field label not supported: metadata.namespace");
  EXPECT_TRUE(ConvertFieldLabel(Builtin("namespaces"), "status.phase").ok());
  EXPECT_FALSE(
      ConvertFieldLabel(Builtin("namespaces"), "metadata.namespace").ok());
  EXPECT_TRUE(ConvertFieldLabel(Builtin("secrets"), "type").ok());
  // Types without a conversion func get the default one's error.
  EXPECT_EQ(
      ConvertFieldLabel(Builtin("configmaps"), "data.x").status().message(),
      "\"data.x\" is not a known field selector: only \"metadata.name\", "
      "\"metadata.namespace\"");
  // KmeshNodeInfo is a custom resource: the CR converter.
  EXPECT_EQ(ConvertFieldLabel(Builtin("kmeshnodeinfos"), "spec.spi")
                .status()
                .message(),
            "field label not supported: spec.spi");
}

TEST(SelectableFieldsTest, CrdSelectableFields) {
  const json crd = {
      {"spec",
       {{"group", "example.com"},
        {"scope", "Cluster"},
        {"names", {{"plural", "widgets"}, {"kind", "Widget"}}},
        {"versions",
         {{{"name", "v1"},
           {"served", true},
           {"selectableFields", {{{"jsonPath", ".spec.color"}}}}}}}}}};
  std::vector<ResourceType> types = ResourceTypesServedBy(crd);
  ASSERT_EQ(types.size(), 1u);
  EXPECT_TRUE(ConvertFieldLabel(types[0], "spec.color").ok());
  // Cluster-scoped custom resources have no metadata.namespace.
  EXPECT_FALSE(ConvertFieldLabel(types[0], "metadata.namespace").ok());
  EXPECT_EQ(SelectableFieldValue(types[0], {{"spec", {{"color", "red"}}}},
                                 "spec.color"),
            "red");
}

TEST(SelectableFieldsTest, ValuesAsToSelectableFields) {
  const ResourceType pods = Builtin("pods");
  const json pod = {
      {"metadata", {{"name", "p"}, {"namespace", "ns"}}},
      {"spec", {{"nodeName", "n1"}}},
      {"status", {{"podIP", "10.0.0.1"}, {"podIPs", {{{"ip", "10.0.0.2"}}}}}}};
  EXPECT_EQ(SelectableFieldValue(pods, pod, "spec.nodeName"), "n1");
  EXPECT_EQ(SelectableFieldValue(pods, pod, "spec.hostNetwork"), "false");
  EXPECT_EQ(SelectableFieldValue(pods, pod, "status.podIP"), "10.0.0.2");
  EXPECT_EQ(SelectableFieldValue(pods, pod, "status.podIPs"), "");
  EXPECT_EQ(SelectableFieldValue(Builtin("nodes"), json::object(),
                                 "spec.unschedulable"),
            "false");
  EXPECT_EQ(SelectableFieldValue(Builtin("nodes"),
                                 {{"spec", {{"unschedulable", true}}}},
                                 "spec.unschedulable"),
            "true");
}

TEST(SelectableFieldsTest, SelectorSyntaxAsFieldsParseSelector) {
  const ResourceType pods = Builtin("pods");
  const json pod = {{"metadata", {{"name", "a,b"}, {"namespace", "ns"}}},
                    {"spec", {{"nodeName", "n1"}}}};
  absl::StatusOr<FieldSelector> escaped =
      ParseFieldSelector(pods, "metadata.name=a\\,b,spec.host=n1");
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_TRUE(escaped->Matches(pod));
  EXPECT_FALSE(ParseFieldSelector(pods, "spec.nodeName!=n1")->Matches(pod));
  EXPECT_TRUE(ParseFieldSelector(pods, "")->Matches(pod));
  EXPECT_EQ(ParseFieldSelector(pods, "spec.nodeName").status().message(),
            "invalid selector: 'spec.nodeName'; can't understand "
            "'spec.nodeName'");
  EXPECT_EQ(ParseFieldSelector(pods, "spec.nodeName=a\\x").status().message(),
            "invalid field selector: invalid escape sequence: \\x");
  // No trimming: " spec.nodeName" is not a label.
  EXPECT_EQ(ParseFieldSelector(pods, "a=b, spec.nodeName=x").status().message(),
            "field label not supported: a");
}

}  // namespace
}  // namespace kmesh::sim::kube
