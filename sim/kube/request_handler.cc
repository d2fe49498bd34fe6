#include "sim/kube/request_handler.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sim/kube/api_error.h"
#include "sim/kube/patch.h"
#include "sim/kube/protobuf_codec.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

constexpr char kNotServed[] =
    "the server could not find the requested resource";

absl::Status PathNotFound() { return ApiError(404, "NotFound", kNotServed); }

absl::Status MethodNotAllowed() {
  return ApiError(405, "MethodNotAllowed",
                  "the server does not allow this method on the requested "
                  "resource");
}

// json.dump() throws on invalid UTF-8, which a request can put in a name
// ("%FF" in the path) or a protobuf body's string: replaced with U+FFFD
// instead. Bytes as dump() for valid UTF-8.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiResponse JsonResponse(int code, const json& body) {
  ApiResponse response;
  response.code = code;
  response.body = Dump(body);
  return response;
}

// The string at object[key], or "" when it is missing or not a string.
std::string StringMember(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string QueryValue(const std::map<std::string, std::string>& query,
                       const std::string& key) {
  auto it = query.find(key);
  return it == query.end() ? "" : it->second;
}

bool QueryFlag(const std::map<std::string, std::string>& query,
               const std::string& key) {
  std::string value = QueryValue(query, key);
  return value == "1" || value == "true";
}

absl::StatusOr<json> ParseBody(const ApiRequest& request,
                               const ResourceType& type) {
  if (absl::StartsWith(request.content_type, kProtobufContentType)) {
    return DecodeKubernetesProtobuf(request.body);
  }
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return BadRequest(absl::StrCat(type.DisplayName(), " in version \"",
                                   type.version, "\" cannot be handled as a ",
                                   type.kind,
                                   ": the request body is not valid JSON"));
  }
  return body;
}

// A minimal OpenAPI v3 document for one group/version: a PATCH operation
// per resource that names its kind and accepts `fieldValidation`. kubectl
// reads exactly this to decide that the server validates fields itself, so
// `kubectl apply` works without schemas (it then computes patches from its
// built-in types, or JSON merge patches for custom resources).
json OpenApiGroupVersionDocument(const std::vector<ResourceType>& types,
                                 const std::string& group,
                                 const std::string& version) {
  json paths = json::object();
  for (const ResourceType& type : types) {
    if (type.group != group || type.version != version) continue;
    std::string prefix =
        group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
    std::string path = prefix +
                       (type.namespaced ? "/namespaces/{namespace}/" : "/") +
                       type.plural + "/{name}";
    paths[path]["patch"] = {
        {"operationId", "patch" + type.kind},
        {"x-kubernetes-action", "patch"},
        {"x-kubernetes-group-version-kind",
         {{"group", group}, {"version", version}, {"kind", type.kind}}},
        {"parameters", json::array({{{"name", "fieldValidation"},
                                     {"in", "query"},
                                     {"schema", {{"type", "string"}}}}})},
        {"responses", {{"200", {{"description", "OK"}}}}},
    };
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"components", json::object()}};
}

bool IsPods(const ResourceType& type) {
  return type.group.empty() && type.version == "v1" && type.plural == "pods";
}

// ProxyREST.ConnectMethods.
bool IsProxyMethod(const std::string& method) {
  for (const char* allowed :
       {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == allowed) return true;
  }
  return false;
}

// The verb authorization sees for a connect request (RequestInfoFactory).
std::string ConnectVerb(const std::string& method) {
  if (method == "GET" || method == "HEAD") return "get";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "";
}

// Where in `path` the text after its first `count` non-empty segments
// starts.
size_t OffsetAfterSegments(const std::string& path, size_t count) {
  size_t i = 0;
  for (size_t seen = 0; seen < count && i < path.size();) {
    while (i < path.size() && path[i] == '/') ++i;
    while (i < path.size() && path[i] != '/') ++i;
    ++seen;
  }
  return i;
}

ApiResponse TextResponse(int code, std::string body) {
  ApiResponse response;
  response.code = code;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

std::vector<std::string> Verbs() {
  return {"create", "delete", "deletecollection", "get",
          "list",   "patch",  "update",           "watch"};
}

}  // namespace

std::string PercentDecode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> values;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string value(eq == absl::string_view::npos ? "" : pair.substr(eq + 1));
    values[PercentDecode(key, true)] = PercentDecode(value, true);
  }
  return values;
}

RequestHandler::RequestHandler(ObjectStore* store,
                               std::chrono::seconds default_watch_timeout,
                               std::string host_port, PodProxyOptions pod_proxy)
    : store_(store),
      default_watch_timeout_(default_watch_timeout),
      host_port_(std::move(host_port)),
      pod_proxy_(pod_proxy) {}

ApiResponse RequestHandler::ErrorResponse(const absl::Status& status) {
  return JsonResponse(HttpCode(status), StatusObject(status));
}

std::string RequestHandler::WatchEventLine(const WatchEvent& event) {
  // Byte for byte json{{"type", ...}, {"object", ...}}.dump() + "\n" (keys
  // sorted, no spaces), around the object's shared serialisation.
  return absl::StrCat("{\"object\":", event.snapshot->Serialized(),
                      ",\"type\":\"", EventTypeName(event.type), "\"}\n");
}

std::string RequestHandler::WatchErrorLine(const absl::Status& status) {
  return Dump(json{{"type", "ERROR"}, {"object", StatusObject(status)}}) + "\n";
}

ApiTarget RequestHandler::Resolve(const ApiRequest& request) const {
  ApiTarget target;
  std::vector<std::string> segments =
      absl::StrSplit(request.path, '/', absl::SkipEmpty());
  std::string group, version;
  std::vector<std::string> rest;
  if (segments.size() >= 3 && segments[0] == "apis") {
    group = segments[1];
    version = segments[2];
    rest.assign(segments.begin() + 3, segments.end());
  } else if (segments.size() >= 2 && segments[0] == "api") {
    version = segments[1];
    rest.assign(segments.begin() + 2, segments.end());
  }
  if (rest.empty()) return target;  // Discovery or something else.
  target.is_resource = true;
  const ResourceType* type = nullptr;
  size_t next = 0;
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    const ResourceType* namespaced = store_->FindType(group, version, rest[2]);
    if (namespaced != nullptr && namespaced->namespaced) {
      type = namespaced;
      target.ns = rest[1];
      next = 3;
    }
  }
  if (type == nullptr) {
    type = store_->FindType(group, version, rest[0]);
    next = 1;
  }
  if (type == nullptr) {
    target.error = PathNotFound();
    return target;
  }
  target.type = type;
  if (next < rest.size()) target.name = rest[next++];
  if (next < rest.size()) target.subresource = rest[next++];
  if (target.subresource == "proxy" && IsPods(*type) && !target.ns.empty()) {
    // Everything after "proxy" is the path to relay (ProxyREST's "path").
    const size_t consumed = segments.size() - rest.size() + next;
    target.proxy_path =
        request.path.substr(OffsetAfterSegments(request.path, consumed));
    target.verb = ConnectVerb(request.method);
    if (!IsProxyMethod(request.method)) target.error = MethodNotAllowed();
    return target;
  }
  if (next < rest.size() ||
      (!target.subresource.empty() && target.subresource != "status")) {
    target.error = PathNotFound();
    return target;
  }
  const bool collection = target.name.empty();
  if (type->namespaced && target.ns.empty() && !collection) {
    target.error = PathNotFound();
    return target;
  }
  const std::string& method = request.method;
  if (method == "GET") {
    target.verb =
        collection
            ? (QueryFlag(ParseQuery(request.query), "watch") ? "watch" : "list")
            : "get";
  } else if (method == "POST" && collection &&
             (!type->namespaced || !target.ns.empty())) {
    target.verb = "create";
  } else if (method == "PUT" && !collection) {
    target.verb = "update";
  } else if (method == "PATCH" && !collection) {
    target.verb = "patch";
  } else if (method == "DELETE" && !collection && target.subresource.empty()) {
    target.verb = "delete";
  } else if (method == "DELETE" && collection) {
    target.verb = "deletecollection";
  } else {
    target.error = MethodNotAllowed();
  }
  return target;
}

ApiResponse RequestHandler::Handle(const ApiRequest& request,
                                   const ApiTarget& target) {
  if (!target.is_resource) {
    if (request.method != "GET") return ErrorResponse(MethodNotAllowed());
    return Discovery(absl::StrSplit(request.path, '/', absl::SkipEmpty()));
  }
  if (!target.error.ok()) return ErrorResponse(target.error);
  if (target.subresource == "proxy") return PodProxy(request, target);
  return HandleResource(request, target, ParseQuery(request.query));
}

ApiResponse RequestHandler::PodProxy(const ApiRequest& request,
                                     const ApiTarget& target) {
  // pod.ResourceLocation: the id, the pod, its port and its IP.
  SchemeNamePort id;
  if (!SplitSchemeNamePort(target.name, &id)) {
    return ErrorResponse(BadRequest(
        absl::StrCat("invalid pod request ", Dump(json(target.name)))));
  }
  absl::StatusOr<json> pod = store_->Get(*target.type, target.ns, id.name);
  if (!pod.ok()) return ErrorResponse(pod.status());
  std::string port = id.port;
  const json& spec = (*pod)["spec"];
  if (port.empty() && spec.is_object() && spec.contains("containers") &&
      spec["containers"].is_array()) {
    for (const json& container : spec["containers"]) {
      if (!container.is_object() || !container.contains("ports")) continue;
      const json& ports = container["ports"];
      if (!ports.is_array() || ports.empty()) continue;
      if (ports[0].is_object() && ports[0].contains("containerPort") &&
          ports[0]["containerPort"].is_number_integer()) {
        port = std::to_string(ports[0]["containerPort"].get<int64_t>());
      }
      break;
    }
  }
  // status.podIPs[0].ip, which the API server keeps equal to status.podIP.
  // A field that is not a string is no IP (the real server would not have
  // stored such a pod).
  std::string pod_ip;
  const json& status = (*pod)["status"];
  if (status.is_object()) {
    auto ips = status.find("podIPs");
    if (ips != status.end() && ips->is_array() && !ips->empty() &&
        (*ips)[0].is_object()) {
      pod_ip = StringMember((*ips)[0], "ip");
    } else {
      pod_ip = StringMember(status, "podIP");
    }
  }
  if (!IsGlobalUnicastIp(pod_ip) &&
      !(pod_proxy_.allow_loopback_pod_ips && IsLoopbackIp(pod_ip))) {
    return ErrorResponse(BadRequest("address not allowed"));
  }
  // A named port is passed on as it is; the URL the proxy handler then
  // builds ("10.0.0.5:metrics") does not parse, normalizeLocation ignores
  // the error and dereferences the nil URL, and the panic is recovered by
  // WithPanicRecovery with this answer.
  if (!port.empty() && !std::all_of(port.begin(), port.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return TextResponse(500,
                        "This request caused apiserver to panic. Look in the "
                        "logs for details.\n");
  }

  // ProxyREST.Connect and UpgradeAwareHandler.ServeHTTP: the path.
  const size_t first = target.proxy_path.find_first_not_of('/');
  const std::string trimmed =
      first == std::string::npos
          ? ""
          : target.proxy_path.substr(
                first, target.proxy_path.find_last_not_of('/') - first + 1);
  std::string location_path = CleanProxyPath(trimmed);
  if (!location_path.empty() && location_path[0] != '/') {
    location_path.insert(0, "/");
  }
  if (!absl::EndsWith(location_path, "/") &&
      absl::EndsWith(request.path, "/")) {
    location_path += "/";
  }
  if (location_path.empty() &&
      (request.method == "GET" || request.method == "HEAD")) {
    ApiResponse redirect;
    redirect.code = 301;
    redirect.content_type.clear();
    redirect.headers.push_back(
        {"Location",
         absl::StrCat(request.path, "/", request.query.empty() ? "" : "?",
                      request.query)});
    return redirect;
  }
  if (id.scheme == "https") {
    return ErrorResponse(ApiError(
        503, "ServiceUnavailable",
        "error trying to reach service: the simulated API server does not "
        "proxy to pods over https"));
  }

  PodHttpRequest forwarded;
  forwarded.method = request.method;
  forwarded.target =
      absl::StrCat(EscapeUrlPath(location_path.empty() ? "/" : location_path),
                   request.query.empty() ? "" : "?", request.query);
  for (const auto& [name, value] : request.headers) {
    // The authentication filter removes the credentials before proxying.
    if (absl::EqualsIgnoreCase(name, "authorization")) continue;
    forwarded.headers.push_back({name, value});
  }
  forwarded.body = request.body;
  absl::StatusOr<PodHttpResponse> answer =
      ExchangeWithPod(pod_ip, port, forwarded, pod_proxy_.timeout);
  if (!answer.ok()) {
    return ErrorResponse(
        ApiError(503, "ServiceUnavailable",
                 absl::StrCat("error trying to reach service: ",
                              answer.status().message())));
  }
  ApiResponse response;
  response.code = answer->code;
  response.content_type.clear();
  for (auto& [name, value] : answer->headers) {
    if (absl::EqualsIgnoreCase(name, "content-type")) {
      response.content_type = value;
    } else {
      response.headers.push_back({name, std::move(value)});
    }
  }
  response.body = std::move(answer->body);
  return response;
}

json RequestHandler::ListObject(const ResourceType& type,
                                const ListResult& list) const {
  json items = json::array();
  for (const json& item : list.items) {
    items.push_back(item);
    // Built-in types' list items carry no kind/apiVersion on the wire.
    if (type.group.empty()) {
      items.back().erase("kind");
      items.back().erase("apiVersion");
    }
  }
  return {{"kind", type.kind + "List"},
          {"apiVersion", type.ApiVersion()},
          {"metadata",
           {{"resourceVersion", std::to_string(list.resource_version)}}},
          {"items", std::move(items)}};
}

ApiResponse RequestHandler::HandleResource(
    const ApiRequest& request, const ApiTarget& target,
    const std::map<std::string, std::string>& query) {
  const ResourceType& type = *target.type;
  if (!QueryValue(query, "dryRun").empty()) {
    return ErrorResponse(
        BadRequest("dryRun is not supported by the simulated API server"));
  }
  const ListFilter filter{QueryValue(query, "labelSelector"),
                          QueryValue(query, "fieldSelector")};
  const std::string& verb = target.verb;
  if (verb == "list") {
    absl::StatusOr<ListResult> list = store_->List(type, target.ns, filter);
    if (!list.ok()) return ErrorResponse(list.status());
    return JsonResponse(200, ListObject(type, *list));
  }
  if (verb == "watch") {
    std::chrono::seconds timeout = default_watch_timeout_;
    std::string timeout_text = QueryValue(query, "timeoutSeconds");
    int64_t seconds = 0;
    if (!timeout_text.empty()) {
      if (!absl::SimpleAtoi(timeout_text, &seconds) || seconds < 0) {
        return ErrorResponse(BadRequest(
            absl::StrCat("invalid timeoutSeconds \"", timeout_text, "\"")));
      }
      if (seconds > 0) timeout = std::chrono::seconds(seconds);
    }
    absl::StatusOr<std::unique_ptr<ObjectStore::Watcher>> watcher =
        store_->Watch(type, target.ns, filter,
                      QueryValue(query, "resourceVersion"));
    ApiResponse response;
    if (!watcher.ok()) {
      if (HttpCode(watcher.status()) != 410) {
        return ErrorResponse(watcher.status());
      }
      // As the real server: a 200 stream whose one event is the error.
      response.body = WatchErrorLine(watcher.status());
      response.chunked = true;
      return response;
    }
    response.watcher = *std::move(watcher);
    response.watch_deadline = std::chrono::steady_clock::now() + timeout;
    return response;
  }
  if (verb == "get") {
    absl::StatusOr<json> object = store_->Get(type, target.ns, target.name);
    if (!object.ok()) return ErrorResponse(object.status());
    return JsonResponse(200, *object);
  }
  if (verb == "create") {
    absl::StatusOr<json> body = ParseBody(request, type);
    if (!body.ok()) return ErrorResponse(body.status());
    absl::StatusOr<json> created =
        store_->Create(type, target.ns, *std::move(body));
    if (!created.ok()) return ErrorResponse(created.status());
    return JsonResponse(201, *created);
  }
  if (verb == "update") {
    absl::StatusOr<json> body = ParseBody(request, type);
    if (!body.ok()) return ErrorResponse(body.status());
    absl::StatusOr<json> updated =
        store_->Update(type, target.ns, target.name, *std::move(body));
    if (!updated.ok()) return ErrorResponse(updated.status());
    return JsonResponse(200, *updated);
  }
  if (verb == "patch") {
    absl::StatusOr<json> patched =
        store_->Mutate(type, target.ns, target.name, [&](const json& current) {
          return ApplyPatch(current, request.content_type, request.body);
        });
    if (!patched.ok()) return ErrorResponse(patched.status());
    return JsonResponse(200, *patched);
  }
  if (verb == "delete") {
    ObjectStore::Preconditions preconditions;
    if (!request.body.empty()) {
      absl::StatusOr<json> parsed = ParseBody(request, type);
      if (!parsed.ok()) return ErrorResponse(parsed.status());
      json options = *std::move(parsed);
      if (!options.is_object()) {
        return ErrorResponse(BadRequest("DeleteOptions must be an object"));
      }
      json conditions = options.value("preconditions", json::object());
      if (conditions.is_object()) {
        preconditions.resource_version =
            conditions.value("resourceVersion", "");
        preconditions.uid = conditions.value("uid", "");
      }
    }
    absl::StatusOr<json> deleted =
        store_->Delete(type, target.ns, target.name, preconditions);
    if (!deleted.ok()) return ErrorResponse(deleted.status());
    return JsonResponse(200, *deleted);
  }
  if (verb == "deletecollection") {
    absl::StatusOr<ListResult> list = store_->List(type, target.ns, filter);
    if (!list.ok()) return ErrorResponse(list.status());
    ListResult deleted;
    for (const json& item : list->items) {
      const json& metadata = item["metadata"];
      absl::StatusOr<json> gone = store_->Delete(
          type, metadata.value("namespace", ""), metadata.value("name", ""));
      if (gone.ok()) deleted.items.push_back(*std::move(gone));
    }
    deleted.resource_version = store_->CurrentResourceVersion();
    return JsonResponse(200, ListObject(type, deleted));
  }
  return ErrorResponse(MethodNotAllowed());
}

ApiResponse RequestHandler::OpenApiV3(
    const std::vector<std::string>& rest,
    const std::vector<ResourceType>& types) const {
  auto document = [&](const std::string& group, const std::string& version) {
    return OpenApiGroupVersionDocument(types, group, version);
  };
  if (rest.empty()) {
    json paths = json::object();
    for (const ResourceType& type : types) {
      std::string key = type.group.empty()
                            ? "api/" + type.version
                            : "apis/" + type.group + "/" + type.version;
      size_t hash =
          std::hash<std::string>()(document(type.group, type.version).dump());
      paths[key] = {{"serverRelativeURL",
                     absl::StrCat("/openapi/v3/", key, "?hash=", hash)}};
    }
    return JsonResponse(200, {{"paths", paths}});
  }
  std::string group, version;
  if (rest.size() == 2 && rest[0] == "api") {
    version = rest[1];
  } else if (rest.size() == 3 && rest[0] == "apis") {
    group = rest[1];
    version = rest[2];
  }
  json doc = document(group, version);
  if (version.empty() || doc["paths"].empty()) {
    ApiResponse response;
    response.code = 404;
    response.content_type = "text/plain; charset=utf-8";
    response.body = "404 page not found\n";
    return response;
  }
  return JsonResponse(200, doc);
}

ApiResponse RequestHandler::Discovery(
    const std::vector<std::string>& segments) const {
  std::vector<ResourceType> types = store_->Types();
  auto resource_list = [&](const std::string& group,
                           const std::string& version) -> ApiResponse {
    json resources = json::array();
    for (const ResourceType& type : types) {
      if (type.group != group || type.version != version) continue;
      json resource = {{"name", type.plural},
                       {"singularName", type.singular},
                       {"namespaced", type.namespaced},
                       {"kind", type.kind},
                       {"verbs", Verbs()}};
      if (!type.short_names.empty()) resource["shortNames"] = type.short_names;
      resources.push_back(resource);
    }
    if (resources.empty()) return ErrorResponse(PathNotFound());
    return JsonResponse(
        200, {{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group.empty() ? version : group + "/" + version},
              {"resources", resources}});
  };
  // Groups in the order first seen, each with its versions.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const ResourceType& type : types) {
    if (type.group.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      return g.first == type.group;
    });
    if (it == groups.end()) {
      groups.push_back({type.group, {}});
      it = groups.end() - 1;
    }
    if (std::find(it->second.begin(), it->second.end(), type.version) ==
        it->second.end()) {
      it->second.push_back(type.version);
    }
  }
  auto group_object = [](const std::string& name,
                         const std::vector<std::string>& versions) {
    json version_list = json::array();
    for (const std::string& version : versions) {
      version_list.push_back(
          {{"groupVersion", name + "/" + version}, {"version", version}});
    }
    return json{{"name", name},
                {"versions", version_list},
                {"preferredVersion", version_list[0]}};
  };

  if (segments.empty()) {
    json paths = {"/api", "/api/v1", "/apis", "/version", "/healthz"};
    for (const auto& [group, versions] : groups) {
      paths.push_back("/apis/" + group);
      for (const std::string& version : versions) {
        paths.push_back("/apis/" + group + "/" + version);
      }
    }
    return JsonResponse(200, {{"paths", paths}});
  }
  const std::string& root = segments[0];
  if (root == "api" && segments.size() == 1) {
    return JsonResponse(
        200,
        {{"kind", "APIVersions"},
         {"versions", {"v1"}},
         {"serverAddressByClientCIDRs",
          {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", host_port_}}}}});
  }
  if (root == "api" && segments.size() == 2) {
    return resource_list("", segments[1]);
  }
  if (root == "apis" && segments.size() == 1) {
    json list = json::array();
    for (const auto& [group, versions] : groups) {
      list.push_back(group_object(group, versions));
    }
    return JsonResponse(
        200,
        {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}});
  }
  if (root == "apis" && segments.size() == 2) {
    for (const auto& [group, versions] : groups) {
      if (group != segments[1]) continue;
      json object = group_object(group, versions);
      object["kind"] = "APIGroup";
      object["apiVersion"] = "v1";
      return JsonResponse(200, object);
    }
    return ErrorResponse(PathNotFound());
  }
  if (root == "apis" && segments.size() == 3) {
    return resource_list(segments[1], segments[2]);
  }
  if (root == "version" && segments.size() == 1) {
    return JsonResponse(
        200, {{"major", "1"},
              {"minor", "32"},
              {"gitVersion", "v1.32.0-kmesh-sim"},
              {"gitCommit", "0000000000000000000000000000000000000000"},
              {"gitTreeState", "clean"},
              {"buildDate", "2026-01-01T00:00:00Z"},
              {"goVersion", "go1.23.0"},
              {"compiler", "gc"},
              {"platform", "linux/amd64"}});
  }
  if ((root == "healthz" || root == "livez" || root == "readyz") &&
      segments.size() == 1) {
    ApiResponse response;
    response.content_type = "text/plain; charset=utf-8";
    response.body = "ok";
    return response;
  }
  if (root == "openapi" && segments.size() >= 2 && segments[1] == "v3") {
    return OpenApiV3(
        std::vector<std::string>(segments.begin() + 2, segments.end()), types);
  }
  // Everything else (including /openapi/v2, which this server does not
  // publish) is Go's plain 404, as for an unknown path.
  ApiResponse response;
  response.code = 404;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "404 page not found\n";
  return response;
}

}  // namespace kmesh::sim::kube
