#include "sim/kube/request_handler.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "sim/kube/api_error.h"
#include "sim/kube/object_fields.h"
#include "sim/kube/patch.h"
#include "sim/kube/protobuf_codec.h"
#include "sim/kube/selector.h"

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

// A boolean query parameter as runtime.Convert_Slice_string_To_bool reads
// it: absent, "0" or "false" in any case is false; anything else (also ""
// and "yes") is true. Never an error.
bool QueryFlag(const std::map<std::string, std::string>& query,
               const std::string& key) {
  auto it = query.find(key);
  if (it == query.end()) return false;
  return !(it->second == "0" || absl::EqualsIgnoreCase(it->second, "false"));
}

// Go's strconv.Quote for the ASCII text a query carries.
std::string GoQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 ||
               static_cast<unsigned char>(c) >= 0x7f) {
      out += absl::StrFormat("\\x%02x", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// strconv.ParseInt(text, 10, 64) with its error text, as the parameter
// codec reports a bad `limit` or `timeoutSeconds`.
absl::StatusOr<int64_t> ParseGoInt64(const std::string& text) {
  auto syntax = [&] {
    return BadRequest(absl::StrCat("strconv.ParseInt: parsing ", GoQuote(text),
                                   ": invalid syntax"));
  };
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  if (i == text.size()) return syntax();
  uint64_t magnitude = 0;
  bool overflow = false;
  for (; i < text.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      return syntax();
    }
    const uint64_t digit = text[i] - '0';
    if (magnitude > (UINT64_MAX - digit) / 10) {
      overflow = true;
    } else {
      magnitude = magnitude * 10 + digit;
    }
  }
  const uint64_t limit =
      negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  if (overflow || magnitude > limit) {
    return BadRequest(absl::StrCat("strconv.ParseInt: parsing ", GoQuote(text),
                                   ": value out of range"));
  }
  return negative ? static_cast<int64_t>(0 - magnitude)
                  : static_cast<int64_t>(magnitude);
}

absl::StatusOr<ListQuery> DecodeListOptions(
    const std::map<std::string, std::string>& query) {
  ListQuery options;
  options.label_selector = QueryValue(query, "labelSelector");
  options.field_selector = QueryValue(query, "fieldSelector");
  options.watch = QueryFlag(query, "watch");
  options.allow_watch_bookmarks = QueryFlag(query, "allowWatchBookmarks");
  options.resource_version = QueryValue(query, "resourceVersion");
  options.resource_version_match = QueryValue(query, "resourceVersionMatch");
  if (query.count("timeoutSeconds") != 0) {
    absl::StatusOr<int64_t> timeout =
        ParseGoInt64(QueryValue(query, "timeoutSeconds"));
    if (!timeout.ok()) return timeout.status();
    options.timeout_seconds = *timeout;
  }
  if (query.count("limit") != 0) {
    absl::StatusOr<int64_t> limit = ParseGoInt64(QueryValue(query, "limit"));
    if (!limit.ok()) return limit.status();
    options.limit = *limit;
  }
  options.continue_token = QueryValue(query, "continue");
  if (query.count("sendInitialEvents") != 0) {
    options.send_initial_events = QueryFlag(query, "sendInitialEvents");
  }
  // The selectors' syntax (their labels are converted after validation).
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(options.label_selector);
  if (!labels.ok()) return BadRequest(std::string(labels.status().message()));
  absl::StatusOr<FieldSelector> fields = FieldSelector::Parse(
      options.field_selector,
      [](const std::string& label) -> absl::StatusOr<std::string> {
        return label;
      },
      [](const json&, const std::string&) { return std::string(); });
  if (!fields.ok()) return BadRequest(std::string(fields.status().message()));
  return options;
}

// ValidateListOptions (apimachinery internalversion/validation) with the
// WatchList feature gate off: a 422 for ListOptions.meta.k8s.io.
absl::Status ValidateListOptions(const ListQuery& options) {
  std::vector<std::string> errors;
  const std::string& match = options.resource_version_match;
  if (options.watch) {
    if (options.send_initial_events.has_value()) {
      if (match != "NotOlderThan") {
        errors.push_back(
            "resourceVersionMatch: Forbidden: sendInitialEvents requires "
            "setting resourceVersionMatch to NotOlderThan");
      }
      errors.push_back(
          "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for "
          "watch unless the WatchList feature gate is enabled");
    }
    if (!match.empty()) {
      if (!options.send_initial_events.has_value()) {
        errors.push_back(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is "
            "forbidden for watch unless sendInitialEvents is provided");
      }
      if (match != "NotOlderThan") {
        errors.push_back(absl::StrCat(
            "resourceVersionMatch: Unsupported value: ", GoQuote(match),
            ": supported values: \"NotOlderThan\""));
      }
      if (!options.continue_token.empty()) {
        errors.push_back(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is "
            "forbidden when continue is provided");
      }
    }
  } else {
    if (!match.empty()) {
      if (options.resource_version.empty()) {
        errors.push_back(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is "
            "forbidden unless resourceVersion is provided");
      }
      if (!options.continue_token.empty()) {
        errors.push_back(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is "
            "forbidden when continue is provided");
      }
      if (match != "Exact" && match != "NotOlderThan") {
        errors.push_back(absl::StrCat(
            "resourceVersionMatch: Unsupported value: ", GoQuote(match),
            ": supported values: \"Exact\", \"NotOlderThan\", \"\""));
      }
      if (match == "Exact" && options.resource_version == "0") {
        errors.push_back(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" "
            "is forbidden for resourceVersion \"0\"");
      }
    }
    if (options.send_initial_events.has_value()) {
      errors.push_back(
          "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for "
          "list");
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return InvalidWithCauses("ListOptions", "meta.k8s.io", "", errors);
}

// APIObjectVersioner.ParseResourceVersion: "" and "0" are 0; anything
// else not a uint64 is a storage.InvalidError. etcd3's list wraps it in a
// 400 ("invalid resource version: ..."); the watch cache (lists it serves,
// and watches) returns it as it is, which the handler answers with a 500
// without a reason.
absl::StatusOr<uint64_t> ParseResourceVersion(const std::string& text,
                                              bool from_etcd) {
  if (text.empty() || text == "0") return 0;
  uint64_t version = 0;
  bool digits = std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (!digits || !absl::SimpleAtoi(text, &version)) {
    const std::string invalid =
        absl::StrCat("resourceVersion: Invalid value: ", GoQuote(text),
                     ": strconv.ParseUint: parsing ", GoQuote(text),
                     digits ? ": value out of range" : ": invalid syntax");
    if (from_etcd) {
      return BadRequest(absl::StrCat("invalid resource version: ", invalid));
    }
    return ApiError(500, "", invalid);
  }
  return version;
}

// storage.EncodeContinue: base64url (unpadded) of
// {"v":"meta.k8s.io/v1","rv":N,"start":"<key>"}.
std::string EncodeContinue(const std::string& key, int64_t resource_version) {
  std::string token;
  absl::WebSafeBase64Escape(
      absl::StrCat("{\"v\":\"meta.k8s.io/v1\",\"rv\":", resource_version,
                   ",\"start\":", Dump(json(key)), "}"),
      &token);
  return token;
}

// storage.DecodeContinue: the start key and resourceVersion of a token, or
// the 400 the real server answers a malformed one with.
absl::StatusOr<std::pair<std::string, int64_t>> DecodeContinue(
    const std::string& token) {
  auto invalid = [](const std::string& why) {
    return BadRequest(absl::StrCat("invalid continue token: ", why));
  };
  std::string data;
  if (token.find_first_of("=+/") != std::string::npos ||
      !absl::WebSafeBase64Unescape(token, &data)) {
    return invalid("continue key is not valid: illegal base64 data");
  }
  json parsed = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return invalid("continue key is not valid: invalid JSON");
  }
  const json& version = At(parsed, "v");
  const json& rv = At(parsed, "rv");
  const json& start = At(parsed, "start");
  if ((!version.is_null() && !version.is_string()) ||
      (!rv.is_null() && !rv.is_number_integer()) ||
      (!start.is_null() && !start.is_string())) {
    return invalid("continue key is not valid: invalid JSON");
  }
  const std::string api_version =
      version.is_string() ? version.get<std::string>() : "";
  if (api_version != "meta.k8s.io/v1") {
    return invalid(absl::StrCat(
        "continue key is not valid: server does not recognize this encoded "
        "version ",
        api_version));
  }
  const int64_t resource_version = rv.is_null() ? 0 : rv.get<int64_t>();
  if (resource_version == 0) {
    return invalid(
        "continue key is not valid: incorrect encoded start resourceVersion "
        "(version meta.k8s.io/v1)");
  }
  std::string key = start.is_string() ? start.get<std::string>() : "";
  if (key.empty()) {
    return invalid(
        "continue key is not valid: encoded start key empty (version "
        "meta.k8s.io/v1)");
  }
  // path.Clean must leave "/" + key as it is (no "..", ".", "//", no
  // trailing "/").
  const std::string rooted = key[0] == '/' ? key : "/" + key;
  bool clean = rooted == "/" || rooted.back() != '/';
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(rooted).substr(1), '/')) {
    if (rooted == "/") break;
    if (part.empty() || part == "." || part == "..") clean = false;
  }
  if (!clean) {
    return invalid(absl::StrCat("continue key is not valid: ", key));
  }
  return std::make_pair(rooted.substr(1), resource_version);
}

constexpr char kListTooOld[] =
    "The resourceVersion for the provided list is too old.";
constexpr char kInconsistentContinue[] =
    "The provided continue parameter is too old to display a consistent list "
    "result. You can start a new list without the continue parameter, or use "
    "the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent "
    "list - objects that were created, modified, or deleted between the time "
    "the first chunk was returned and now may show up in the list.";

// The object of a BOOKMARK event: what the cacher's newFunc() makes, with
// only the resourceVersion set, as the JSON serializer writes it (Go's
// zero values: null creationTimestamp, pods' null containers, nodes'
// daemonEndpoints and nodeInfo).
json BookmarkObject(const ResourceType& type, uint64_t resource_version) {
  json object = {
      {"kind", type.kind},
      {"apiVersion", type.ApiVersion()},
      {"metadata", {{"resourceVersion", absl::StrCat(resource_version)}}}};
  const bool custom = !type.group.empty() && type.group != kAppsGroup &&
                      type.group != kRbacGroup &&
                      type.group != kApiExtensionsGroup;
  if (custom) return object;  // Unstructured: nothing else.
  object["metadata"]["creationTimestamp"] = nullptr;
  if (!type.group.empty()) return object;
  if (type.plural == "pods") {
    object["spec"] = {{"containers", nullptr}};
    object["status"] = json::object();
  } else if (type.plural == "namespaces") {
    object["spec"] = json::object();
    object["status"] = json::object();
  } else if (type.plural == "nodes") {
    object["spec"] = json::object();
    object["status"] = {
        {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 0}}}}},
        {"nodeInfo",
         {{"machineID", ""},
          {"systemUUID", ""},
          {"bootID", ""},
          {"kernelVersion", ""},
          {"osImage", ""},
          {"containerRuntimeVersion", ""},
          {"kubeletVersion", ""},
          {"kubeProxyVersion", ""},
          {"operatingSystem", ""},
          {"architecture", ""}}}};
  }
  return object;
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
    // url.Values.Get: the first value of a repeated key counts.
    values.emplace(PercentDecode(key, true), PercentDecode(value, true));
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
  json metadata = {{"resourceVersion", std::to_string(list.resource_version)}};
  if (!list.next_key.empty()) {
    metadata["continue"] = EncodeContinue(
        list.next_key, static_cast<int64_t>(list.resource_version));
    if (list.remaining_item_count >= 0) {
      metadata["remainingItemCount"] = list.remaining_item_count;
    }
  }
  return {{"kind", type.kind + "List"},
          {"apiVersion", type.ApiVersion()},
          {"metadata", std::move(metadata)},
          {"items", std::move(items)}};
}

ApiResponse RequestHandler::List(const ResourceType& type,
                                 const std::string& ns,
                                 const ListFilter& filter,
                                 const ListQuery& options) {
  ListPage page;
  const std::string& rv = options.resource_version;
  const std::string& match = options.resource_version_match;
  // The cacher's shouldDelegateList (ConsistentListFromCache on): a
  // continuation, a limit with resourceVersion other than "0", or an Exact
  // match is read from etcd, with pages; everything else from the watch
  // cache, whole and at its latest state (a limit is ignored).
  if (!options.continue_token.empty()) {
    absl::StatusOr<std::pair<std::string, int64_t>> token =
        DecodeContinue(options.continue_token);
    if (!token.ok()) return ErrorResponse(token.status());
    if (!rv.empty() && rv != "0") {
      return ErrorResponse(BadRequest(
          "specifying resource version is not allowed when using continue"));
    }
    page.start_key = token->first;
    // rv < 0: continue at the latest state (after a compaction).
    if (token->second > 0) page.at_version = token->second;
    page.limit = options.limit;
    absl::StatusOr<ListResult> list = store_->List(type, ns, filter, page);
    if (!list.ok()) {
      if (HttpCode(list.status()) == 410) {
        return ErrorResponse(ExpiredWithContinue(
            kInconsistentContinue, EncodeContinue(token->first, -1)));
      }
      return ErrorResponse(list.status());
    }
    return JsonResponse(200, ListObject(type, *list));
  }
  const bool from_etcd = (options.limit > 0 && rv != "0") || match == "Exact";
  absl::StatusOr<uint64_t> version = ParseResourceVersion(rv, from_etcd);
  if (!version.ok()) return ErrorResponse(version.status());
  if (from_etcd) {
    page.limit = options.limit;
    if (match == "Exact" || (match.empty() && options.limit > 0)) {
      page.at_version = *version;
    }
  }
  if (page.at_version == 0 && *version > store_->CurrentResourceVersion()) {
    // NotOlderThan a version the store has not reached (the real server
    // waits up to 3 s for it first).
    return ErrorResponse(
        TooLargeResourceVersion(*version, store_->CurrentResourceVersion()));
  }
  absl::StatusOr<ListResult> list = store_->List(type, ns, filter, page);
  if (!list.ok()) {
    if (HttpCode(list.status()) == 410) {
      return ErrorResponse(Gone(kListTooOld));
    }
    return ErrorResponse(list.status());
  }
  return JsonResponse(200, ListObject(type, *list));
}

ApiResponse RequestHandler::Watch(const ResourceType& type,
                                  const std::string& ns,
                                  const ListFilter& filter,
                                  const ListQuery& options) {
  // timeoutSeconds: 0 or absent is the server's default; a negative one
  // ends the watch at once (the handler's timer fires immediately).
  std::chrono::steady_clock::duration timeout = default_watch_timeout_;
  if (options.timeout_seconds.has_value() && *options.timeout_seconds != 0) {
    timeout = std::chrono::seconds(std::max<int64_t>(
        std::min<int64_t>(*options.timeout_seconds, int64_t{1} << 32), -1));
  }
  absl::StatusOr<uint64_t> version =
      ParseResourceVersion(options.resource_version, /*from_etcd=*/false);
  if (!version.ok()) return ErrorResponse(version.status());
  absl::StatusOr<std::unique_ptr<ObjectStore::Watcher>> watcher =
      store_->Watch(type, ns, filter, options.resource_version);
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
  if (options.allow_watch_bookmarks) {
    response.bookmark_interval = bookmark_interval_;
    const ResourceType bookmark_type = type;
    response.bookmark_line = [bookmark_type](uint64_t resource_version) {
      return Dump(json{
                 {"type", "BOOKMARK"},
                 {"object", BookmarkObject(bookmark_type, resource_version)}}) +
             "\n";
    };
  }
  return response;
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
  if (verb == "list" || verb == "watch") {
    absl::StatusOr<ListQuery> options = DecodeListOptions(query);
    if (!options.ok()) return ErrorResponse(options.status());
    if (absl::Status valid = ValidateListOptions(*options); !valid.ok()) {
      return ErrorResponse(valid);
    }
    if (verb == "list") return List(type, target.ns, filter, *options);
    return Watch(type, target.ns, filter, *options);
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
