// Label and field selectors with the syntax and meaning of the Kubernetes API
// server (k8s.io/apimachinery/pkg/labels and pkg/fields): which objects a
// list or watch returns. Label selectors support `a=b`, `a==b`, `a!=b`, `a`,
// `!a`, `a in (x,y)`, `a notin (x)`, `a>1`, `a<1`, joined by commas; field
// selectors support `path=value`, `path==value` and `path!=value` on the
// fields a resource allows (selectable_fields.h). Malformed selectors are
// InvalidArgument, as the real server answers them with 400 BadRequest.
#ifndef SIM_KUBE_SELECTOR_H_
#define SIM_KUBE_SELECTOR_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

class LabelSelector {
 public:
  // The empty selector, which matches every object.
  LabelSelector() = default;

  static absl::StatusOr<LabelSelector> Parse(const std::string& text);

  // `labels` is an object's metadata.labels (an object of strings, or null).
  bool Matches(const nlohmann::json& labels) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kNotExists,
    kGt,
    kLt
  };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  // What a resource's field label conversion makes of a label (e.g. pods'
  // "spec.host" is "spec.nodeName"), or its error (the real server's 400
  // text, e.g. "field label not supported: spec.x").
  using LabelConverter =
      std::function<absl::StatusOr<std::string>(const std::string& label)>;
  // The value of a (converted) label for an object, as the resource's
  // selectable fields give it; "" when the object has none.
  using FieldValue = std::function<std::string(const nlohmann::json& object,
                                               const std::string& label)>;

  // The empty selector, which matches every object.
  FieldSelector() = default;

  // Parses as fields.ParseSelector does (terms split at unescaped commas,
  // operators `!=`, `==`, `=`, no trimming, values with `\`, `\,`, `\=`
  // escapes), then converts each label with `convert`.
  static absl::StatusOr<FieldSelector> Parse(const std::string& text,
                                             const LabelConverter& convert,
                                             FieldValue value);
  // Allows exactly `allowed_fields` ("field label not supported: X" for
  // others); values are read at the dotted path, a missing field as "".
  static absl::StatusOr<FieldSelector> Parse(
      const std::string& text, const std::vector<std::string>& allowed_fields);

  // `object` is the whole object.
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  struct Requirement {
    std::string path;
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
  FieldValue value_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_SELECTOR_H_
