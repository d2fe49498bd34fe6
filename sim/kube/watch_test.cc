#include "sim/kube/watch.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

constexpr char kSecrets[] = "/v1/secrets";
constexpr char kNodes[] = "/v1/nodes";

json Secret(const std::string& ns, const std::string& name,
            const std::string& app = "") {
  json secret = {{"metadata", {{"namespace", ns}, {"name", name}}}};
  if (!app.empty()) secret["metadata"]["labels"] = {{"app", app}};
  return secret;
}

uint64_t VersionOf(const json& object) {
  uint64_t version = 0;
  EXPECT_TRUE(absl::SimpleAtoi(
      object["metadata"]["resourceVersion"].get<std::string>(), &version));
  return version;
}

steady_clock::time_point Soon() {
  return steady_clock::now() + std::chrono::seconds(5);
}

// A past deadline: Next() returns what is due without waiting.
steady_clock::time_point Immediately() { return steady_clock::now(); }

std::unique_ptr<Watcher> MustWatch(WatchHistory& history, const char* type_key,
                                   const std::string& ns, uint64_t from,
                                   LabelSelector labels = {}) {
  absl::StatusOr<std::unique_ptr<Watcher>> watcher =
      history.Watch(type_key, ns, std::move(labels), {}, from, {});
  EXPECT_TRUE(watcher.ok()) << watcher.status();
  return watcher.ok() ? *std::move(watcher) : nullptr;
}

TEST(WatchHistoryTest, RecordStampsConsecutiveResourceVersions) {
  WatchHistory history(10);
  for (uint64_t expected = 1; expected <= 3; ++expected) {
    json secret = Secret("default", "s");
    std::shared_ptr<const ObjectSnapshot> recorded =
        history.Record(kSecrets, EventType::kAdded, secret, nullptr);
    EXPECT_EQ(VersionOf(secret), expected);
    EXPECT_EQ(VersionOf(recorded->json()), expected);
  }
  EXPECT_EQ(history.current_version(), 3u);
}

TEST(WatchHistoryTest, AWatcherGetsTheChangesOfItsTypeAndNamespaceInOrder) {
  WatchHistory history(10);
  std::unique_ptr<Watcher> watcher = MustWatch(history, kSecrets, "default", 0);
  ASSERT_NE(watcher, nullptr);
  json a = Secret("default", "a");
  json other_ns = Secret("kube-system", "b");
  json node = {{"metadata", {{"name", "n"}}}};
  json deleted = Secret("default", "a");
  history.Record(kSecrets, EventType::kAdded, a, nullptr);
  history.Record(kSecrets, EventType::kAdded, other_ns, nullptr);
  history.Record(kNodes, EventType::kAdded, node, nullptr);
  history.Record(kSecrets, EventType::kDeleted, deleted, nullptr);
  absl::StatusOr<WatchEvent> first = watcher->Next(Soon());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->type, EventType::kAdded);
  EXPECT_EQ(VersionOf(first->object()), 1u);
  absl::StatusOr<WatchEvent> second = watcher->Next(Soon());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->type, EventType::kDeleted);
  EXPECT_EQ(VersionOf(second->object()), 4u);
  EXPECT_TRUE(absl::IsDeadlineExceeded(watcher->Next(Immediately()).status()));
}

TEST(WatchHistoryTest, AnObjectLeavingTheSelectionIsDeletedForTheWatcher) {
  WatchHistory history(10);
  absl::StatusOr<LabelSelector> kmesh = LabelSelector::Parse("app=kmesh");
  ASSERT_TRUE(kmesh.ok());
  std::unique_ptr<Watcher> watcher =
      MustWatch(history, kSecrets, "", 0, *std::move(kmesh));
  ASSERT_NE(watcher, nullptr);
  json labelled = Secret("default", "a", "kmesh");
  std::shared_ptr<const ObjectSnapshot> before =
      history.Record(kSecrets, EventType::kAdded, labelled, nullptr);
  json relabelled = Secret("default", "a", "other");
  history.Record(kSecrets, EventType::kModified, relabelled, before);
  absl::StatusOr<WatchEvent> added = watcher->Next(Soon());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->type, EventType::kAdded);
  absl::StatusOr<WatchEvent> left = watcher->Next(Soon());
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(left->type, EventType::kDeleted);
}

TEST(WatchHistoryTest, ChangesThatLeftTheHistoryAreGone) {
  WatchHistory history(2);
  std::unique_ptr<Watcher> slow = MustWatch(history, kSecrets, "", 0);
  ASSERT_NE(slow, nullptr);
  for (int i = 0; i < 3; ++i) {
    json secret = Secret("default", "s" + std::to_string(i));
    history.Record(kSecrets, EventType::kAdded, secret, nullptr);
  }
  EXPECT_EQ(history.oldest_watchable_version(), 1u);
  EXPECT_EQ(HttpCode(slow->Next(Soon()).status()), 410);
  absl::StatusOr<std::unique_ptr<Watcher>> late =
      history.Watch(kSecrets, "", {}, {}, 0, {});
  EXPECT_EQ(HttpReason(late.status()), "Expired");
  std::unique_ptr<Watcher> oldest = MustWatch(history, kSecrets, "", 1);
  ASSERT_NE(oldest, nullptr);
  absl::StatusOr<WatchEvent> event = oldest->Next(Soon());
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(VersionOf(event->object()), 2u);
}

TEST(WatchHistoryTest, TheInitialObjectsComeFirstAsAdded) {
  WatchHistory history(10);
  auto a = std::make_shared<const ObjectSnapshot>(Secret("default", "a"));
  auto b =
      std::make_shared<const ObjectSnapshot>(Secret("default", "b", "kmesh"));
  absl::StatusOr<LabelSelector> kmesh = LabelSelector::Parse("app=kmesh");
  ASSERT_TRUE(kmesh.ok());
  absl::StatusOr<std::unique_ptr<Watcher>> watcher =
      history.Watch(kSecrets, "", *std::move(kmesh), {}, 0, {a, b});
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::StatusOr<WatchEvent> event = (*watcher)->Next(Immediately());
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, EventType::kAdded);
  EXPECT_EQ(event->snapshot, b);  // Shared, not copied; a is not selected.
  EXPECT_TRUE(
      absl::IsDeadlineExceeded((*watcher)->Next(Immediately()).status()));
}

TEST(WatchHistoryTest, UndoChangesAfterWalksTheTypesChangesNewestFirst) {
  WatchHistory history(4);
  json a = Secret("default", "a");
  auto added = history.Record(kSecrets, EventType::kAdded, a, nullptr);  // 1
  json node = {{"metadata", {{"name", "n"}}}};
  history.Record(kNodes, EventType::kAdded, node, nullptr);  // 2
  json changed = Secret("default", "a", "x");
  auto modified =
      history.Record(kSecrets, EventType::kModified, changed, added);  // 3
  json gone = changed;
  history.Record(kSecrets, EventType::kDeleted, gone, modified);  // 4
  std::vector<std::pair<EventType, uint64_t>> seen;
  ASSERT_TRUE(history
                  .UndoChangesAfter(
                      kSecrets, 1,
                      [&](EventType type, const ObjectSnapshot& object,
                          const std::shared_ptr<const ObjectSnapshot>& before) {
                        seen.push_back({type, VersionOf(object.json())});
                        ASSERT_NE(before, nullptr);
                      })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::pair<EventType, uint64_t>>{
                      {EventType::kDeleted, 4}, {EventType::kModified, 3}}));
  // A Progress() after a timed-out Next() is the version read up to.
  std::unique_ptr<Watcher> watcher = MustWatch(history, kNodes, "", 4);
  EXPECT_TRUE(absl::IsDeadlineExceeded(watcher->Next(Immediately()).status()));
  EXPECT_EQ(watcher->Progress(), 4u);
  // Once version 1's successors left the history: 410.
  json b = Secret("default", "b");
  history.Record(kSecrets, EventType::kAdded, b, nullptr);  // 5: 1 compacted
  json c = Secret("default", "c");
  history.Record(kSecrets, EventType::kAdded, c, nullptr);  // 6
  absl::Status old = history.UndoChangesAfter(
      kSecrets, 1,
      [](EventType, const ObjectSnapshot&,
         const std::shared_ptr<const ObjectSnapshot>&) {});
  EXPECT_EQ(HttpCode(old), 410) << old;
}

}  // namespace
}  // namespace kmesh::sim::kube
