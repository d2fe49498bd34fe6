#include "sim/kube/api_error.h"

#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kmesh::sim::kube {
namespace {

constexpr char kPayloadUrl[] = "type.kmesh.net/sim.kube.HttpStatus";
constexpr char kDetailsUrl[] = "type.kmesh.net/sim.kube.StatusDetails";
constexpr char kContinueUrl[] = "type.kmesh.net/sim.kube.ListContinue";

// metav1.CauseType of a field error, from the wording of its type.
std::string CauseType(const std::string& body) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"Invalid value", "FieldValueInvalid"},
      {"Required value", "FieldValueRequired"},
      {"Unsupported value", "FieldValueNotSupported"},
      {"Not found", "FieldValueNotFound"},
      {"Duplicate value", "FieldValueDuplicate"},
      {"Forbidden", "FieldValueForbidden"},
      {"Too long", "FieldValueTooLong"},
      {"Too many", "FieldValueTooMany"},
  };
  for (const auto& [words, type] : kTypes) {
    if (body.rfind(words, 0) == 0) return type;
  }
  return "FieldValueInvalid";
}

absl::StatusCode CodeFor(int http_code, const std::string& reason) {
  switch (http_code) {
    case 400:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 413:
      return absl::StatusCode::kResourceExhausted;
    case 429:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return http_code >= 500 ? absl::StatusCode::kInternal
                              : absl::StatusCode::kUnknown;
  }
}

struct HttpStatus {
  int code;
  std::string reason;
};

HttpStatus FromAbslCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return {200, ""};
    case absl::StatusCode::kInvalidArgument:
      return {400, "BadRequest"};
    case absl::StatusCode::kUnauthenticated:
      return {401, "Unauthorized"};
    case absl::StatusCode::kPermissionDenied:
      return {403, "Forbidden"};
    case absl::StatusCode::kNotFound:
      return {404, "NotFound"};
    case absl::StatusCode::kUnimplemented:
      return {405, "MethodNotAllowed"};
    case absl::StatusCode::kAlreadyExists:
      return {409, "AlreadyExists"};
    case absl::StatusCode::kAborted:
      return {409, "Conflict"};
    case absl::StatusCode::kOutOfRange:
      return {410, "Expired"};
    case absl::StatusCode::kUnavailable:
      return {503, "ServiceUnavailable"};
    case absl::StatusCode::kDeadlineExceeded:
      return {504, "Timeout"};
    default:
      return {500, "InternalError"};
  }
}

HttpStatus HttpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (payload.has_value()) {
    std::string text(*payload);
    size_t space = text.find(' ');
    int code = 0;
    if (space != std::string::npos &&
        absl::SimpleAtoi(text.substr(0, space), &code)) {
      return {code, text.substr(space + 1)};
    }
  }
  return FromAbslCode(status.code());
}

}  // namespace

absl::Status ApiError(int http_code, const std::string& reason,
                      const std::string& message) {
  absl::Status status(CodeFor(http_code, reason), message);
  status.SetPayload(kPayloadUrl,
                    absl::Cord(absl::StrCat(http_code, " ", reason)));
  return status;
}

absl::Status NotFound(const std::string& resource, const std::string& name) {
  return ApiError(404, "NotFound",
                  absl::StrCat(resource, " \"", name, "\" not found"));
}

absl::Status AlreadyExists(const std::string& resource,
                           const std::string& name) {
  return ApiError(409, "AlreadyExists",
                  absl::StrCat(resource, " \"", name, "\" already exists"));
}

absl::Status Conflict(const std::string& resource, const std::string& name,
                      const std::string& why) {
  return ApiError(409, "Conflict",
                  absl::StrCat("Operation cannot be fulfilled on ", resource,
                               " \"", name, "\": ", why));
}

absl::Status BadRequest(const std::string& message) {
  return ApiError(400, "BadRequest", message);
}

absl::Status Invalid(const std::string& kind, const std::string& name,
                     const std::string& field_errors) {
  return ApiError(
      422, "Invalid",
      absl::StrCat(kind, " \"", name, "\" is invalid: ", field_errors));
}

absl::Status InvalidWithCauses(const std::string& kind,
                               const std::string& group,
                               const std::string& name,
                               const std::vector<std::string>& field_errors) {
  nlohmann::json causes = nlohmann::json::array();
  std::string joined;
  for (const std::string& error : field_errors) {
    size_t colon = error.find(": ");
    std::string field =
        colon == std::string::npos ? "" : error.substr(0, colon);
    std::string body =
        colon == std::string::npos ? error : error.substr(colon + 2);
    causes.push_back(
        {{"reason", CauseType(body)}, {"message", body}, {"field", field}});
    absl::StrAppend(&joined, joined.empty() ? "" : ", ", error);
  }
  if (field_errors.size() > 1) joined = absl::StrCat("[", joined, "]");
  absl::Status status = Invalid(
      group.empty() ? kind : absl::StrCat(kind, ".", group), name, joined);
  nlohmann::json details = {{"name", name}, {"kind", kind}, {"causes", causes}};
  if (!group.empty()) details["group"] = group;
  status.SetPayload(
      kDetailsUrl,
      absl::Cord(details.dump(-1, ' ', false,
                              nlohmann::json::error_handler_t::replace)));
  return status;
}

absl::Status Gone(const std::string& message) {
  return ApiError(410, "Expired", message);
}

absl::Status TooLargeResourceVersion(uint64_t requested, uint64_t current) {
  absl::Status status =
      ApiError(504, "Timeout",
               absl::StrCat("Too large resource version: ", requested,
                            ", current: ", current));
  nlohmann::json details = {{"causes",
                             {{{"reason", "ResourceVersionTooLarge"},
                               {"message", "Too large resource version"}}}},
                            {"retryAfterSeconds", 1}};
  status.SetPayload(kDetailsUrl, absl::Cord(details.dump()));
  return status;
}

absl::Status ExpiredWithContinue(const std::string& message,
                                 const std::string& continue_token) {
  absl::Status status = Gone(message);
  status.SetPayload(kContinueUrl, absl::Cord(continue_token));
  return status;
}

int HttpCode(const absl::Status& status) { return HttpStatusOf(status).code; }

std::string HttpReason(const absl::Status& status) {
  return HttpStatusOf(status).reason;
}

nlohmann::json StatusObject(const absl::Status& status) {
  HttpStatus http = HttpStatusOf(status);
  nlohmann::json object = {
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", nlohmann::json::object()},
      {"status", status.ok() ? "Success" : "Failure"},
      {"code", http.code},
  };
  if (!status.ok()) {
    object["message"] = std::string(status.message());
    if (!http.reason.empty()) object["reason"] = http.reason;
    auto details = status.GetPayload(kDetailsUrl);
    if (details.has_value()) {
      nlohmann::json parsed =
          nlohmann::json::parse(std::string(*details), nullptr, false);
      if (!parsed.is_discarded()) object["details"] = parsed;
    }
    auto continue_token = status.GetPayload(kContinueUrl);
    if (continue_token.has_value()) {
      object["metadata"]["continue"] = std::string(*continue_token);
    }
  }
  return object;
}

}  // namespace kmesh::sim::kube
