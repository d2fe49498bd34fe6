// ThreadSanitizer annotations for Debian's Abseil, linked into every binary
// built with --config=tsan (.bazelrc: --custom_malloc=//tools/sanitizers:
// tsan_hooks). Compiles to nothing without -fsanitize=thread.
//
// Debian builds libabsl_synchronization.so without TSan, so absl::Mutex's
// lock and unlock are invisible to the detector: it reports every access
// guarded by an absl::Mutex from two threads as a race (docs/reliability.md,
// "Sanitizers", shows such a report). This file interposes the library's
// exported entry points: the executable's definitions win over the shared
// library's (ELF symbol interposition; the library's own internal calls, e.g.
// Notification::Notify -> Mutex::Lock, go through its PLT and reach these
// too). Each wrapper tells TSan what happened with the __tsan_mutex_*
// annotations that Abseil itself uses when built with TSan (absl/base/
// internal/tsan_mutex_interface.h), then calls the real function found with
// dlsym(RTLD_NEXT). Between pre_* and post_* TSan ignores memory accesses, so
// Condition functions that absl evaluates inside Lock/Unlock/Await are not
// reported, as in an instrumented Abseil.
//
// Await and CondVar::Wait release the mutex inside and take it again before
// returning; they are annotated as an unlock before and a lock after. They
// assume the mutex is held exclusively (the project never waits under a
// reader lock).

#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

static_assert(ABSL_OPTION_USE_INLINE_NAMESPACE == 1,
              "mangled names below assume Abseil's inline namespace");

namespace {

#define KMESH_STR2(x) #x
#define KMESH_STR(x) KMESH_STR2(x)

// The real function `tail` (its mangled name after "_ZN[K]4absl<ns>").
void* Real(bool is_const, const char* tail) {
  const std::string ns = KMESH_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(ns.size()) + ns + tail;
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "tools/sanitizers/absl_tsan.cc: %s not found\n",
                 name.c_str());
    std::abort();
  }
  return f;
}

template <typename F>
F RealFn(const char* tail, bool is_const = false) {
  return reinterpret_cast<F>(Real(is_const, tail));
}

#define REAL(type, tail, ...) \
  static const auto real = RealFn<type>(tail, ##__VA_ARGS__)

// Abseil calls its own entry points through its PLT (AwaitWithTimeout ->
// AwaitWithDeadline, WaitForNotification -> LockWhen...), so they reach
// these wrappers again: only the outermost call on a thread annotates.
thread_local int nesting = 0;
class Nest {
 public:
  Nest() { ++nesting; }
  ~Nest() { --nesting; }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;
  bool inner() const { return nesting > 1; }
};

void PreLock(void* mu, unsigned flags) { __tsan_mutex_pre_lock(mu, flags); }
void PostLock(void* mu, unsigned flags) {
  __tsan_mutex_post_lock(mu, flags, 0);
}
void PreUnlock(void* mu, unsigned flags) { __tsan_mutex_pre_unlock(mu, flags); }
void PostUnlock(void* mu, unsigned flags) {
  __tsan_mutex_post_unlock(mu, flags);
}

// Around a call that returns with `mu` held and may have released it inside.
template <typename F>
auto Reacquiring(absl::Mutex* mu, F call) {
  PreUnlock(mu, 0);
  auto result = call();
  PostUnlock(mu, 0);
  PreLock(mu, 0);
  PostLock(mu, 0);
  return result;
}

// Notification's layout, to find the flag its inline HasBeenNotified() reads.
struct NotificationLayout {
  absl::Mutex mutex;
  std::atomic<bool> notified_yet;
};
static_assert(sizeof(NotificationLayout) == sizeof(absl::Notification));

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  REAL(void (*)(Mutex*), "5MutexD1Ev");
  __tsan_mutex_destroy(this, __tsan_mutex_not_static);
  real(this);
}

void Mutex::Lock() {
  REAL(void (*)(Mutex*), "5Mutex4LockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreLock(this, 0);
  real(this);
  PostLock(this, 0);
}

void Mutex::ReaderLock() {
  REAL(void (*)(Mutex*), "5Mutex10ReaderLockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreLock(this, __tsan_mutex_read_lock);
  real(this);
  PostLock(this, __tsan_mutex_read_lock);
}

void Mutex::Unlock() {
  REAL(void (*)(Mutex*), "5Mutex6UnlockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreUnlock(this, 0);
  real(this);
  PostUnlock(this, 0);
}

void Mutex::ReaderUnlock() {
  REAL(void (*)(Mutex*), "5Mutex12ReaderUnlockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreUnlock(this, __tsan_mutex_read_lock);
  real(this);
  PostUnlock(this, __tsan_mutex_read_lock);
}

bool Mutex::TryLock() {
  REAL(bool (*)(Mutex*), "5Mutex7TryLockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreLock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  PostLock(this, locked ? __tsan_mutex_try_lock
                        : __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed);
  return locked;
}

bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mutex*), "5Mutex13ReaderTryLockEv");
  Nest nest;
  if (nest.inner()) return real(this);
  PreLock(this, __tsan_mutex_try_read_lock);
  const bool locked = real(this);
  PostLock(this, locked ? __tsan_mutex_try_read_lock
                        : __tsan_mutex_try_read_lock_failed);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "5Mutex8LockWhenERKNS0_9ConditionE");
  Nest nest;
  if (nest.inner()) return real(this, cond);
  PreLock(this, 0);
  real(this, cond);
  PostLock(this, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&),
       "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Nest nest;
  if (nest.inner()) return real(this, cond);
  PreLock(this, __tsan_mutex_read_lock);
  real(this, cond);
  PostLock(this, __tsan_mutex_read_lock);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Nest nest;
  if (nest.inner()) return real(this, cond, timeout);
  PreLock(this, 0);
  const bool ok = real(this, cond, timeout);
  PostLock(this, 0);
  return ok;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Nest nest;
  if (nest.inner()) return real(this, cond, deadline);
  PreLock(this, 0);
  const bool ok = real(this, cond, deadline);
  PostLock(this, 0);
  return ok;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Nest nest;
  if (nest.inner()) return real(this, cond, timeout);
  PreLock(this, __tsan_mutex_read_lock);
  const bool ok = real(this, cond, timeout);
  PostLock(this, __tsan_mutex_read_lock);
  return ok;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Nest nest;
  if (nest.inner()) return real(this, cond, deadline);
  PreLock(this, __tsan_mutex_read_lock);
  const bool ok = real(this, cond, deadline);
  PostLock(this, __tsan_mutex_read_lock);
  return ok;
}

void Mutex::Await(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "5Mutex5AwaitERKNS0_9ConditionE");
  Nest nest;
  if (nest.inner()) return real(this, cond);
  Reacquiring(this, [&] {
    real(this, cond);
    return 0;
  });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Nest nest;
  if (nest.inner()) return real(this, cond, timeout);
  return Reacquiring(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Nest nest;
  if (nest.inner()) return real(this, cond, deadline);
  return Reacquiring(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  REAL(void (*)(CondVar*, Mutex*), "7CondVar4WaitEPNS0_5MutexE");
  Nest nest;
  if (nest.inner()) return real(this, mu);
  Reacquiring(mu, [&] {
    real(this, mu);
    return 0;
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  REAL(bool (*)(CondVar*, Mutex*, Duration),
       "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Nest nest;
  if (nest.inner()) return real(this, mu, timeout);
  return Reacquiring(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  REAL(bool (*)(CondVar*, Mutex*, Time),
       "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Nest nest;
  if (nest.inner()) return real(this, mu, deadline);
  return Reacquiring(mu, [&] { return real(this, mu, deadline); });
}

// Notification is annotated as a whole, as a release on its flag in Notify()
// and an acquire after a wait that saw it set: Notify() sets the flag in
// uninstrumented code and the inline HasBeenNotified() reads it with an
// acquire load in ours, which then has its happens-before edge. The mutex
// operations inside are nested, hence not annotated.
namespace {
void* NotifiedFlag(const Notification* n) {
  return &reinterpret_cast<NotificationLayout*>(const_cast<Notification*>(n))
              ->notified_yet;
}
}  // namespace

void Notification::Notify() {
  REAL(void (*)(Notification*), "12Notification6NotifyEv");
  Nest nest;
  if (nest.inner()) return real(this);
  __tsan_release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  REAL(void (*)(const Notification*), "12Notification19WaitForNotificationEv",
       true);
  Nest nest;
  if (nest.inner()) return real(this);
  real(this);
  __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  REAL(bool (*)(const Notification*, Duration),
       "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", true);
  Nest nest;
  if (nest.inner()) return real(this, timeout);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  REAL(bool (*)(const Notification*, Time),
       "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", true);
  Nest nest;
  if (nest.inner()) return real(this, deadline);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // __SANITIZE_THREAD__
