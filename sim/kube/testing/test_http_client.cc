#include "sim/kube/testing/test_http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kmesh::sim::kube {
namespace {

int ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval timeout = {10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class PlainClient : public TestHttpClient {
 public:
  explicit PlainClient(int fd) : fd_(fd) {}
  ~PlainClient() override { ::close(fd_); }

 protected:
  int ReadSome(char* buffer, int size) override {
    return static_cast<int>(::recv(fd_, buffer, size, 0));
  }
  bool WriteAll(const std::string& data) override {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n =
          ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += n;
    }
    return true;
  }

 private:
  int fd_;
};

class TlsClient : public TestHttpClient {
 public:
  TlsClient(int fd, bssl::UniquePtr<SSL_CTX> ctx, bssl::UniquePtr<SSL> ssl)
      : fd_(fd), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}
  ~TlsClient() override {
    ssl_.reset();
    ::close(fd_);
  }

 protected:
  int ReadSome(char* buffer, int size) override {
    int n = SSL_read(ssl_.get(), buffer, size);
    if (n > 0) return n;
    return SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }
  bool WriteAll(const std::string& data) override {
    return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }

 private:
  int fd_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
};

bssl::UniquePtr<X509> ParseCert(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  return bssl::UniquePtr<X509>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

bssl::UniquePtr<EVP_PKEY> ParseKey(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  return bssl::UniquePtr<EVP_PKEY>(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestHttpClient>> TestHttpClient::Connect(
    uint16_t port, const TestTlsOptions* tls) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return absl::UnavailableError("cannot connect");
  if (tls == nullptr) return std::make_unique<PlainClient>(fd);

  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<X509> ca = ParseCert(tls->ca_pem);
  if (!ctx || !ca ||
      !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get())) {
    ::close(fd);
    return absl::InvalidArgumentError("bad CA certificate");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!tls->client_cert_pem.empty()) {
    bssl::UniquePtr<X509> cert = ParseCert(tls->client_cert_pem);
    bssl::UniquePtr<EVP_PKEY> key = ParseKey(tls->client_key_pem);
    if (!cert || !key || !SSL_CTX_use_certificate(ctx.get(), cert.get()) ||
        !SSL_CTX_use_PrivateKey(ctx.get(), key.get())) {
      ::close(fd);
      return absl::InvalidArgumentError("bad client certificate or key");
    }
  }
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  if (SSL_connect(ssl.get()) != 1) {
    ::close(fd);
    return absl::UnavailableError("TLS handshake failed");
  }
  return std::make_unique<TlsClient>(fd, std::move(ctx), std::move(ssl));
}

bool TestHttpClient::Fill() {
  char chunk[16384];
  int n = ReadSome(chunk, sizeof(chunk));
  if (n <= 0) return false;
  buffer_.append(chunk, n);
  return true;
}

absl::StatusOr<std::string> TestHttpClient::ReadLine() {
  while (true) {
    size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (!Fill()) return absl::UnavailableError("connection ended");
  }
}

absl::StatusOr<std::string> TestHttpClient::ReadBytes(size_t count) {
  while (buffer_.size() < count) {
    if (!Fill()) return absl::UnavailableError("connection ended");
  }
  std::string bytes = buffer_.substr(0, count);
  buffer_.erase(0, count);
  return bytes;
}

absl::Status TestHttpClient::SendRequest(
    const std::string& method, const std::string& target,
    const std::string& body, const std::string& content_type,
    const std::map<std::string, std::string>& headers) {
  std::string request =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" ||
      method == "PATCH") {
    absl::StrAppend(&request, "Content-Type: ", content_type,
                    "\r\nContent-Length: ", body.size(), "\r\n");
  }
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  if (!WriteAll(request)) return absl::UnavailableError("write failed");
  return absl::OkStatus();
}

absl::StatusOr<TestHttpResponse> TestHttpClient::ReadHead() {
  absl::StatusOr<std::string> status_line = ReadLine();
  if (!status_line.ok()) return status_line.status();
  TestHttpResponse response;
  // "HTTP/1.1 200 OK"
  if (status_line->size() < 12 ||
      !absl::SimpleAtoi(status_line->substr(9, 3), &response.code)) {
    return absl::InternalError(absl::StrCat("bad status line: ", *status_line));
  }
  while (true) {
    absl::StatusOr<std::string> line = ReadLine();
    if (!line.ok()) return line.status();
    if (line->empty()) break;
    size_t colon = line->find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(line->substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line->substr(colon + 1)));
    response.headers[name] = value;
  }
  return response;
}

absl::StatusOr<TestHttpResponse> TestHttpClient::Send(
    const std::string& method, const std::string& target,
    const std::string& body, const std::string& content_type,
    const std::map<std::string, std::string>& headers) {
  if (absl::Status sent =
          SendRequest(method, target, body, content_type, headers);
      !sent.ok()) {
    return sent;
  }
  absl::StatusOr<TestHttpResponse> response = ReadHead();
  if (!response.ok()) return response;
  if (method == "HEAD") return response;  // Headers only, whatever they say.
  if (response->headers["transfer-encoding"] == "chunked") {
    while (true) {
      absl::StatusOr<std::optional<std::string>> chunk = NextChunk();
      if (!chunk.ok()) return chunk.status();
      if (!chunk->has_value()) break;
      response->body += **chunk;
    }
    return response;
  }
  size_t length = 0;
  if (!absl::SimpleAtoi(response->headers["content-length"], &length)) {
    return absl::InternalError("response without Content-Length");
  }
  absl::StatusOr<std::string> bytes = ReadBytes(length);
  if (!bytes.ok()) return bytes.status();
  response->body = *std::move(bytes);
  return response;
}

absl::StatusOr<TestHttpResponse> TestHttpClient::StartStream(
    const std::string& target) {
  if (absl::Status sent = SendRequest("GET", target, "", "", {}); !sent.ok()) {
    return sent;
  }
  return ReadHead();
}

absl::StatusOr<std::optional<std::string>> TestHttpClient::NextChunk() {
  absl::StatusOr<std::string> size_line = ReadLine();
  if (!size_line.ok()) return size_line.status();
  size_t size = 0;
  std::string hex = size_line->substr(0, size_line->find(';'));
  if (hex.empty() ||
      hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return absl::InternalError(absl::StrCat("bad chunk size: ", *size_line));
  }
  size = std::stoul(hex, nullptr, 16);
  if (size == 0) {
    // Trailers (none expected) end with an empty line.
    while (true) {
      absl::StatusOr<std::string> line = ReadLine();
      if (!line.ok()) return line.status();
      if (line->empty()) break;
    }
    return std::optional<std::string>();
  }
  absl::StatusOr<std::string> data = ReadBytes(size + 2);
  if (!data.ok()) return data.status();
  return std::optional<std::string>(data->substr(0, size));
}

}  // namespace kmesh::sim::kube
