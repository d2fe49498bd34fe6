#include "kmesh/kube/kubeconfig.h"

#include <openssl/mem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace kmesh::kube {
namespace {

constexpr char kServiceAccountDir[] =
    "var/run/secrets/kubernetes.io/serviceaccount";

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  }
  return content.str();
}

// Reads a file holding a secret; the intermediate string is wiped.
absl::StatusOr<crypto::SecretBytes> ReadSecretFile(const std::string& path,
                                                   bool trim) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) return content.status();
  if (trim) {
    // Token files commonly end with a newline; whitespace is never part of
    // a token. Trim in place so no untrimmed copy is left.
    size_t end = content->size();
    while (end > 0 && absl::ascii_isspace(
                          static_cast<unsigned char>((*content)[end - 1]))) {
      --end;
    }
    size_t begin = 0;
    while (begin < end &&
           absl::ascii_isspace(static_cast<unsigned char>((*content)[begin]))) {
      ++begin;
    }
    crypto::SecretBytes out = crypto::SecretBytes::CopyFrom(
        absl::string_view(content->data() + begin, end - begin));
    OPENSSL_cleanse(content->data(), content->size());
    return out;
  }
  return crypto::SecretBytes::TakeAndWipe(&*content);
}

std::string JoinPath(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || dir.empty()) return path;
  if (dir.back() == '/') return dir + path;
  return dir + "/" + path;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Looks up the entry named `name` in a kubeconfig list such as `clusters:`,
// returning its inner map (`cluster:`, `user:`, `context:`).
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root,
                                     const char* list_key,
                                     const char* inner_key,
                                     const std::string& name,
                                     const std::string& display_path,
                                     const char* what) {
  const YAML::Node list = root[list_key];
  if (list && !list.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", display_path, ": \"", list_key, "\" is not a list"));
  }
  if (list) {
    for (const YAML::Node& entry : list) {
      if (!entry.IsMap()) continue;
      const YAML::Node entry_name = entry["name"];
      if (entry_name && entry_name.IsScalar() && entry_name.Scalar() == name) {
        const YAML::Node inner = entry[inner_key];
        if (!inner || !inner.IsMap()) {
          return absl::InvalidArgumentError(
              absl::StrCat("kubeconfig ", display_path, ": ", what, " \"", name,
                           "\" has no \"", inner_key, "\" map"));
        }
        return inner;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("kubeconfig ", display_path, ": ",
                                          what, " \"", name, "\" not found"));
}

// A scalar field as a string; "" when absent.
std::string Field(const YAML::Node& map, const char* key) {
  const YAML::Node value = map[key];
  if (!value || !value.IsScalar()) return "";
  return value.Scalar();
}

absl::StatusOr<bool> BoolField(const YAML::Node& map, const char* key,
                               const std::string& display_path) {
  const YAML::Node value = map[key];
  if (!value) return false;
  bool result = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, result)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", display_path, ": \"", key, "\" is not a boolean"));
  }
  return result;
}

// `<key>-data` (base64) or `<key>` (a file, relative to base_dir), as text.
// Returns "" when neither is set.
absl::StatusOr<std::string> DataOrFile(const YAML::Node& map,
                                       const std::string& key,
                                       const std::string& base_dir,
                                       const std::string& display_path,
                                       const std::string& owner) {
  const std::string data_key = key + "-data";
  std::string data = Field(map, data_key.c_str());
  if (!data.empty()) {
    std::string decoded;
    const bool decoded_ok = absl::Base64Unescape(data, &decoded);
    OPENSSL_cleanse(data.data(), data.size());
    if (!decoded_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", display_path, ": ", owner, " \"",
                       data_key, "\" is not valid base64"));
    }
    return decoded;
  }
  const std::string file = Field(map, key.c_str());
  if (file.empty()) return std::string();
  const std::string path = JoinPath(base_dir, file);
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return absl::Status(
        content.status().code(),
        absl::StrCat("kubeconfig ", display_path, ": ", owner, " \"", key,
                     "\": ", content.status().message()));
  }
  return content;
}

std::string MissingSummary(const ClusterAccessSearch& search) {
  std::vector<std::string> tried;
  tried.push_back("no --kubeconfig");
  if (search.kubeconfig_env.has_value() && !search.kubeconfig_env->empty()) {
    tried.push_back(absl::StrCat("$KUBECONFIG=", *search.kubeconfig_env,
                                 " names no existing file"));
  } else {
    tried.push_back("$KUBECONFIG unset");
    if (search.home.has_value()) {
      tried.push_back(
          absl::StrCat(JoinPath(*search.home, ".kube/config"), " missing"));
    } else {
      tried.push_back("$HOME unset (no ~/.kube/config)");
    }
  }
  tried.push_back("not in a cluster ($KUBERNETES_SERVICE_HOST/PORT unset)");
  return absl::StrCat("no cluster access: ", absl::StrJoin(tried, ", "),
                      "; pass --kubeconfig=PATH or set $KUBECONFIG");
}

std::optional<std::string> GetEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

ClusterAccess ClusterAccess::Clone() const {
  ClusterAccess copy;
  copy.server = server;
  copy.certificate_authority_pem = certificate_authority_pem;
  copy.insecure_skip_tls_verify = insecure_skip_tls_verify;
  copy.tls_server_name = tls_server_name;
  copy.client_certificate_pem = client_certificate_pem;
  copy.client_key_pem = client_key_pem.Clone();
  copy.bearer_token = bearer_token.Clone();
  copy.bearer_token_file = bearer_token_file;
  copy.default_namespace = default_namespace;
  copy.source = source;
  return copy;
}

ClusterAccessSearch ClusterAccessSearch::FromProcess(
    std::string explicit_kubeconfig, std::string context) {
  ClusterAccessSearch search;
  search.explicit_kubeconfig = std::move(explicit_kubeconfig);
  search.context = std::move(context);
  search.kubeconfig_env = GetEnv("KUBECONFIG");
  search.home = GetEnv("HOME");
  search.service_host = GetEnv("KUBERNETES_SERVICE_HOST");
  search.service_port = GetEnv("KUBERNETES_SERVICE_PORT");
  return search;
}

absl::StatusOr<ClusterAccess> ParseKubeconfig(absl::string_view yaml,
                                              const std::string& base_dir,
                                              const std::string& display_path,
                                              const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's messages quote positions, not content.
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", display_path, ": not valid YAML: ", e.what()));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", display_path, ": not a YAML map"));
  }
  try {
    std::string context_name = context;
    if (context_name.empty()) context_name = Field(root, "current-context");
    if (context_name.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("kubeconfig ", display_path,
                       ": no current-context set and no --context given"));
    }
    absl::StatusOr<YAML::Node> ctx = FindNamed(
        root, "contexts", "context", context_name, display_path, "context");
    if (!ctx.ok()) return ctx.status();
    const std::string cluster_name = Field(*ctx, "cluster");
    if (cluster_name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", display_path, ": context \"",
                       context_name, "\" names no cluster"));
    }
    absl::StatusOr<YAML::Node> cluster = FindNamed(
        root, "clusters", "cluster", cluster_name, display_path, "cluster");
    if (!cluster.ok()) return cluster.status();

    ClusterAccess access;
    access.source = absl::StrCat("kubeconfig ", display_path, " (context ",
                                 context_name, ")");
    access.default_namespace = Field(*ctx, "namespace");
    access.server = Field(*cluster, "server");
    const std::string cluster_owner =
        absl::StrCat("cluster \"", cluster_name, "\"");
    if (access.server.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kubeconfig ", display_path, ": ", cluster_owner, " has no server"));
    }
    access.tls_server_name = Field(*cluster, "tls-server-name");
    absl::StatusOr<bool> insecure =
        BoolField(*cluster, "insecure-skip-tls-verify", display_path);
    if (!insecure.ok()) return insecure.status();
    access.insecure_skip_tls_verify = *insecure;
    absl::StatusOr<std::string> ca =
        DataOrFile(*cluster, "certificate-authority", base_dir, display_path,
                   cluster_owner);
    if (!ca.ok()) return ca.status();
    access.certificate_authority_pem = *std::move(ca);
    if (access.insecure_skip_tls_verify &&
        !access.certificate_authority_pem.empty()) {
      // kubectl refuses this combination too.
      return absl::InvalidArgumentError(absl::StrCat(
          "kubeconfig ", display_path, ": ", cluster_owner,
          " sets both a certificate authority and insecure-skip-tls-verify"));
    }

    const std::string user_name = Field(*ctx, "user");
    if (user_name.empty()) return access;  // Anonymous access.
    absl::StatusOr<YAML::Node> user =
        FindNamed(root, "users", "user", user_name, display_path, "user");
    if (!user.ok()) return user.status();
    const std::string user_owner = absl::StrCat("user \"", user_name, "\"");
    for (const char* unsupported :
         {"exec", "auth-provider", "username", "password"}) {
      if ((*user)[unsupported]) {
        return absl::UnimplementedError(absl::StrCat(
            "kubeconfig ", display_path, ": ", user_owner, " uses \"",
            unsupported,
            "\", which is not supported; use a client certificate or a "
            "token"));
      }
    }
    absl::StatusOr<std::string> cert = DataOrFile(
        *user, "client-certificate", base_dir, display_path, user_owner);
    if (!cert.ok()) return cert.status();
    access.client_certificate_pem = *std::move(cert);
    absl::StatusOr<std::string> key =
        DataOrFile(*user, "client-key", base_dir, display_path, user_owner);
    if (!key.ok()) return key.status();
    access.client_key_pem = crypto::SecretBytes::TakeAndWipe(&*key);
    if (access.client_certificate_pem.empty() !=
        access.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kubeconfig ", display_path, ": ", user_owner, " has a client ",
          access.client_key_pem.empty() ? "certificate but no key"
                                        : "key but no certificate"));
    }
    const YAML::Node token = (*user)["token"];
    if (token && token.IsScalar() && !token.Scalar().empty()) {
      access.bearer_token = crypto::SecretBytes::CopyFrom(token.Scalar());
    } else {
      const std::string token_file = Field(*user, "tokenFile");
      if (!token_file.empty()) {
        access.bearer_token_file = JoinPath(base_dir, token_file);
        absl::StatusOr<crypto::SecretBytes> token_bytes =
            ReadSecretFile(access.bearer_token_file, /*trim=*/true);
        if (!token_bytes.ok()) {
          return absl::Status(
              token_bytes.status().code(),
              absl::StrCat("kubeconfig ", display_path, ": ", user_owner,
                           " \"tokenFile\": ", token_bytes.status().message()));
        }
        access.bearer_token = *std::move(token_bytes);
      }
    }
    return access;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", display_path, ": unexpected structure: ", e.what()));
  }
}

absl::StatusOr<ClusterAccess> LoadKubeconfigFile(const std::string& path,
                                                 const std::string& context) {
  absl::StatusOr<std::string> yaml = ReadFile(path);
  if (!yaml.ok()) {
    return absl::Status(
        yaml.status().code(),
        absl::StrCat("kubeconfig ", path, ": ", yaml.status().message()));
  }
  absl::StatusOr<ClusterAccess> access =
      ParseKubeconfig(*yaml, DirName(path), path, context);
  // The text may hold keys and tokens (yaml-cpp's own copies are out of
  // reach).
  OPENSSL_cleanse(yaml->data(), yaml->size());
  return access;
}

absl::StatusOr<ClusterAccess> LoadInClusterAccess(
    const std::string& service_host, const std::string& service_port,
    const std::string& root) {
  if (service_host.empty() || service_port.empty()) {
    return absl::FailedPreconditionError(
        "not in a cluster: $KUBERNETES_SERVICE_HOST or "
        "$KUBERNETES_SERVICE_PORT is unset");
  }
  const std::string dir = JoinPath(root, kServiceAccountDir);
  ClusterAccess access;
  access.source = "in-cluster service account";
  const bool ipv6 = service_host.find(':') != std::string::npos;
  access.server = absl::StrCat("https://", ipv6 ? "[" : "", service_host,
                               ipv6 ? "]" : "", ":", service_port);
  access.bearer_token_file = dir + "/token";
  absl::StatusOr<crypto::SecretBytes> token =
      ReadSecretFile(access.bearer_token_file, /*trim=*/true);
  if (!token.ok()) {
    return absl::Status(
        token.status().code(),
        absl::StrCat("in-cluster service account: ", token.status().message()));
  }
  access.bearer_token = *std::move(token);
  absl::StatusOr<std::string> ca = ReadFile(dir + "/ca.crt");
  if (!ca.ok()) {
    return absl::Status(
        ca.status().code(),
        absl::StrCat("in-cluster service account: ", ca.status().message()));
  }
  access.certificate_authority_pem = *std::move(ca);
  absl::StatusOr<std::string> ns = ReadFile(dir + "/namespace");
  if (ns.ok()) {
    access.default_namespace = std::string(absl::StripAsciiWhitespace(*ns));
  }
  return access;
}

absl::StatusOr<ClusterAccess> FindClusterAccess(
    const ClusterAccessSearch& search) {
  if (!search.explicit_kubeconfig.empty()) {
    return LoadKubeconfigFile(search.explicit_kubeconfig, search.context);
  }
  if (search.kubeconfig_env.has_value() && !search.kubeconfig_env->empty()) {
    // kubectl merges every file of the list; the first existing one is what
    // a single-cluster setup needs. A set $KUBECONFIG replaces ~/.kube/config
    // (as in kubectl), so when it names no existing file the search moves on
    // to in-cluster access.
    for (absl::string_view path :
         absl::StrSplit(*search.kubeconfig_env, ':', absl::SkipEmpty())) {
      const std::string file(path);
      if (FileExists(file)) return LoadKubeconfigFile(file, search.context);
    }
  } else if (search.home.has_value() && !search.home->empty()) {
    const std::string file = JoinPath(*search.home, ".kube/config");
    if (FileExists(file)) return LoadKubeconfigFile(file, search.context);
  }
  if (search.service_host.has_value() && search.service_port.has_value() &&
      !search.service_host->empty() && !search.service_port->empty()) {
    return LoadInClusterAccess(*search.service_host, *search.service_port,
                               search.in_cluster_root);
  }
  return absl::NotFoundError(MissingSummary(search));
}

}  // namespace kmesh::kube
