// Under --config=tsan: absl::Mutex, CondVar and Notification give TSan the
// happens-before edges they really provide (absl_tsan.cc), and an unguarded
// access is still reported. Without TSan the first tests are plain
// threading tests and the last is skipped.

#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

TEST(AbslTsanTest, MutexLockGuardsAcrossThreads) {
  absl::Mutex mu;
  int counter = 0;
  auto add = [&] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&mu);
      ++counter;
    }
  };
  std::thread a(add);
  std::thread b(add);
  {
    absl::MutexLock lock(&mu);
    auto done = [&] { return counter == 2000; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30)));
  }
  a.join();
  b.join();
}

TEST(AbslTsanTest, CondVarWaitGuardsAcrossThreads) {
  absl::Mutex mu;
  absl::CondVar cv;
  std::string value;  // Plain data handed over under mu.
  std::thread writer([&] {
    absl::MutexLock lock(&mu);
    value = "ready";
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (value.empty()) cv.Wait(&mu);
    EXPECT_EQ(value, "ready");
  }
  writer.join();
}

TEST(AbslTsanTest, NotificationPublishesWritesBeforeNotify) {
  std::string value;
  absl::Notification ready;
  std::thread writer([&] {
    value = "ready";
    ready.Notify();
  });
  ASSERT_TRUE(ready.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(value, "ready");
  while (!ready.HasBeenNotified()) {
  }
  writer.join();
}

TEST(AbslTsanDeathTest, AnUnguardedWriteIsStillReported) {
#if !defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "only meaningful under --config=tsan";
#else
  EXPECT_DEATH(
      {
        absl::Mutex mu;
        int counter = 0;
        std::thread other([&] { ++counter; });  // Without mu.
        {
          absl::MutexLock lock(&mu);
          ++counter;
        }
        other.join();
      },
      "data race");
#endif
}

}  // namespace
