// The reflector over a scripted in-memory KubeClient: list then watch, resume
// from the last resourceVersion after a dropped stream, relist after 410 with
// the difference delivered as synthetic events, stop. Against the simulated
// API server (real drops and compaction) see rest_kube_client_sim_test.cc.
#include "kmesh/kube/reflector.h"

#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/kube/testing/scripted_watch_stream.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using testing::ScriptedWatchStream;

constexpr absl::Duration kWait = absl::Seconds(10);

std::string Obj(const std::string& name, int rv) {
  return absl::StrCat(R"({"metadata":{"name":")", name,
                      R"(","namespace":"ns","resourceVersion":")", rv,
                      R"("}})");
}

WatchEvent Event(WatchEventType type, const std::string& name, int rv) {
  return WatchEvent{type, Obj(name, rv)};
}

// Lists and watch scripts are consumed in order; the last list repeats and
// watches beyond the script block until closed.
class ScriptedKubeClient : public KubeClient {
 public:
  void AddList(std::vector<std::string> items, int rv) {
    absl::MutexLock lock(&mu_);
    lists_.push_back(ObjectList{std::move(items), std::to_string(rv)});
  }
  void AddListError(absl::Status status) {
    absl::MutexLock lock(&mu_);
    lists_.push_back(status);
  }
  void AddWatch(ScriptedWatchStream::Script script) {
    absl::MutexLock lock(&mu_);
    watches_.push_back(std::move(script));
  }
  void AddWatchError(absl::Status status) {
    absl::MutexLock lock(&mu_);
    watches_.push_back(status);
  }
  std::vector<std::string> WatchVersions() {
    absl::MutexLock lock(&mu_);
    return watch_versions_;
  }
  std::vector<std::string> LabelSelectors() {
    absl::MutexLock lock(&mu_);
    return label_selectors_;
  }
  bool WaitForWatches(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return watch_versions_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

  absl::StatusOr<ObjectList> List(const ResourceKind&, const std::string&,
                                  const ListOptions& options) override {
    absl::MutexLock lock(&mu_);
    label_selectors_.push_back(options.label_selector);
    absl::StatusOr<ObjectList> list = lists_.front();
    if (lists_.size() > 1) lists_.pop_front();
    return list;
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind&, const std::string&,
      const ListOptions& options) override {
    absl::MutexLock lock(&mu_);
    watch_versions_.push_back(options.resource_version);
    if (watches_.empty()) return std::make_unique<ScriptedWatchStream>();
    auto next = std::move(watches_.front());
    watches_.pop_front();
    if (!next.ok()) return next.status();
    return std::make_unique<ScriptedWatchStream>(*std::move(next));
  }
  absl::StatusOr<std::string> Get(const ResourceKind&, const std::string&,
                                  const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::string> Create(const ResourceKind&, const std::string&,
                                     const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::string> Update(const ResourceKind&, const std::string&,
                                     const std::string&,
                                     const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::Status Delete(const ResourceKind&, const std::string&,
                      const std::string&) override {
    return absl::UnimplementedError("");
  }

 private:
  absl::Mutex mu_;
  std::deque<absl::StatusOr<ObjectList>> lists_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::StatusOr<ScriptedWatchStream::Script>> watches_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> watch_versions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> label_selectors_ ABSL_GUARDED_BY(mu_);
};

// Records "add a@1", "update a@1->a@4", "delete b@5", "synced".
class RecordingHandler : public ReflectorHandler {
 public:
  void OnAdd(const std::string& o) override { Record("add " + Id(o)); }
  void OnUpdate(const std::string& old_o, const std::string& new_o) override {
    Record("update " + Id(old_o) + "->" + Id(new_o));
  }
  void OnDelete(const std::string& o) override { Record("delete " + Id(o)); }
  void OnSynced() override { Record("synced"); }

  bool WaitForCount(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  static std::string Id(const std::string& json) {
    // Obj() output: pull name and resourceVersion out textually.
    auto field = [&](const std::string& key) {
      const size_t at = json.find("\"" + key + "\":\"") + key.size() + 4;
      return json.substr(at, json.find('"', at) - at);
    };
    return field("name") + "@" + field("resourceVersion");
  }
  void Record(std::string e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(e));
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

class ReflectorTest : public ::testing::Test {
 protected:
  void Start() {
    ReflectorOptions options;
    options.label_selector = "app=kmesh";
    options.initial_backoff = milliseconds(1);
    options.max_backoff = milliseconds(4);
    reflector_ = std::make_unique<Reflector>(&client_, SecretsKind(), "ns",
                                             &handler_, options);
    thread_ = std::thread([this] { reflector_->Run(); });
  }
  void TearDown() override {
    if (reflector_) reflector_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  ScriptedKubeClient client_;
  RecordingHandler handler_;
  std::unique_ptr<Reflector> reflector_;
  std::thread thread_;
};

TEST_F(ReflectorTest, ListsThenWatchesFromTheListVersion) {
  client_.AddList({Obj("a", 1), Obj("b", 2)}, 2);
  client_.AddWatch({Event(WatchEventType::kAdded, "c", 3),
                    Event(WatchEventType::kModified, "a", 4),
                    Event(WatchEventType::kDeleted, "b", 5)});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(6));
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "add b@2", "synced", "add c@3",
                          "update a@1->a@4", "delete b@5"));
  EXPECT_TRUE(reflector_->HasSynced());
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("2"));
  EXPECT_THAT(client_.LabelSelectors(), ElementsAre("app=kmesh"));
  std::map<std::string, std::string> snapshot = reflector_->Snapshot();
  EXPECT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot["ns/a"], Obj("a", 4));
  EXPECT_EQ(reflector_->LastResourceVersion(), "5");
}

TEST_F(ReflectorTest, ResumesFromTheLastVersionAfterADroppedStream) {
  client_.AddList({Obj("a", 1)}, 1);
  client_.AddWatch({Event(WatchEventType::kAdded, "b", 2),
                    absl::UnavailableError("connection reset")});
  client_.AddWatchError(absl::UnavailableError("connection refused"));
  client_.AddWatch(
      {WatchEvent{WatchEventType::kBookmark,
                  R"({"metadata":{"name":"x","resourceVersion":"9"}})"},
       absl::UnavailableError("dropped again")});
  client_.AddWatch({Event(WatchEventType::kModified, "b", 10)});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(4));
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "synced", "add b@2", "update b@2->b@10"));
  // Each new watch starts where the last one stopped; a bookmark moves the
  // position without an event; no relist was needed.
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("1", "2", "2", "9"));
  EXPECT_EQ(reflector_->ListCount(), 1);
}

TEST_F(ReflectorTest, RelistsAfterGoneAndDeliversOnlyTheDifference) {
  client_.AddList({Obj("a", 1), Obj("b", 2), Obj("c", 3)}, 3);
  client_.AddListError(absl::UnavailableError("apiserver restarting"));
  client_.AddList({Obj("a", 1), Obj("b", 5), Obj("d", 6)}, 7);
  client_.AddWatch({absl::OutOfRangeError("too old resource version")});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(8));
  ASSERT_TRUE(client_.WaitForWatches(2));
  EXPECT_THAT(
      handler_.events(),
      ElementsAre("add a@1", "add b@2", "add c@3", "synced",
                  // Relist: c vanished, d appeared, b changed;
                  // a is unchanged and produces nothing.
                  "delete c@3", "add d@6", "update b@2->b@5", "synced"));
  EXPECT_EQ(reflector_->ListCount(), 2);
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("3", "7"));
}

TEST_F(ReflectorTest, GoneAsAnErrorEventAlsoRelists) {
  client_.AddList({Obj("a", 1)}, 1);
  client_.AddList({}, 8);
  client_.AddWatch(
      {WatchEvent{WatchEventType::kError,
                  R"({"kind":"Status","code":410,"reason":"Expired"})"}});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(4));
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "synced", "delete a@1", "synced"));
}

TEST_F(ReflectorTest, StopEndsRunWhileAWatchIsIdle) {
  client_.AddList({}, 1);
  Start();
  ASSERT_TRUE(client_.WaitForWatches(1));
  reflector_->Stop();
  thread_.join();  // Would hang if Stop() did not unblock the watch.
  EXPECT_THAT(handler_.events(), ElementsAre("synced"));
}

TEST_F(ReflectorTest, StopBeforeRunReturnsAtOnce) {
  client_.AddList({}, 1);
  Reflector reflector(&client_, SecretsKind(), "ns", &handler_);
  reflector.Stop();
  reflector.Run();
  EXPECT_FALSE(reflector.HasSynced());
}

}  // namespace
}  // namespace kmesh::kube
