#include "sim/kube/object_store.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "sim/kube/api_error.h"
#include "sim/kube/testing/kube_objects.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

class ObjectStoreTest : public ::testing::Test {
 protected:
  ObjectStoreTest() : store_(MakeOptions(1000)) {
    EXPECT_TRUE(
        store_.Create(Namespaces(), "", NamespaceObject("kmesh-system")).ok());
  }

  static ObjectStore::Options MakeOptions(size_t history) {
    ObjectStore::Options options;
    options.history_limit = history;
    options.now = [] {
      return std::chrono::system_clock::from_time_t(
          1795683600);  // 2026-11-26T09:00:00Z
    };
    return options;
  }

  const ResourceType& Type(const std::string& group, const std::string& version,
                           const std::string& plural) {
    const ResourceType* type = store_.FindType(group, version, plural);
    EXPECT_NE(type, nullptr) << plural;
    return *type;
  }
  const ResourceType& Secrets() { return Type("", "v1", "secrets"); }
  const ResourceType& Namespaces() { return Type("", "v1", "namespaces"); }
  const ResourceType& Nodes() { return Type("", "v1", "nodes"); }
  const ResourceType& NodeInfos() {
    return Type("kmesh.net", "v1alpha1", "kmeshnodeinfos");
  }

  static json SecretObject(const std::string& name, json labels = json()) {
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}}},
                   {"data", {{"ipSec", "e30="}}}};
    if (!labels.is_null()) secret["metadata"]["labels"] = labels;
    return secret;
  }
  static uint64_t VersionOf(const json& object) {
    uint64_t version = 0;
    EXPECT_TRUE(absl::SimpleAtoi(
        object["metadata"]["resourceVersion"].get<std::string>(), &version));
    return version;
  }
  static steady_clock::time_point Soon() {
    return steady_clock::now() + std::chrono::seconds(5);
  }
  // Events already in the history arrive without waiting; a deadline in
  // the past makes Next() say so instead of blocking.
  static steady_clock::time_point Immediately() { return steady_clock::now(); }

  // A watch of the secrets in every namespace, from the current version.
  std::unique_ptr<ObjectStore::Watcher> WatchSecretsFromNow() {
    auto watcher = store_.Watch(
        Secrets(), "", {}, std::to_string(store_.CurrentResourceVersion()));
    EXPECT_TRUE(watcher.ok()) << watcher.status();
    return watcher.ok() ? *std::move(watcher) : nullptr;
  }

  ObjectStore store_;
};

TEST_F(ObjectStoreTest, CreateSetsServerFields) {
  absl::StatusOr<json> created =
      store_.Create(Secrets(), "kmesh-system", SecretObject("kmesh-ipsec"));
  ASSERT_TRUE(created.ok()) << created.status();
  const json& metadata = (*created)["metadata"];
  EXPECT_EQ(metadata["namespace"], "kmesh-system");
  EXPECT_EQ(metadata["creationTimestamp"], "2026-11-26T09:00:00Z");
  EXPECT_EQ(metadata["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(VersionOf(*created), store_.CurrentResourceVersion());
  EXPECT_EQ((*created)["type"], "Opaque");
  EXPECT_EQ((*created)["data"]["ipSec"], "e30=");

  absl::StatusOr<json> fetched =
      store_.Get(Secrets(), "kmesh-system", "kmesh-ipsec");
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*fetched, *created);
}

TEST_F(ObjectStoreTest, CreateWithResourceVersionFailsAsEtcdStoreDoes) {
  auto created = store_.Create(Secrets(), "default", SecretObject("s", json()));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(store_.Delete(Secrets(), "default", "s").ok());
  // Re-creating the object as it was read (a common client bug).
  auto again = store_.Create(Secrets(), "default", *created);
  EXPECT_EQ(HttpCode(again.status()), 500);
  EXPECT_EQ(again.status().message(),
            "resourceVersion should not be set on objects to be created");
}

TEST_F(ObjectStoreTest, UnknownFieldsSurvive) {
  json secret = SecretObject("s");
  secret["metadata"]["annotations"] = {{"x", "y"}};
  secret["immutable"] = false;
  absl::StatusOr<json> created = store_.Create(Secrets(), "default", secret);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)["metadata"]["annotations"]["x"], "y");
  EXPECT_EQ((*created)["immutable"], false);
}

TEST_F(ObjectStoreTest, StringDataBecomesBase64Data) {
  json secret = SecretObject("s");
  secret["stringData"] = {{"plain", "hello"}};
  absl::StatusOr<json> created = store_.Create(Secrets(), "default", secret);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)["data"]["plain"], "aGVsbG8=");
  EXPECT_FALSE(created->contains("stringData"));
}

TEST_F(ObjectStoreTest, SecretDataMustBeBase64) {
  json secret = SecretObject("s");
  secret["data"]["ipSec"] = "{\"spi\":1}";
  absl::StatusOr<json> created = store_.Create(Secrets(), "default", secret);
  EXPECT_EQ(HttpCode(created.status()), 400);
}

TEST_F(ObjectStoreTest, ResourceVersionIsMonotonicAcrossTheStore) {
  uint64_t before = store_.CurrentResourceVersion();
  auto a = store_.Create(Secrets(), "default", SecretObject("a"));
  auto node = store_.Create(Nodes(), "", {{"metadata", {{"name", "node1"}}}});
  auto b = store_.Create(Secrets(), "kmesh-system", SecretObject("b"));
  ASSERT_TRUE(a.ok() && node.ok() && b.ok());
  EXPECT_LT(before, VersionOf(*a));
  EXPECT_LT(VersionOf(*a), VersionOf(*node));
  EXPECT_LT(VersionOf(*node), VersionOf(*b));
  json changed = *a;
  changed["data"]["more"] = "eA==";
  auto updated = store_.Update(Secrets(), "default", "a", changed);
  ASSERT_TRUE(updated.ok());
  EXPECT_LT(VersionOf(*b), VersionOf(*updated));
  auto deleted = store_.Delete(Secrets(), "default", "a");
  ASSERT_TRUE(deleted.ok());
  EXPECT_LT(VersionOf(*updated), VersionOf(*deleted));
  auto list = store_.List(Secrets(), "", {});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->resource_version, VersionOf(*deleted));
}

TEST_F(ObjectStoreTest, CreateTwiceIsAlreadyExists) {
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("s")).ok());
  auto again = store_.Create(Secrets(), "default", SecretObject("s"));
  EXPECT_EQ(HttpCode(again.status()), 409);
  EXPECT_EQ(HttpReason(again.status()), "AlreadyExists");
  EXPECT_TRUE(absl::IsAlreadyExists(again.status()));
  EXPECT_EQ(again.status().message(), "secrets \"s\" already exists");
  // The same name in another namespace is another object.
  EXPECT_TRUE(store_.Create(Secrets(), "kmesh-system", SecretObject("s")).ok());
}

TEST_F(ObjectStoreTest, MissingObjectsAreNotFound) {
  auto get = store_.Get(Secrets(), "kmesh-system", "kmesh-ipsec");
  EXPECT_EQ(HttpCode(get.status()), 404);
  EXPECT_EQ(get.status().message(), "secrets \"kmesh-ipsec\" not found");
  EXPECT_EQ(HttpCode(store_.Delete(Secrets(), "default", "x").status()), 404);
  EXPECT_EQ(
      HttpCode(
          store_.Update(Secrets(), "default", "x", SecretObject("x")).status()),
      404);
  auto info = store_.Get(NodeInfos(), "kmesh-system", "node1");
  EXPECT_EQ(info.status().message(),
            "kmeshnodeinfos.kmesh.net \"node1\" not found");
}

TEST_F(ObjectStoreTest, StaleUpdateIsConflict) {
  auto created = store_.Create(Secrets(), "default", SecretObject("s"));
  ASSERT_TRUE(created.ok());
  json first = *created;
  first["data"]["k"] = "MQ==";
  auto updated = store_.Update(Secrets(), "default", "s", first);
  ASSERT_TRUE(updated.ok()) << updated.status();
  // A writer still holding the version it read loses.
  json second = *created;
  second["data"]["k"] = "Mg==";
  auto stale = store_.Update(Secrets(), "default", "s", second);
  EXPECT_EQ(HttpCode(stale.status()), 409);
  EXPECT_EQ(HttpReason(stale.status()), "Conflict");
  EXPECT_TRUE(absl::IsAborted(stale.status()));
  EXPECT_EQ((*store_.Get(Secrets(), "default", "s"))["data"]["k"], "MQ==");
  // Without a resourceVersion the update is unconditional.
  second["metadata"].erase("resourceVersion");
  EXPECT_TRUE(store_.Update(Secrets(), "default", "s", second).ok());
}

TEST_F(ObjectStoreTest, UpdateKeepsServerOwnedFields) {
  auto created = store_.Create(Secrets(), "default", SecretObject("s"));
  ASSERT_TRUE(created.ok());
  json changed = *created;
  changed["metadata"]["uid"] = "forged";
  changed["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z";
  changed["data"]["k"] = "MQ==";
  auto updated = store_.Update(Secrets(), "default", "s", changed);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ((*updated)["metadata"]["uid"], (*created)["metadata"]["uid"]);
  EXPECT_EQ((*updated)["metadata"]["creationTimestamp"],
            (*created)["metadata"]["creationTimestamp"]);
}

TEST_F(ObjectStoreTest, NoOpUpdateKeepsVersion) {
  auto created = store_.Create(Secrets(), "default", SecretObject("s"));
  ASSERT_TRUE(created.ok());
  auto same = store_.Update(Secrets(), "default", "s", *created);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(VersionOf(*same), VersionOf(*created));
}

TEST_F(ObjectStoreTest, UpdateNameMustMatchUrl) {
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("s")).ok());
  auto renamed = store_.Update(Secrets(), "default", "s", SecretObject("t"));
  EXPECT_EQ(HttpCode(renamed.status()), 400);
}

TEST_F(ObjectStoreTest, KindAndApiVersionMustMatchTheResource) {
  json wrong_kind = SecretObject("s");
  wrong_kind["kind"] = "ConfigMap";
  EXPECT_EQ(HttpCode(store_.Create(Secrets(), "default", wrong_kind).status()),
            400);
  json wrong_version = SecretObject("s");
  wrong_version["apiVersion"] = "v2";
  EXPECT_EQ(
      HttpCode(store_.Create(Secrets(), "default", wrong_version).status()),
      400);
  json body_namespace = SecretObject("s");
  body_namespace["metadata"]["namespace"] = "kube-system";
  EXPECT_EQ(
      HttpCode(store_.Create(Secrets(), "default", body_namespace).status()),
      400);
  EXPECT_EQ(
      HttpCode(store_.Create(Secrets(), "default", json("text")).status()),
      400);
}

TEST_F(ObjectStoreTest, NamesMustBeDns1123Subdomains) {
  for (const char* bad : {"Kmesh-IPsec", "a_b", "-a", "a-", "a..b", ""}) {
    auto created = store_.Create(Secrets(), "default", SecretObject(bad));
    EXPECT_EQ(HttpCode(created.status()), 422) << bad;
    EXPECT_EQ(HttpReason(created.status()), "Invalid") << bad;
  }
  EXPECT_TRUE(
      store_.Create(Secrets(), "default", SecretObject("a.b-c.1")).ok());
  // Namespace names are labels: no dots.
  EXPECT_EQ(
      HttpCode(
          store_.Create(Namespaces(), "", NamespaceObject("a.b")).status()),
      422);
}

TEST_F(ObjectStoreTest, LabelsAreValidated) {
  auto bad_value = store_.Create(Secrets(), "default",
                                 SecretObject("s", {{"a", "has space"}}));
  EXPECT_EQ(HttpCode(bad_value.status()), 422);
  auto bad_key =
      store_.Create(Secrets(), "default", SecretObject("s", {{"/a", "b"}}));
  EXPECT_EQ(HttpCode(bad_key.status()), 422);
}

TEST_F(ObjectStoreTest, GenerateNameMakesAUniqueName) {
  json secret = SecretObject("");
  secret["metadata"].erase("name");
  secret["metadata"]["generateName"] = "key-";
  auto a = store_.Create(Secrets(), "default", secret);
  auto b = store_.Create(Secrets(), "default", secret);
  ASSERT_TRUE(a.ok() && b.ok());
  std::string name = (*a)["metadata"]["name"];
  EXPECT_EQ(name.rfind("key-", 0), 0u);
  EXPECT_NE(name, (*b)["metadata"]["name"].get<std::string>());
}

TEST_F(ObjectStoreTest, NamespacedObjectsNeedTheirNamespace) {
  auto created = store_.Create(Secrets(), "missing", SecretObject("s"));
  EXPECT_EQ(HttpCode(created.status()), 404);
  EXPECT_EQ(created.status().message(), "namespaces \"missing\" not found");
  ASSERT_TRUE(store_.Create(Namespaces(), "", NamespaceObject("missing")).ok());
  EXPECT_TRUE(store_.Create(Secrets(), "missing", SecretObject("s")).ok());
}

json DaemonSetObject(const std::string& name, const std::string& app) {
  json ds = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "DaemonSet",
    "spec": {
      "template": {
        "metadata": {"labels": {"app": "kmesh"}},
        "spec": {"containers": [{"name": "kmesh", "image": "kmesh-ipsec:dev"}]}
      }
    }
  })");
  ds["metadata"]["name"] = name;
  ds["spec"]["selector"]["matchLabels"]["app"] = app;
  return ds;
}

TEST_F(ObjectStoreTest, DaemonSetsAreValidatedDefaultedAndNamespaced) {
  const ResourceType& daemonsets = Type("apps", "v1", "daemonsets");
  auto missing_ns =
      store_.Create(daemonsets, "nowhere", DaemonSetObject("kmesh", "kmesh"));
  EXPECT_EQ(HttpCode(missing_ns.status()), 404);
  EXPECT_EQ(missing_ns.status().message(), "namespaces \"nowhere\" not found");

  auto mismatched = store_.Create(daemonsets, "kmesh-system",
                                  DaemonSetObject("kmesh", "other"));
  EXPECT_EQ(HttpCode(mismatched.status()), 422);
  json status = StatusObject(mismatched.status());
  EXPECT_EQ(status["message"],
            "DaemonSet.apps \"kmesh\" is invalid: spec.template.metadata."
            "labels: Invalid value: map[string]string{\"app\":\"kmesh\"}: "
            "`selector` does not match template `labels`");
  EXPECT_EQ(status["details"]["kind"], "DaemonSet");
  EXPECT_EQ(status["details"]["group"], "apps");
  EXPECT_EQ(status["details"]["causes"][0]["field"],
            "spec.template.metadata.labels");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "FieldValueInvalid");

  EXPECT_EQ(HttpCode(store_
                         .Create(daemonsets, "kmesh-system",
                                 DaemonSetObject("Kmesh", "kmesh"))
                         .status()),
            422);
  auto created = store_.Create(daemonsets, "kmesh-system",
                               DaemonSetObject("kmesh", "kmesh"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["spec"]["template"]["spec"]["restartPolicy"], "Always");
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
}

TEST_F(ObjectStoreTest, DaemonSetSelectorIsImmutable) {
  const ResourceType& daemonsets = Type("apps", "v1", "daemonsets");
  ASSERT_TRUE(
      store_
          .Create(daemonsets, "kmesh-system", DaemonSetObject("kmesh", "kmesh"))
          .ok());
  json changed = DaemonSetObject("kmesh", "kmesh");
  changed["spec"]["template"]["metadata"]["labels"]["tier"] = "node";
  changed["spec"]["selector"]["matchLabels"]["tier"] = "node";
  auto updated = store_.Update(daemonsets, "kmesh-system", "kmesh", changed);
  EXPECT_EQ(HttpCode(updated.status()), 422);
  EXPECT_NE(std::string(updated.status().message()).find("field is immutable"),
            std::string::npos);
  // A change elsewhere is an update with a new generation.
  json image = DaemonSetObject("kmesh", "kmesh");
  image["spec"]["template"]["spec"]["containers"][0]["image"] = "kmesh:v2";
  auto ok = store_.Update(daemonsets, "kmesh-system", "kmesh", image);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)["metadata"]["generation"], 2);
}

TEST_F(ObjectStoreTest, RbacNamesArePathSegmentsAndRoleRefsAreFixed) {
  const ResourceType& roles =
      Type("rbac.authorization.k8s.io", "v1", "clusterroles");
  const ResourceType& bindings =
      Type("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
  json role = {
      {"metadata", {{"name", "system:kmesh"}}},
      {"rules",
       {{{"apiGroups", {""}}, {"resources", {"nodes"}}, {"verbs", {"get"}}}}}};
  EXPECT_TRUE(store_.Create(roles, "", role).ok());
  role["metadata"]["name"] = "a/b";
  EXPECT_EQ(HttpCode(store_.Create(roles, "", role).status()), 422);
  json binding = {
      {"metadata", {{"name", "kmesh"}}},
      {"roleRef", {{"kind", "ClusterRole"}, {"name", "system:kmesh"}}},
      {"subjects",
       {{{"kind", "ServiceAccount"},
         {"name", "kmesh"},
         {"namespace", "kmesh-system"}}}}};
  auto created = store_.Create(bindings, "", binding);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
  binding["roleRef"]["name"] = "cluster-admin";
  auto changed = store_.Update(bindings, "", "kmesh", binding);
  EXPECT_EQ(HttpCode(changed.status()), 422);
  EXPECT_NE(
      std::string(changed.status().message()).find("cannot change roleRef"),
      std::string::npos);
}

TEST_F(ObjectStoreTest, ClusterScopedObjectsHaveNoNamespace) {
  json node = {{"metadata", {{"name", "node1"}, {"namespace", "default"}}}};
  auto created = store_.Create(Nodes(), "", node);
  ASSERT_TRUE(created.ok());
  EXPECT_FALSE((*created)["metadata"].contains("namespace"));
  EXPECT_EQ((*created)["kind"], "Node");
}

TEST_F(ObjectStoreTest, NamespacesGetTheirNameLabelAndPhase) {
  auto ns = store_.Get(Namespaces(), "", "kmesh-system");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "kmesh-system");
  EXPECT_EQ((*ns)["status"]["phase"], "Active");
}

TEST_F(ObjectStoreTest, DeletingANamespaceDeletesItsObjects) {
  ASSERT_TRUE(store_.Create(Secrets(), "kmesh-system", SecretObject("s")).ok());
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("s")).ok());
  ASSERT_TRUE(store_.Delete(Namespaces(), "", "kmesh-system").ok());
  EXPECT_EQ(HttpCode(store_.Get(Secrets(), "kmesh-system", "s").status()), 404);
  EXPECT_TRUE(store_.Get(Secrets(), "default", "s").ok());
  EXPECT_EQ(HttpCode(store_.Delete(Namespaces(), "", "default").status()), 403);
}

TEST_F(ObjectStoreTest, ListFiltersByNamespaceAndLabels) {
  ASSERT_TRUE(
      store_.Create(Secrets(), "default", SecretObject("a", {{"app", "kmesh"}}))
          .ok());
  ASSERT_TRUE(
      store_.Create(Secrets(), "default", SecretObject("b", {{"app", "other"}}))
          .ok());
  ASSERT_TRUE(store_
                  .Create(Secrets(), "kmesh-system",
                          SecretObject("c", {{"app", "kmesh"}}))
                  .ok());
  auto names = [&](const std::string& ns, const std::string& selector) {
    std::vector<std::string> names;
    auto list = store_.List(Secrets(), ns, {selector, ""});
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const json& item : list->items)
        names.push_back(item["metadata"]["name"]);
    }
    return names;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("default", ""), (V{"a", "b"}));
  EXPECT_EQ(names("", "app=kmesh"), (V{"a", "c"}));
  EXPECT_EQ(names("", "app!=kmesh"), (V{"b"}));
  EXPECT_EQ(names("default", "app in (kmesh,other)"), (V{"a", "b"}));
  EXPECT_EQ(names("", "!app"), V{});
  EXPECT_EQ(names("", "app"), (V{"a", "b", "c"}));
  EXPECT_EQ(names("absent", ""), V{});

  auto bad = store_.List(Secrets(), "", {"app in (x", ""});
  EXPECT_EQ(HttpCode(bad.status()), 400);
  auto by_name = store_.List(Secrets(), "", {"", "metadata.name=b"});
  ASSERT_TRUE(by_name.ok());
  ASSERT_EQ(by_name->items.size(), 1u);
  EXPECT_EQ(by_name->items[0]["metadata"]["name"], "b");
}

TEST_F(ObjectStoreTest, WatchReplaysEventsAfterAVersionThenFollows) {
  auto a = store_.Create(Secrets(), "default", SecretObject("a"));
  ASSERT_TRUE(a.ok());
  uint64_t from = VersionOf(*a);
  json changed = *a;
  changed["data"]["k"] = "MQ==";
  auto updated = store_.Update(Secrets(), "default", "a", changed);
  ASSERT_TRUE(updated.ok());
  ASSERT_TRUE(store_.Create(Secrets(), "kmesh-system", SecretObject("b")).ok());
  ASSERT_TRUE(store_.Delete(Secrets(), "default", "a").ok());

  auto watcher = store_.Watch(Secrets(), "default", {}, std::to_string(from));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  auto first = (*watcher)->Next(Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->type, EventType::kModified);
  EXPECT_EQ(first->object()["data"]["k"], "MQ==");
  EXPECT_EQ(VersionOf(first->object()), VersionOf(*updated));
  auto second = (*watcher)->Next(Soon());  // b is in another namespace.
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->type, EventType::kDeleted);
  EXPECT_EQ(second->object()["metadata"]["name"], "a");
  EXPECT_TRUE(
      absl::IsDeadlineExceeded((*watcher)->Next(Immediately()).status()));

  // New changes follow, in order.
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("c")).ok());
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("d")).ok());
  auto third = (*watcher)->Next(Soon());
  auto fourth = (*watcher)->Next(Soon());
  ASSERT_TRUE(third.ok() && fourth.ok());
  EXPECT_EQ(third->type, EventType::kAdded);
  EXPECT_EQ(third->object()["metadata"]["name"], "c");
  EXPECT_EQ(fourth->object()["metadata"]["name"], "d");
  EXPECT_LT(VersionOf(third->object()), VersionOf(fourth->object()));
}

TEST_F(ObjectStoreTest, WatchWithoutVersionStartsWithCurrentState) {
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("a")).ok());
  auto watcher = store_.Watch(Secrets(), "", {}, "");
  ASSERT_TRUE(watcher.ok());
  auto added = (*watcher)->Next(Soon());
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->type, EventType::kAdded);
  EXPECT_EQ(added->object()["metadata"]["name"], "a");
  EXPECT_TRUE(
      absl::IsDeadlineExceeded((*watcher)->Next(Immediately()).status()));
}

TEST_F(ObjectStoreTest, WatchAppliesLabelSelectorsToTransitions) {
  auto a = store_.Create(Secrets(), "default", SecretObject("a"));
  ASSERT_TRUE(a.ok());
  auto watcher = store_.Watch(Secrets(), "default", {"app=kmesh", ""},
                              std::to_string(VersionOf(*a)));
  ASSERT_TRUE(watcher.ok());
  json labelled = *a;
  labelled["metadata"]["labels"] = {{"app", "kmesh"}};
  auto v1 = store_.Update(Secrets(), "default", "a", labelled);
  ASSERT_TRUE(v1.ok());
  json unlabelled = *v1;
  unlabelled["metadata"].erase("labels");
  ASSERT_TRUE(store_.Update(Secrets(), "default", "a", unlabelled).ok());
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("b")).ok());

  auto entered = (*watcher)->Next(Soon());
  ASSERT_TRUE(entered.ok());
  EXPECT_EQ(entered->type, EventType::kAdded);
  auto left = (*watcher)->Next(Soon());
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->type, EventType::kDeleted);
  // b never matched.
  EXPECT_TRUE(
      absl::IsDeadlineExceeded((*watcher)->Next(Immediately()).status()));
}

TEST_F(ObjectStoreTest, WatchFromCompactedVersionIsGone) {
  ObjectStore small(MakeOptions(3));
  const ResourceType& secrets = *small.FindType("", "v1", "secrets");
  uint64_t start = small.CurrentResourceVersion();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        small.Create(secrets, "default", SecretObject("s" + std::to_string(i)))
            .ok());
  }
  EXPECT_EQ(small.OldestWatchableResourceVersion(), start + 2);
  auto gone = small.Watch(secrets, "", {}, std::to_string(start));
  EXPECT_EQ(HttpCode(gone.status()), 410);
  EXPECT_EQ(HttpReason(gone.status()), "Expired");
  EXPECT_TRUE(absl::IsOutOfRange(gone.status()));
  auto oldest = small.Watch(secrets, "", {}, std::to_string(start + 2));
  ASSERT_TRUE(oldest.ok());
  auto event = (*oldest)->Next(Soon());
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->object()["metadata"]["name"], "s2");
}

TEST_F(ObjectStoreTest, SlowWatcherFallingOutOfHistoryIsGone) {
  ObjectStore small(MakeOptions(2));
  const ResourceType& secrets = *small.FindType("", "v1", "secrets");
  auto watcher = small.Watch(secrets, "", {},
                             std::to_string(small.CurrentResourceVersion()));
  ASSERT_TRUE(watcher.ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        small.Create(secrets, "default", SecretObject("s" + std::to_string(i)))
            .ok());
  }
  EXPECT_TRUE(absl::IsOutOfRange((*watcher)->Next(Soon()).status()));
}

TEST_F(ObjectStoreTest, CancelEndsAWatch) {
  auto watcher = store_.Watch(Secrets(), "", {}, "");
  ASSERT_TRUE(watcher.ok());
  (*watcher)->Cancel();
  EXPECT_TRUE(absl::IsCancelled((*watcher)->Next(Soon()).status()));
}

TEST_F(ObjectStoreTest, CancelDropsEventsAlreadyTaken) {
  std::unique_ptr<ObjectStore::Watcher> watcher = WatchSecretsFromNow();
  ASSERT_NE(watcher, nullptr);
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("a")).ok());
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("b")).ok());
  ASSERT_TRUE(watcher->Next(Soon()).ok());
  watcher->Cancel();
  // b is due, but a cancelled watch delivers nothing more.
  EXPECT_TRUE(absl::IsCancelled(watcher->Next(Soon()).status()));
}

TEST_F(ObjectStoreTest, CancelWakesABlockedNext) {
  std::unique_ptr<ObjectStore::Watcher> watcher = WatchSecretsFromNow();
  ASSERT_NE(watcher, nullptr);
  absl::Status result;
  std::thread consumer([&] {
    result =
        watcher->Next(steady_clock::now() + std::chrono::hours(1)).status();
  });
  watcher->Cancel();
  consumer.join();
  EXPECT_TRUE(absl::IsCancelled(result)) << result;
}

TEST_F(ObjectStoreTest, WatchGetsNoEventsOfOtherTypes) {
  const uint64_t from = store_.CurrentResourceVersion();
  auto nodes = store_.Watch(Nodes(), "", {}, std::to_string(from));
  auto infos = store_.Watch(NodeInfos(), "", {}, std::to_string(from));
  ASSERT_TRUE(nodes.ok() && infos.ok());
  for (const char* name : {"node1", "node2"}) {
    ASSERT_TRUE(
        store_.Create(NodeInfos(), "kmesh-system", KmeshNodeInfoObject(name))
            .ok());
  }
  EXPECT_TRUE(absl::IsDeadlineExceeded((*nodes)->Next(Immediately()).status()));
  ASSERT_TRUE(store_
                  .Create(Nodes(), "",
                          {{"apiVersion", "v1"},
                           {"kind", "Node"},
                           {"metadata", {{"name", "node1"}}}})
                  .ok());
  auto node = (*nodes)->Next(Soon());
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->object()["kind"], "Node");
  EXPECT_TRUE(absl::IsDeadlineExceeded((*nodes)->Next(Immediately()).status()));
  for (const char* name : {"node1", "node2"}) {
    auto info = (*infos)->Next(Soon());
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->object()["metadata"]["name"], name);
  }
  EXPECT_TRUE(absl::IsDeadlineExceeded((*infos)->Next(Immediately()).status()));
}

TEST_F(ObjectStoreTest, WatchFiltersByNamespaceAndFieldSelector) {
  ASSERT_TRUE(store_.Create(Namespaces(), "", NamespaceObject("other")).ok());
  const uint64_t from = store_.CurrentResourceVersion();
  auto watcher = store_.Watch(Secrets(), "default", {"", "metadata.name=a"},
                              std::to_string(from));
  ASSERT_TRUE(watcher.ok());
  auto a = store_.Create(Secrets(), "default", SecretObject("a"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store_.Create(Secrets(), "default", SecretObject("b")).ok());
  ASSERT_TRUE(store_.Create(Secrets(), "other", SecretObject("a")).ok());
  json changed = *a;
  changed["data"]["k"] = "MQ==";
  ASSERT_TRUE(store_.Update(Secrets(), "default", "a", changed).ok());
  ASSERT_TRUE(store_.Delete(Secrets(), "default", "a").ok());

  std::vector<EventType> types;
  while (true) {
    auto event = (*watcher)->Next(Immediately());
    if (!event.ok()) {
      EXPECT_TRUE(absl::IsDeadlineExceeded(event.status())) << event.status();
      break;
    }
    EXPECT_EQ(event->object()["metadata"]["name"], "a");
    EXPECT_EQ(event->object()["metadata"]["namespace"], "default");
    types.push_back(event->type);
  }
  EXPECT_EQ(types,
            (std::vector<EventType>{EventType::kAdded, EventType::kModified,
                                    EventType::kDeleted}));
}

TEST_F(ObjectStoreTest, WatchersShareTheStoredObject) {
  auto a = store_.Create(Secrets(), "default", SecretObject("a"));
  ASSERT_TRUE(a.ok());
  const std::string from = std::to_string(VersionOf(*a) - 1);
  auto replay = store_.Watch(Secrets(), "", {}, from);
  auto other =
      store_.Watch(Secrets(), "default", {"", "metadata.name=a"}, from);
  auto initial = store_.Watch(Secrets(), "", {}, "");
  ASSERT_TRUE(replay.ok() && other.ok() && initial.ok());
  auto first = (*replay)->Next(Soon());
  auto second = (*other)->Next(Soon());
  auto listed = (*initial)->Next(Soon());
  ASSERT_TRUE(first.ok() && second.ok() && listed.ok());
  // One copy of the object, serialised once, behind every watch's event:
  // the history's and the current state's.
  EXPECT_EQ(first->snapshot, second->snapshot);
  EXPECT_EQ(first->snapshot, listed->snapshot);
  EXPECT_EQ(&first->snapshot->Serialized(), &listed->snapshot->Serialized());
  EXPECT_EQ(first->snapshot->Serialized(), a->dump());
}

TEST_F(ObjectStoreTest, ConcurrentReadModifyWriteWithRetryLosesNothing) {
  // The pattern kmeshctl's rotation relies on: read, change, write with the
  // version read, and on 409 read again. Every increment must survive.
  json counter = SecretObject("counter");
  counter["data"] = {{"n", "MA=="}};  // "0"
  ASSERT_TRUE(store_.Create(Secrets(), "default", counter).ok());
  constexpr int kThreads = 4, kIncrements = 25;
  std::vector<std::thread> threads;
  std::atomic<int> conflicts{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        while (true) {
          json current = *store_.Get(Secrets(), "default", "counter");
          int n = std::stoi(current["metadata"]
                                .value("annotations", json::object())
                                .value("n", "0"));
          current["metadata"]["annotations"]["n"] = std::to_string(n + 1);
          auto written =
              store_.Update(Secrets(), "default", "counter", current);
          if (written.ok()) break;
          ASSERT_TRUE(absl::IsAborted(written.status())) << written.status();
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  json final_state = *store_.Get(Secrets(), "default", "counter");
  EXPECT_EQ(final_state["metadata"]["annotations"]["n"],
            std::to_string(kThreads * kIncrements));
}

json NodeInfoCrd() {
  json schema = {
      {"type", "object"},
      {"properties",
       {{"spec",
         {{"type", "object"},
          {"properties",
           {{"spi", {{"type", "integer"}}},
            {"addresses", {{"type", "array"}, {"items", {{"type", "string"}}}}},
            {"bootID", {{"type", "string"}}},
            {"podCIDRS",
             {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "kmeshnodeinfos.kmesh.net"}}},
          {"spec",
           {{"group", "kmesh.net"},
            {"scope", "Namespaced"},
            {"names",
             {{"plural", "kmeshnodeinfos"},
              {"singular", "kmeshnodeinfo"},
              {"kind", "KmeshNodeInfo"},
              {"listKind", "KmeshNodeInfoList"}}},
            {"versions",
             json::array({{{"name", "v1alpha1"},
                           {"served", true},
                           {"storage", true},
                           {"schema", {{"openAPIV3Schema", schema}}}}})}}}};
}

TEST_F(ObjectStoreTest, CustomResourcesFollowTheirCrdSchema) {
  const ResourceType& crds =
      Type("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  auto crd = store_.Create(crds, "", NodeInfoCrd());
  ASSERT_TRUE(crd.ok()) << crd.status();
  EXPECT_EQ((*crd)["status"]["conditions"][1]["type"], "Established");

  json info = KmeshNodeInfoObject("node1");
  // Misspelt: the schema says podCIDRS.
  info["spec"]["podCIDRs"] = info["spec"]["podCIDRS"];
  info["spec"].erase("podCIDRS");
  auto created = store_.Create(NodeInfos(), "kmesh-system", info);
  ASSERT_TRUE(created.ok()) << created.status();
  // The misspelt field is pruned, as a real server prunes it.
  EXPECT_FALSE((*created)["spec"].contains("podCIDRs"));
  EXPECT_EQ((*created)["spec"]["spi"], 1);
  EXPECT_EQ((*created)["metadata"]["generation"], 1);

  json wrong = info;
  wrong["metadata"]["name"] = "node2";
  wrong["spec"]["spi"] = "one";
  auto invalid = store_.Create(NodeInfos(), "kmesh-system", wrong);
  EXPECT_EQ(HttpCode(invalid.status()), 422);
  EXPECT_NE(invalid.status().message().find("spec.spi"), std::string::npos)
      << invalid.status();
}

TEST_F(ObjectStoreTest, CrdNameMustBePluralDotGroup) {
  json crd = NodeInfoCrd();
  crd["metadata"]["name"] = "nodeinfos.kmesh.net";
  auto created = store_.Create(
      Type("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "", crd);
  EXPECT_EQ(HttpCode(created.status()), 422);
}

TEST_F(ObjectStoreTest, StoredCrdServesNewTypes) {
  json crd = NodeInfoCrd();
  crd["metadata"]["name"] = "widgets.example.com";
  crd["spec"]["group"] = "example.com";
  crd["spec"]["scope"] = "Cluster";
  crd["spec"]["names"] = {{"plural", "widgets"}, {"kind", "Widget"}};
  EXPECT_EQ(store_.FindType("example.com", "v1alpha1", "widgets"), nullptr);
  ASSERT_TRUE(store_
                  .Create(Type("apiextensions.k8s.io", "v1",
                               "customresourcedefinitions"),
                          "", crd)
                  .ok());
  const ResourceType* widgets =
      store_.FindType("example.com", "v1alpha1", "widgets");
  ASSERT_NE(widgets, nullptr);
  EXPECT_FALSE(widgets->namespaced);
  EXPECT_EQ(widgets->singular, "widget");
}

TEST_F(ObjectStoreTest, MutateAppliesAtomicallyWithPreconditions) {
  auto created = store_.Create(Secrets(), "default", SecretObject("s"));
  ASSERT_TRUE(created.ok());
  auto labelled =
      store_.Mutate(Secrets(), "default", "s",
                    [](const json& current) -> absl::StatusOr<json> {
                      json next = current;
                      next["metadata"]["labels"] = {{"a", "b"}};
                      return next;
                    });
  ASSERT_TRUE(labelled.ok());
  EXPECT_GT(VersionOf(*labelled), VersionOf(*created));
  auto stale = store_.Mutate(Secrets(), "default", "s",
                             [&](const json& current) -> absl::StatusOr<json> {
                               json next = current;
                               next["metadata"]["resourceVersion"] =
                                   (*created)["metadata"]["resourceVersion"];
                               return next;
                             });
  EXPECT_EQ(HttpCode(stale.status()), 409);
}

}  // namespace
}  // namespace kmesh::sim::kube
