#include "kmesh/kube/connection.h"

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"
#include "kmesh/kube/io_thread.h"
#include "kmesh/kube/testing/loopback_http_server.h"

namespace kmesh::kube {
namespace {

using boost::asio::ip::tcp;
using testing::LoopbackHttpServer;
using testing::ReceivedRequest;
using testing::ScriptedResponse;

boost::asio::io_context& SharedContext() {
  absl::StatusOr<boost::asio::io_context*> ioc = IoThread::Get();
  EXPECT_TRUE(ioc.ok()) << ioc.status();
  return **ioc;
}

tcp::endpoint Loopback(uint16_t port) {
  return tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
}

// Connects `connection` to 127.0.0.1:port within a second.
boost::beast::error_code ConnectTo(Connection& connection, uint16_t port) {
  return connection.Run([&](auto handler) {
    connection.lowest().expires_after(std::chrono::seconds(1));
    connection.lowest().async_connect(Loopback(port), std::move(handler));
  });
}

TEST(ConnectionTest, RunReturnsWhenTheOperationHasCompleted) {
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  Connection connection(SharedContext(), nullptr);
  EXPECT_FALSE(ConnectTo(connection, server->port()));
  EXPECT_TRUE(connection.lowest().socket().is_open());
  EXPECT_EQ(connection.ssl(), nullptr);
}

TEST(ConnectionTest, RunReturnsTheOperationsError) {
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  const uint16_t port = server->port();
  server.reset();  // Nothing listens on the port any more.
  Connection connection(SharedContext(), nullptr);
  EXPECT_EQ(ConnectTo(connection, port),
            boost::asio::error::connection_refused);
}

TEST(ConnectionTest, AnOperationThatCannotStartFailsInsteadOfHanging) {
  Connection connection(SharedContext(), nullptr);
  boost::beast::error_code ec =
      connection.Run([](auto) { throw std::runtime_error("cannot start"); });
  EXPECT_EQ(ec, boost::asio::error::fault);
}

// An exception thrown inside a started operation unwinds out of the I/O
// thread's run loop and destroys the operation with its handler; the caller
// must hear of it rather than wait forever (found with a 100 GB
// Content-Length, whose allocation threw inside the response parser).
TEST(ConnectionTest, AnOperationAbandonedByAnExceptionFailsInsteadOfHanging) {
  Connection connection(SharedContext(), nullptr);
  auto outcome = std::make_shared<std::promise<boost::beast::error_code>>();
  std::future<boost::beast::error_code> result = outcome->get_future();
  std::thread([&connection, outcome] {
    outcome->set_value(connection.Run([&connection](auto handler) {
      boost::asio::post(
          connection.ioc(),
          [handler = std::move(handler)]() mutable { throw std::bad_alloc(); });
    }));
  }).detach();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(20)),
            std::future_status::ready)
      << "Run() still waits for a handler that was destroyed";
  EXPECT_EQ(result.get(), boost::asio::error::fault);
  // The I/O thread goes on serving other operations.
  auto server = LoopbackHttpServer::Start(
      [](const ReceivedRequest&) { return ScriptedResponse(); });
  Connection other(SharedContext(), nullptr);
  EXPECT_FALSE(ConnectTo(other, server->port()));
}

TEST(ConnectionTest, ATlsConnectionHasATlsSession) {
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  Connection connection(SharedContext(), &context);
  EXPECT_NE(connection.ssl(), nullptr);
}

}  // namespace
}  // namespace kmesh::kube
