#include "kmesh/kmeshctl/command_line.h"

#include <openssl/mem.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace kmesh::kmeshctl {
namespace {

struct FlagSpec {
  absl::string_view name;  // Long name, without "--".
  char shorthand;          // '\0' = none.
  bool takes_value;
  absl::string_view usage;
};

constexpr FlagSpec kHelpFlag{"help", 'h', false, ""};
constexpr FlagSpec kKubeconfigFlag{
    "kubeconfig", '\0', true,
    "Path to the kubeconfig file to use for CLI requests"};
constexpr FlagSpec kContextFlag{"context", '\0', true,
                                "The name of the kubeconfig context to use"};
constexpr FlagSpec kRequestTimeoutFlag{
    "request-timeout", '\0', true,
    "How long to wait for each answer of the API server, e.g. 10s, 2m; 0 "
    "waits forever (default 30s)"};
constexpr FlagSpec kAsFlag{
    "as", '\0', true,
    "Username to impersonate for the operation. User could be a regular user "
    "or a service account in a namespace."};
constexpr FlagSpec kAsGroupFlag{
    "as-group", '\0', true,
    "Group to impersonate for the operation, this flag can be repeated to "
    "specify multiple groups."};
constexpr FlagSpec kAsUidFlag{"as-uid", '\0', true,
                              "UID to impersonate for the operation."};
constexpr FlagSpec kInsecureHttpCredentialsFlag{
    "insecure-allow-http-credentials", '\0', false,
    "Send the kubeconfig's token (or an exec plugin's) even to an http:// "
    "server, in clear text; refused otherwise"};
constexpr FlagSpec kNamespaceFlag{
    "namespace", 'n', true,
    "Kmesh's namespace; only kmesh-system, where the daemons read the key, "
    "is accepted (the kubeconfig context's namespace is not used)"};
constexpr FlagSpec kKeyFlag{
    "key", 'k', true,
    "The key as 72 hex digits (36 bytes: 256-bit AES key + 32-bit salt); "
    "random if not given"};
constexpr FlagSpec kOutputFlag{
    "output", 'o', true,
    "Output format: json, for scripts (get: the stored JSON alone, with the "
    "key in base64; status: everything the table shows and more)"};
constexpr FlagSpec kLagThresholdFlag{
    "lag-threshold", '\0', true,
    "How long a node may keep advertising an older SPI after the first "
    "daemon got the new key before it counts as a problem (default 5m)"};

constexpr const FlagSpec* kAllFlags[] = {
    &kHelpFlag,      &kKubeconfigFlag,
    &kContextFlag,   &kRequestTimeoutFlag,
    &kAsFlag,        &kAsGroupFlag,
    &kAsUidFlag,     &kInsecureHttpCredentialsFlag,
    &kNamespaceFlag, &kKeyFlag,
    &kOutputFlag,    &kLagThresholdFlag};
// In kubectl's (alphabetical) order of its help.
constexpr const FlagSpec* kGlobalFlags[] = {&kAsFlag,
                                            &kAsGroupFlag,
                                            &kAsUidFlag,
                                            &kContextFlag,
                                            &kInsecureHttpCredentialsFlag,
                                            &kKubeconfigFlag,
                                            &kNamespaceFlag,
                                            &kRequestTimeoutFlag};

struct CommandSpec {
  absl::string_view name;
  absl::string_view path;  // "kmeshctl secret create".
  absl::string_view summary;
  absl::string_view description;
  absl::string_view examples;  // Already indented by two spaces.
  std::vector<const CommandSpec*> subcommands;
  std::vector<const FlagSpec*> local_flags;  // Besides --help and globals.
  CliAction action = CliAction::kShowHelp;
};

const CommandSpec& CreateCommand() {
  static const CommandSpec* const spec = new CommandSpec{
      "create",
      "kmeshctl secret create",
      "Create the IPsec key, or rotate it to a new one (SPI + 1)",
      "Create the IPsec pre-shared key in the Secret kmesh-ipsec (namespace\n"
      "kmesh-system), or replace the key that is there.\n"
      "\n"
      "The first key gets SPI 1; every later create stores the new key with\n"
      "the stored SPI + 1, and the Kmesh daemons move traffic to it. The key\n"
      "is 36 bytes for rfc4106(gcm(aes)): a 256-bit AES key followed by a\n"
      "32-bit salt. Without --key a random key is generated (recommended).\n"
      "A key equal to the stored one is refused: reusing a key under a new\n"
      "SPI would repeat AES-GCM nonces. Concurrent creates are safe: each\n"
      "gets its own SPI.",
      "  # Create the key, or rotate to a new random key\n"
      "  kmeshctl secret create\n"
      "\n"
      "  # Use a key of your own: 72 hex digits (36 bytes)\n"
      "  kmeshctl secret create --key=$(dd if=/dev/urandom count=36 bs=1 "
      "2>/dev/null | xxd -p -c 64)",
      {},
      {&kKeyFlag},
      CliAction::kSecretCreate};
  return *spec;
}

const CommandSpec& GetCommand() {
  static const CommandSpec* const spec = new CommandSpec{
      "get",
      "kmeshctl secret get",
      "Show the IPsec key, its SPI and when it was created",
      "Show the Secret kmesh-ipsec: its name, namespace, creation time and\n"
      "the IPsec configuration (SPI, algorithm, key in hex, ICV length).\n"
      "The output contains the key: treat it as secret.",
      "  # Show the current key and SPI\n"
      "  kmeshctl secret get\n"
      "\n"
      "  # Print the stored JSON for scripts, e.g. the SPI alone\n"
      "  kmeshctl secret get -o json | jq .spi",
      {},
      {&kOutputFlag},
      CliAction::kSecretGet};
  return *spec;
}

const CommandSpec& StatusCommand() {
  static const CommandSpec* const spec = new CommandSpec{
      "status",
      "kmeshctl secret status",
      "Show whether every node uses the key: rotation, SAs, errors",
      "Show the IPsec key's state across the cluster: the stored SPI, the\n"
      "SPI each node advertises, whether a rotation is in progress and which\n"
      "nodes lag, and from each node's daemon (through the API server's pod\n"
      "proxy: needs `get` on pods/proxy in kmesh-system) its keys, SAs per\n"
      "SPI, peers, old SPIs awaiting reclaim, the highest ESP sequence number\n"
      "sent and the xfrm_stat error counters that rose since it started.\n"
      "No key material is shown.\n"
      "\n"
      "Exit status: 0 when all is well (a rotation within --lag-threshold\n"
      "included), 1 when the status cannot be read, 2 when something is\n"
      "wrong (a node lagging past the threshold, a daemon unreachable, a peer\n"
      "not programmed, xfrm errors rising, sequence numbers running out);\n"
      "each problem is listed.",
      "  # After a rotation: has every node moved, is the old key gone?\n"
      "  kmeshctl secret status\n"
      "\n"
      "  # From cron or CI: fail when a node lags for more than 2 minutes\n"
      "  kmeshctl secret status --lag-threshold=2m >/dev/null || alert\n"
      "\n"
      "  # The nodes that still advertise an older SPI\n"
      "  kmeshctl secret status -o json | jq -r '.rotation.lagging[]'",
      {},
      {&kOutputFlag, &kLagThresholdFlag},
      CliAction::kSecretStatus};
  return *spec;
}

const CommandSpec& DeleteCommand() {
  static const CommandSpec* const spec = new CommandSpec{
      "delete",
      "kmeshctl secret delete",
      "Delete the IPsec key",
      "Delete the Secret kmesh-ipsec. A later create starts again at SPI 1.",
      "  # Delete the key\n"
      "  kmeshctl secret delete",
      {},
      {},
      CliAction::kSecretDelete};
  return *spec;
}

const CommandSpec& SecretCommandSpec() {
  static const CommandSpec* const spec = new CommandSpec{
      "secret",
      "kmeshctl secret",
      "Manage the IPsec pre-shared key (the Secret kmesh-ipsec)",
      "Manage the IPsec pre-shared key that Kmesh uses to encrypt traffic\n"
      "between nodes. It is kept in the Secret kmesh-ipsec in namespace\n"
      "kmesh-system, in the format Kmesh's own tools read and write.",
      "  # Create the key (random), or rotate to a new one: SPI 1, 2, ...\n"
      "  kmeshctl secret create\n"
      "\n"
      "  # Show the key and its SPI\n"
      "  kmeshctl secret get\n"
      "\n"
      "  # Delete the key\n"
      "  kmeshctl secret delete",
      {&CreateCommand(), &DeleteCommand(), &GetCommand(), &StatusCommand()},
      {},
      CliAction::kShowHelp};
  return *spec;
}

const CommandSpec& RootCommand() {
  static const CommandSpec* const spec = new CommandSpec{
      "kmeshctl",
      "kmeshctl",
      "",
      "kmeshctl manages Kmesh's IPsec encryption between Kubernetes nodes.\n"
      "\n"
      "It finds the cluster the way kubectl does: --kubeconfig, then\n"
      "$KUBECONFIG, then ~/.kube/config, then the in-cluster service account.",
      "",
      {&SecretCommandSpec()},
      {},
      CliAction::kShowHelp};
  return *spec;
}

// pflag's layout: "  -k, --key string   usage", columns aligned.
std::string FlagTable(const std::vector<const FlagSpec*>& flags,
                      absl::string_view command_name) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const FlagSpec* flag : flags) {
    std::string left =
        flag->shorthand != '\0'
            ? absl::StrCat("  -", std::string(1, flag->shorthand), ", --",
                           flag->name)
            : absl::StrCat("      --", flag->name);
    if (flag->takes_value) {
      absl::StrAppend(&left,
                      flag == &kAsGroupFlag ? " stringArray" : " string");
    }
    std::string usage = flag == &kHelpFlag
                            ? absl::StrCat("help for ", command_name)
                            : std::string(flag->usage);
    rows.emplace_back(std::move(left), std::move(usage));
  }
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out;
  for (const auto& [left, usage] : rows) {
    absl::StrAppend(&out, left, std::string(width - left.size() + 3, ' '),
                    usage, "\n");
  }
  return out;
}

std::string HelpText(const CommandSpec& command) {
  std::string out = absl::StrCat(command.description, "\n\nUsage:\n");
  if (!command.subcommands.empty()) {
    absl::StrAppend(&out, "  ", command.path, " [command]\n");
  } else {
    absl::StrAppend(&out, "  ", command.path, " [flags]\n");
  }
  if (!command.examples.empty()) {
    absl::StrAppend(&out, "\nExamples:\n", command.examples, "\n");
  }
  if (!command.subcommands.empty()) {
    absl::StrAppend(&out, "\nAvailable Commands:\n");
    for (const CommandSpec* sub : command.subcommands) {
      std::string name(sub->name);
      name.resize(std::max<size_t>(name.size() + 1, 12), ' ');
      absl::StrAppend(&out, "  ", name, sub->summary, "\n");
    }
  }
  const bool is_root = &command == &RootCommand();
  std::vector<const FlagSpec*> local = command.local_flags;
  local.push_back(&kHelpFlag);
  if (is_root) {
    local.insert(local.end(), std::begin(kGlobalFlags), std::end(kGlobalFlags));
  }
  std::sort(
      local.begin(), local.end(),
      [](const FlagSpec* a, const FlagSpec* b) { return a->name < b->name; });
  absl::StrAppend(&out, "\nFlags:\n", FlagTable(local, command.name));
  if (!is_root) {
    absl::StrAppend(
        &out, "\nGlobal Flags:\n",
        FlagTable({std::begin(kGlobalFlags), std::end(kGlobalFlags)},
                  command.name));
  }
  if (!command.subcommands.empty()) {
    absl::StrAppend(&out, "\nUse \"", command.path,
                    " [command] --help\" for more information about a "
                    "command.\n");
  }
  return out;
}

absl::Status UsageError(absl::string_view message,
                        absl::string_view command_path) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Error: ", message, "\nRun '", command_path, " --help' for usage.\n"));
}

// Shows a user-typed word in a message unless it could be a key.
std::string Quote(absl::string_view word) {
  if (word.size() > 32) {
    return absl::StrCat("(an argument of ", word.size(), " characters)");
  }
  return absl::StrCat("\"", word, "\"");
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

struct GivenFlag {
  const FlagSpec* spec;
  std::string spelled;  // "--key" or "-k", for messages.
  std::string value;
  size_t arg_index = 0;
  size_t value_offset = 0;
};

// Wipes the values of the flags given (one of them may be the key).
class FlagValueWiper {
 public:
  explicit FlagValueWiper(std::vector<GivenFlag>* flags) : flags_(flags) {}
  ~FlagValueWiper() {
    for (GivenFlag& flag : *flags_) {
      if (!flag.value.empty()) {
        OPENSSL_cleanse(flag.value.data(), flag.value.size());
      }
    }
  }
  FlagValueWiper(const FlagValueWiper&) = delete;
  FlagValueWiper& operator=(const FlagValueWiper&) = delete;

 private:
  std::vector<GivenFlag>* flags_;
};

const FlagSpec* FindLong(absl::string_view name) {
  for (const FlagSpec* flag : kAllFlags) {
    if (flag->name == name) return flag;
  }
  return nullptr;
}

const FlagSpec* FindShort(char c) {
  for (const FlagSpec* flag : kAllFlags) {
    if (flag->shorthand == c) return flag;
  }
  return nullptr;
}

bool Allowed(const CommandSpec& command, const FlagSpec* flag) {
  if (flag == &kHelpFlag) return true;
  for (const FlagSpec* global : kGlobalFlags) {
    if (global == flag) return true;
  }
  return std::find(command.local_flags.begin(), command.local_flags.end(),
                   flag) != command.local_flags.end();
}

// --request-timeout as kubectl reads it (client-go's ParseTimeout): whole
// seconds, or a Go duration ("1.5s", "2m3s"; units ns, us, ms, s, m, h); 0
// means no timeout. nullopt for anything else: negative values, Abseil's
// "inf" (no Go duration) and durations beyond Go's range (about 292 years,
// which Go refuses). Values above kMaxRequestTimeout are clamped to it
// (kubectl overflows on huge whole seconds): nothing waits longer anyway.
std::optional<absl::Duration> ParseRequestTimeout(absl::string_view text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    if (seconds < 0) return std::nullopt;
    return std::min(absl::Seconds(seconds), kMaxRequestTimeout);
  }
  absl::Duration timeout;
  if (absl::StrContains(absl::AsciiStrToLower(text), "inf") ||
      !absl::ParseDuration(text, &timeout) || timeout < absl::ZeroDuration() ||
      timeout > absl::Nanoseconds(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return std::min(timeout, kMaxRequestTimeout);
}

}  // namespace

absl::StatusOr<CliInvocation> ParseCommandLine(
    const std::vector<std::string>& args) {
  std::vector<GivenFlag> flags;
  FlagValueWiper wipe_flag_values(&flags);
  std::vector<std::string> words;
  bool help = false;
  bool only_words = false;  // After "--".

  // Flags first: their syntax does not depend on the command. Which command
  // accepts which flag is checked once the command is known.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_words || arg.size() < 2 || arg[0] != '-') {
      words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_words = true;
      continue;
    }
    GivenFlag given;
    bool has_inline_value = false;
    if (arg[1] == '-') {
      const size_t equals = arg.find('=');
      const std::string name = arg.substr(
          2, equals == std::string::npos ? std::string::npos : equals - 2);
      given.spec = FindLong(name);
      given.spelled = absl::StrCat("--", name);
      if (given.spec == nullptr) {
        return UsageError(absl::StrCat("unknown flag: ", given.spelled),
                          "kmeshctl");
      }
      if (equals != std::string::npos) {
        has_inline_value = true;
        given.value = arg.substr(equals + 1);
        given.arg_index = i;
        given.value_offset = equals + 1;
      }
    } else {
      given.spec = FindShort(arg[1]);
      given.spelled = absl::StrCat("-", std::string(1, arg[1]));
      if (given.spec == nullptr) {
        return UsageError(absl::StrCat("unknown shorthand flag: '",
                                       std::string(1, arg[1]), "'"),
                          "kmeshctl");
      }
      if (arg.size() > 2) {
        has_inline_value = true;
        given.value_offset = arg[2] == '=' ? 3 : 2;
        given.value = arg.substr(given.value_offset);
        given.arg_index = i;
      }
    }
    if (given.spec->takes_value) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) {
          return UsageError(
              absl::StrCat("flag needs an argument: ", given.spelled),
              "kmeshctl");
        }
        given.arg_index = ++i;
        given.value = args[i];
        given.value_offset = 0;
      }
    } else if (has_inline_value) {
      if (given.value == "false") continue;
      if (given.value != "true") {
        return UsageError(absl::StrCat("flag ", given.spelled,
                                       " takes no value (or =true / =false)"),
                          "kmeshctl");
      }
    }
    if (given.spec == &kHelpFlag) {
      help = true;
      continue;
    }
    flags.push_back(std::move(given));
  }

  // The command the words name; "kmeshctl help secret create" = --help.
  size_t first = 0;
  if (!words.empty() && words[0] == "help") {
    help = true;
    first = 1;
  }
  const CommandSpec* command = &RootCommand();
  for (size_t i = first; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (command->subcommands.empty()) {
      return UsageError(
          absl::StrCat("\"", command->path, "\" takes no arguments, got ",
                       words.size() - i,
                       command->action == CliAction::kSecretCreate
                           ? " (give the key with --key=HEX)"
                           : ""),
          command->path);
    }
    const CommandSpec* next = nullptr;
    for (const CommandSpec* sub : command->subcommands) {
      if (sub->name == word) next = sub;
    }
    if (next == nullptr) {
      std::string message = absl::StrCat("unknown command ", Quote(word),
                                         " for \"", command->path, "\"");
      std::vector<std::string> suggestions;
      for (const CommandSpec* sub : command->subcommands) {
        if (word.size() <= 32 && EditDistance(word, sub->name) <= 2) {
          suggestions.push_back(std::string(sub->name));
        }
      }
      if (!suggestions.empty()) {
        absl::StrAppend(&message, "\n\nDid you mean this?\n\t",
                        absl::StrJoin(suggestions, "\n\t"), "\n");
      }
      return UsageError(message, command->path);
    }
    command = next;
  }

  CliInvocation invocation;
  if (help || command->action == CliAction::kShowHelp) {
    invocation.action = CliAction::kShowHelp;
    invocation.help_text = HelpText(*command);
    return invocation;
  }
  for (GivenFlag& given : flags) {
    if (!Allowed(*command, given.spec)) {
      return UsageError(absl::StrCat("unknown flag: ", given.spelled),
                        command->path);
    }
    if (given.spec == &kKubeconfigFlag) {
      invocation.kubeconfig = given.value;
    } else if (given.spec == &kContextFlag) {
      invocation.context = given.value;
    } else if (given.spec == &kAsFlag) {
      invocation.as_user = given.value;
    } else if (given.spec == &kAsGroupFlag) {
      invocation.as_groups.push_back(given.value);  // Repeatable.
    } else if (given.spec == &kAsUidFlag) {
      invocation.as_uid = given.value;
    } else if (given.spec == &kInsecureHttpCredentialsFlag) {
      invocation.allow_http_credentials = true;
    } else if (given.spec == &kNamespaceFlag) {
      if (given.value != kIpSecSecretNamespace) {
        return UsageError(
            absl::StrCat("--namespace ", Quote(given.value),
                         " is not supported: the IPsec Secret must be in ",
                         kIpSecSecretNamespace,
                         ", the only namespace the Kmesh daemons read it from"),
            command->path);
      }
    } else if (given.spec == &kRequestTimeoutFlag) {
      std::optional<absl::Duration> timeout = ParseRequestTimeout(given.value);
      if (!timeout.has_value()) {
        return UsageError(
            absl::StrCat("invalid argument ", Quote(given.value),
                         " for --request-timeout: give a duration such as "
                         "30s or 2m (0 = no timeout)"),
            command->path);
      }
      invocation.request_timeout = *timeout;
    } else if (given.spec == &kKeyFlag) {
      if (invocation.key.has_value() && !invocation.key->empty()) {
        OPENSSL_cleanse(invocation.key->data(), invocation.key->size());
      }
      invocation.key = given.value;  // `given.value` is wiped on return.
      invocation.key_position = {given.arg_index, given.value_offset};
    } else if (given.spec == &kOutputFlag) {
      if (given.value != "json") {
        return UsageError(
            absl::StrCat("unsupported output format ", Quote(given.value),
                         " (the only one is -o json)"),
            command->path);
      }
      invocation.output = SecretOutputFormat::kJson;
    } else if (given.spec == &kLagThresholdFlag) {
      absl::Duration threshold;
      if (!absl::ParseDuration(given.value, &threshold) ||
          threshold < absl::ZeroDuration()) {
        return UsageError(
            absl::StrCat("invalid argument ", Quote(given.value),
                         " for --lag-threshold: give a duration such as "
                         "90s or 5m"),
            command->path);
      }
      invocation.lag_threshold = threshold;
    }
  }
  invocation.action = command->action;
  return invocation;
}

}  // namespace kmesh::kmeshctl
