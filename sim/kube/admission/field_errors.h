// FieldErrors: the field errors of one object, worded as apimachinery's
// field.ErrorList words them ("spec.selector: Required value", "roleRef:
// Invalid value: ...: cannot change roleRef"), for the object store to
// return as 422 Invalid; and the Go formatting (%q, %#v) those messages quote
// values with.
#ifndef SIM_KUBE_ADMISSION_FIELD_ERRORS_H_
#define SIM_KUBE_ADMISSION_FIELD_ERRORS_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kmesh::sim::kube {

class FieldErrors {
 public:
  void Required(const std::string& path, const std::string& detail = "");
  // `value` as it should be quoted (see Quote and the Go* helpers).
  void Invalid(const std::string& path, const std::string& value,
               const std::string& detail);
  void NotSupported(const std::string& path, const std::string& value,
                    const std::vector<std::string>& supported);
  void NotFound(const std::string& path, const std::string& value);
  void Duplicate(const std::string& path, const std::string& value);
  void Forbidden(const std::string& path, const std::string& detail);
  void Add(std::string error);
  // The errors so far, in the order found; empty when the object is valid.
  std::vector<std::string> Take();

 private:
  std::vector<std::string> errors_;
};

// "path[i]".
std::string Index(const std::string& path, size_t i);
// A Go string literal as %q / %#v print it (plain ASCII here).
std::string Quote(const std::string& s);
// Go's %#v of a []string: `[]string{"a", "b"}`, `[]string(nil)` when absent.
std::string GoStringList(const nlohmann::json& list);

}  // namespace kmesh::sim::kube

#endif  // SIM_KUBE_ADMISSION_FIELD_ERRORS_H_
