// ListAll: a whole collection listed in pages, as client-go's pager
// (k8s.io/client-go/tools/pager) and kubectl's --chunk-size=500 list it:
// `limit` items per request, following metadata.continue until the last
// page. When a continue token has expired (410 Gone on page 2 or later: the
// server compacted past the list's snapshot) it falls back to one full list
// without a limit, as the pager's FullListIfExpired does; what the earlier
// pages returned is dropped. The result is one ObjectList with every item
// and the list's resourceVersion. `page_size` 0 = one unpaged list.
#ifndef KMESH_KUBE_PAGER_H_
#define KMESH_KUBE_PAGER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "kmesh/kube/kube_client.h"

namespace kmesh::kube {

inline constexpr int64_t kDefaultPageSize = 500;

struct PagerStats {
  int requests = 0;  // List requests sent, the fallback included.
  bool fell_back = false;
};

// `options.limit` and `options.continue_token` are set here. `stop`, when
// given, is asked between pages; true ends the listing with Cancelled.
absl::StatusOr<ObjectList> ListAll(KubeClient& client, const ResourceKind& kind,
                                   const std::string& ns, ListOptions options,
                                   int64_t page_size = kDefaultPageSize,
                                   const std::function<bool()>& stop = nullptr,
                                   PagerStats* stats = nullptr);

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_PAGER_H_
