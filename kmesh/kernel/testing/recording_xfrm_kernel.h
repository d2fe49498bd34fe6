// RecordingXfrmKernel (testonly): an XfrmKernel decorator that forwards every
// call to another XfrmKernel (usually sim::SimXfrm) and records it: one log
// line per change, the number of changes, and how many adds the kernel
// refused with AlreadyExists; it can also fail the next SA dumps. Tests use the
// log to check the order of operations and the counts to check that incremental
// changes stay small.
#ifndef KMESH_KERNEL_TESTING_RECORDING_XFRM_KERNEL_H_
#define KMESH_KERNEL_TESTING_RECORDING_XFRM_KERNEL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kmesh/kernel/xfrm.h"

namespace kmesh {

class RecordingXfrmKernel : public XfrmKernel {
 public:
  explicit RecordingXfrmKernel(XfrmKernel* inner) : inner_(inner) {}

  absl::Status AddSa(const XfrmSa& sa) override {
    Log("add-sa", sa.id());
    return Count(inner_->AddSa(sa));
  }
  absl::Status UpdateSa(const XfrmSa& sa) override {
    Log("update-sa", sa.id());
    return Count(inner_->UpdateSa(sa));
  }
  absl::Status DeleteSa(const XfrmSaId& id) override {
    Log("delete-sa", id);
    return Count(inner_->DeleteSa(id));
  }
  absl::StatusOr<std::vector<XfrmSa>> DumpSas() override {
    ++dumps;
    if (failing_dumps > 0) {
      --failing_dumps;
      return absl::UnavailableError("XFRM dump SAs: EINTR (injected)");
    }
    return inner_->DumpSas();
  }
  absl::Status AddPolicy(const XfrmPolicy& policy) override {
    Log("add-policy", policy);
    return Count(inner_->AddPolicy(policy));
  }
  absl::Status UpdatePolicy(const XfrmPolicy& policy) override {
    Log("update-policy", policy);
    return Count(inner_->UpdatePolicy(policy));
  }
  absl::Status DeletePolicy(const XfrmPolicyId& id) override {
    ++changes;
    log.push_back(absl::StrCat("delete-policy ", XfrmDirName(id.dir), " ",
                               id.selector.dst.ToString()));
    return Count(inner_->DeletePolicy(id));
  }
  absl::StatusOr<std::vector<XfrmPolicy>> DumpPolicies() override {
    ++dumps;
    return inner_->DumpPolicies();
  }
  // Forwarded, neither logged nor counted: it reads no table.
  absl::StatusOr<XfrmStats> ReadStats() override { return inner_->ReadStats(); }

  // One line per change: "add-sa <dst> spi=<n> mark=<hex>",
  // "update-policy <dir> <dst prefix> spi=<template spi>|block", ...
  std::vector<std::string> log;
  int changes = 0;
  int dumps = 0;
  int already_exists = 0;
  // The next this many SA dumps fail (Unavailable), as an interrupted dump
  // does once NetlinkXfrm has asked again a few times.
  int failing_dumps = 0;

 private:
  absl::Status Count(absl::Status status) {
    if (absl::IsAlreadyExists(status)) ++already_exists;
    return status;
  }
  void Log(const char* op, const XfrmSaId& id) {
    ++changes;
    log.push_back(absl::StrCat(op, " ", id.dst.ToString(), " spi=", id.spi,
                               " mark=", absl::Hex(id.mark.value)));
  }
  void Log(const char* op, const XfrmPolicy& p) {
    ++changes;
    log.push_back(absl::StrCat(
        op, " ", XfrmDirName(p.dir), " ", p.selector.dst.ToString(), " ",
        p.action == XfrmAction::kBlock
            ? std::string("block")
            : absl::StrCat("spi=",
                           p.templates.empty() ? 0 : p.templates[0].spi)));
  }
  XfrmKernel* inner_;
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_TESTING_RECORDING_XFRM_KERNEL_H_
