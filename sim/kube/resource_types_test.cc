#include "sim/kube/resource_types.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

json WidgetCrd() {
  return {{"spec",
           {{"group", "example.com"},
            {"scope", "Cluster"},
            {"names", {{"plural", "widgets"}, {"kind", "Widget"}}},
            {"versions", json::array({{{"name", "v1"}, {"served", true}},
                                      {{"name", "v2"}, {"served", false}}})}}}};
}

TEST(ResourceTypeTest, NamesFollowTheApi) {
  ResourceTypeRegistry registry;
  const ResourceType* secrets = registry.Find("", "v1", "secrets");
  ASSERT_NE(secrets, nullptr);
  EXPECT_EQ(secrets->ApiVersion(), "v1");
  EXPECT_EQ(secrets->DisplayName(), "secrets");
  EXPECT_EQ(secrets->Key(), "/v1/secrets");
  const ResourceType* infos =
      registry.Find("kmesh.net", "v1alpha1", "kmeshnodeinfos");
  ASSERT_NE(infos, nullptr);
  EXPECT_EQ(infos->ApiVersion(), "kmesh.net/v1alpha1");
  EXPECT_EQ(infos->DisplayName(), "kmeshnodeinfos.kmesh.net");
  EXPECT_EQ(infos->Key(), "kmesh.net/v1alpha1/kmeshnodeinfos");
}

TEST(ResourceTypeTest, ACrdServesOneTypePerServedVersion) {
  std::vector<ResourceType> types = ResourceTypesServedBy(WidgetCrd());
  ASSERT_EQ(types.size(), 1u);
  EXPECT_EQ(types[0].Key(), "example.com/v1/widgets");
  EXPECT_EQ(types[0].kind, "Widget");
  EXPECT_EQ(types[0].singular, "widget");  // The kind, in lower case.
  EXPECT_FALSE(types[0].namespaced);
}

TEST(ResourceTypeRegistryTest, AddsNewTypesButNeverReplacesOne) {
  ResourceTypeRegistry registry;
  EXPECT_EQ(registry.Find("example.com/v1/widgets"), nullptr);
  for (const ResourceType& type : ResourceTypesServedBy(WidgetCrd())) {
    registry.Add(type);
  }
  EXPECT_NE(registry.Find("example.com/v1/widgets"), nullptr);
  const ResourceType* secrets = registry.Find("/v1/secrets");
  ResourceType impostor = *secrets;
  impostor.kind = "NotASecret";
  registry.Add(impostor);
  EXPECT_EQ(registry.Find("/v1/secrets"), secrets);
  EXPECT_EQ(secrets->kind, "Secret");
  EXPECT_EQ(registry.All().size(), BuiltinResourceTypes().size() + 1);
}

}  // namespace
}  // namespace kmesh::sim::kube
