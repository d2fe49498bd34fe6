#include "kmesh/kube/kubeconfig.h"

#include <openssl/mem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kmesh/base/json_depth.h"
#include "nlohmann/json.hpp"
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

// One kubeconfig file as read: its YAML, the directory its relative paths
// are relative to, and its name in messages.
struct LoadedKubeconfig {
  YAML::Node root;
  std::string base_dir;
  std::string display_path;
};

// An entry of a (merged) kubeconfig list and the file that defined it.
struct NamedEntry {
  YAML::Node inner;
  const LoadedKubeconfig* file = nullptr;
};

std::string DisplayPaths(const std::vector<LoadedKubeconfig>& files) {
  std::vector<std::string> paths;
  for (const LoadedKubeconfig& file : files) paths.push_back(file.display_path);
  return absl::StrJoin(paths, ":");
}

// Looks up the entry named `name` in the kubeconfig lists such as
// `clusters:`, returning its inner map (`cluster:`, `user:`, `context:`).
// As client-go merges a $KUBECONFIG list, the first file that defines the
// name wins.
absl::StatusOr<NamedEntry> FindNamed(const std::vector<LoadedKubeconfig>& files,
                                     const char* list_key,
                                     const char* inner_key,
                                     const std::string& name,
                                     const char* what) {
  for (const LoadedKubeconfig& file : files) {
    const YAML::Node list = file.root[list_key];
    if (list && !list.IsSequence() && !list.IsNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", file.display_path, ": \"", list_key,
                       "\" is not a list"));
    }
    if (!list || !list.IsSequence()) continue;
    for (const YAML::Node& entry : list) {
      if (!entry.IsMap()) continue;
      const YAML::Node entry_name = entry["name"];
      if (entry_name && entry_name.IsScalar() && entry_name.Scalar() == name) {
        const YAML::Node inner = entry[inner_key];
        if (!inner || !inner.IsMap()) {
          return absl::InvalidArgumentError(
              absl::StrCat("kubeconfig ", file.display_path, ": ", what, " \"",
                           name, "\" has no \"", inner_key, "\" map"));
        }
        return NamedEntry{inner, &file};
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("kubeconfig ", DisplayPaths(files),
                                          ": ", what, " \"", name,
                                          "\" not found"));
}

// A list of strings (`args`, `as-groups`); a scalar is refused.
absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& map,
                                                    const char* key,
                                                    const std::string& where) {
  std::vector<std::string> out;
  const YAML::Node value = map[key];
  if (!value || value.IsNull()) return out;
  if (!value.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", key, "\" is not a list"));
  }
  for (const YAML::Node& item : value) {
    if (!item.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", key, "\" holds a non-string item"));
    }
    out.push_back(item.Scalar());
  }
  return out;
}

// YAML (an extension's free-form config) as JSON: plain scalars that read
// as booleans, integers or null become those, as a YAML decoder would.
// Deeper than kMaxJsonDepth is refused (yaml-cpp itself stops at 2,000
// levels), so that the JSON made, and the exec plugin's input dumped from
// it, are as bounded as JSON from outside (json_depth.h).
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node,
                                          int depth = 1) {
  const bool container = node.Type() == YAML::NodeType::Map ||
                         node.Type() == YAML::NodeType::Sequence;
  if (container && depth > kMaxJsonDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("nested more than ", kMaxJsonDepth, " levels deep"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& item : node) {
        absl::StatusOr<nlohmann::json> value =
            YamlToJson(item.second, depth + 1);
        if (!value.ok()) return value.status();
        out[item.first.Scalar()] = *std::move(value);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<nlohmann::json> value = YamlToJson(item, depth + 1);
        if (!value.ok()) return value.status();
        out.push_back(*std::move(value));
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      if (node.Tag() != "!") {  // Not quoted.
        bool b;
        int64_t i;
        if (YAML::convert<bool>::decode(node, b)) return b;
        if (YAML::convert<int64_t>::decode(node, i)) return i;
      }
      return node.Scalar();
    }
    default:
      return nullptr;
  }
}

// A header value must not break the request: no control characters.
absl::Status CheckHeaderValue(const std::string& value, const char* field,
                              const std::string& where) {
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", field, "\" holds a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckImpersonation(const Impersonation& as,
                                const std::string& where) {
  if (as.user.empty() &&
      (!as.uid.empty() || !as.groups.empty() || !as.extra.empty())) {
    // client-go's validation says the same.
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        ": requesting uid, groups or user-extra without impersonating a user "
        "(set \"as\" / --as as well)"));
  }
  for (const std::string* value : {&as.user, &as.uid}) {
    if (absl::Status s = CheckHeaderValue(*value, "as", where); !s.ok()) {
      return s;
    }
  }
  for (const std::string& group : as.groups) {
    if (absl::Status s = CheckHeaderValue(group, "as-groups", where); !s.ok()) {
      return s;
    }
  }
  for (const auto& [key, values] : as.extra) {
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"as-user-extra\" has an empty key"));
    }
    for (const std::string& value : values) {
      if (absl::Status s = CheckHeaderValue(value, "as-user-extra", where);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseYaml(absl::string_view yaml, const std::string& display_path,
                       YAML::Node* root) {
  try {
    *root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's messages quote positions, not content.
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", display_path, ": not valid YAML: ", e.what()));
  }
  if (!root->IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", display_path, ": not a YAML map"));
  }
  return absl::OkStatus();
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

// Cluster access for `context` of the merged `files` (the first file that
// defines a name wins; current-context from the first file that sets it).
absl::StatusOr<ClusterAccess> ResolveKubeconfig(
    const std::vector<LoadedKubeconfig>& files, const std::string& context) {
  const std::string all_paths = DisplayPaths(files);
  try {
    std::string context_name = context;
    for (const LoadedKubeconfig& file : files) {
      if (!context_name.empty()) break;
      context_name = Field(file.root, "current-context");
    }
    if (context_name.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("kubeconfig ", all_paths,
                       ": no current-context set and no --context given"));
    }
    absl::StatusOr<NamedEntry> ctx =
        FindNamed(files, "contexts", "context", context_name, "context");
    if (!ctx.ok()) return ctx.status();
    const std::string cluster_name = Field(ctx->inner, "cluster");
    if (cluster_name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", ctx->file->display_path, ": context \"",
                       context_name, "\" names no cluster"));
    }
    absl::StatusOr<NamedEntry> cluster_entry =
        FindNamed(files, "clusters", "cluster", cluster_name, "cluster");
    if (!cluster_entry.ok()) return cluster_entry.status();
    const YAML::Node* cluster = &cluster_entry->inner;
    const std::string& display_path = cluster_entry->file->display_path;
    const std::string& base_dir = cluster_entry->file->base_dir;

    ClusterAccess access;
    access.source =
        absl::StrCat("kubeconfig ", all_paths, " (context ", context_name, ")");
    access.default_namespace = Field(ctx->inner, "namespace");
    access.server = Field(*cluster, "server");
    const std::string cluster_owner =
        absl::StrCat("cluster \"", cluster_name, "\"");
    if (access.server.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kubeconfig ", display_path, ": ", cluster_owner, " has no server"));
    }
    access.tls_server_name = Field(*cluster, "tls-server-name");
    // Validated (and refused when not http://) by HttpTransport::Create.
    access.proxy_url = Field(*cluster, "proxy-url");
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

    const std::string user_name = Field(ctx->inner, "user");
    if (user_name.empty()) return access;  // Anonymous access.
    absl::StatusOr<NamedEntry> user_entry =
        FindNamed(files, "users", "user", user_name, "user");
    if (!user_entry.ok()) return user_entry.status();
    const YAML::Node* user = &user_entry->inner;
    const std::string& user_path = user_entry->file->display_path;
    const std::string& user_dir = user_entry->file->base_dir;
    const std::string user_owner = absl::StrCat("user \"", user_name, "\"");
    const std::string user_where =
        absl::StrCat("kubeconfig ", user_path, ": ", user_owner);
    for (const char* unsupported : {"auth-provider", "username", "password"}) {
      if ((*user)[unsupported]) {
        return absl::UnimplementedError(absl::StrCat(
            user_where, " uses \"", unsupported,
            "\", which is not supported; use a client certificate, a token "
            "or an exec credential plugin"));
      }
    }
    absl::StatusOr<std::string> cert = DataOrFile(
        *user, "client-certificate", user_dir, user_path, user_owner);
    if (!cert.ok()) return cert.status();
    access.client_certificate_pem = *std::move(cert);
    absl::StatusOr<std::string> key =
        DataOrFile(*user, "client-key", user_dir, user_path, user_owner);
    if (!key.ok()) return key.status();
    access.client_key_pem = crypto::SecretBytes::TakeAndWipe(&*key);
    if (access.client_certificate_pem.empty() !=
        access.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          user_where, " has a client ",
          access.client_key_pem.empty() ? "certificate but no key"
                                        : "key but no certificate"));
    }
    const YAML::Node token = (*user)["token"];
    if (token && token.IsScalar() && !token.Scalar().empty()) {
      access.bearer_token = crypto::SecretBytes::CopyFrom(token.Scalar());
    } else {
      const std::string token_file = Field(*user, "tokenFile");
      if (!token_file.empty()) {
        access.bearer_token_file = JoinPath(user_dir, token_file);
        absl::StatusOr<crypto::SecretBytes> token_bytes =
            ReadSecretFile(access.bearer_token_file, /*trim=*/true);
        if (!token_bytes.ok()) {
          return absl::Status(token_bytes.status().code(),
                              absl::StrCat(user_where, " \"tokenFile\": ",
                                           token_bytes.status().message()));
        }
        access.bearer_token = *std::move(token_bytes);
      }
    }

    // Impersonation.
    access.impersonate.user = Field(*user, "as");
    access.impersonate.uid = Field(*user, "as-uid");
    absl::StatusOr<std::vector<std::string>> groups =
        StringList(*user, "as-groups", user_where);
    if (!groups.ok()) return groups.status();
    access.impersonate.groups = *std::move(groups);
    const YAML::Node extra = (*user)["as-user-extra"];
    if (extra && !extra.IsNull()) {
      if (!extra.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat(user_where, ": \"as-user-extra\" is not a map"));
      }
      for (const auto& item : extra) {
        absl::StatusOr<std::vector<std::string>> values;
        if (item.second.IsScalar()) {
          values = std::vector<std::string>{item.second.Scalar()};
        } else {
          YAML::Node holder;
          holder["v"] = item.second;
          values = StringList(holder, "v", user_where);
        }
        if (!values.ok()) return values.status();
        access.impersonate.extra[item.first.Scalar()] = *std::move(values);
      }
    }
    if (absl::Status s = CheckImpersonation(access.impersonate, user_where);
        !s.ok()) {
      return s;
    }

    // The exec credential plugin.
    const YAML::Node exec = (*user)["exec"];
    if (exec && !exec.IsNull()) {
      const std::string exec_where = absl::StrCat(user_where, " \"exec\"");
      if (!exec.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat(exec_where, " is not a map"));
      }
      if (!access.bearer_token.empty() || !access.bearer_token_file.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            user_where,
            " sets both a token and an exec plugin; keep one of them"));
      }
      ExecConfig config;
      config.owner = absl::StrCat(user_owner, " in kubeconfig ", user_path);
      config.api_version = Field(exec, "apiVersion");
      config.command = Field(exec, "command");
      // client-go resolves a command with a '/' against the kubeconfig's
      // directory; a bare name is looked up on $PATH when it runs.
      if (config.command.find('/') != std::string::npos) {
        config.command = JoinPath(user_dir, config.command);
      }
      absl::StatusOr<std::vector<std::string>> args =
          StringList(exec, "args", exec_where);
      if (!args.ok()) return args.status();
      config.args = *std::move(args);
      const YAML::Node env = exec["env"];
      if (env && !env.IsNull()) {
        if (!env.IsSequence()) {
          return absl::InvalidArgumentError(
              absl::StrCat(exec_where, ": \"env\" is not a list"));
        }
        for (const YAML::Node& item : env) {
          if (!item.IsMap()) {
            return absl::InvalidArgumentError(absl::StrCat(
                exec_where, ": \"env\" items must be {name, value} maps"));
          }
          config.env.emplace_back(Field(item, "name"), Field(item, "value"));
        }
      }
      config.install_hint = Field(exec, "installHint");
      config.interactive_mode = Field(exec, "interactiveMode");
      absl::StatusOr<bool> provide =
          BoolField(exec, "provideClusterInfo", user_path);
      if (!provide.ok()) return provide.status();
      config.provide_cluster_info = *provide;
      if (config.provide_cluster_info) {
        // client-go's rest.ConfigToExecCluster.
        nlohmann::json info = {{"server", access.server}};
        if (!access.tls_server_name.empty()) {
          info["tls-server-name"] = access.tls_server_name;
        }
        if (access.insecure_skip_tls_verify) {
          info["insecure-skip-tls-verify"] = true;
        }
        if (!access.certificate_authority_pem.empty()) {
          info["certificate-authority-data"] =
              absl::Base64Escape(access.certificate_authority_pem);
        }
        if (!access.proxy_url.empty()) info["proxy-url"] = access.proxy_url;
        absl::StatusOr<bool> no_compression =
            BoolField(*cluster, "disable-compression", display_path);
        if (no_compression.ok() && *no_compression) {
          info["disable-compression"] = true;
        }
        const YAML::Node extensions = (*cluster)["extensions"];
        if (extensions && extensions.IsSequence()) {
          for (const YAML::Node& ext : extensions) {
            if (ext.IsMap() &&
                Field(ext, "name") == "client.authentication.k8s.io/exec" &&
                ext["extension"]) {
              absl::StatusOr<nlohmann::json> extension =
                  YamlToJson(ext["extension"]);
              if (!extension.ok()) {
                return absl::InvalidArgumentError(
                    absl::StrCat(display_path,
                                 ": the client.authentication.k8s.io/exec "
                                 "extension of the cluster is ",
                                 extension.status().message()));
              }
              info["config"] = *std::move(extension);
            }
          }
        }
        // Bytes that are not UTF-8 (server, CA, extension) become U+FFFD,
        // as Go's json.Marshal makes them; dump() would throw on them.
        config.cluster_json =
            info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      absl::StatusOr<std::shared_ptr<ExecCredentialProvider>> provider =
          ExecCredentialProvider::Create(std::move(config));
      // Its messages name the user and the kubeconfig.
      if (!provider.ok()) return provider.status();
      access.exec_credentials = *std::move(provider);
    }
    return access;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", all_paths, ": unexpected structure: ", e.what()));
  }
}

// Reads and parses one file; NotFound when it does not exist.
absl::StatusOr<LoadedKubeconfig> ReadKubeconfig(const std::string& path) {
  absl::StatusOr<std::string> yaml = ReadFile(path);
  if (!yaml.ok()) {
    return absl::Status(
        yaml.status().code(),
        absl::StrCat("kubeconfig ", path, ": ", yaml.status().message()));
  }
  LoadedKubeconfig file;
  file.base_dir = DirName(path);
  file.display_path = path;
  absl::Status parsed = ParseYaml(*yaml, path, &file.root);
  // The text may hold keys and tokens (yaml-cpp's own copies are out of
  // reach).
  OPENSSL_cleanse(yaml->data(), yaml->size());
  if (!parsed.ok()) return parsed;
  return file;
}

}  // namespace

absl::StatusOr<ClusterAccess> ParseKubeconfig(absl::string_view yaml,
                                              const std::string& base_dir,
                                              const std::string& display_path,
                                              const std::string& context) {
  std::vector<LoadedKubeconfig> files(1);
  files[0].base_dir = base_dir;
  files[0].display_path = display_path;
  if (absl::Status s = ParseYaml(yaml, display_path, &files[0].root); !s.ok()) {
    return s;
  }
  return ResolveKubeconfig(files, context);
}

absl::StatusOr<ClusterAccess> LoadKubeconfigFile(const std::string& path,
                                                 const std::string& context) {
  absl::StatusOr<LoadedKubeconfig> file = ReadKubeconfig(path);
  if (!file.ok()) return file.status();
  std::vector<LoadedKubeconfig> files;
  files.push_back(*std::move(file));
  return ResolveKubeconfig(files, context);
}

absl::StatusOr<ClusterAccess> LoadKubeconfigFiles(
    const std::vector<std::string>& paths, const std::string& context) {
  std::vector<LoadedKubeconfig> files;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    // client-go skips empty entries and missing files, and reads a file
    // listed twice once; a file that exists but cannot be read or parsed
    // is an error.
    if (path.empty() || !seen.insert(path).second) continue;
    if (!FileExists(path)) continue;
    absl::StatusOr<LoadedKubeconfig> file = ReadKubeconfig(path);
    if (!file.ok()) return file.status();
    files.push_back(*std::move(file));
  }
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "none of the kubeconfig files ", absl::StrJoin(paths, ":"), " exists"));
  }
  return ResolveKubeconfig(files, context);
}

absl::StatusOr<ClusterAccess> WithExecClientCertificate(
    const ClusterAccess& access) {
  ClusterAccess copy = access.Clone();
  if (access.exec_credentials == nullptr ||
      !absl::StartsWithIgnoreCase(access.server, "https://")) {
    return copy;
  }
  absl::StatusOr<std::shared_ptr<const ExecCredential>> credential =
      access.exec_credentials->Get();
  if (!credential.ok()) return credential.status();
  if (!(*credential)->client_certificate_pem.empty()) {
    if (!access.client_certificate_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          access.source,
          ": both the kubeconfig and its exec plugin give a client "
          "certificate; keep one of them"));
    }
    copy.client_certificate_pem = (*credential)->client_certificate_pem;
    copy.client_key_pem = (*credential)->client_key_pem.Clone();
  }
  return copy;
}

absl::Status CheckCredentialsNotInClear(const ClusterAccess& access) {
  const bool has_credentials = !access.bearer_token.empty() ||
                               !access.bearer_token_file.empty() ||
                               access.exec_credentials != nullptr;
  if (!has_credentials || access.allow_credentials_over_http ||
      !absl::StartsWithIgnoreCase(access.server, "http://")) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      access.source, ": refusing to send ",
      access.exec_credentials != nullptr ? "the exec plugin's token"
                                         : "a bearer token",
      " to ", access.server,
      " in clear text (http://); use an https:// server URL, or pass "
      "--insecure-allow-http-credentials if you really mean it"));
}

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
  copy.exec_credentials = exec_credentials;
  copy.impersonate = impersonate;
  copy.allow_credentials_over_http = allow_credentials_over_http;
  copy.proxy_url = proxy_url;
  copy.proxy_environment = proxy_environment;
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
  search.proxy_environment = ProxyEnvironment::FromProcess();
  return search;
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

// FindClusterAccess without the proxy environment (added by the caller).
static absl::StatusOr<ClusterAccess> FindClusterAccessIgnoringProxies(
    const ClusterAccessSearch& search) {
  if (!search.explicit_kubeconfig.empty()) {
    return LoadKubeconfigFile(search.explicit_kubeconfig, search.context);
  }
  if (search.kubeconfig_env.has_value() && !search.kubeconfig_env->empty()) {
    // Merged as kubectl merges them. A set $KUBECONFIG replaces
    // ~/.kube/config (as in kubectl), so when it names no existing file the
    // search moves on to in-cluster access.
    std::vector<std::string> files;
    bool any_exists = false;
    for (absl::string_view path :
         absl::StrSplit(*search.kubeconfig_env, ':', absl::SkipEmpty())) {
      files.emplace_back(path);
      any_exists = any_exists || FileExists(files.back());
    }
    if (any_exists) return LoadKubeconfigFiles(files, search.context);
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

absl::StatusOr<ClusterAccess> FindClusterAccess(
    const ClusterAccessSearch& search) {
  absl::StatusOr<ClusterAccess> access =
      FindClusterAccessIgnoringProxies(search);
  if (!access.ok()) return access;
  access->proxy_environment = search.proxy_environment;
  // kubectl's --as flags: each one given replaces the kubeconfig's value.
  if (!search.as_user.empty()) access->impersonate.user = search.as_user;
  if (!search.as_groups.empty()) access->impersonate.groups = search.as_groups;
  if (!search.as_uid.empty()) access->impersonate.uid = search.as_uid;
  if (absl::Status s = CheckImpersonation(access->impersonate, access->source);
      !s.ok()) {
    return s;
  }
  access->allow_credentials_over_http = search.allow_credentials_over_http;
  return access;
}

}  // namespace kmesh::kube
