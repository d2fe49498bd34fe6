// IoThread: the one Asio io_context every API server connection of the
// process runs on, and the thread that runs it. Callers start an operation
// on it and block until it completes (connection.h), so a connection costs
// one descriptor (its socket) instead of a reactor of its own (epoll,
// eventfd, timerfd), and a watch stream needs no thread of its own. Created
// on first use and never destroyed: connections may be released on any
// thread, including this one, and the thread ends with the process.
// Operations catch what their own handlers throw and end with an error
// (connection.h, response_stream.cc); anything that still escapes is
// dropped so that the thread goes on serving the others.
#ifndef KMESH_KUBE_IO_THREAD_H_
#define KMESH_KUBE_IO_THREAD_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "absl/status/statusor.h"

namespace kmesh::kube {

class IoThread {
 public:
  // The shared io_context; Unavailable when its reactor or thread cannot be
  // started (e.g. out of descriptors), and then tried again on the next
  // call. Thread-safe.
  static absl::StatusOr<boost::asio::io_context*> Get();

 private:
  IoThread();
  void RunForever();

  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
      work_;
  std::thread thread_;
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_IO_THREAD_H_
