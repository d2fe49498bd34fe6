#include "kmesh/kube/pager.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "kmesh/kube/kube_status.h"

namespace kmesh::kube {

absl::StatusOr<ObjectList> ListAll(KubeClient& client, const ResourceKind& kind,
                                   const std::string& ns, ListOptions options,
                                   int64_t page_size,
                                   const std::function<bool()>& stop,
                                   PagerStats* stats) {
  PagerStats local;
  if (stats == nullptr) stats = &local;
  options.limit = std::max<int64_t>(0, page_size);
  options.continue_token.clear();
  ObjectList all;
  for (;;) {
    ++stats->requests;
    absl::StatusOr<ObjectList> page = client.List(kind, ns, options);
    if (!page.ok()) {
      if (!IsGone(page.status()) || options.continue_token.empty()) {
        return page.status();
      }
      LOG(INFO) << "list of " << kind.DisplayName()
                << ": continue token expired (410); listing in full";
      options.limit = 0;
      options.continue_token.clear();
      ++stats->requests;
      stats->fell_back = true;
      return client.List(kind, ns, options);
    }
    if (all.items.empty()) {
      all.items = std::move(page->items);
    } else {
      all.items.reserve(all.items.size() + page->items.size());
      for (std::string& item : page->items) {
        all.items.push_back(std::move(item));
      }
    }
    all.resource_version = std::move(page->resource_version);
    if (page->continue_token.empty() || options.limit == 0) return all;
    if (stop && stop()) return absl::CancelledError("stopped");
    options.continue_token = std::move(page->continue_token);
  }
}

}  // namespace kmesh::kube
