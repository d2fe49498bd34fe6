#include "kmesh/base/backoff.h"

#include <algorithm>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

TEST(BackoffTest, WithoutJitterDoublesUpToTheCap) {
  Backoff backoff({milliseconds(100), milliseconds(1000), 2.0, 0.0});
  std::vector<int64_t> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(backoff.Next().count());
  EXPECT_THAT(delays, ElementsAre(100, 200, 400, 800, 1000, 1000));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(BackoffTest, JitterAddsUpToJitterTimesTheBaseDelay) {
  double u = 0;
  Backoff backoff({milliseconds(800), milliseconds(30000), 2.0, 1.0},
                  [&u] { return u; });
  u = 0.0;
  EXPECT_EQ(backoff.Next(), milliseconds(800));
  u = 0.5;
  EXPECT_EQ(backoff.Next(), milliseconds(1600 + 800));
  u = 0.999;
  EXPECT_EQ(backoff.Next(), milliseconds(3200 + 3196));
}

TEST(BackoffTest, HalfJitterStaysWithinHalfTheDelay) {
  Backoff backoff({milliseconds(1000), milliseconds(1000), 2.0, 0.5},
                  [] { return 0.999999; });
  EXPECT_EQ(backoff.Next(), milliseconds(1499));
}

// A thousand clients failing in the same instant: without jitter they all
// retry at the same millisecond; with jitter 1.0 their retries spread over
// [d, 2d) roughly evenly (deterministic: a seeded generator).
TEST(BackoffTest, ClientsFailingTogetherComeBackSpreadOut) {
  std::mt19937_64 engine(42);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  Backoff::Uniform uniform = [&] { return dist(engine); };
  constexpr int kClients = 1000;
  std::vector<int64_t> retries;
  for (int i = 0; i < kClients; ++i) {
    Backoff backoff({milliseconds(2000), milliseconds(30000), 2.0, 1.0},
                    uniform);
    retries.push_back(backoff.Next().count());
  }
  std::sort(retries.begin(), retries.end());
  EXPECT_GE(retries.front(), 2000);
  EXPECT_LT(retries.back(), 4000);
  // Spread: ten 200 ms buckets each get 5-15% of the clients.
  std::vector<int> buckets(10, 0);
  for (int64_t r : retries) ++buckets[(r - 2000) / 200];
  for (int b : buckets) {
    EXPECT_GT(b, kClients / 20);
    EXPECT_LT(b, kClients * 3 / 20);
  }
  Backoff fixed({milliseconds(2000), milliseconds(30000), 2.0, 0.0});
  EXPECT_EQ(fixed.Next(), milliseconds(2000));
}

TEST(BackoffTest, DefaultGeneratorStaysInRange) {
  Backoff backoff({milliseconds(100), milliseconds(400), 2.0, 1.0});
  for (int i = 0; i < 20; ++i) {
    const milliseconds base = backoff.base();
    const milliseconds d = backoff.Next();
    EXPECT_GE(d, base);
    EXPECT_LT(d, base * 2);
  }
}

}  // namespace
}  // namespace kmesh
