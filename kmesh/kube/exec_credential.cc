#include "kmesh/kube/exec_credential.h"

#include <fcntl.h>
#include <openssl/mem.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kmesh/base/json_depth.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace kmesh::kube {
namespace {

using Json = nlohmann::json;

constexpr char kExecInfoEnv[] = "KUBERNETES_EXEC_INFO";
// client-go's installHintVerboseHelp.
constexpr char kInstallHintHelp[] =
    "\n\nIt looks like you are trying to use a client-go credential plugin "
    "that is not installed.\n\nTo learn more about this feature, consult the "
    "documentation available at:\n      "
    "https://kubernetes.io/docs/reference/access-authn-authz/"
    "authentication/#client-go-credential-plugins";
// How much of the plugin's output is kept; credentials are small.
constexpr size_t kMaxStdout = 4 << 20;
constexpr size_t kMaxStderrKept = 64 << 10;
// How much of its stderr a message quotes.
constexpr size_t kMaxStderrQuoted = 2000;

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

std::string EnvValue(const std::vector<std::string>& env,
                     absl::string_view name) {
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, name) && entry.size() > name.size() &&
        entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return "";
}

// exec.LookPath: a name with a '/' is used as it is; otherwise the first
// executable of that name in $PATH (an empty entry is the current
// directory). As in Go since 1.19 (exec.ErrDot), a match in a relative
// $PATH entry ("", ".", "bin") is not run: `*relative` is set instead.
std::optional<std::string> LookPath(const std::string& command,
                                    const std::vector<std::string>& env,
                                    bool* relative) {
  *relative = false;
  if (command.find('/') != std::string::npos) {
    if (IsExecutableFile(command)) return command;
    return std::nullopt;
  }
  for (absl::string_view dir : absl::StrSplit(EnvValue(env, "PATH"), ':')) {
    const std::string candidate = dir.empty() ? absl::StrCat("./", command)
                                              : absl::StrCat(dir, "/", command);
    if (IsExecutableFile(candidate)) {
      *relative = candidate[0] != '/';
      return candidate;
    }
  }
  return std::nullopt;
}

std::string QuoteStderr(const std::string& err) {
  std::string trimmed(absl::StripAsciiWhitespace(err));
  if (trimmed.size() > kMaxStderrQuoted) {
    trimmed = absl::StrCat(trimmed.substr(0, kMaxStderrQuoted), "...");
  }
  return trimmed;
}

struct PluginOutput {
  int wait_status = 0;
  std::string out;  // Secret: wiped by the caller.
  std::string err;
};

// Appends to `sink`, which holds a secret: when it must grow, the bytes move
// to a larger buffer and the old one is wiped (std::string's own growth
// would free it as it is).
void AppendWiping(std::string* sink, const char* data, size_t size) {
  if (sink->size() + size > sink->capacity()) {
    std::string bigger;
    bigger.reserve(std::max(sink->size() + size, 2 * sink->capacity()));
    bigger.append(*sink);
    OPENSSL_cleanse(sink->data(), sink->size());
    sink->swap(bigger);
  }
  sink->append(data, size);
}

// Runs `path` with `argv` and `envp`, stdin from /dev/null, collecting
// stdout and stderr.
absl::StatusOr<PluginOutput> Spawn(const std::string& path,
                                   const std::vector<std::string>& args,
                                   const std::vector<std::string>& env) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot create a pipe: ", std::strerror(errno)));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int saved = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError(
        absl::StrCat("cannot create a pipe: ", std::strerror(saved)));
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env) {
    envp.push_back(const_cast<char*>(entry.c_str()));
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  // Nothing else of ours reaches the plugin: some descriptors (Asio's
  // sockets to the API server) are opened without O_CLOEXEC.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  // The plugin starts with no blocked signals and default dispositions, as
  // from a shell or kubectl: the daemon blocks SIGTERM/SIGINT in every
  // thread (it takes them with sigwait), which a child would inherit.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, path.c_str(), &actions, &attr,
                                    argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", path, ": ", std::strerror(spawned)));
  }
  PluginOutput result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buffer[16384];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      // Past the limits the output is read and dropped, so that the plugin
      // never blocks on a full pipe.
      if (i == 0 && result.out.size() < kMaxStdout) {
        AppendWiping(&result.out, buffer,
                     std::min<size_t>(n, kMaxStdout - result.out.size()));
      } else if (i == 1 && result.err.size() < kMaxStderrKept) {
        result.err.append(
            buffer, std::min<size_t>(n, kMaxStderrKept - result.err.size()));
      }
    }
  }
  OPENSSL_cleanse(buffer, sizeof(buffer));
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  while (::waitpid(pid, &result.wait_status, 0) < 0) {
    if (errno != EINTR) {
      const int saved = errno;
      OPENSSL_cleanse(result.out.data(), result.out.size());
      return absl::InternalError(absl::StrCat(
          "waiting for ", path, " failed: ", std::strerror(saved)));
    }
  }
  return result;
}

// A string member of `object`; its JSON copy is wiped when `secret`.
std::string TakeString(Json& object, const char* key, bool secret) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  std::string& value = it->get_ref<std::string&>();
  std::string copy = value;
  if (secret) OPENSSL_cleanse(value.data(), value.size());
  return copy;
}

}  // namespace

absl::StatusOr<ExecCredential> ParseExecCredential(
    const std::string& stdout_text, const std::string& api_version) {
  if (absl::Status depth = CheckJsonDepth(stdout_text); !depth.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoding stdout: the plugin's output is ", depth.message()));
  }
  Json doc = Json::parse(stdout_text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        "decoding stdout: the plugin's output is not a JSON object");
  }
  const std::string got_version = TakeString(doc, "apiVersion", false);
  const std::string kind = TakeString(doc, "kind", false);
  if (got_version.empty()) {
    return absl::InvalidArgumentError(
        "decoding stdout: Object 'apiVersion' is missing");
  }
  if (kind != "ExecCredential") {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding stdout: the plugin returned kind \"",
                     kind.substr(0, 64), "\", not ExecCredential"));
  }
  if (got_version != api_version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exec plugin is configured to use API version ", api_version,
        ", plugin returned version ", got_version.substr(0, 80)));
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) {
    return absl::InvalidArgumentError(
        "exec plugin didn't return a status field");
  }
  ExecCredential credential;
  std::string token = TakeString(*status, "token", true);
  std::string cert = TakeString(*status, "clientCertificateData", false);
  std::string key = TakeString(*status, "clientKeyData", true);
  credential.token = crypto::SecretBytes::TakeAndWipe(&token);
  credential.client_key_pem = crypto::SecretBytes::TakeAndWipe(&key);
  credential.client_certificate_pem = std::move(cert);
  if (credential.token.empty() && credential.client_certificate_pem.empty() &&
      credential.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "exec plugin didn't return a token or cert/key pair");
  }
  if (credential.client_certificate_pem.empty() !=
      credential.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "exec plugin returned only certificate or key, not both");
  }
  const std::string expiry = TakeString(*status, "expirationTimestamp", false);
  if (!expiry.empty()) {
    absl::Time when;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, expiry, &when, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("decoding stdout: status.expirationTimestamp \"",
                       expiry.substr(0, 64), "\" is not an RFC 3339 time"));
    }
    credential.expiry = when;
  }
  return credential;
}

absl::StatusOr<std::shared_ptr<ExecCredentialProvider>>
ExecCredentialProvider::Create(ExecConfig config, Options options) {
  const std::string& owner = config.owner;
  if (config.api_version != kExecApiV1 &&
      config.api_version != kExecApiV1beta1) {
    return absl::InvalidArgumentError(
        config.api_version.empty()
            ? absl::StrCat("apiVersion must be specified for ", owner,
                           " to use exec authentication plugin")
            : absl::StrCat("exec plugin: invalid apiVersion \"",
                           config.api_version, "\" for ", owner,
                           " (supported: ", kExecApiV1, ", ", kExecApiV1beta1,
                           ")"));
  }
  if (config.command.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("command must be specified for ", owner,
                     " to use exec authentication plugin"));
  }
  if (config.interactive_mode.empty() &&
      config.api_version == kExecApiV1beta1) {
    config.interactive_mode = "IfAvailable";  // client-go's v1beta1 default.
  }
  if (config.interactive_mode.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("interactiveMode must be specified for ", owner,
                     " to use exec authentication plugin"));
  }
  if (config.interactive_mode != "Never" &&
      config.interactive_mode != "IfAvailable" &&
      config.interactive_mode != "Always") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid interactiveMode for ", owner, ": \"",
                     config.interactive_mode, "\""));
  }
  if (config.interactive_mode == "Always") {
    return absl::FailedPreconditionError(absl::StrCat(
        "exec plugin cannot support interactive mode: ", owner,
        " sets interactiveMode Always, but kmesh never gives a credential "
        "plugin a terminal (use a plugin that can run with interactiveMode "
        "Never or IfAvailable, e.g. with cached or non-interactive login)"));
  }
  for (const auto& [name, value] : config.env) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("env variable name must be specified for ", owner,
                       " to use exec authentication plugin"));
    }
  }
  return std::shared_ptr<ExecCredentialProvider>(
      new ExecCredentialProvider(std::move(config), std::move(options)));
}

ExecCredentialProvider::ExecCredentialProvider(ExecConfig config,
                                               Options options)
    : config_(std::move(config)), options_(std::move(options)) {}

int ExecCredentialProvider::runs() const {
  absl::MutexLock lock(&mu_);
  return runs_;
}

absl::StatusOr<std::shared_ptr<const ExecCredential>>
ExecCredentialProvider::Get(uint64_t* generation) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.now ? options_.now() : absl::Now();
  if (cached_ == nullptr ||
      (cached_->expiry.has_value() && now > *cached_->expiry)) {
    absl::StatusOr<std::shared_ptr<const ExecCredential>> fresh = RunPlugin();
    if (!fresh.ok()) return fresh.status();
    cached_ = *std::move(fresh);
    ++generation_;
  }
  if (generation != nullptr) *generation = generation_;
  return cached_;
}

bool ExecCredentialProvider::RefreshAfterUnauthorized(uint64_t generation) {
  absl::MutexLock lock(&mu_);
  if (generation != generation_ || cached_ == nullptr) return false;
  cached_.reset();
  return true;
}

std::string ExecCredentialProvider::ExecInfoJson() const {
  Json info = {{"apiVersion", config_.api_version},
               {"kind", "ExecCredential"},
               {"spec", {{"interactive", false}}}};
  if (config_.provide_cluster_info && !config_.cluster_json.empty()) {
    info["spec"]["cluster"] = ParseJsonWithinDepth(config_.cluster_json);
  }
  return info.dump();
}

absl::StatusOr<std::shared_ptr<const ExecCredential>>
ExecCredentialProvider::RunPlugin() {
  std::vector<std::string> env;
  if (options_.environ.has_value()) {
    env = *options_.environ;
  } else {
    for (char** entry = ::environ; *entry != nullptr; ++entry) {
      env.emplace_back(*entry);
    }
  }
  // The path is found with the process's $PATH, as Go's exec.Command does.
  bool relative = false;
  const std::optional<std::string> path =
      LookPath(config_.command, env, &relative);
  // A later entry replaces an earlier one of the same name, as Go's
  // exec.Cmd dedups its Env (a child's getenv would see the first).
  auto set = [&env](absl::string_view name, std::string entry) {
    env.erase(std::remove_if(env.begin(), env.end(),
                             [name](const std::string& e) {
                               return absl::StartsWith(e, name) &&
                                      e.size() > name.size() &&
                                      e[name.size()] == '=';
                             }),
              env.end());
    env.push_back(std::move(entry));
  };
  for (const auto& [name, value] : config_.env) {
    set(name, absl::StrCat(name, "=", value));
  }
  set(kExecInfoEnv, absl::StrCat(kExecInfoEnv, "=", ExecInfoJson()));
  const std::string prefix = absl::StrCat(
      "getting credentials from the exec plugin of ", config_.owner, ": ");
  if (!path.has_value()) {
    std::string message =
        absl::StrCat(prefix, "exec: executable ", config_.command, " not found",
                     kInstallHintHelp);
    if (!config_.install_hint.empty()) {
      absl::StrAppend(&message, "\n\n", config_.install_hint);
    }
    return absl::FailedPreconditionError(message);
  }
  if (relative) {
    // Go's exec.ErrDot text.
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "exec: \"", config_.command,
                     "\": cannot run executable found relative to current "
                     "directory (",
                     *path, " via $PATH)"));
  }
  ++runs_;
  absl::StatusOr<PluginOutput> output = Spawn(*path, config_.args, env);
  if (!output.ok()) {
    return absl::Status(output.status().code(),
                        absl::StrCat(prefix, output.status().message()));
  }
  const std::string err = QuoteStderr(output->err);
  const std::string stderr_part =
      err.empty() ? " (no output on stderr)" : absl::StrCat(": ", err);
  absl::Status failed;
  if (WIFSIGNALED(output->wait_status)) {
    failed = absl::UnavailableError(absl::StrCat(
        prefix, "exec: executable ", config_.command, " was killed by signal ",
        WTERMSIG(output->wait_status), stderr_part));
  } else if (WEXITSTATUS(output->wait_status) != 0) {
    failed = absl::FailedPreconditionError(absl::StrCat(
        prefix, "exec: executable ", config_.command, " failed with exit code ",
        WEXITSTATUS(output->wait_status), stderr_part));
  }
  if (!failed.ok()) {
    OPENSSL_cleanse(output->out.data(), output->out.size());
    return failed;
  }
  absl::StatusOr<ExecCredential> credential =
      ParseExecCredential(output->out, config_.api_version);
  OPENSSL_cleanse(output->out.data(), output->out.size());
  if (!credential.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, credential.status().message(),
        err.empty() ? "" : absl::StrCat(" (plugin stderr: ", err, ")")));
  }
  return std::make_shared<const ExecCredential>(*std::move(credential));
}

}  // namespace kmesh::kube
