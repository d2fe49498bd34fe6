#include "kmesh/kube/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "kmesh/kube needs BoringSSL: depend on @boringssl//:ssl"
#endif

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kmesh::kube {
namespace {

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

// Adds every certificate of a PEM bundle to the context's trust store.
absl::Status AddTrustedPem(SSL_CTX* ctx, const std::string& pem,
                           const std::string& source) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  for (;;) {
    bssl::UniquePtr<X509> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    if (X509_STORE_add_cert(store, cert.get()) != 1) break;
    ++added;
  }
  ERR_clear_error();
  if (added == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the certificate authority holds no PEM certificate"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Create(
    const ClusterAccess& access, const std::string& url_host) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (access.insecure_skip_tls_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (access.certificate_authority_pem.empty()) {
      SSL_CTX_set_default_verify_paths(ctx);
    } else {
      absl::Status trusted =
          AddTrustedPem(ctx, access.certificate_authority_pem, access.source);
      if (!trusted.ok()) return trusted;
    }
  }
  if (!access.client_certificate_pem.empty()) {
    boost::system::error_code ec;
    context->use_certificate_chain(
        boost::asio::buffer(access.client_certificate_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat(access.source,
                       ": the client certificate is not a usable PEM "
                       "certificate (",
                       ec.message(), ")"));
    }
    context->use_private_key(boost::asio::buffer(access.client_key_pem.data(),
                                                 access.client_key_pem.size()),
                             ssl::context::pem, ec);
    if (ec) {
      // The key itself is never part of the message.
      return absl::InvalidArgumentError(
          absl::StrCat(access.source,
                       ": the client key is not a usable PEM private key "
                       "matching the client certificate"));
    }
  }
  std::string verify_name =
      access.tls_server_name.empty() ? url_host : access.tls_server_name;
  return std::unique_ptr<TlsContext>(
      new TlsContext(std::move(context), std::move(verify_name),
                     !access.insecure_skip_tls_verify));
}

TlsContext::TlsContext(std::unique_ptr<boost::asio::ssl::context> context,
                       std::string verify_name, bool verify_peer)
    : context_(std::move(context)),
      verify_name_(std::move(verify_name)),
      verify_peer_(verify_peer) {}

bool TlsContext::NameServer(SSL* ssl) const {
  const bool ip = IsIpLiteral(verify_name_);
  if (!ip) SSL_set_tlsext_host_name(ssl, verify_name_.c_str());
  if (!verify_peer_) return true;
  // Fail closed: without a name to check, any certificate from the CA
  // would pass.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int named =
      ip ? X509_VERIFY_PARAM_set1_ip_asc(param, verify_name_.c_str())
         : X509_VERIFY_PARAM_set1_host(param, verify_name_.c_str(),
                                       verify_name_.size());
  return named == 1;
}

}  // namespace kmesh::kube
