#include "sim/kube/patch.h"

#include "gtest/gtest.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

const json kNamespace = {
    {"metadata",
     {{"name", "default"},
      {"labels", {{"kubernetes.io/metadata.name", "default"}, {"old", "x"}}}}},
    {"spec", {{"finalizers", {"kubernetes"}}}}};

TEST(PatchTest, MergePatchAddsReplacesAndRemoves) {
  auto patched = ApplyPatch(
      kNamespace, "application/merge-patch+json",
      R"({"metadata":{"labels":{"istio.io/dataplane-mode":"Kmesh","old":null}}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  const json& labels = (*patched)["metadata"]["labels"];
  EXPECT_EQ(labels["istio.io/dataplane-mode"], "Kmesh");
  EXPECT_EQ(labels["kubernetes.io/metadata.name"], "default");
  EXPECT_FALSE(labels.contains("old"));
  EXPECT_EQ((*patched)["metadata"]["name"], "default");
}

TEST(PatchTest, MergePatchReplacesArraysWhole) {
  auto patched = ApplyPatch(kNamespace, "application/merge-patch+json",
                            R"({"spec":{"finalizers":["a","b"]}})");
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["spec"]["finalizers"], json({"a", "b"}));
}

TEST(PatchTest, StrategicMergeHonoursDirectives) {
  auto patched = ApplyPatch(
      kNamespace, "application/strategic-merge-patch+json; charset=utf-8",
      R"({"metadata":{"labels":{"$patch":"replace","only":"this"}},
          "$setElementOrder/x":[1],
          "spec":{"$deleteFromPrimitiveList/finalizers":["kubernetes"]}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["metadata"]["labels"], json({{"only", "this"}}));
  EXPECT_EQ((*patched)["spec"]["finalizers"], json::array());
  EXPECT_FALSE(patched->contains("$setElementOrder/x"));
}

TEST(PatchTest, JsonPatchOperations) {
  auto patched =
      ApplyPatch(kNamespace, "application/json-patch+json",
                 R"([{"op":"add","path":"/metadata/labels/new","value":"y"},
          {"op":"remove","path":"/metadata/labels/old"}])");
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["metadata"]["labels"]["new"], "y");
  EXPECT_FALSE((*patched)["metadata"]["labels"].contains("old"));
  auto failed =
      ApplyPatch(kNamespace, "application/json-patch+json",
                 R"([{"op":"test","path":"/metadata/name","value":"x"}])");
  EXPECT_EQ(HttpCode(failed.status()), 422);
}

TEST(PatchTest, RejectsUnsupportedAndMalformedPatches) {
  EXPECT_EQ(HttpCode(ApplyPatch(kNamespace, "application/apply-patch+yaml",
                                "metadata: {}")
                         .status()),
            415);
  EXPECT_EQ(HttpCode(ApplyPatch(kNamespace, "application/json", "{}").status()),
            415);
  EXPECT_EQ(HttpCode(ApplyPatch(kNamespace, "application/merge-patch+json",
                                "{not json")
                         .status()),
            400);
  EXPECT_EQ(
      HttpCode(ApplyPatch(kNamespace, "application/merge-patch+json", "[1]")
                   .status()),
      400);
}

TEST(PatchTest, StrategicMergeMergesContainersByName) {
  const json daemon_set = json::parse(R"({"spec":{"template":{"spec":{
      "containers":[{"name":"a","image":"a:1","args":["x"],
                     "env":[{"name":"E","value":"1"}]},
                    {"name":"b","image":"b:1"}]}}}})");
  // What kubectl apply sends when a's args change and c is added.
  auto patched =
      ApplyPatch(daemon_set, "application/strategic-merge-patch+json",
                 R"({"spec":{"template":{"spec":{
          "$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],
          "containers":[{"name":"a","args":["y"]},{"name":"c","image":"c:1"}]}}}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  const json& containers = (*patched)["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 3u);
  EXPECT_EQ(containers[0]["name"], "c");
  EXPECT_EQ(containers[1]["name"], "a");
  EXPECT_EQ(containers[1]["image"], "a:1");       // Kept: not in the patch.
  EXPECT_EQ(containers[1]["args"], json({"y"}));  // Other lists: replaced.
  EXPECT_EQ(containers[1]["env"][0]["value"], "1");
  EXPECT_EQ(containers[2]["name"], "b");

  auto deleted = ApplyPatch(*patched, "application/strategic-merge-patch+json",
                            R"({"spec":{"template":{"spec":{
          "containers":[{"name":"b","$patch":"delete"}]}}}})");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ((*deleted)["spec"]["template"]["spec"]["containers"].size(), 2u);
}

}  // namespace
}  // namespace kmesh::sim::kube
