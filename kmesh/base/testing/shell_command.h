// Shell commands for tests that hold the product against real tools
// (iproute2, tcpdump, tshark, strace): whether a tool is installed, so the
// test can skip with a reason when it is not, what a command prints, and
// whether it succeeds. Commands run with /bin/sh -c.
#ifndef KMESH_BASE_TESTING_SHELL_COMMAND_H_
#define KMESH_BASE_TESTING_SHELL_COMMAND_H_

#include <string>

namespace kmesh::testing {

// Whether `tool` is on the PATH.
bool HaveTool(const std::string& tool);

// The standard output of `command` (empty if it cannot run).
std::string CommandOutput(const std::string& command);

// Whether `command` exits 0; its output is discarded.
bool CommandSucceeds(const std::string& command);

}  // namespace kmesh::testing

#endif  // KMESH_BASE_TESTING_SHELL_COMMAND_H_
