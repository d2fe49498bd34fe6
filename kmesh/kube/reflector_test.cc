// The reflector over a scripted in-memory KubeClient: list then watch, resume
// from the last resourceVersion after a dropped stream, relist after 410 with
// the difference delivered as synthetic events, stop. Against the simulated
// API server (real drops and compaction) see rest_kube_client_sim_test.cc.
#include "kmesh/kube/reflector.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

constexpr milliseconds kWait{10000};

std::string Obj(const std::string& name, int rv) {
  return absl::StrCat(R"({"metadata":{"name":")", name,
                      R"(","namespace":"ns","resourceVersion":")", rv,
                      R"("}})");
}

WatchEvent Event(WatchEventType type, const std::string& name, int rv) {
  return WatchEvent{type, Obj(name, rv)};
}

// Events then an end status; blocks after the script until closed.
class ScriptedWatch : public WatchStream {
 public:
  explicit ScriptedWatch(std::deque<absl::StatusOr<WatchEvent>> script)
      : script_(std::move(script)) {}
  absl::StatusOr<WatchEvent> Next(milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !script_.empty(); });
    if (closed_) return absl::CancelledError("closed");
    if (script_.empty()) return absl::DeadlineExceededError("timeout");
    absl::StatusOr<WatchEvent> next = script_.front();
    if (next.ok()) script_.pop_front();  // An end status repeats.
    return next;
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::StatusOr<WatchEvent>> script_;
  bool closed_ = false;
};

// Lists and watch scripts are consumed in order; the last list repeats and
// watches beyond the script block until closed.
class ScriptedKubeClient : public KubeClient {
 public:
  void AddList(std::vector<std::string> items, int rv) {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(ObjectList{std::move(items), std::to_string(rv)});
  }
  void AddListError(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(status);
  }
  void AddWatch(std::deque<absl::StatusOr<WatchEvent>> script) {
    std::lock_guard<std::mutex> lock(mu_);
    watches_.push_back(std::move(script));
  }
  void AddWatchError(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    watches_.push_back(status);
  }
  std::vector<std::string> WatchVersions() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_versions_;
  }
  bool WaitForWatches(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait,
                        [&] { return watch_versions_.size() >= n; });
  }

  absl::StatusOr<ObjectList> List(const ResourceKind&, const std::string&,
                                  const ListOptions& options) override {
    std::lock_guard<std::mutex> lock(mu_);
    label_selectors_.push_back(options.label_selector);
    absl::StatusOr<ObjectList> list = lists_.front();
    if (lists_.size() > 1) lists_.pop_front();
    return list;
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind&, const std::string&,
      const ListOptions& options) override {
    std::lock_guard<std::mutex> lock(mu_);
    watch_versions_.push_back(options.resource_version);
    cv_.notify_all();
    if (watches_.empty()) {
      return std::unique_ptr<WatchStream>(new ScriptedWatch({}));
    }
    auto next = std::move(watches_.front());
    watches_.pop_front();
    if (!next.ok()) return next.status();
    return std::unique_ptr<WatchStream>(new ScriptedWatch(*std::move(next)));
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

  std::vector<std::string> label_selectors_;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::StatusOr<ObjectList>> lists_;
  std::deque<absl::StatusOr<std::deque<absl::StatusOr<WatchEvent>>>> watches_;
  std::vector<std::string> watch_versions_;
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
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return events_.size() >= n; });
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
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
  EXPECT_THAT(client_.label_selectors_, ElementsAre("app=kmesh"));
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
