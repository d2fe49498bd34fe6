// MemoryMarkerMaps: the simulator's twin of the eBPF marker maps, a
// MarkerMaps held in process memory with the same capacity limits and error
// codes as the BPF hash maps it stands for (a full map refuses new keys with
// ResourceExhausted, as BPF_MAP_UPDATE_ELEM returns E2BIG). Each SimKernel
// owns one, and its tc hooks run the marker decisions over it
// (marker_decision_host.h) with the lookups below; tests of the daemon's
// components and the daemon's simulated backend use it too. Thread-safe.
#ifndef SIM_KERNEL_MEMORY_MARKER_MAPS_H_
#define SIM_KERNEL_MEMORY_MARKER_MAPS_H_

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kmesh/kernel/marker_maps.h"

namespace kmesh {

class MemoryMarkerMaps : public MarkerMaps {
 public:
  // Defaults match the production map sizes (bpf/): 65535 peers (one per
  // peer index), 1M unmanaged pods and 256K encrypt CIDRs.
  explicit MemoryMarkerMaps(size_t max_peers = 65535,
                            size_t max_unmanaged_pods = 1 << 20,
                            size_t max_encrypt_cidrs = 1 << 18);

  absl::Status UpsertPeer(const IpAddress& address,
                          uint16_t peer_index) override;
  absl::Status DeletePeer(const IpAddress& address) override;
  absl::StatusOr<std::vector<PeerMarkerEntry>> DumpPeers() override;

  absl::Status UpsertEncryptCidr(const IpPrefix& cidr) override;
  absl::Status DeleteEncryptCidr(const IpPrefix& cidr) override;
  absl::StatusOr<std::vector<IpPrefix>> DumpEncryptCidrs() override;

  absl::Status UpsertUnmanagedPod(const IpAddress& pod_ip) override;
  absl::Status DeleteUnmanagedPod(const IpAddress& pod_ip) override;
  absl::StatusOr<std::vector<IpAddress>> DumpUnmanagedPods() override;

  // The marker programs' lookups.
  std::optional<uint16_t> LookupPeer(const IpAddress& address) const;
  bool InEncryptCidr(const IpAddress& address) const;
  bool IsUnmanagedPod(const IpAddress& pod_ip) const;

 private:
  const size_t max_peers_;
  const size_t max_unmanaged_pods_;
  const size_t max_encrypt_cidrs_;
  mutable absl::Mutex mu_;
  std::map<IpAddress, uint16_t> peers_ ABSL_GUARDED_BY(mu_);
  std::set<IpAddress> unmanaged_pods_ ABSL_GUARDED_BY(mu_);
  // Network address -> prefix length, as the BPF map holds them.
  std::map<IpAddress, int> encrypt_cidrs_ ABSL_GUARDED_BY(mu_);
  // (family, prefix length) -> how many entries of encrypt_cidrs_ have it:
  // the lengths the encrypt program probes, kept as entries come and go so
  // that neither a lookup nor an insert walks the whole map.
  std::map<std::pair<IpFamily, int>, size_t> encrypt_lengths_
      ABSL_GUARDED_BY(mu_);
  // The prefix lengths in use for `family`, shortest first.
  std::vector<int> EncryptLengths(IpFamily family) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace kmesh

#endif  // SIM_KERNEL_MEMORY_MARKER_MAPS_H_
