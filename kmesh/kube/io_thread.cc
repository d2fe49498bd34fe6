#include "kmesh/kube/io_thread.h"

#include <boost/system/system_error.hpp>
#include <exception>
#include <system_error>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::kube {

absl::StatusOr<boost::asio::io_context*> IoThread::Get() {
  static absl::Mutex mu(absl::kConstInit);
  static IoThread* instance ABSL_GUARDED_BY(mu) = nullptr;
  absl::MutexLock lock(&mu);
  if (instance == nullptr) {
    try {
      instance = new IoThread();
    } catch (const std::system_error& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot start the I/O thread: ", e.what()));
    } catch (const boost::system::system_error& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot open the I/O reactor: ", e.code().message()));
    }
  }
  return &instance->ioc_;
}

IoThread::IoThread()
    : work_(boost::asio::make_work_guard(ioc_)),
      thread_([this] { RunForever(); }) {
  thread_.detach();
}

void IoThread::RunForever() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (...) {
      // A handler threw past its operation's own guard. Unwinding
      // destroyed that operation, and with it the handler its caller
      // waits on, which reports the failure (Connection::Run). Keep
      // serving the others.
    }
  }
}

}  // namespace kmesh::kube
