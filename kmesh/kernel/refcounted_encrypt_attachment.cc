#include "kmesh/kernel/refcounted_encrypt_attachment.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace kmesh {
namespace {

std::string Key(const LocalPod& pod) { return pod.ns + "/" + pod.name; }

}  // namespace

absl::Status RefcountedEncryptAttachment::Attach(const LocalPod& pod) {
  absl::StatusOr<std::string> ifname = hooks_->InterfaceOf(pod);
  if (!ifname.ok()) return ifname.status();
  absl::MutexLock lock(&mu_);
  if (absl::Status s = hooks_->AttachTo(*ifname); !s.ok()) return s;
  const std::string key = Key(pod);
  auto old = interface_of_.find(key);
  if (old != interface_of_.end() && old->second != *ifname) {
    // The pod moved to another interface: let go of the old one.
    const std::string previous = old->second;
    if (absl::Status s = Release(key, previous); !s.ok()) {
      LOG(WARNING) << "pod " << key << " left " << previous << ": " << s;
    }
  }
  std::set<std::string>& users = users_[*ifname];
  users.insert(key);
  interface_of_[key] = *ifname;
  if (users.size() == 2) {
    LOG(INFO) << "the encrypt marker on " << *ifname
              << " is shared by several managed pods; it stays until the "
                 "last of them goes";
  }
  return absl::OkStatus();
}

absl::Status RefcountedEncryptAttachment::Detach(const LocalPod& pod) {
  const std::string key = Key(pod);
  absl::MutexLock lock(&mu_);
  auto known = interface_of_.find(key);
  if (known != interface_of_.end()) return Release(key, known->second);
  // Not attached by this process (e.g. before a restart): detach unless a
  // pod it knows uses the same interface.
  absl::StatusOr<std::string> ifname = hooks_->InterfaceOf(pod);
  if (!ifname.ok()) {
    return absl::IsNotFound(ifname.status()) ? absl::OkStatus()
                                             : ifname.status();
  }
  if (users_.count(*ifname)) return absl::OkStatus();
  return hooks_->DetachFrom(*ifname);
}

absl::Status RefcountedEncryptAttachment::Release(const std::string& key,
                                                  const std::string& ifname) {
  std::set<std::string>& users = users_[ifname];
  users.erase(key);
  if (!users.empty()) {
    interface_of_.erase(key);
    VLOG(1) << "encrypt marker on " << ifname << " kept for " << users.size()
            << " other pod(s)";
    return absl::OkStatus();
  }
  if (absl::Status s = hooks_->DetachFrom(ifname); !s.ok()) {
    users.insert(key);
    return s;
  }
  users_.erase(ifname);
  interface_of_.erase(key);
  return absl::OkStatus();
}

std::set<std::string> RefcountedEncryptAttachment::users(
    const std::string& ifname) const {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(ifname);
  return it == users_.end() ? std::set<std::string>{} : it->second;
}

}  // namespace kmesh
