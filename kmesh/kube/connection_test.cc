#include "kmesh/kube/connection.h"

#include <boost/asio/ip/tcp.hpp>
#include <stdexcept>

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

TEST(ConnectionTest, ATlsConnectionHasATlsSession) {
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  Connection connection(SharedContext(), &context);
  EXPECT_NE(connection.ssl(), nullptr);
}

}  // namespace
}  // namespace kmesh::kube
