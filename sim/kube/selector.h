// Label and field selectors with the syntax and meaning of the Kubernetes API
// server (k8s.io/apimachinery/pkg/labels and pkg/fields): which objects a
// list or watch returns. Label selectors support `a=b`, `a==b`, `a!=b`, `a`,
// `!a`, `a in (x,y)`, `a notin (x)`, `a>1`, `a<1`, joined by commas; field
// selectors support `path=value`, `path==value` and `path!=value` on the
// fields a resource allows. Malformed selectors are InvalidArgument, as the
// real server answers them with 400 BadRequest.
#ifndef SIM_KUBE_SELECTOR_H_
#define SIM_KUBE_SELECTOR_H_

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
  // The empty selector, which matches every object.
  FieldSelector() = default;

  // `allowed_fields` are the dotted paths the resource supports (the real
  // server rejects others, e.g. `"spec.x" is not a known field selector`).
  static absl::StatusOr<FieldSelector> Parse(
      const std::string& text, const std::vector<std::string>& allowed_fields);

  // `object` is the whole object; a missing field compares as "".
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  struct Requirement {
    std::string path;
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_SELECTOR_H_
