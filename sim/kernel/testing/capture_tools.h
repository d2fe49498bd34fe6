// The real tcpdump and tshark, run by the tests that hold simulated captures
// against them: whether a tool is installed (tests skip with a reason when it
// is not) and what a shell command prints.
#ifndef SIM_KERNEL_TESTING_CAPTURE_TOOLS_H_
#define SIM_KERNEL_TESTING_CAPTURE_TOOLS_H_

#include <string>

namespace kmesh::sim::testing {

// Whether `tool` is on the PATH.
bool HaveTool(const std::string& tool);

// The standard output of `/bin/sh -c command` (empty if it cannot run).
std::string CommandOutput(const std::string& command);

}  // namespace kmesh::sim::testing

#endif  // SIM_KERNEL_TESTING_CAPTURE_TOOLS_H_
