// The reflector over a scripted in-memory KubeClient: list then watch, resume
// from the last resourceVersion after a dropped stream, relist after 410 with
// the difference delivered as synthetic events, stop. Against the simulated
// API server (real drops and compaction) see rest_kube_client_sim_test.cc.
#include "kmesh/kube/reflector.h"

#include <atomic>
#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kmesh/base/clock.h"
#include "kmesh/kube/testing/scripted_watch_stream.h"
#include "nlohmann/json.hpp"

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
  // One page of a paged list: `next` is its continue token.
  void AddPage(std::vector<std::string> items, int rv, std::string next) {
    absl::MutexLock lock(&mu_);
    lists_.push_back(
        ObjectList{std::move(items), std::to_string(rv), std::move(next)});
  }
  // "limit=500 continue=t fields=spec.nodeName=n" per list request.
  std::vector<std::string> ListRequests() {
    absl::MutexLock lock(&mu_);
    return list_requests_;
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
    list_requests_.push_back(absl::StrCat("limit=", options.limit,
                                          " continue=", options.continue_token,
                                          " fields=", options.field_selector));
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
  std::vector<std::string> list_requests_ ABSL_GUARDED_BY(mu_);
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
    ReflectorOptions options = options_;
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

  ReflectorOptions options_;
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

// A BOOKMARK as the API server sends it: kind, apiVersion and
// metadata.resourceVersion only; no name. It moves the position and keeps
// the watch going.
TEST_F(ReflectorTest, RealShapedBookmarkAdvancesTheVersionAndKeepsWatching) {
  client_.AddList({Obj("a", 1)}, 1);
  client_.AddWatch({WatchEvent{WatchEventType::kBookmark,
                               R"({"kind":"Secret","apiVersion":"v1",)"
                               R"("metadata":{"resourceVersion":"12"}})"},
                    Event(WatchEventType::kModified, "a", 13),
                    WatchEvent{WatchEventType::kBookmark,
                               R"({"kind":"Secret","apiVersion":"v1",)"
                               R"("metadata":{"resourceVersion":"20"}})"},
                    absl::UnavailableError("the server ended the watch")});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(3));
  ASSERT_TRUE(client_.WaitForWatches(2));
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "synced", "update a@1->a@13"));
  // One watch delivered all three events and the next resumed from the
  // second bookmark's version; nothing was relisted.
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("1", "20"));
  EXPECT_EQ(reflector_->ListCount(), 1);
  EXPECT_EQ(reflector_->Snapshot().size(), 1u);
}

// The same bookmark decoded by the client (WatchEvent::parsed, no text).
TEST_F(ReflectorTest, DecodedBookmarkAdvancesTheVersion) {
  client_.AddList({}, 1);
  WatchEvent bookmark{WatchEventType::kBookmark, ""};
  bookmark
      .parsed = std::make_shared<const nlohmann::json>(nlohmann::json::parse(
      R"({"kind":"Secret","apiVersion":"v1","metadata":{"resourceVersion":"7"}})"));
  client_.AddWatch({bookmark, absl::UnavailableError("ended")});
  Start();
  ASSERT_TRUE(client_.WaitForWatches(2));
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("1", "7"));
  EXPECT_EQ(reflector_->ListCount(), 1);
}

TEST_F(ReflectorTest, ListsInPagesOfTheConfiguredSize) {
  options_.page_size = 2;
  options_.field_selector = "spec.nodeName=n1";
  client_.AddPage({Obj("a", 1), Obj("b", 2)}, 5, "p2");
  client_.AddPage({Obj("c", 3), Obj("d", 4)}, 5, "p3");
  client_.AddPage({Obj("e", 5)}, 5, "");
  Start();
  ASSERT_TRUE(handler_.WaitForCount(6));
  ASSERT_TRUE(client_.WaitForWatches(1));
  EXPECT_THAT(handler_.events(), ElementsAre("add a@1", "add b@2", "add c@3",
                                             "add d@4", "add e@5", "synced"));
  EXPECT_THAT(client_.ListRequests(),
              ElementsAre("limit=2 continue= fields=spec.nodeName=n1",
                          "limit=2 continue=p2 fields=spec.nodeName=n1",
                          "limit=2 continue=p3 fields=spec.nodeName=n1"));
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("5"));
  EXPECT_EQ(reflector_->ListCount(), 1);
  EXPECT_EQ(reflector_->ListRequestCount(), 3);
}

TEST_F(ReflectorTest, ExpiredContinueTokenFallsBackToAFullList) {
  options_.page_size = 2;
  client_.AddPage({Obj("a", 1), Obj("b", 2)}, 5, "p2");
  client_.AddListError(absl::OutOfRangeError(
      "The provided continue parameter is too old to display a consistent "
      "list result"));
  client_.AddList({Obj("a", 1), Obj("b", 2), Obj("c", 9)}, 9);
  Start();
  ASSERT_TRUE(handler_.WaitForCount(4));
  ASSERT_TRUE(client_.WaitForWatches(1));
  // Nothing of the abandoned paged list was delivered.
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "add b@2", "add c@9", "synced"));
  EXPECT_THAT(client_.ListRequests(), ElementsAre("limit=2 continue= fields=",
                                                  "limit=2 continue=p2 fields=",
                                                  "limit=0 continue= fields="));
  EXPECT_THAT(client_.WatchVersions(), ElementsAre("9"));
}

// client-go's TransformFunc: the store and the handler see reduced objects.
TEST_F(ReflectorTest, TransformReducesWhatIsStoredAndDelivered) {
  options_.transform = [](const nlohmann::json& o) {
    nlohmann::json reduced = o;
    reduced.erase("spec");
    return reduced;
  };
  client_.AddList({R"({"metadata":{"name":"a","namespace":"ns",)"
                   R"("resourceVersion":"1"},"spec":{"big":"x"}})"},
                  1);
  client_.AddWatch({WatchEvent{
      WatchEventType::kModified,
      R"({"metadata":{"name":"a","namespace":"ns","resourceVersion":"2"},)"
      R"("spec":{"big":"y"}})"}});
  Start();
  ASSERT_TRUE(handler_.WaitForCount(3));
  EXPECT_THAT(handler_.events(),
              ElementsAre("add a@1", "synced", "update a@1->a@2"));
  EXPECT_EQ(reflector_->Snapshot()["ns/a"], Obj("a", 2));
}

// A handler taking decoded objects gets the client's own decoded object:
// no serialisation and no parse in between.
class ObjectHandler : public ReflectorHandler {
 public:
  void OnAddObject(const nlohmann::json& object, const std::string&) override {
    absl::MutexLock lock(&mu_);
    added_.push_back(&object);
  }
  std::vector<const nlohmann::json*> added() {
    absl::MutexLock lock(&mu_);
    return added_;
  }

 private:
  absl::Mutex mu_;
  std::vector<const nlohmann::json*> added_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ReflectorTest, DecodedEventObjectsReachTheHandlerAsTheyAre) {
  client_.AddList({}, 1);
  WatchEvent added{WatchEventType::kAdded, ""};
  added.parsed = std::make_shared<const nlohmann::json>(
      nlohmann::json::parse(Obj("a", 2)));
  const nlohmann::json* sent = added.parsed.get();
  client_.AddWatch({added});
  ObjectHandler handler;
  Reflector reflector(&client_, SecretsKind(), "ns", &handler);
  std::thread thread([&] { reflector.Run(); });
  ASSERT_TRUE(client_.WaitForWatches(1));
  for (int i = 0; i < 1000 && handler.added().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  reflector.Stop();
  thread.join();
  EXPECT_THAT(handler.added(), ElementsAre(sent));
  EXPECT_EQ(reflector.Snapshot()["ns/a"], Obj("a", 2));
}

// A quiet hour, in simulated time: every watch runs until the server's
// timeout (5 minutes) and ends, with a bookmark now and then and no object
// changes. The reflector never relists, never backs off, and each watch
// resumes from the newest bookmark.
class QuietClusterClient : public KubeClient {
 public:
  explicit QuietClusterClient(ManualClock* clock) : clock_(clock) {}

  // One watch: a bookmark (all but every third watch), then the timeout.
  class QuietWatch : public WatchStream {
   public:
    QuietWatch(ManualClock* clock, int bookmark_rv)
        : clock_(clock), bookmark_rv_(bookmark_rv) {}
    // Five minutes in all, whether or not a bookmark came.
    absl::StatusOr<WatchEvent> Next(milliseconds) override {
      if (bookmark_rv_ > 0) {
        WatchEvent bookmark{WatchEventType::kBookmark, ""};
        bookmark.parsed = std::make_shared<const nlohmann::json>(nlohmann::json{
            {"kind", "Pod"},
            {"apiVersion", "v1"},
            {"metadata", {{"resourceVersion", std::to_string(bookmark_rv_)}}}});
        bookmark_rv_ = 0;
        had_bookmark_ = true;
        clock_->Advance(std::chrono::minutes(4));
        return bookmark;
      }
      clock_->Advance(std::chrono::minutes(had_bookmark_ ? 1 : 5));
      return absl::UnavailableError("the API server ended the watch");
    }
    void Close() override {}

   private:
    ManualClock* const clock_;
    int bookmark_rv_;
    bool had_bookmark_ = false;
  };

  absl::StatusOr<ObjectList> List(const ResourceKind&, const std::string&,
                                  const ListOptions&) override {
    ++lists_;
    return ObjectList{{Obj("a", 100)}, "100", ""};
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceKind&, const std::string&,
      const ListOptions& options) override {
    if (clock_->Now() >= end) {
      at_end();
      return absl::CancelledError("the hour is over");
    }
    watch_versions_.push_back(options.resource_version);
    const int n = static_cast<int>(watch_versions_.size());
    // Other objects change elsewhere in the cluster: the version moves on.
    const int rv = n % 3 == 0 ? 0 : 100 + 10 * n;
    return std::make_unique<QuietWatch>(clock_, rv);
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

  int lists_ = 0;
  std::vector<std::string> watch_versions_;
  // When the test ends, and how.
  TimePoint end;
  std::function<void()> at_end;

 private:
  ManualClock* const clock_;
};

TEST(ReflectorQuietHourTest, NeverRelistsAndKeepsAdvancingItsVersion) {
  ManualClock clock;
  const TimePoint start = clock.Now();
  QuietClusterClient client(&clock);
  RecordingHandler handler;
  ReflectorOptions options;
  options.clock = &clock;
  options.watch_timeout = std::chrono::seconds(300);
  // A backoff would show: a second each, real time.
  options.initial_backoff = milliseconds(1000);
  options.backoff_uniform = [] { return 0.0; };
  Reflector reflector(&client, PodsKind(), "", &handler, options);
  // The client stops the reflector once an hour has passed.
  client.end = start + std::chrono::hours(1);
  client.at_end = [&] { reflector.Stop(); };
  const absl::Time real_start = absl::Now();
  reflector.Run();
  EXPECT_LT(absl::Now() - real_start, absl::Seconds(5));
  EXPECT_EQ(client.lists_, 1);
  EXPECT_EQ(reflector.ListCount(), 1);
  // Twelve 5-minute watches.
  ASSERT_EQ(client.watch_versions_.size(), 12u);
  // Each watch starts from the last bookmark before it; a watch without a
  // bookmark (every third) leaves the version where it was.
  std::vector<std::string> expected = {"100"};
  std::string last = "100";
  for (int n = 1; n < 12; ++n) {
    if (n % 3 != 0) last = std::to_string(100 + 10 * n);
    expected.push_back(last);
  }
  EXPECT_EQ(client.watch_versions_, expected);
  EXPECT_EQ(reflector.LastResourceVersion(), "210");
  EXPECT_EQ(reflector.WatchCount(), 13);  // The 13th found the hour over.
  EXPECT_THAT(handler.events(), ElementsAre("add a@100", "synced"));
}

}  // namespace
}  // namespace kmesh::kube
