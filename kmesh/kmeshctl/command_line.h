// kmeshctl's command line, parsed the way kubectl (cobra/pflag) parses its
// own: commands as words (`kmeshctl secret create`), flags anywhere after the
// program name as `--name=value`, `--name value`, `-n value`, `-n=value` or
// `-nvalue`, global flags (--kubeconfig, --context, --request-timeout, --as,
// --as-group, --as-uid, --insecure-allow-http-credentials, -n/--namespace)
// at every level, and
// `-h`/`--help` or `kmeshctl help ...` printing kubectl-style help (Usage,
// Examples, Flags) for that level. gflags is not used: its flags are one
// process-wide set (every command would accept every flag), it has no
// one-letter short forms, and its help text lists every flag of every linked
// library instead of kubectl's per-command layout.
#ifndef KMESH_KMESHCTL_COMMAND_LINE_H_
#define KMESH_KMESHCTL_COMMAND_LINE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kmesh/kmeshctl/secret_command.h"

namespace kmesh::kmeshctl {

enum class CliAction {
  kShowHelp,
  kSecretCreate,
  kSecretGet,
  kSecretDelete,
  kSecretStatus
};

// The longest --request-timeout used; larger values (and 0, "no timeout")
// mean this. It equals the kube transport's longest timeout.
inline constexpr absl::Duration kMaxRequestTimeout = absl::Hours(24);

struct CliInvocation {
  CliAction action = CliAction::kShowHelp;
  // For kShowHelp: the text to print on stdout.
  std::string help_text;
  // Global flags; empty = not given.
  std::string kubeconfig;
  std::string context;
  // --as, --as-group (repeatable), --as-uid: impersonation, overriding the
  // kubeconfig's as / as-groups / as-uid as in kubectl.
  std::string as_user;
  std::vector<std::string> as_groups;
  std::string as_uid;
  // --insecure-allow-http-credentials.
  bool allow_http_credentials = false;
  // --request-timeout; nullopt = the client's default. Zero = none. At
  // most kMaxRequestTimeout (larger values are clamped).
  std::optional<absl::Duration> request_timeout;
  // `secret create --key`: the argument as typed (it is a key: wipe it after
  // use). nullopt = not given.
  std::optional<std::string> key;
  // Where the key's characters are in the argument list (index, offset), so
  // that the caller can wipe them from argv as well.
  std::optional<std::pair<size_t, size_t>> key_position;
  // `secret get -o`, `secret status -o`.
  SecretOutputFormat output = SecretOutputFormat::kText;
  // `secret status --lag-threshold`; nullopt = the default.
  std::optional<absl::Duration> lag_threshold;
};

// `args` are the arguments after the program name. A usage error is
// InvalidArgument whose message is the complete text for stderr: "Error: ...",
// then "Run '<command> --help' for usage.", each line ending in "\n".
// Messages never repeat a flag's value or a long argument (it may be a key).
absl::StatusOr<CliInvocation> ParseCommandLine(
    const std::vector<std::string>& args);

}  // namespace kmesh::kmeshctl

#endif  // KMESH_KMESHCTL_COMMAND_LINE_H_
