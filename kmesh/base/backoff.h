// Backoff: jittered exponential delays between retries, as client-go's
// wait.Backoff with Jitter (k8s.io/apimachinery/pkg/util/wait): the n-th
// delay is d_n + rand[0,1) * jitter * d_n, where d_1 = initial and
// d_{n+1} = min(max, d_n * factor). With jitter 1.0 (client-go's reflector)
// each delay lies in [d_n, 2 d_n), so clients that failed in the same
// instant (every daemon of a cluster after an API server restart) come back
// spread over a window as wide as the delay itself instead of together.
// Reset() starts again from `initial` after a success. Not thread-safe: one
// user per instance. The random source is injectable for deterministic
// tests.
//
//   Backoff backoff({.initial = 800ms, .max = 30s});
//   while (!TryOnce()) sleep_for(backoff.Next());
#ifndef KMESH_BASE_BACKOFF_H_
#define KMESH_BASE_BACKOFF_H_

#include <chrono>
#include <functional>
#include <random>

namespace kmesh {

struct BackoffPolicy {
  std::chrono::milliseconds initial{800};
  std::chrono::milliseconds max{30000};
  double factor = 2.0;
  // 0 = no jitter; 1.0 = up to twice the base delay (client-go's reflector).
  double jitter = 1.0;
};

class Backoff {
 public:
  // Returns a uniformly distributed value in [0, 1).
  using Uniform = std::function<double()>;

  // `uniform` nullptr = a generator seeded from std::random_device.
  explicit Backoff(BackoffPolicy policy = {}, Uniform uniform = nullptr);

  // The delay to wait now; advances to the next (larger) base delay.
  std::chrono::milliseconds Next();
  // The next Next() starts again from `initial`.
  void Reset();
  // The base (un-jittered) delay the next Next() uses.
  std::chrono::milliseconds base() const { return current_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  Uniform uniform_;
  std::mt19937_64 engine_;
  std::chrono::milliseconds current_;
};

}  // namespace kmesh

#endif  // KMESH_BASE_BACKOFF_H_
