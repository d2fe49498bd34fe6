#include "sim/kube/protobuf_codec.h"

#include <string>

#include "gtest/gtest.h"
#include "sim/kube/api_error.h"

namespace kmesh::sim::kube {
namespace {

using nlohmann::json;

// Protobuf wire-format builders, enough for length-delimited fields.
std::string Varint(uint64_t value) {
  std::string out;
  do {
    uint8_t byte = value & 0x7f;
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (value != 0);
  return out;
}
std::string Bytes(int field, const std::string& data) {
  return Varint(field << 3 | 2) + Varint(data.size()) + data;
}
std::string Int(int field, uint64_t value) {
  return Varint(field << 3) + Varint(value);
}
std::string Entry(const std::string& key, const std::string& value) {
  return Bytes(1, key) + Bytes(2, value);
}
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string("k8s\0", 4) +
         Bytes(1, Bytes(1, api_version) + Bytes(2, kind)) + Bytes(2, raw) +
         Bytes(3, "") + Bytes(4, "");
}

TEST(ProtobufCodecTest, DecodesASecretAsKubectlSendsIt) {
  // As gogo-protobuf writes it: empty strings and zero ints included.
  std::string metadata = Bytes(1, "s") + Bytes(2, "") + Bytes(3, "") +
                         Int(7, 0) + Bytes(8, "") +
                         Bytes(11, Entry("app", "kmesh"));
  std::string secret =
      Bytes(1, metadata) + Bytes(2, Entry("a", "b")) + Bytes(3, "Opaque");
  auto decoded = DecodeKubernetesProtobuf(Envelope("v1", "Secret", secret));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)["apiVersion"], "v1");
  EXPECT_EQ((*decoded)["kind"], "Secret");
  EXPECT_EQ((*decoded)["metadata"]["name"], "s");
  EXPECT_FALSE((*decoded)["metadata"].contains("namespace"));
  EXPECT_FALSE((*decoded)["metadata"].contains("generation"));
  EXPECT_EQ((*decoded)["metadata"]["labels"]["app"], "kmesh");
  EXPECT_EQ((*decoded)["data"]["a"], "Yg==");  // Bytes become base64.
  EXPECT_EQ((*decoded)["type"], "Opaque");
}

TEST(ProtobufCodecTest, DecodesNamespaceAndDeleteOptions) {
  auto ns = DecodeKubernetesProtobuf(Envelope(
      "v1", "Namespace",
      Bytes(1, Bytes(1, "kmesh-system")) + Bytes(2, Bytes(1, "kubernetes"))));
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)["metadata"]["name"], "kmesh-system");
  EXPECT_EQ((*ns)["spec"]["finalizers"], json({"kubernetes"}));

  auto options = DecodeKubernetesProtobuf(Envelope(
      "v1", "DeleteOptions", Bytes(2, Bytes(1, "uid-1") + Bytes(2, "7"))));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ((*options)["preconditions"]["uid"], "uid-1");
  EXPECT_EQ((*options)["preconditions"]["resourceVersion"], "7");
}

TEST(ProtobufCodecTest, RejectsOtherKindsAndGarbage) {
  auto pod = DecodeKubernetesProtobuf(Envelope("v1", "Pod", ""));
  EXPECT_EQ(HttpCode(pod.status()), 415);
  EXPECT_EQ(HttpCode(DecodeKubernetesProtobuf("{}").status()), 400);
  // A length running past the end.
  EXPECT_EQ(HttpCode(DecodeKubernetesProtobuf(std::string("k8s\0", 4) +
                                              "\x0a\x7f" + "ab")
                         .status()),
            400);
  EXPECT_EQ(HttpCode(DecodeKubernetesProtobuf(Envelope("v1", "Secret",
                                                       "\x0a\x05"
                                                       "ab"))
                         .status()),
            400);
}

}  // namespace
}  // namespace kmesh::sim::kube
