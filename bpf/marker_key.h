// MarkerKey: the conversion between IpAddress and the key of the marker maps
// (struct kmesh_marker_ip_key in bpf/marker_decision.h: a family byte, three
// zero bytes and the address bytes in network order). The Linux map backend
// writes keys with it and the simulator's tc hooks read them with it, so user
// space and the marker programs agree on every byte of the key.
#ifndef KMESH_BPF_MARKER_KEY_H_
#define KMESH_BPF_MARKER_KEY_H_

#include "absl/status/statusor.h"
#include "bpf/marker_decision.h"
#include "kmesh/base/ip_address.h"

namespace kmesh {

// The key for `address`; unused bytes are zero.
kmesh_marker_ip_key MarkerKeyFor(const IpAddress& address);

// The address a key holds; InvalidArgument for a family other than 4 or 6 or
// for nonzero padding (a key the marker programs could never produce).
absl::StatusOr<IpAddress> IpAddressFromMarkerKey(
    const kmesh_marker_ip_key& key);

}  // namespace kmesh

#endif  // KMESH_BPF_MARKER_KEY_H_
