#include "kmesh/kube/testing/connect_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace kmesh::kube::testing {
namespace {

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Copies from `from` to `to` until either side ends, then shuts both down.
void Relay(int from, int to) {
  char buffer[16384];
  while (true) {
    const ssize_t n = ::recv(from, buffer, sizeof(buffer), 0);
    if (n <= 0 || !WriteAll(to, absl::string_view(buffer, n))) break;
  }
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

std::string Reason(int status) {
  switch (status) {
    case 200:
      return "Connection established";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 407:
      return "Proxy Authentication Required";
    case 502:
      return "Bad Gateway";
    default:
      return "Refused";
  }
}

}  // namespace

class ConnectProxy::Impl {
 public:
  explicit Impl(ConnectProxyOptions options) : options_(std::move(options)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 64);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }

  std::vector<ConnectRecord> connects() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  void AcceptLoop() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      absl::MutexLock lock(&mu_);
      if (stopped_) {
        ::close(fd);
        return;
      }
      open_fds_.insert(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  // Registers an fd for Stop() to shut down; false when stopping.
  bool Track(int fd) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return false;
    open_fds_.insert(fd);
    return true;
  }

  void Close(int fd) {
    {
      absl::MutexLock lock(&mu_);
      open_fds_.erase(fd);
    }
    ::close(fd);
  }

  void Answer(int fd, int status, ConnectRecord record) {
    record.status = status;
    {
      absl::MutexLock lock(&mu_);
      records_.push_back(record);
    }
    std::string response =
        absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\n");
    if (status == 407) {
      absl::StrAppend(&response,
                      "Proxy-Authenticate: Basic realm=\"test\"\r\n");
    }
    if (status != 200) absl::StrAppend(&response, "Content-Length: 0\r\n");
    absl::StrAppend(&response, "\r\n");
    WriteAll(fd, response);
  }

  // Dials host:port (a name from options_.hosts or an IP literal); -1 on
  // failure.
  int Dial(const std::string& target) {
    absl::string_view host = target, port;
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos) return -1;
    host = absl::string_view(target).substr(0, colon);
    port = absl::string_view(target).substr(colon + 1);
    if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
      host = host.substr(1, host.size() - 2);
    }
    std::string address(host);
    auto mapped = options_.hosts.find(address);
    if (mapped != options_.hosts.end()) address = mapped->second;
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    if (::getaddrinfo(address.c_str(), std::string(port).c_str(), &hints,
                      &result) != 0) {
      return -1;
    }
    const int fd = ::socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool connected =
        fd >= 0 && ::connect(fd, result->ai_addr, result->ai_addrlen) == 0;
    ::freeaddrinfo(result);
    if (!connected) {
      if (fd >= 0) ::close(fd);
      return -1;
    }
    return fd;
  }

  // Reads until `in` holds at least n bytes; false when the peer ends.
  static bool Fill(int fd, std::string* in, size_t n) {
    char buffer[4096];
    while (in->size() < n) {
      const ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
      if (got <= 0) return false;
      in->append(buffer, got);
    }
    return true;
  }

  // Relays between the client and the upstream it asked for, then closes
  // the upstream.
  void Splice(int fd, int upstream, const std::string& rest) {
    if (rest.empty() || WriteAll(upstream, rest)) {
      std::thread back([upstream, fd] { Relay(upstream, fd); });
      Relay(fd, upstream);
      back.join();
    }
    Close(upstream);
  }

  // RFC 1928 / 1929, CONNECT only.
  void ServeSocks5(int fd, std::string in) {
    ConnectRecord record;
    record.method = "SOCKS5";
    const bool need_auth = !options_.socks_username.empty();
    if (!Fill(fd, &in, 2) || !Fill(fd, &in, 2 + static_cast<uint8_t>(in[1]))) {
      return;
    }
    const std::string methods = in.substr(2, static_cast<uint8_t>(in[1]));
    in.erase(0, 2 + methods.size());
    const char wanted = need_auth ? '\x02' : '\x00';
    if (methods.find(wanted) == std::string::npos) {
      WriteAll(fd, std::string("\x05\xff", 2));
      record.status = 0xff;
      Record(record);
      return;
    }
    WriteAll(fd, std::string("\x05", 1) + wanted);
    if (need_auth) {
      if (!Fill(fd, &in, 2)) return;
      const size_t ulen = static_cast<uint8_t>(in[1]);
      if (!Fill(fd, &in, 2 + ulen + 1)) return;
      const size_t plen = static_cast<uint8_t>(in[2 + ulen]);
      if (!Fill(fd, &in, 3 + ulen + plen)) return;
      const std::string user = in.substr(2, ulen);
      const std::string password = in.substr(3 + ulen, plen);
      in.erase(0, 3 + ulen + plen);
      record.proxy_authorization = user + ":" + password;
      const bool ok = user == options_.socks_username &&
                      password == options_.socks_password;
      WriteAll(fd, std::string(ok ? "\x01\x00" : "\x01\x01", 2));
      if (!ok) {
        record.status = 0x101;
        Record(record);
        return;
      }
    }
    if (!Fill(fd, &in, 5)) return;
    std::string host;
    size_t used = 0;
    switch (in[3]) {
      case '\x01': {
        if (!Fill(fd, &in, 4 + 4 + 2)) return;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, in.data() + 4, text, sizeof(text));
        host = text;
        used = 4 + 4;
        break;
      }
      case '\x04': {
        if (!Fill(fd, &in, 4 + 16 + 2)) return;
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, in.data() + 4, text, sizeof(text));
        host = absl::StrCat("[", text, "]");
        used = 4 + 16;
        break;
      }
      case '\x03': {
        const size_t len = static_cast<uint8_t>(in[4]);
        if (!Fill(fd, &in, 5 + len + 2)) return;
        host = in.substr(5, len);
        used = 5 + len;
        break;
      }
      default:
        return;
    }
    const int port = (static_cast<uint8_t>(in[used]) << 8) |
                     static_cast<uint8_t>(in[used + 1]);
    in.erase(0, used + 2);
    record.target = absl::StrCat(host, ":", port);
    // Reply with a bound address of 0.0.0.0:0.
    auto reply = [&](int code) {
      record.status = code == 0 ? 200 : code;
      Record(record);
      std::string answer("\x05\x00\x00\x01\0\0\0\0\0\0", 10);
      answer[1] = static_cast<char>(code);
      WriteAll(fd, answer);
    };
    if (options_.refuse_status != 0) {
      reply(0x02);  // Connection not allowed by ruleset.
      return;
    }
    const int upstream = Dial(record.target);
    if (upstream < 0) {
      reply(0x04);  // Host unreachable.
      return;
    }
    if (!Track(upstream)) {
      ::close(upstream);
      return;
    }
    reply(0x00);
    Splice(fd, upstream, in);
  }

  void Record(const ConnectRecord& record) {
    absl::MutexLock lock(&mu_);
    records_.push_back(record);
  }

  void Serve(int fd) {
    std::string head;
    if (Fill(fd, &head, 1) && head[0] == '\x05') {
      ServeSocks5(fd, std::move(head));
      Close(fd);
      return;
    }
    char buffer[4096];
    size_t end = std::string::npos;
    while ((end = head.find("\r\n\r\n")) == std::string::npos &&
           head.size() < 16384) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      head.append(buffer, n);
    }
    if (end == std::string::npos) {
      Close(fd);
      return;
    }
    const std::string rest = head.substr(end + 4);
    head.resize(end);
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    ConnectRecord record;
    std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
    if (request_line.size() >= 2) {
      record.method = request_line[0];
      record.target = request_line[1];
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      const std::string value(
          absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (name == "host") record.host_header = value;
      if (name == "proxy-authorization") record.proxy_authorization = value;
    }
    if (record.method != "CONNECT") {
      Answer(fd, 405, record);
    } else if (options_.refuse_status != 0) {
      Answer(fd, options_.refuse_status, record);
    } else if (!options_.required_authorization.empty() &&
               record.proxy_authorization != options_.required_authorization) {
      Answer(fd, 407, record);
    } else if (const int upstream = Dial(record.target); upstream < 0) {
      Answer(fd, 502, record);
    } else if (!Track(upstream)) {
      ::close(upstream);
    } else {
      Answer(fd, 200, record);
      Splice(fd, upstream, rest);
    }
    Close(fd);
  }

  const ConnectProxyOptions options_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::set<int> open_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<ConnectRecord> records_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<ConnectProxy> ConnectProxy::Start(ConnectProxyOptions options) {
  return std::unique_ptr<ConnectProxy>(
      new ConnectProxy(std::make_unique<Impl>(std::move(options))));
}

ConnectProxy::ConnectProxy(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
ConnectProxy::~ConnectProxy() { impl_->Stop(); }
uint16_t ConnectProxy::port() const { return impl_->port(); }
std::string ConnectProxy::url() const {
  return absl::StrCat("http://127.0.0.1:", impl_->port());
}
std::vector<ConnectRecord> ConnectProxy::connects() const {
  return impl_->connects();
}
void ConnectProxy::Stop() { impl_->Stop(); }

}  // namespace kmesh::kube::testing
