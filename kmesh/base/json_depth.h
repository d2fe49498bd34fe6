// JSON from outside the process (the API server, exec credential plugins,
// the key file, the container runtime) is checked for nesting depth before
// anything recursive touches it. nlohmann's parser is iterative, but its
// dump(), copies and comparisons recurse once per level, as do protobuf's
// JSON parser and the code that walks a document: a line of a million '['
// (1 MB, well under any size cap) would overflow the stack and kill the
// daemon. Every place where outside JSON enters uses this component.
//
// kMaxJsonDepth is 100 levels of arrays and objects: Kubernetes objects are
// shallow (a Node, Secret, Pod or KmeshNodeInfo, managedFields included,
// is under 15 levels; kube-openapi schemas a few dozen), it is the limit
// protobuf's JSON parser applies by default, and 100 levels of recursion
// cost a few tens of KiB of stack, far below any thread's.
#ifndef KMESH_BASE_JSON_DEPTH_H_
#define KMESH_BASE_JSON_DEPTH_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kmesh {

inline constexpr int kMaxJsonDepth = 100;

// OK when no array or object in `json` is nested more than `max_depth`
// deep (a top-level object is depth 1); InvalidArgument saying so
// otherwise, without quoting the text (it may hold keys). Brackets inside
// strings do not count. Only nesting is checked, not the rest of the
// syntax. One pass over the bytes, no recursion.
absl::Status CheckJsonDepth(absl::string_view json,
                            int max_depth = kMaxJsonDepth);

// `json` parsed, or a discarded value (is_discarded()) when it is not JSON
// or is nested deeper than kMaxJsonDepth. Never throws. The result may be
// dumped, copied and compared safely.
nlohmann::json ParseJsonWithinDepth(absl::string_view json);

}  // namespace kmesh

#endif  // KMESH_BASE_JSON_DEPTH_H_
