// kmeshctl: the operator's command line tool for Kmesh IPsec. Parses the
// command line (command_line.h), finds the cluster the way kubectl does
// (kubeconfig.h), talks to its API server (rest_kube_client.h) and runs the
// secret command (secret_command.h). Exit code 0 on success, 1 on any error
// (usage errors included), with the cause and the fix on stderr.
#include <openssl/mem.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/kmeshctl/command_line.h"
#include "kmesh/kmeshctl/key_argument.h"
#include "kmesh/kmeshctl/secret_command.h"
#include "kmesh/kmeshctl/secret_status.h"
#include "kmesh/kube/http_transport.h"
#include "kmesh/kube/kubeconfig.h"
#include "kmesh/kube/rest_kube_client.h"

namespace kmesh::kmeshctl {
namespace {

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

int Fail(const std::string& message) {
  std::cerr << "Error: " << message << "\n";
  return 1;
}

int Run(CliInvocation& invocation) {
  if (invocation.action == CliAction::kShowHelp) {
    std::cout << invocation.help_text;
    return 0;
  }
  // A bad --key fails before anything else, cluster access included.
  std::optional<crypto::SecretBytes> key;
  if (invocation.action == CliAction::kSecretCreate &&
      invocation.key.has_value()) {
    absl::StatusOr<crypto::SecretBytes> parsed =
        ParseKeyArgument(*invocation.key);
    Wipe(&*invocation.key);
    if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
    key = *std::move(parsed);
  }

  kube::ClusterAccessSearch search = kube::ClusterAccessSearch::FromProcess(
      invocation.kubeconfig, invocation.context);
  search.as_user = invocation.as_user;
  search.as_groups = invocation.as_groups;
  search.as_uid = invocation.as_uid;
  search.allow_credentials_over_http = invocation.allow_http_credentials;
  absl::StatusOr<kube::ClusterAccess> access = kube::FindClusterAccess(search);
  if (!access.ok()) {
    // The message says what was tried; add how to point at a cluster if it
    // does not say so already.
    std::string message(access.status().message());
    if (message.find("--kubeconfig") == std::string::npos) {
      message += " (give the cluster's kubeconfig with --kubeconfig=PATH)";
    }
    return Fail(message);
  }
  kube::RestKubeClientOptions client_options;
  if (invocation.request_timeout.has_value()) {
    // 0 = no timeout, as in kubectl; a day stands in for "forever".
    const absl::Duration timeout =
        *invocation.request_timeout == absl::ZeroDuration()
            ? kMaxRequestTimeout
            : *invocation.request_timeout;
    // (ToInt64Milliseconds saturates; the transport's clamp bounds it.)
    client_options.transport.request_timeout = kube::ClampTimeout(
        std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  }
  absl::StatusOr<std::unique_ptr<kube::RestKubeClient>> client =
      kube::RestKubeClient::ForCluster(*access, client_options);
  if (!client.ok()) {
    return Fail(absl::StrCat("cannot use the cluster access from ",
                             access->source, ": ", client.status().message()));
  }
  SecretCommandOptions options;
  options.server = access->server;
  options.credentials_source = access->source;
  options.time_zone = absl::LocalTimeZone();
  SecretCommand command(**client, std::move(options));

  CommandResult result;
  switch (invocation.action) {
    case CliAction::kSecretCreate:
      result = key.has_value() ? command.CreateWithKey(*key)
                               : command.Create(std::nullopt);
      break;
    case CliAction::kSecretGet:
      result = command.Get(invocation.output);
      break;
    case CliAction::kSecretDelete:
      result = command.Delete();
      break;
    case CliAction::kSecretStatus: {
      SecretStatusOptions status_options;
      status_options.secret.server = access->server;
      status_options.secret.credentials_source = access->source;
      status_options.output = invocation.output;
      if (invocation.lag_threshold.has_value()) {
        status_options.lag_threshold = *invocation.lag_threshold;
      }
      result = SecretStatus(**client, status_options);
      break;
    }
    case CliAction::kShowHelp:
      break;
  }
  std::cout << result.out << std::flush;
  Wipe(&result.out);  // `get` prints the key.
  std::cerr << result.err << std::flush;
  return result.exit_code;
}

}  // namespace
}  // namespace kmesh::kmeshctl

int main(int argc, char** argv) {
  using kmesh::kmeshctl::CliInvocation;
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<CliInvocation> invocation =
      kmesh::kmeshctl::ParseCommandLine(args);
  // The key may be in the arguments: keep no copy, and blank it in argv too
  // (which also hides it from later readers of /proc/<pid>/cmdline).
  if (invocation.ok() && invocation->key_position.has_value()) {
    const auto [index, offset] = *invocation->key_position;
    char* arg = argv[index + 1];
    const size_t length = std::strlen(arg);
    if (offset < length) OPENSSL_cleanse(arg + offset, length - offset);
  }
  for (std::string& arg : args) kmesh::kmeshctl::Wipe(&arg);
  if (!invocation.ok()) {
    std::cerr << invocation.status().message();
    return 1;
  }
  const int exit_code = kmesh::kmeshctl::Run(*invocation);
  if (invocation->key.has_value()) kmesh::kmeshctl::Wipe(&*invocation->key);
  return exit_code;
}
