#include "kmesh/kube/io_thread.h"

#include <boost/asio/post.hpp>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace kmesh::kube {
namespace {

TEST(IoThreadTest, EveryCallerGetsTheSameContext) {
  absl::StatusOr<boost::asio::io_context*> first = IoThread::Get();
  absl::StatusOr<boost::asio::io_context*> second = IoThread::Get();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
}

TEST(IoThreadTest, RunsPostedWorkOnItsOwnThread) {
  absl::StatusOr<boost::asio::io_context*> ioc = IoThread::Get();
  ASSERT_TRUE(ioc.ok()) << ioc.status();
  std::thread::id ran_on;
  absl::Notification ran;
  boost::asio::post(**ioc, [&] {
    ran_on = std::this_thread::get_id();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(IoThreadTest, KeepsServingAfterAHandlerThrows) {
  absl::StatusOr<boost::asio::io_context*> ioc = IoThread::Get();
  ASSERT_TRUE(ioc.ok()) << ioc.status();
  boost::asio::post(**ioc, [] { throw std::runtime_error("handler failed"); });
  absl::Notification ran;
  boost::asio::post(**ioc, [&] { ran.Notify(); });
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace kmesh::kube
