#include "sim/kube/testing/test_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#ifndef OPENSSL_IS_BORINGSSL
#error "test_certs must be built against BoringSSL (@boringssl//:crypto)"
#endif

namespace kmesh::sim::kube {
namespace {

bssl::UniquePtr<EVP_PKEY> NewP256Key() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (!ec || !EC_KEY_generate_key(ec.get())) return nullptr;
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (!key || !EVP_PKEY_assign_EC_KEY(key.get(), ec.release())) return nullptr;
  return key;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1);
}

// Issues a certificate for `key` named `common_name`, signed by
// `issuer_key` (and `issuer`, or self-signed when null).
bssl::UniquePtr<X509> Issue(
    EVP_PKEY* key, const std::string& common_name,
    const std::string& organization, X509* issuer, EVP_PKEY* issuer_key,
    const std::vector<std::pair<int, const char*>>& extensions) {
  bssl::UniquePtr<X509> cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) return nullptr;
  uint8_t serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;  // Positive.
  bssl::UniquePtr<BIGNUM> serial(
      BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return nullptr;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!organization.empty() &&
      !X509_NAME_add_entry_by_txt(
          name, "O", MBSTRING_UTF8,
          reinterpret_cast<const uint8_t*>(organization.c_str()), -1, -1, 0)) {
    return nullptr;
  }
  if (!X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const uint8_t*>(common_name.c_str()), -1, -1, 0)) {
    return nullptr;
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) ||
      !X509_set_pubkey(cert.get(), key)) {
    return nullptr;
  }
  for (const auto& [nid, value] : extensions) {
    if (!AddExtension(cert.get(), signer, nid, value)) return nullptr;
  }
  if (!X509_sign(cert.get(), issuer_key, EVP_sha256())) return nullptr;
  return cert;
}

std::string CertPem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string KeyPem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  // PKCS#8 ("BEGIN PRIVATE KEY"), which Go and BoringSSL both read.
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                nullptr);
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace

absl::StatusOr<TestCertificates> GenerateTestCertificates(
    const std::string& ca_name) {
  bssl::UniquePtr<EVP_PKEY> ca_key = NewP256Key();
  bssl::UniquePtr<EVP_PKEY> server_key = NewP256Key();
  bssl::UniquePtr<EVP_PKEY> client_key = NewP256Key();
  if (!ca_key || !server_key || !client_key) {
    return absl::InternalError("cannot generate P-256 keys");
  }
  bssl::UniquePtr<X509> ca =
      Issue(ca_key.get(), ca_name, "", nullptr, ca_key.get(),
            {{NID_basic_constraints, "critical,CA:TRUE"},
             {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
             {NID_subject_key_identifier, "hash"}});
  if (!ca) return absl::InternalError("cannot issue the CA certificate");
  bssl::UniquePtr<X509> server = Issue(
      server_key.get(), "kmesh-sim-apiserver", "", ca.get(), ca_key.get(),
      {{NID_basic_constraints, "critical,CA:FALSE"},
       {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
       {NID_ext_key_usage, "serverAuth"},
       {NID_authority_key_identifier, "keyid:always"},
       {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost,DNS:kube.test"}});
  if (!server)
    return absl::InternalError("cannot issue the server certificate");
  bssl::UniquePtr<X509> client = Issue(
      client_key.get(), "kmesh-test", "system:masters", ca.get(), ca_key.get(),
      {{NID_basic_constraints, "critical,CA:FALSE"},
       {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
       {NID_ext_key_usage, "clientAuth"},
       {NID_authority_key_identifier, "keyid:always"}});
  if (!client)
    return absl::InternalError("cannot issue the client certificate");
  TestCertificates certs;
  certs.ca_cert_pem = CertPem(ca.get());
  certs.ca_key_pem = KeyPem(ca_key.get());
  certs.server_cert_pem = CertPem(server.get());
  certs.server_key_pem = KeyPem(server_key.get());
  certs.client_cert_pem = CertPem(client.get());
  certs.client_key_pem = KeyPem(client_key.get());
  return certs;
}

}  // namespace kmesh::sim::kube
