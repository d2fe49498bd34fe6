#include "sim/kernel/marker_decision_host.h"

#include "absl/status/statusor.h"
#include "bpf/marker_key.h"

namespace kmesh {
namespace {

const MemoryMarkerMaps& MapsOf(const void* ctx) {
  return *static_cast<const MemoryMarkerMaps*>(ctx);
}

// The lookups marker_decision.h asks its includer for.
int InEncryptCidr(const void* ctx, const kmesh_marker_ip_key* key) {
  absl::StatusOr<IpAddress> address = IpAddressFromMarkerKey(*key);
  return address.ok() && MapsOf(ctx).InEncryptCidr(*address);
}

int IsUnmanaged(const void* ctx, const kmesh_marker_ip_key* key) {
  absl::StatusOr<IpAddress> address = IpAddressFromMarkerKey(*key);
  return address.ok() && MapsOf(ctx).IsUnmanagedPod(*address);
}

__u32 PeerIndex(const void* ctx, const kmesh_marker_ip_key* key) {
  absl::StatusOr<IpAddress> address = IpAddressFromMarkerKey(*key);
  if (!address.ok()) return 0;
  std::optional<uint16_t> index = MapsOf(ctx).LookupPeer(*address);
  return index.has_value() ? *index : 0;
}

}  // namespace
}  // namespace kmesh

#define KMESH_MARKER_IN_ENCRYPT_CIDR(ctx, key) \
  ::kmesh::InEncryptCidr((ctx), (key))
#define KMESH_MARKER_IS_UNMANAGED(ctx, key) ::kmesh::IsUnmanaged((ctx), (key))
#define KMESH_MARKER_PEER_INDEX(ctx, key) ::kmesh::PeerIndex((ctx), (key))
#include "bpf/marker_decision.h"  // Again: now with the complete markers.

namespace kmesh {
namespace {

// [data, data_end) of a span, as the decision code takes them. An empty span
// may have a null data pointer; the parsers then see zero bytes.
unsigned long Begin(absl::Span<const uint8_t> bytes) {
  return reinterpret_cast<unsigned long>(bytes.data());
}
unsigned long End(absl::Span<const uint8_t> bytes) {
  return Begin(bytes) + bytes.size();
}

}  // namespace

uint32_t RunEncryptMarkerOnFrame(const MemoryMarkerMaps& maps,
                                 absl::Span<const uint8_t> frame,
                                 uint32_t mark) {
  return kmesh_encrypt_marker_frame(&maps, Begin(frame), End(frame), mark);
}

uint32_t RunDecryptMarkerOnFrame(const MemoryMarkerMaps& maps,
                                 absl::Span<const uint8_t> frame,
                                 uint32_t mark) {
  return kmesh_decrypt_marker_frame(&maps, Begin(frame), End(frame), mark);
}

uint32_t RunEncryptMarkerOnIpPacket(const MemoryMarkerMaps& maps,
                                    absl::Span<const uint8_t> packet,
                                    uint32_t mark) {
  return kmesh_encrypt_marker_ip(&maps, Begin(packet), End(packet), mark);
}

uint32_t RunDecryptMarkerOnIpPacket(const MemoryMarkerMaps& maps,
                                    absl::Span<const uint8_t> packet,
                                    uint32_t mark) {
  return kmesh_decrypt_marker_ip(&maps, Begin(packet), End(packet), mark);
}

}  // namespace kmesh
