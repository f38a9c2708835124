#include "tests/sim/sim_test_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <thread>

namespace serpwow::sim::testing {

using std::chrono::milliseconds;

std::string TransportName(Transport transport) {
  return transport == Transport::kTls ? "Tls" : "Plain";
}

size_t AppendTo(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Client::Client(const std::string& ca_file, CURLSH* share, long ssl_version) : h_(curl_easy_init()) {
  curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
  if (!ca_file.empty()) curl_easy_setopt(h_, CURLOPT_CAINFO, ca_file.c_str());
  if (share != nullptr) curl_easy_setopt(h_, CURLOPT_SHARE, share);
  if (ssl_version != 0) curl_easy_setopt(h_, CURLOPT_SSLVERSION, ssl_version);
}

Client::~Client() { curl_easy_cleanup(h_); }

Reply Client::Get(const std::string& url, long timeout_ms, const char* method,
                  const std::vector<std::string>& extra_headers) {
  Reply r;
  curl_slist* headers = nullptr;
  for (const auto& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, &AppendTo);
  curl_easy_setopt(h_, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, &AppendTo);
  curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r.headers);
  auto start = std::chrono::steady_clock::now();
  r.code = curl_easy_perform(h_);
  r.elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(h_, CURLINFO_HTTP_VERSION, &r.http_version);
  curl_easy_setopt(h_, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return r;
}

Reply Client::Send(const std::string& url, const char* method, const std::string& body,
                   const std::string& content_type) {
  curl_easy_setopt(h_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  Reply r = Get(url, 5000, method, {"Content-Type: " + content_type});
  curl_easy_setopt(h_, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(h_, CURLOPT_HTTPGET, 1L);
  return r;
}

RawConnection::RawConnection(int port, Transport transport, const std::string& ca_file, int rcvbuf)
    : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (!fd_) return;
  if (rcvbuf > 0) ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  timeval tv{3, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
  if (transport == Transport::kPlain) {
    connected_ = true;
    return;
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_.get());
  connected_ = SSL_connect(ssl_) == 1;
  ERR_clear_error();
}

RawConnection::~RawConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

bool RawConnection::Send(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t left = data.size() - done;
    const ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, data.data() + done, static_cast<int>(left))
                                      : ::send(fd_.get(), data.data() + done, left, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int RawConnection::ReadSome(char* buf, int size, End* end) {
  if (ssl_ == nullptr) {
    ssize_t n = ::recv(fd_.get(), buf, static_cast<size_t>(size), 0);
    if (n > 0) return static_cast<int>(n);
    *end = n == 0                                      ? End::kOrderly
           : (errno == EAGAIN || errno == EWOULDBLOCK) ? End::kTimeout
                                                       : End::kAbrupt;
    return 0;
  }
  int n = SSL_read(ssl_, buf, size);
  if (n > 0) return n;
  const int err = SSL_get_error(ssl_, n);
  const bool timed_out = err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
  *end = err == SSL_ERROR_ZERO_RETURN ? End::kOrderly : timed_out ? End::kTimeout : End::kAbrupt;
  ERR_clear_error();
  return 0;
}

std::string RawConnection::ReadUntilClose(End* end) {
  std::string out;
  char buf[16384];
  for (;;) {
    int n = ReadSome(buf, sizeof(buf), end);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string RawConnection::ReadUntil(const std::string& needle, int count) {
  std::string out;
  char buf[16384];
  End end = End::kTimeout;
  while (CountOccurrences(out, needle) < count) {
    int n = ReadSome(buf, sizeof(buf), &end);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int CountOccurrences(const std::string& haystack, const std::string& needle) {
  int k = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++k;
  }
  return k;
}

bool WaitFor(const std::function<bool()>& done, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

int OpenFdCount() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

int RunMulti(CURLM* multi, int handles, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int running = handles;
  int finished = 0;
  while (finished < handles && std::chrono::steady_clock::now() < deadline) {
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) ++finished;
    }
    if (finished < handles) curl_multi_poll(multi, nullptr, 0, 20, nullptr);
  }
  return finished;
}

}  // namespace serpwow::sim::testing
