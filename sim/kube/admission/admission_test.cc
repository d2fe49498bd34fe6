#include "sim/kube/admission/admission.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

const nlohmann::json* NoCrd(const std::string&) { return nullptr; }

class AdmissionTest : public ::testing::Test {
 protected:
  const ResourceType& Type(const std::string& group, const std::string& plural,
                           const std::string& version = "v1") {
    const ResourceType* type = types_.Find(group, version, plural);
    EXPECT_NE(type, nullptr) << plural;
    return *type;
  }

  // What admission answers for `object` sent to `type` in `ns`.
  absl::Status AdmitIn(const ResourceType& type, const std::string& ns,
                       json object) {
    return Admit(type, ns, object, NoCrd);
  }

  static json Named(const std::string& name) {
    return {{"metadata", {{"name", name}}}};
  }

  ResourceTypeRegistry types_;
};

TEST_F(AdmissionTest, EveryObjectGetsKindApiVersionAndTheRequestsNamespace) {
  json config_map = Named("c");
  ASSERT_TRUE(Admit(Type("", "configmaps"), "default", config_map, NoCrd).ok());
  EXPECT_EQ(config_map["kind"], "ConfigMap");
  EXPECT_EQ(config_map["apiVersion"], "v1");
  EXPECT_EQ(config_map["metadata"]["namespace"], "default");

  json wrong_kind = Named("c");
  wrong_kind["kind"] = "Secret";
  EXPECT_EQ(HttpCode(AdmitIn(Type("", "configmaps"), "default", wrong_kind)),
            400);
  json other_namespace = Named("c");
  other_namespace["metadata"]["namespace"] = "kube-system";
  EXPECT_EQ(
      HttpCode(AdmitIn(Type("", "configmaps"), "default", other_namespace)),
      400);
  EXPECT_EQ(HttpCode(AdmitIn(Type("", "configmaps"), "default", json::array())),
            400);
}

TEST_F(AdmissionTest, EachKindChecksNamesByItsOwnRule) {
  const struct {
    const char* group;
    const char* plural;
    const char* name;
    bool valid;
  } cases[] = {
      {"", "configmaps", "a.b", true},           // A DNS-1123 subdomain.
      {"", "configmaps", "system:x", false},     //
      {"", "namespaces", "a.b", false},          // A DNS-1123 label.
      {"", "namespaces", "kmesh-system", true},  //
      {kRbacGroup, "clusterroles", "system:kube-proxy", true},  // A path
      {kRbacGroup, "clusterroles", "a/b", false},               // segment.
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.plural) + " " + c.name);
    json object = Named(c.name);
    const absl::Status admitted = AdmitIn(Type(c.group, c.plural), "", object);
    if (c.valid) {
      EXPECT_TRUE(admitted.ok()) << admitted;
    } else {
      EXPECT_EQ(HttpCode(admitted), 422) << admitted;
    }
  }
}

TEST_F(AdmissionTest, KindsWithRulesOfTheirOwnApplyThem) {
  json secret = Named("s");
  secret["stringData"] = {{"k", "v"}};
  ASSERT_TRUE(Admit(Type("", "secrets"), "default", secret, NoCrd).ok());
  EXPECT_EQ(secret["data"]["k"], "dg==");
  EXPECT_EQ(secret["type"], "Opaque");

  json ns = Named("team");
  ASSERT_TRUE(Admit(Type("", "namespaces"), "", ns, NoCrd).ok());
  EXPECT_EQ(ns["status"]["phase"], "Active");

  // A binding without a roleRef is refused; a ConfigMap has no such rule.
  EXPECT_EQ(HttpCode(AdmitIn(Type(kRbacGroup, "rolebindings"), "default",
                             Named("b"))),
            422);
  EXPECT_TRUE(AdmitIn(Type("", "configmaps"), "default", Named("b")).ok());
}

TEST_F(AdmissionTest, ACustomResourceFollowsItsCrdsSchema) {
  const json crd = {
      {"spec",
       {{"versions",
         json::array(
             {{{"name", "v1alpha1"},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"},
                   {"properties",
                    {{"spec",
                      {{"type", "object"},
                       {"properties",
                        {{"spi", {{"type", "integer"}}}}}}}}}}}}}}})}}}};
  std::vector<std::string> asked;
  auto find_crd = [&](const std::string& name) -> const json* {
    asked.push_back(name);
    return &crd;
  };
  const ResourceType& infos = Type("kmesh.net", "kmeshnodeinfos", "v1alpha1");
  json info = Named("node1");
  info["spec"] = {{"spi", 1}, {"unknown", true}};
  ASSERT_TRUE(Admit(infos, "kmesh-system", info, find_crd).ok());
  EXPECT_FALSE(info["spec"].contains("unknown"));  // Pruned.
  json wrong = Named("node1");
  wrong["spec"] = {{"spi", "one"}};
  EXPECT_EQ(HttpCode(Admit(infos, "kmesh-system", wrong, find_crd)), 422);
  EXPECT_EQ(asked, (std::vector<std::string>{"kmeshnodeinfos.kmesh.net",
                                             "kmeshnodeinfos.kmesh.net"}));
  // Core types are never custom resources.
  json secret = Named("s");
  ASSERT_TRUE(Admit(Type("", "secrets"), "default", secret, find_crd).ok());
  EXPECT_EQ(asked.size(), 2u);
}

// maxItems (the KmeshNodeInfo CRD bounds addresses and podCIDRS) is
// enforced with the real server's wording.
TEST_F(AdmissionTest, ACustomResourceArrayLongerThanMaxItemsIsInvalid) {
  const json crd = json::parse(R"({"spec": {"versions": [{
      "name": "v1alpha1",
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {
          "type": "object",
          "properties": {"podCIDRS": {
            "type": "array", "maxItems": 2, "items": {"type": "string"}}}}}}}}]}})");
  auto find_crd = [&](const std::string&) -> const json* { return &crd; };
  const ResourceType& infos = Type("kmesh.net", "kmeshnodeinfos", "v1alpha1");
  json two = Named("node1");
  two["spec"] = {{"podCIDRS", {"10.244.1.0/24", "fd00:244:1::/64"}}};
  EXPECT_TRUE(Admit(infos, "kmesh-system", two, find_crd).ok());
  json three = Named("node1");
  three["spec"] = {
      {"podCIDRS", {"10.244.1.0/24", "fd00:244:1::/64", "10.244.2.0/24"}}};
  const absl::Status status = Admit(infos, "kmesh-system", three, find_crd);
  EXPECT_EQ(HttpCode(status), 422);
  EXPECT_NE(status.message().find(
                "spec.podCIDRS: Too many: 3: must have at most 2 items"),
            std::string::npos)
      << status;
}

TEST_F(AdmissionTest, OnlySomeKindsHaveUpdateRules) {
  json binding = {
      {"roleRef",
       {{"apiGroup", kRbacGroup}, {"kind", "ClusterRole"}, {"name", "view"}}}};
  json changed = binding;
  changed["roleRef"]["name"] = "edit";
  EXPECT_TRUE(
      AdmitUpdate(Type(kRbacGroup, "rolebindings"), "b", binding, binding)
          .ok());
  EXPECT_EQ(HttpCode(AdmitUpdate(Type(kRbacGroup, "rolebindings"), "b", changed,
                                 binding)),
            422);
  json config_map = Named("c");
  EXPECT_TRUE(
      AdmitUpdate(Type("", "configmaps"), "c", config_map, Named("d")).ok());
}

}  // namespace
}  // namespace kmesh::sim::kube
