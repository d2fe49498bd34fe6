// PollUntil: waits on the real steady clock for a condition that another
// thread or process makes true (a daemon converging, a file appearing), by
// checking it every `interval` until it holds or `timeout` has passed. It is
// for waits across threads and processes; code that waits for time itself
// (grace periods) takes a Clock and is driven with ManualClock instead.
#ifndef KMESH_BASE_POLL_UNTIL_H_
#define KMESH_BASE_POLL_UNTIL_H_

#include <chrono>
#include <functional>

namespace kmesh {

// True as soon as `condition` returns true; false if it is still false after
// `timeout` (it is checked one last time at the deadline).
bool PollUntil(
    const std::function<bool()>& condition, std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval = std::chrono::milliseconds(20));

}  // namespace kmesh

#endif  // KMESH_BASE_POLL_UNTIL_H_
