#include "kmesh/agent/node_uninstall.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "kmesh/ipsec/node_record.h"
#include "kmesh/ipsec/xfrm_layout.h"

namespace kmesh::agent {
namespace {

absl::Status StepFailed(const char* step, const absl::Status& cause,
                        const char* kept) {
  return absl::Status(
      cause.code(),
      absl::StrCat("uninstall: ", step, ": ", cause.message(), "; kept ", kept,
                   "; run `kmesh-daemon uninstall` again"));
}

}  // namespace

absl::StatusOr<UninstallReport> UninstallNode(const std::string& node_name,
                                              kube::KubeClient* client,
                                              NodeBackends* node) {
  if (node_name.empty()) {
    return absl::InvalidArgumentError(
        "uninstall needs this node's name: set NODE_NAME or pass --node-name");
  }
  UninstallReport report;
  // 1. Stop marking: from here on no packet asks for encryption.
  if (absl::Status s = node->DetachEncryptMarkerEverywhere(); !s.ok()) {
    return StepFailed("detach the encrypt marker", s,
                      "the block policy, SAs, policies, the KmeshNodeInfo "
                      "and the decrypt marker (nothing was removed)");
  }
  // 2. Peers stop encrypting to this node.
  ipsec::KubeNodeInfoPublisher publisher(client);
  if (absl::Status s = publisher.Withdraw(node_name); !s.ok()) {
    return StepFailed(
        absl::StrCat("delete KmeshNodeInfo ", node_name).c_str(), s,
        "the node's SAs, policies and decrypt marker (the encrypt marker is "
        "detached)");
  }
  // 3. The owned XFRM objects, block policies last.
  XfrmKernel& xfrm = node->xfrm();
  absl::StatusOr<std::vector<XfrmPolicy>> policies = xfrm.DumpPolicies();
  if (!policies.ok()) {
    return StepFailed("dump XFRM policies", policies.status(),
                      "every SA and policy");
  }
  absl::StatusOr<std::vector<XfrmSa>> sas = xfrm.DumpSas();
  if (!sas.ok()) {
    return StepFailed("dump XFRM SAs", sas.status(), "every SA and policy");
  }
  std::vector<std::string> problems;
  std::vector<XfrmPolicy> block;
  for (const XfrmPolicy& policy : *policies) {
    if (!ipsec::IsOwnedPolicy(policy)) continue;
    if (ipsec::IsBlockPolicy(policy)) {
      block.push_back(policy);
      continue;
    }
    absl::Status s = xfrm.DeletePolicy(policy.id());
    if (s.ok() || absl::IsNotFound(s)) {
      report.policies_removed += s.ok();
    } else {
      problems.push_back(absl::StrCat(
          "delete policy ", ipsec::DescribePolicy(policy), ": ", s.message()));
    }
  }
  for (const XfrmSa& sa : *sas) {
    if (!ipsec::IsOwnedSa(sa)) continue;
    absl::Status s = xfrm.DeleteSa(sa.id());
    if (s.ok() || absl::IsNotFound(s)) {
      report.sas_removed += s.ok();
    } else {
      problems.push_back(
          absl::StrCat("delete SA ", ipsec::DescribeSa(sa), ": ", s.message()));
    }
  }
  if (!problems.empty()) {
    return StepFailed("remove XFRM objects",
                      absl::UnavailableError(absl::StrJoin(problems, "; ")),
                      "the block policies and the decrypt marker");
  }
  for (const XfrmPolicy& policy : block) {
    absl::Status s = xfrm.DeletePolicy(policy.id());
    if (s.ok() || absl::IsNotFound(s)) {
      report.policies_removed += s.ok();
    } else {
      problems.push_back(absl::StrCat("delete block policy ",
                                      ipsec::DescribePolicy(policy), ": ",
                                      s.message()));
    }
  }
  if (!problems.empty()) {
    return StepFailed("remove the block policies",
                      absl::UnavailableError(absl::StrJoin(problems, "; ")),
                      "the decrypt marker");
  }
  // 4. Nothing of the markers stays.
  if (absl::Status s = node->RemoveMarkers(); !s.ok()) {
    return StepFailed("remove the decrypt marker and the pinned maps", s,
                      "what could not be removed");
  }
  LOG(INFO) << "uninstall: node " << node_name << ": removed "
            << report.sas_removed << " SAs, " << report.policies_removed
            << " policies, the markers and the KmeshNodeInfo";
  return report;
}

}  // namespace kmesh::agent
