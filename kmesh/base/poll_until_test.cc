#include "kmesh/base/poll_until.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace kmesh {
namespace {

using std::chrono::milliseconds;

TEST(PollUntilTest, ReturnsTrueOnceAnotherThreadMakesTheConditionTrue) {
  std::atomic<bool> ready{false};
  std::thread setter([&] { ready = true; });
  EXPECT_TRUE(PollUntil([&] { return ready.load(); }, milliseconds(10000),
                        milliseconds(1)));
  setter.join();
}

TEST(PollUntilTest, ReturnsFalseWhenTheConditionNeverHolds) {
  int checks = 0;
  EXPECT_FALSE(PollUntil(
      [&] {
        ++checks;
        return false;
      },
      milliseconds(30), milliseconds(5)));
  EXPECT_GE(checks, 2);  // checked while waiting and once at the deadline
}

TEST(PollUntilTest, ChecksOnceEvenWithAZeroTimeout) {
  int checks = 0;
  EXPECT_TRUE(PollUntil(
      [&] {
        ++checks;
        return true;
      },
      milliseconds(0)));
  EXPECT_EQ(checks, 1);
}

}  // namespace
}  // namespace kmesh
