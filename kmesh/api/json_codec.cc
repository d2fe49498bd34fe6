#include "kmesh/api/json_codec.h"

#include <openssl/mem.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "kmesh/base/json_depth.h"
#include "kmesh/crypto/boringssl_guard.h"

namespace kmesh::api {
namespace {

namespace pb = ::google::protobuf;

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// Wipes a std::string that held serialized message bytes.
void WipeString(std::string* s) {
  OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

// Resolves types for messages in `pool`; the generated pool's resolver is
// built once and shared (TypeResolver is thread-safe).
pb::util::TypeResolver* ResolverFor(
    const pb::DescriptorPool* pool,
    std::unique_ptr<pb::util::TypeResolver>* owned) {
  if (pool == pb::DescriptorPool::generated_pool()) {
    static pb::util::TypeResolver* const generated =
        pb::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, pool);
    return generated;
  }
  owned->reset(
      pb::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, pool));
  return owned->get();
}

// Protobuf's parse errors quote the offending value ("invalid value \"...\"
// for type TYPE_BYTES") and, for syntax errors, add a second line with up to
// 40 characters of input around the error. Either could be key material, so
// only the first line is kept, with the quoted value cut out.
std::string RedactedParseError(absl::string_view error) {
  error = error.substr(0, error.find('\n'));
  constexpr absl::string_view kInvalidValue = "invalid value ";
  constexpr absl::string_view kForType = " for type ";
  const size_t value_begin = error.find(kInvalidValue);
  if (value_begin != absl::string_view::npos) {
    const size_t value_end = error.find(kForType, value_begin);
    if (value_end != absl::string_view::npos) {
      return absl::StrCat(error.substr(0, value_begin), "invalid value",
                          error.substr(value_end));
    }
    return std::string(error.substr(0, value_begin + kInvalidValue.size() - 1));
  }
  return std::string(error);
}

}  // namespace

absl::Status ParseJsonInto(absl::string_view json, pb::Message* message) {
  message->Clear();
  // Before protobuf's parser, which recurses per level.
  if (absl::Status depth = CheckJsonDepth(json); !depth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", message->GetTypeName(),
                     " from JSON: ", depth.message()));
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const pb::util::Status status = pb::util::JsonStringToMessage(
      pb::StringPiece(json.data(), json.size()), message, options);
  if (!status.ok()) {
    const pb::StringPiece error = status.message();
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot parse ", message->GetTypeName(), " from JSON: ",
        RedactedParseError(absl::string_view(error.data(), error.size()))));
  }
  return absl::OkStatus();
}

std::string ToJson(const pb::Message& message) {
  // Serialize deterministically (map entries sorted by key) and print from
  // those bytes: MessageToJsonString would print maps in hash order, while
  // Kubernetes and Go sort map keys.
  // Sized up front so the buffer never reallocates and leaves unwiped
  // copies behind.
  std::string binary(message.ByteSizeLong(), '\0');
  {
    pb::io::ArrayOutputStream stream(binary.data(),
                                     static_cast<int>(binary.size()));
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeWithCachedSizes(&coded);
  }
  std::unique_ptr<pb::util::TypeResolver> owned;
  pb::util::TypeResolver* resolver =
      ResolverFor(message.GetDescriptor()->file()->pool(), &owned);
  std::string json;
  const pb::util::Status status = pb::util::BinaryToJsonString(
      resolver, absl::StrCat(kTypeUrlPrefix, "/", message.GetTypeName()),
      binary, &json, pb::util::JsonPrintOptions());
  WipeString(&binary);
  if (!status.ok()) {
    // Only possible for a type the resolver cannot describe, which the
    // generated types always can; fall back to protobuf's own printer.
    WipeString(&json);
    pb::util::MessageToJsonString(message, &json);
  }
  return json;
}

}  // namespace kmesh::api
