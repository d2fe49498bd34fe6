// BearerToken: the token a client presents to the API server in its
// Authorization header. A token that came from a file (a kubeconfig's
// tokenFile, or the service account token kubelet projects into a pod) is
// re-read from that file when the copy in memory is older than the refresh
// interval, since kubelet rotates it; a failed or empty read keeps the last
// good token. The token lives in SecretBytes and is copied only into the
// request text the caller wipes after sending. Built from a ClusterAccess it
// also carries the user's exec credential plugin (exec_credential.h: its
// token, fetched and cached by the provider) and the impersonation headers
// (Impersonate-User, -Uid, one Impersonate-Group per group,
// Impersonate-Extra-<key> with the key escaped as client-go escapes it).
// Thread-safe.
#ifndef KMESH_KUBE_BEARER_TOKEN_H_
#define KMESH_KUBE_BEARER_TOKEN_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/crypto/secret_bytes.h"
#include "kmesh/kube/exec_credential.h"
#include "kmesh/kube/kubeconfig.h"

namespace kmesh::kube {

class BearerToken {
 public:
  // `token` as read so far ("" for none); `file` "" when it is not read
  // from a file.
  BearerToken(crypto::SecretBytes token, std::string file,
              std::chrono::milliseconds refresh);

  // The token, token file, exec plugin and impersonation of `access`.
  BearerToken(const ClusterAccess& access, std::chrono::milliseconds refresh);

  // Appends "Authorization: Bearer <token>\r\n" to `request` (nothing when
  // there is no token), re-reading the file first when the token is due, or
  // asking the exec plugin; then the impersonation headers. Fails only when
  // the exec plugin fails (its message says why; `request` is unchanged).
  absl::Status AppendHeader(std::string* request);

 private:
  // Re-reads the file when the token is older than refresh_.
  void RefreshIfDue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string file_;
  const std::chrono::milliseconds refresh_;
  const std::shared_ptr<ExecCredentialProvider> exec_;
  // Impersonate-* header lines, each ending in "\r\n".
  const std::string impersonation_headers_;
  absl::Mutex mu_;
  crypto::SecretBytes token_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point read_at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kmesh::kube

#endif  // KMESH_KUBE_BEARER_TOKEN_H_
