// The whole client stack -- kubeconfig, transport, REST client, reflector,
// typed access -- against the simulated API server (sim/kube) on loopback:
// CRUD and its conflicts, selectors, watch order, a dropped watch resumed
// without losing an event, a relist after 410, injected faults and the retry
// policy, TLS with the server's own CA, a wrong CA and client certificates,
// and bearer tokens.
#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/api/kmesh_node_info.pb.h"
#include "kmesh/api/kube.pb.h"
#include "kmesh/kube/kube_status.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/reflector.h"
#include "kmesh/kube/rest_kube_client.h"
#include "kmesh/kube/testing/loopback_http_server.h"
#include "kmesh/kube/typed_client.h"
#include "nlohmann/json.hpp"
#include "sim/kube/api_server.h"
#include "sim/kube/testing/test_certs.h"
#include "sim/kube/testing/tls_server_options.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Json = nlohmann::json;

constexpr char kNs[] = "kmesh-system";
constexpr milliseconds kWait{10000};
constexpr absl::Duration kAwait = absl::Seconds(10);

std::string TempDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/simkube.XXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

std::string SecretJson(const std::string& name, const std::string& value,
                       const std::string& labels = "{}",
                       const std::string& resource_version = "") {
  Json secret = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"name", name}, {"namespace", kNs}, {"labels", Json::parse(labels)}}},
      {"type", "Opaque"},
      {"stringData", {{"k", value}}}};
  if (!resource_version.empty()) {
    secret["metadata"]["resourceVersion"] = resource_version;
  }
  return secret.dump();
}

std::string Field(const std::string& json, const std::string& pointer) {
  Json object = Json::parse(json);
  return object.at(Json::json_pointer(pointer)).get<std::string>();
}

// Reflector options that retry within milliseconds.
ReflectorOptions QuickRetries() {
  ReflectorOptions options;
  options.initial_backoff = milliseconds(1);
  options.max_backoff = milliseconds(10);
  return options;
}

// Collects reflector callbacks as "add s1", "update s1", "delete s1".
class ViewHandler : public ReflectorHandler {
 public:
  void OnAdd(const std::string& o) override { Record("add", o); }
  void OnUpdate(const std::string&, const std::string& o) override {
    Record("update", o);
  }
  void OnDelete(const std::string& o) override { Record("delete", o); }

  bool WaitFor(const std::string& event) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(events_.begin(), events_.end(), event) != events_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kAwait);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // The consumer's view: name -> resourceVersion.
  std::map<std::string, std::string> view() {
    absl::MutexLock lock(&mu_);
    return view_;
  }

 private:
  void Record(const std::string& what, const std::string& json) {
    const std::string name = Field(json, "/metadata/name");
    absl::MutexLock lock(&mu_);
    events_.push_back(what + " " + name);
    if (what == "delete") {
      view_.erase(name);
    } else {
      view_[name] = Field(json, "/metadata/resourceVersion");
    }
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> view_ ABSL_GUARDED_BY(mu_);
};

class SimKubeTest : public ::testing::Test {
 protected:
  void StartServer(sim::kube::ApiServer::Options options = {}) {
    absl::StatusOr<std::unique_ptr<sim::kube::ApiServer>> server =
        sim::kube::ApiServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Goes the way kmeshctl does: a kubeconfig file, found and loaded, then
  // a client for it.
  std::unique_ptr<RestKubeClient> ClientFromKubeconfig(
      const sim::kube::ApiServer::KubeconfigUser& user = {}) {
    const std::string path = TempDir() + "/kubeconfig";
    EXPECT_TRUE(server_->WriteKubeconfig(path, user).ok());
    ClusterAccessSearch search;
    search.explicit_kubeconfig = path;
    search.allow_credentials_over_http = allow_http_credentials_;
    absl::StatusOr<ClusterAccess> access = FindClusterAccess(search);
    EXPECT_TRUE(access.ok()) << access.status();
    if (!access.ok()) return nullptr;
    RestKubeClientOptions options;
    options.sleep = [this](milliseconds d) { sleeps_.push_back(d.count()); };
    options.transport.request_timeout = milliseconds(10000);
    absl::StatusOr<std::unique_ptr<RestKubeClient>> client =
        RestKubeClient::ForCluster(*access, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  void SetUpCluster(sim::kube::ApiServer::Options options = {}) {
    StartServer(std::move(options));
    client_ = ClientFromKubeconfig();
    ASSERT_NE(client_, nullptr);
    ASSERT_TRUE(client_
                    ->Create(NamespacesKind(), "",
                             R"({"apiVersion":"v1","kind":"Namespace",)"
                             R"("metadata":{"name":"kmesh-system"}})")
                    .ok());
  }

  // The secrets in kNs as the server has them: name -> resourceVersion.
  std::map<std::string, std::string> ServerView() {
    std::map<std::string, std::string> view;
    absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), kNs, {});
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return view;
    for (const std::string& item : list->items) {
      view[Field(item, "/metadata/name")] =
          Field(item, "/metadata/resourceVersion");
    }
    return view;
  }

  int CountRequests(const std::string& method, const std::string& path) {
    int n = 0;
    for (const auto& r : server_->RequestLog()) {
      if (r.method == method && r.path == path) ++n;
    }
    return n;
  }

  std::unique_ptr<sim::kube::ApiServer> server_;
  std::unique_ptr<RestKubeClient> client_;
  std::vector<int64_t> sleeps_;
  // ClientFromKubeconfig: --insecure-allow-http-credentials.
  bool allow_http_credentials_ = false;
};

TEST_F(SimKubeTest, CreateGetUpdateDeleteWithConflicts) {
  SetUpCluster();
  absl::StatusOr<std::string> created =
      client_->Create(SecretsKind(), kNs, SecretJson("s1", "v1"));
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string rv1 = Field(*created, "/metadata/resourceVersion");
  EXPECT_FALSE(rv1.empty());

  absl::StatusOr<std::string> again =
      client_->Create(SecretsKind(), kNs, SecretJson("s1", "v1"));
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr(server_->url()));

  absl::StatusOr<std::string> got = client_->Get(SecretsKind(), kNs, "s1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Field(*got, "/metadata/resourceVersion"), rv1);

  absl::StatusOr<std::string> updated = client_->Update(
      SecretsKind(), kNs, "s1", SecretJson("s1", "v2", "{}", rv1));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE(Field(*updated, "/metadata/resourceVersion"), rv1);

  // A second writer still holding rv1 loses.
  absl::StatusOr<std::string> stale = client_->Update(
      SecretsKind(), kNs, "s1", SecretJson("s1", "v3", "{}", rv1));
  EXPECT_TRUE(IsConflict(stale.status())) << stale.status();

  EXPECT_TRUE(client_->Delete(SecretsKind(), kNs, "s1").ok());
  absl::StatusOr<std::string> gone = client_->Get(SecretsKind(), kNs, "s1");
  EXPECT_TRUE(absl::IsNotFound(gone.status())) << gone.status();
  EXPECT_THAT(gone.status().message(),
              HasSubstr(absl::StrCat("GET ", server_->url(),
                                     "/api/v1/namespaces/kmesh-system/"
                                     "secrets/s1")));
  EXPECT_TRUE(absl::IsNotFound(client_->Delete(SecretsKind(), kNs, "s1")));
}

TEST_F(SimKubeTest, ListFiltersByLabelSelector) {
  SetUpCluster();
  ASSERT_TRUE(client_
                  ->Create(SecretsKind(), kNs,
                           SecretJson("a", "1", R"({"app":"kmesh"})"))
                  .ok());
  ASSERT_TRUE(client_
                  ->Create(SecretsKind(), kNs,
                           SecretJson("b", "1", R"({"app":"other"})"))
                  .ok());
  ASSERT_TRUE(client_
                  ->Create(SecretsKind(), kNs,
                           SecretJson("c", "1", R"({"app":"kmesh"})"))
                  .ok());
  ListOptions options;
  options.label_selector = "app=kmesh";
  absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), kNs, options);
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const std::string& item : list->items) {
    names.push_back(Field(item, "/metadata/name"));
  }
  EXPECT_THAT(names, UnorderedElementsAre("a", "c"));
  EXPECT_FALSE(list->resource_version.empty());
}

TEST_F(SimKubeTest, WatchDeliversEveryChangeInOrder) {
  SetUpCluster();
  absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), kNs, {});
  ASSERT_TRUE(list.ok()) << list.status();
  ListOptions options;
  options.resource_version = list->resource_version;
  options.timeout = std::chrono::seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      client_->Watch(SecretsKind(), kNs, options);
  ASSERT_TRUE(watch.ok()) << watch.status();

  absl::StatusOr<std::string> s1 =
      client_->Create(SecretsKind(), kNs, SecretJson("s1", "a"));
  ASSERT_TRUE(s1.ok());
  ASSERT_TRUE(client_->Create(SecretsKind(), kNs, SecretJson("s2", "a")).ok());
  ASSERT_TRUE(client_
                  ->Update(SecretsKind(), kNs, "s1",
                           SecretJson("s1", "b", "{}",
                                      Field(*s1, "/metadata/resourceVersion")))
                  .ok());
  ASSERT_TRUE(client_->Delete(SecretsKind(), kNs, "s2").ok());

  std::vector<std::string> seen;
  int64_t last_rv = 0;
  while (seen.size() < 4) {
    absl::StatusOr<WatchEvent> event = (*watch)->Next(kWait);
    ASSERT_TRUE(event.ok()) << event.status();
    if (event->type == WatchEventType::kBookmark) continue;
    const int64_t rv =
        std::stoll(Field(event->ObjectText(), "/metadata/resourceVersion"));
    EXPECT_GT(rv, last_rv);
    last_rv = rv;
    const char* type = event->type == WatchEventType::kAdded      ? "ADDED"
                       : event->type == WatchEventType::kModified ? "MODIFIED"
                       : event->type == WatchEventType::kDeleted  ? "DELETED"
                                                                  : "OTHER";
    seen.push_back(
        absl::StrCat(type, " ", Field(event->ObjectText(), "/metadata/name")));
  }
  EXPECT_THAT(seen,
              ElementsAre("ADDED s1", "ADDED s2", "MODIFIED s1", "DELETED s2"));
  (*watch)->Close();
}

TEST_F(SimKubeTest, WatchFromAnExpiredVersionIsGone) {
  sim::kube::ApiServer::Options options;
  options.store.history_limit = 3;
  SetUpCluster(options);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        client_
            ->Create(SecretsKind(), kNs, SecretJson(absl::StrCat("s", i), "x"))
            .ok());
  }
  ListOptions watch_options;
  watch_options.resource_version = "1";
  absl::StatusOr<std::unique_ptr<WatchStream>> watch =
      client_->Watch(SecretsKind(), kNs, watch_options);
  absl::Status status = watch.status();
  if (watch.ok()) status = (*watch)->Next(kWait).status();
  EXPECT_TRUE(IsGone(status)) << status;
}

TEST_F(SimKubeTest, ReflectorResumesAfterDroppedWatchesWithoutLosingEvents) {
  SetUpCluster();
  ASSERT_TRUE(client_->Create(SecretsKind(), kNs, SecretJson("s0", "x")).ok());
  ViewHandler handler;
  const ReflectorOptions options = QuickRetries();
  Reflector reflector(client_.get(), SecretsKind(), kNs, &handler, options);
  std::thread runner([&] { reflector.Run(); });
  ASSERT_TRUE(handler.WaitFor("add s0"));
  ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));

  for (int round = 1; round <= 3; ++round) {
    server_->DropWatches();
    // Changes while the reflector is (probably) between watches.
    const std::string name = absl::StrCat("s", round);
    ASSERT_TRUE(
        client_->Create(SecretsKind(), kNs, SecretJson(name, "x")).ok());
    ASSERT_TRUE(handler.WaitFor("add " + name));
    ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));
  }
  ASSERT_TRUE(client_->Delete(SecretsKind(), kNs, "s0").ok());
  ASSERT_TRUE(handler.WaitFor("delete s0"));
  reflector.Stop();
  runner.join();

  EXPECT_THAT(handler.events(),
              ElementsAre("add s0", "add s1", "add s2", "add s3", "delete s0"));
  EXPECT_EQ(reflector.ListCount(), 1);  // Resumed each time, never relisted.
  // The view matches the server exactly.
  EXPECT_EQ(handler.view(), ServerView());
  // Every re-watch carried the version the reflector had reached.
  int resumed = 0;
  for (const auto& r : server_->RequestLog()) {
    if (r.query.find("watch=1") != std::string::npos &&
        r.query.find("resourceVersion=") != std::string::npos) {
      ++resumed;
    }
  }
  EXPECT_GE(resumed, 4);
}

// Lets a test hold back a reflector's next Watch() call.
class GatedClient : public KubeClient {
 public:
  explicit GatedClient(KubeClient* inner) : inner_(inner) {}
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  bool WaitForBlockedWatch() {
    absl::MutexLock lock(&mu_);
    auto blocked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return blocked_ > 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&blocked), kAwait);
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind& kind, const std::string& ns,
      const ListOptions& options) override {
    {
      absl::MutexLock lock(&mu_);
      ++blocked_;
      mu_.Await(absl::Condition(&open_));
      --blocked_;
    }
    return inner_->Watch(kind, ns, options);
  }
  absl::StatusOr<std::string> Get(const ResourceKind& k, const std::string& ns,
                                  const std::string& n) override {
    return inner_->Get(k, ns, n);
  }
  absl::StatusOr<ObjectList> List(const ResourceKind& k, const std::string& ns,
                                  const ListOptions& o) override {
    return inner_->List(k, ns, o);
  }
  absl::StatusOr<std::string> Create(const ResourceKind& k,
                                     const std::string& ns,
                                     const std::string& o) override {
    return inner_->Create(k, ns, o);
  }
  absl::StatusOr<std::string> Update(const ResourceKind& k,
                                     const std::string& ns,
                                     const std::string& n,
                                     const std::string& o) override {
    return inner_->Update(k, ns, n, o);
  }
  absl::Status Delete(const ResourceKind& k, const std::string& ns,
                      const std::string& n) override {
    return inner_->Delete(k, ns, n);
  }

 private:
  KubeClient* const inner_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int blocked_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(SimKubeTest, ReflectorRelistsAfterGoneAndKeepsTheViewExact) {
  sim::kube::ApiServer::Options server_options;
  server_options.store.history_limit = 4;
  SetUpCluster(server_options);
  for (const char* name : {"keep", "change", "remove"}) {
    ASSERT_TRUE(
        client_->Create(SecretsKind(), kNs, SecretJson(name, "1")).ok());
  }
  GatedClient gated(client_.get());
  ViewHandler handler;
  const ReflectorOptions options = QuickRetries();
  Reflector reflector(&gated, SecretsKind(), kNs, &handler, options);
  std::thread runner([&] { reflector.Run(); });
  ASSERT_TRUE(handler.WaitFor("add remove"));
  ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));

  // Cut the watch and keep the reflector away while history moves on past
  // its resourceVersion.
  gated.Close();
  server_->DropWatches();
  ASSERT_TRUE(gated.WaitForBlockedWatch());
  absl::StatusOr<std::string> change =
      client_->Get(SecretsKind(), kNs, "change");
  ASSERT_TRUE(change.ok());
  ASSERT_TRUE(
      client_
          ->Update(SecretsKind(), kNs, "change",
                   SecretJson("change", "2", "{}",
                              Field(*change, "/metadata/resourceVersion")))
          .ok());
  ASSERT_TRUE(client_->Delete(SecretsKind(), kNs, "remove").ok());
  for (int i = 0; i < 6; ++i) {
    const std::string name = absl::StrCat("tmp", i);
    ASSERT_TRUE(
        client_->Create(SecretsKind(), kNs, SecretJson(name, "x")).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(client_->Delete(SecretsKind(), kNs, name).ok());
    }
  }
  gated.Open();
  ASSERT_TRUE(handler.WaitFor("delete remove"));
  ASSERT_TRUE(handler.WaitFor("add tmp5"));
  reflector.Stop();
  runner.join();

  EXPECT_EQ(reflector.ListCount(), 2);
  EXPECT_EQ(handler.view(), ServerView());
  // Objects created and deleted while away never reach the consumer.
  for (const std::string& e : handler.events()) {
    EXPECT_THAT(e, Not(HasSubstr("tmp0")));
  }
  EXPECT_THAT(handler.events(), ::testing::Contains("update change"));
}

// Lists as client-go's pager does: pages of `page_size` following the
// server's continue tokens, the view complete after the last page.
TEST_F(SimKubeTest, ReflectorListsInPagesFollowingContinueTokens) {
  SetUpCluster();
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        client_
            ->Create(SecretsKind(), kNs, SecretJson(absl::StrCat("s", i), "x"))
            .ok());
  }
  ViewHandler handler;
  ReflectorOptions options = QuickRetries();
  options.page_size = 3;
  Reflector reflector(client_.get(), SecretsKind(), kNs, &handler, options);
  std::thread runner([&] { reflector.Run(); });
  ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));
  reflector.Stop();
  runner.join();
  EXPECT_EQ(handler.view(), ServerView());
  EXPECT_EQ(handler.view().size(), 7u);
  int pages = 0, continued = 0;
  for (const auto& r : server_->RequestLog()) {
    if (r.path != ResourcePath(SecretsKind(), kNs, "")) continue;
    if (r.query.find("limit=3") != std::string::npos) ++pages;
    if (r.query.find("continue=") != std::string::npos) ++continued;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(continued, 2);
  EXPECT_EQ(reflector.ListCount(), 1);
  EXPECT_EQ(reflector.ListRequestCount(), 3);
}

// Writes between two pages compact the server's history past the list's
// snapshot: the next page is 410 Gone, and the reflector lists in full once
// (client-go's pager fallback), with an exact view.
class WritesBetweenPages : public KubeClient {
 public:
  WritesBetweenPages(KubeClient* inner, std::function<void()> between)
      : inner_(inner), between_(std::move(between)) {}
  absl::StatusOr<ObjectList> List(const ResourceKind& kind,
                                  const std::string& ns,
                                  const ListOptions& options) override {
    if (!options.continue_token.empty() && between_) {
      std::exchange(between_, nullptr)();
    }
    return inner_->List(kind, ns, options);
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind& kind, const std::string& ns,
      const ListOptions& options) override {
    return inner_->Watch(kind, ns, options);
  }
  absl::StatusOr<std::string> Get(const ResourceKind& k, const std::string& ns,
                                  const std::string& n) override {
    return inner_->Get(k, ns, n);
  }
  absl::StatusOr<std::string> Create(const ResourceKind& k,
                                     const std::string& ns,
                                     const std::string& o) override {
    return inner_->Create(k, ns, o);
  }
  absl::StatusOr<std::string> Update(const ResourceKind& k,
                                     const std::string& ns,
                                     const std::string& n,
                                     const std::string& o) override {
    return inner_->Update(k, ns, n, o);
  }
  absl::Status Delete(const ResourceKind& k, const std::string& ns,
                      const std::string& n) override {
    return inner_->Delete(k, ns, n);
  }

 private:
  KubeClient* const inner_;
  std::function<void()> between_;
};

TEST_F(SimKubeTest, ExpiredContinueTokenFallsBackToOneFullList) {
  sim::kube::ApiServer::Options server_options;
  server_options.store.history_limit = 3;
  SetUpCluster(server_options);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        client_
            ->Create(SecretsKind(), kNs, SecretJson(absl::StrCat("s", i), "x"))
            .ok());
  }
  WritesBetweenPages client(client_.get(), [&] {
    ASSERT_TRUE(client_->Delete(SecretsKind(), kNs, "s4").ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(client_
                      ->Create(SecretsKind(), kNs,
                               SecretJson(absl::StrCat("new", i), "x"))
                      .ok());
    }
  });
  ViewHandler handler;
  ReflectorOptions options = QuickRetries();
  options.page_size = 2;
  Reflector reflector(&client, SecretsKind(), kNs, &handler, options);
  std::thread runner([&] { reflector.Run(); });
  ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));
  reflector.Stop();
  runner.join();
  std::vector<std::string> queries;
  std::vector<int> codes;
  for (const auto& r : server_->RequestLog()) {
    if (r.method != "GET" || r.path != ResourcePath(SecretsKind(), kNs, "") ||
        r.query.find("watch") != std::string::npos) {
      continue;
    }
    queries.push_back(r.query.substr(0, r.query.find("&continue=")));
    codes.push_back(r.code);
  }
  ASSERT_GE(queries.size(), 3u);
  EXPECT_THAT(std::vector<std::string>(queries.end() - 3, queries.end()),
              ElementsAre("limit=2", "limit=2", ""));
  EXPECT_THAT(std::vector<int>(codes.end() - 3, codes.end()),
              ElementsAre(200, 410, 200));
  EXPECT_EQ(handler.view(), ServerView());
  EXPECT_EQ(handler.view().size(), 9u);
  EXPECT_EQ(reflector.ListCount(), 1);
  // The first page, the refused second page, then one full list.
  EXPECT_EQ(reflector.ListRequestCount(), 3);
}

// Real bookmarks from the simulated server (which sends them as the real
// cacher does): a watch of a quiet namespace keeps its resourceVersion up
// with changes elsewhere, delivers nothing and never relists.
TEST_F(SimKubeTest, BookmarksKeepAQuietWatchCurrent) {
  sim::kube::ApiServer::Options server_options;
  server_options.bookmark_interval = milliseconds(50);
  SetUpCluster(server_options);
  ASSERT_TRUE(client_->Create(SecretsKind(), kNs, SecretJson("s0", "x")).ok());
  ViewHandler handler;
  Reflector reflector(client_.get(), SecretsKind(), kNs, &handler,
                      QuickRetries());
  std::thread runner([&] { reflector.Run(); });
  ASSERT_TRUE(handler.WaitFor("add s0"));
  ASSERT_TRUE(server_->WaitForOpenWatches(1, kWait));
  const int64_t listed = std::stoll(reflector.LastResourceVersion());
  // Changes the watch does not select: secrets of another namespace.
  std::string last_rv;
  for (int i = 0; i < 5; ++i) {
    Json other = Json::parse(SecretJson(absl::StrCat("other", i), "x"));
    other["metadata"]["namespace"] = "default";
    absl::StatusOr<std::string> created =
        client_->Create(SecretsKind(), "default", other.dump());
    ASSERT_TRUE(created.ok()) << created.status();
    last_rv = Field(*created, "/metadata/resourceVersion");
  }
  bool caught_up = false;
  for (int i = 0; i < 200 && !caught_up; ++i) {
    caught_up = reflector.LastResourceVersion() == last_rv;
    if (!caught_up) absl::SleepFor(absl::Milliseconds(50));
  }
  reflector.Stop();
  runner.join();
  EXPECT_TRUE(caught_up) << "listed at " << listed << ", at "
                         << reflector.LastResourceVersion() << ", server at "
                         << last_rv;
  EXPECT_GT(std::stoll(reflector.LastResourceVersion()), listed);
  EXPECT_EQ(reflector.ListCount(), 1);
  EXPECT_EQ(reflector.WatchCount(), 1);  // The watch never ended.
  EXPECT_THAT(handler.events(), ElementsAre("add s0"));
  for (const auto& r : server_->RequestLog()) {
    if (r.query.find("watch=1") != std::string::npos) {
      EXPECT_THAT(r.query, HasSubstr("allowWatchBookmarks=true"));
    }
  }
}

// The daemon's two pod watches (kmesh/agent/ipsec_agent.cc): its own
// node's pods by spec.nodeName=<node>, the others' by spec.nodeName!=<node>,
// both cluster-wide; each sees exactly its share, and a deleted pod leaves
// the watch that had it.
TEST_F(SimKubeTest, PodFieldSelectorsSplitLocalAndOtherNodesPods) {
  SetUpCluster();
  auto add_pod = [&](const std::string& name, const std::string& node) {
    Json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    if (!node.empty()) pod["spec"]["nodeName"] = node;
    ASSERT_TRUE(client_->Create(PodsKind(), kNs, pod.dump()).ok());
  };
  add_pod("a1", "node-a");
  add_pod("b1", "node-b");
  add_pod("pending", "");
  ViewHandler local, others;
  ReflectorOptions options = QuickRetries();
  options.field_selector = "spec.nodeName=node-a";
  Reflector local_reflector(client_.get(), PodsKind(), "", &local, options);
  options.field_selector = "spec.nodeName!=node-a";
  Reflector other_reflector(client_.get(), PodsKind(), "", &others, options);
  std::thread local_runner([&] { local_reflector.Run(); });
  std::thread other_runner([&] { other_reflector.Run(); });
  ASSERT_TRUE(local.WaitFor("add a1"));
  ASSERT_TRUE(others.WaitFor("add pending"));
  ASSERT_TRUE(server_->WaitForOpenWatches(2, kWait));
  add_pod("a2", "node-a");
  add_pod("b2", "node-b");
  ASSERT_TRUE(client_->Delete(PodsKind(), kNs, "b1").ok());
  ASSERT_TRUE(local.WaitFor("add a2"));
  ASSERT_TRUE(others.WaitFor("delete b1"));
  local_reflector.Stop();
  other_reflector.Stop();
  local_runner.join();
  other_runner.join();
  EXPECT_THAT(local.events(), ElementsAre("add a1", "add a2"));
  EXPECT_THAT(others.events(), UnorderedElementsAre("add b1", "add pending",
                                                    "add b2", "delete b1"));
  for (const auto& r : server_->RequestLog()) {
    if (r.path != "/api/v1/pods") continue;
    EXPECT_THAT(
        r.query,
        ::testing::AnyOf(HasSubstr("fieldSelector=spec.nodeName%3Dnode-a"),
                         HasSubstr("fieldSelector=spec.nodeName%21%3Dnode-a")));
  }
}

TEST_F(SimKubeTest, ReadsAreRetriedAfterAServerError) {
  SetUpCluster();
  ASSERT_TRUE(client_->Create(SecretsKind(), kNs, SecretJson("s", "x")).ok());
  server_->FailNext(1, 500, {"GET", "/api/v1/namespaces/kmesh-system/secrets"});
  absl::StatusOr<std::string> got = client_->Get(SecretsKind(), kNs, "s");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(CountRequests("GET", "/api/v1/namespaces/kmesh-system/secrets/s"),
            2);
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(SimKubeTest, WritesAreNotRetriedBlindly) {
  SetUpCluster();
  const std::string collection = "/api/v1/namespaces/kmesh-system/secrets";
  // A 500 may come after the write was applied: returned, not repeated.
  server_->FailNext(1, 500, {"POST", collection});
  absl::StatusOr<std::string> created =
      client_->Create(SecretsKind(), kNs, SecretJson("s", "x"));
  EXPECT_TRUE(absl::IsUnavailable(created.status())) << created.status();
  EXPECT_EQ(CountRequests("POST", collection), 1);
  EXPECT_TRUE(sleeps_.empty());

  // A 503 means the server did not take it: retried.
  server_->FailNext(1, 503, {"POST", collection});
  created = client_->Create(SecretsKind(), kNs, SecretJson("s", "x"));
  EXPECT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(CountRequests("POST", collection), 3);
}

TEST_F(SimKubeTest, ForbiddenAndMissingNamespaceAreClear) {
  SetUpCluster();
  server_->Forbid("list", "secrets");
  absl::StatusOr<ObjectList> list = client_->List(SecretsKind(), kNs, {});
  EXPECT_TRUE(IsForbidden(list.status())) << list.status();
  absl::StatusOr<std::string> created =
      client_->Create(SecretsKind(), "no-such-ns", SecretJson("s", "x"));
  EXPECT_FALSE(created.ok());
}

TEST_F(SimKubeTest, TypedKmeshNodeInfoRoundTrip) {
  SetUpCluster();
  api::KmeshNodeInfo info;
  info.set_api_version("kmesh.net/v1alpha1");
  info.set_kind("KmeshNodeInfo");
  info.mutable_metadata()->set_name("node-1");
  info.mutable_metadata()->set_namespace_(kNs);
  info.mutable_spec()->set_spi(1);
  info.mutable_spec()->add_addresses("10.0.0.1");
  info.mutable_spec()->set_boot_id("0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5");
  info.mutable_spec()->add_pod_cidrs("10.244.1.0/24");
  absl::StatusOr<api::KmeshNodeInfo> created =
      CreateObject(*client_, KmeshNodeInfosKind(), kNs, info);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->metadata().resource_version().empty());
  EXPECT_EQ(created->spec().pod_cidrs(0), "10.244.1.0/24");

  api::KmeshNodeInfo next = *created;
  next.mutable_spec()->set_spi(2);
  absl::StatusOr<api::KmeshNodeInfo> updated =
      UpdateObject(*client_, KmeshNodeInfosKind(), kNs, next);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->spec().spi(), 2);
  // `next` still carries the old resourceVersion now.
  EXPECT_TRUE(IsConflict(
      UpdateObject(*client_, KmeshNodeInfosKind(), kNs, next).status()));

  absl::StatusOr<api::KmeshNodeInfoList> list =
      ListObjects<api::KmeshNodeInfoList>(*client_, KmeshNodeInfosKind(), kNs);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items_size(), 1);
  EXPECT_EQ(list->items(0).spec().spi(), 2);
  absl::StatusOr<api::KmeshNodeInfo> got = GetObject<api::KmeshNodeInfo>(
      *client_, KmeshNodeInfosKind(), kNs, "node-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->spec().boot_id(), "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5");
}

TEST_F(SimKubeTest, BearerTokenIsSentAndNeverEchoed) {
  StartServer();
  server_->RequireBearerToken("right-token");
  // The simulated server is plain http://: tokens go to it only with the
  // explicit opt-in (kmeshctl --insecure-allow-http-credentials).
  allow_http_credentials_ = true;
  std::unique_ptr<RestKubeClient> client = ClientFromKubeconfig();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->List(NamespacesKind(), "", {}).ok());
  sim::kube::ApiServer::KubeconfigUser wrong;
  wrong.token = "wrong-token";
  std::unique_ptr<RestKubeClient> intruder = ClientFromKubeconfig(wrong);
  absl::StatusOr<ObjectList> denied = intruder->List(NamespacesKind(), "", {});
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(denied.status())) << denied.status();
  EXPECT_THAT(denied.status().message(), Not(HasSubstr("wrong-token")));
}

class SimKubeTlsTest : public SimKubeTest {
 protected:
  void StartTls(const sim::kube::TestCertificates& certs, bool mutual) {
    StartServer(sim::kube::TlsServerOptions(certs, mutual));
  }
};

TEST_F(SimKubeTlsTest, WorksWithTheServersCaFromTheKubeconfig) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok());
  StartTls(*certs, /*mutual=*/false);
  ASSERT_THAT(server_->url(), ::testing::StartsWith("https://127.0.0.1:"));
  std::unique_ptr<RestKubeClient> client = ClientFromKubeconfig();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<ObjectList> namespaces =
      client->List(NamespacesKind(), "", {});
  ASSERT_TRUE(namespaces.ok()) << namespaces.status();
  EXPECT_FALSE(namespaces->items.empty());
}

TEST_F(SimKubeTlsTest, RefusesAServerCertificateFromAnotherCa) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  absl::StatusOr<sim::kube::TestCertificates> other =
      sim::kube::GenerateTestCertificates("some-other-ca");
  ASSERT_TRUE(certs.ok() && other.ok());
  // The server presents a certificate the kubeconfig's CA did not issue.
  sim::kube::ApiServer::Options options;
  options.tls_cert_pem = other->server_cert_pem;
  options.tls_key_pem = other->server_key_pem;
  options.tls_ca_pem = certs->ca_cert_pem;  // What the kubeconfig will trust.
  StartServer(options);
  std::unique_ptr<RestKubeClient> client = ClientFromKubeconfig();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<ObjectList> namespaces =
      client->List(NamespacesKind(), "", {});
  ASSERT_FALSE(namespaces.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(namespaces.status()));
  EXPECT_THAT(
      namespaces.status().message(),
      ::testing::AllOf(HasSubstr(server_->url()), HasSubstr("not trusted")));
  EXPECT_TRUE(server_->RequestLog().empty());
}

TEST_F(SimKubeTlsTest, ClientCertificateAuthentication) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok());
  StartTls(*certs, /*mutual=*/true);
  std::unique_ptr<RestKubeClient> anonymous = ClientFromKubeconfig();
  EXPECT_FALSE(anonymous->List(NamespacesKind(), "", {}).ok());
  sim::kube::ApiServer::KubeconfigUser user;
  user.client_cert_pem = certs->client_cert_pem;
  user.client_key_pem = certs->client_key_pem;
  std::unique_ptr<RestKubeClient> admin = ClientFromKubeconfig(user);
  ASSERT_NE(admin, nullptr);
  absl::StatusOr<ObjectList> namespaces = admin->List(NamespacesKind(), "", {});
  EXPECT_TRUE(namespaces.ok()) << namespaces.status();
}

// A daemon's status server on loopback, and its pod in kNs at 127.0.0.1.
class SimPodProxyTest : public SimKubeTest {
 protected:
  void SetUp() override {
    daemon_ = testing::LoopbackHttpServer::Start(
        [](const testing::ReceivedRequest& request) {
          testing::ScriptedResponse response;
          response.status = request.target.find("/missing") == 0 ? 404 : 200;
          response.headers = {{"Content-Type", "application/json"}};
          response.body =
              absl::StrCat(R"({"target":")", request.target, R"(","auth":")",
                           request.headers.count("authorization"), R"("})");
          return response;
        });
  }

  static sim::kube::ApiServer::Options LoopbackPods(
      sim::kube::ApiServer::Options options = {}) {
    options.pod_proxy.allow_loopback_pod_ips = true;
    options.pod_proxy.timeout = milliseconds(500);
    return options;
  }

  void AddPod(const std::string& name, int port) {
    const std::string pod = absl::StrCat(
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name,
        R"("},"spec":{"containers":[{"name":"kmesh","image":"kmesh",)",
        R"("ports":[{"containerPort":)", port,
        R"(}]}]},"status":{"podIP":"127.0.0.1"}})");
    absl::StatusOr<std::string> created = client_->Create(PodsKind(), kNs, pod);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  std::unique_ptr<testing::LoopbackHttpServer> daemon_;
};

TEST_F(SimPodProxyTest, ReachesTheDaemonWithPathQueryAndItsOwnCode) {
  SetUpCluster(LoopbackPods());
  AddPod("kmesh-a", daemon_->port());
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet(kNs, "kmesh-a", 0, "/status/ipsec?format=json&x=a b");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->code, 200);
  EXPECT_EQ(got->content_type, "application/json");
  EXPECT_EQ(got->body,
            R"({"target":"/status/ipsec?format=json&x=a%20b","auth":"0"})");

  got = client_->ProxyGet(kNs, "kmesh-a", daemon_->port(), "/missing/x y");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->code, 404);
  EXPECT_EQ(got->body, R"({"target":"/missing/x%20y","auth":"0"})");
  EXPECT_EQ(CountRequests("GET", absl::StrCat("/api/v1/namespaces/", kNs,
                                              "/pods/kmesh-a:", daemon_->port(),
                                              "/proxy/missing/x y")),
            1);
}

TEST_F(SimPodProxyTest, TheApiServersFailuresAreErrors) {
  SetUpCluster(LoopbackPods());
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet(kNs, "kmesh-nope", 0, "/status");
  EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("kmesh-nope"));

  AddPod("kmesh-a", daemon_->port());
  server_->Forbid("get", "pods/proxy");
  got = client_->ProxyGet(kNs, "kmesh-a", 0, "/status");
  EXPECT_TRUE(absl::IsPermissionDenied(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("\"pods/proxy\""));
  EXPECT_THAT(got.status().message(), HasSubstr(kNs));
  server_->ClearFaults();

  // A dead daemon: 503 from the API server, tried once (not retried).
  daemon_->Stop();
  got = client_->ProxyGet(kNs, "kmesh-a", 0, "/status");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(got.status().message(),
              HasSubstr("error trying to reach service: dial tcp 127.0.0.1:"));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(SimPodProxyTest, TheRealServersRefusalOfLoopbackPodsIsInvalidArgument) {
  SetUpCluster();  // Loopback pod IPs refused, as a real server refuses them.
  AddPod("kmesh-a", daemon_->port());
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet(kNs, "kmesh-a", 0, "/status");
  EXPECT_TRUE(absl::IsInvalidArgument(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("address not allowed"));
}

TEST_F(SimPodProxyTest, OverTlsWithATokenThatIsNotForwarded) {
  absl::StatusOr<sim::kube::TestCertificates> certs =
      sim::kube::GenerateTestCertificates();
  ASSERT_TRUE(certs.ok());
  StartServer(LoopbackPods(sim::kube::TlsServerOptions(*certs, false)));
  server_->RequireBearerToken("proxy-token");
  client_ = ClientFromKubeconfig();
  ASSERT_NE(client_, nullptr);
  ASSERT_TRUE(client_
                  ->Create(NamespacesKind(), "",
                           R"({"apiVersion":"v1","kind":"Namespace",)"
                           R"("metadata":{"name":"kmesh-system"}})")
                  .ok());
  AddPod("kmesh-a", daemon_->port());
  absl::StatusOr<ProxyResponse> got =
      client_->ProxyGet(kNs, "kmesh-a", 0, "/status");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->body, R"({"target":"/status","auth":"0"})");
}

}  // namespace
}  // namespace kmesh::kube
