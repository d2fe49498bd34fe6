// RefcountedEncryptAttachment: an EncryptMarkerAttachment over a backend that
// attaches the encrypt marker to named interfaces (InterfaceMarkerHooks), and
// that counts the pods behind each interface. Usually a pod has a veth of
// its own, but with some CNI setups several pods sit behind one host
// interface (a bridge); the marker stays on such an interface until the last
// managed pod behind it is detached, so one pod leaving never leaves the
// others' traffic unmarked. Attaching a pod again (another address, a
// retry) is idempotent; detaching a pod the attachment does not know looks
// its interface up and detaches only when no known pod uses it. Thread-safe.
#ifndef KMESH_KERNEL_REFCOUNTED_ENCRYPT_ATTACHMENT_H_
#define KMESH_KERNEL_REFCOUNTED_ENCRYPT_ATTACHMENT_H_

#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kernel/marker_attachment.h"

namespace kmesh {

// The encrypt marker on named interfaces of the node.
class InterfaceMarkerHooks {
 public:
  virtual ~InterfaceMarkerHooks() = default;
  // The host interface behind `pod` (NotFound when there is none).
  virtual absl::StatusOr<std::string> InterfaceOf(const LocalPod& pod) = 0;
  // Idempotent; detaching from a gone interface succeeds.
  virtual absl::Status AttachTo(const std::string& ifname) = 0;
  virtual absl::Status DetachFrom(const std::string& ifname) = 0;
};

class RefcountedEncryptAttachment : public EncryptMarkerAttachment {
 public:
  explicit RefcountedEncryptAttachment(InterfaceMarkerHooks* hooks)
      : hooks_(hooks) {}

  absl::Status Attach(const LocalPod& pod) override;
  absl::Status Detach(const LocalPod& pod) override;

  // The pods ("ns/name") the marker on `ifname` is attached for.
  std::set<std::string> users(const std::string& ifname) const;

 private:
  // Forgets `key` on `ifname`; detaches when it was the last user. On a
  // failed detach the pod stays counted (the caller retries).
  absl::Status Release(const std::string& key, const std::string& ifname)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  InterfaceMarkerHooks* const hooks_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::set<std::string>> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> interface_of_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh

#endif  // KMESH_KERNEL_REFCOUNTED_ENCRYPT_ATTACHMENT_H_
