// Clients for the simulator's tests, over plain HTTP or over TLS alike:
// libcurl for ordinary requests, a raw blocking socket (with OpenSSL on top
// for TLS) where curl would hide the framing, and small polling helpers.
// Every read and wait is bounded.
#pragma once

#include <curl/curl.h>
#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace serpwow::sim::testing {

// How a test reaches the simulator: the two transports its port can speak.
enum class Transport { kPlain, kTls };

// "Plain" / "Tls", for parameterised test names.
std::string TransportName(Transport transport);

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  long http_version = 0;  // CURL_HTTP_VERSION_*
  std::string body;
  std::string headers;
  std::chrono::milliseconds elapsed{0};

  nlohmann::json Json() const { return nlohmann::json::parse(body); }
  // `line` is "Name: value", matched as a whole header line.
  bool HasHeader(const std::string& line) const {
    return headers.find(line + "\r\n") != std::string::npos;
  }
};

// A libcurl write/header callback appending to the std::string in `out`.
size_t AppendTo(char* data, size_t size, size_t n, void* out);

// One CURL easy handle; reusing it reuses its connection (keep-alive).
// With `ca_file`, https:// URLs trust only that CA; `share` and
// `ssl_version` (CURL_SSLVERSION_*) are passed to curl when set.
class Client {
 public:
  explicit Client(const std::string& ca_file = "", CURLSH* share = nullptr, long ssl_version = 0);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Reply Get(const std::string& url, long timeout_ms = 5000, const char* method = nullptr,
            const std::vector<std::string>& extra_headers = {});
  // `method` with `body` sent as `content_type`; the handle is back to a
  // body-less GET afterwards.
  Reply Send(const std::string& url, const char* method, const std::string& body,
             const std::string& content_type);

 private:
  CURL* h_;
};

// A blocking loopback connection to `port`, plain or TLS (verifying the
// server with `ca_file`). Reads give up after 3 s. `rcvbuf` > 0 shrinks the
// socket's receive buffer (back-pressure tests). The TLS side does not set
// SSL_OP_IGNORE_UNEXPECTED_EOF, so a close without close_notify is told apart
// from an orderly one.
class RawConnection {
 public:
  RawConnection(int port, Transport transport, const std::string& ca_file = "", int rcvbuf = 0);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Connected (and, for TLS, the handshake done).
  bool connected() const { return connected_; }
  bool Send(const std::string& data);

  // How the server ended the connection: kOrderly is a FIN (plain) or a
  // close_notify (TLS); kAbrupt a reset, or for TLS an EOF without
  // close_notify; kTimeout means 3 s passed without a byte.
  enum class End { kOrderly, kAbrupt, kTimeout };
  // Everything until the server ends the connection.
  std::string ReadUntilClose(End* end);
  // Reads until `needle` has been seen `count` times (or an end).
  std::string ReadUntil(const std::string& needle, int count);

 private:
  // One read: > 0 bytes, 0 at the end (with `*end` set).
  int ReadSome(char* buf, int size, End* end);

  UniqueFd fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

int CountOccurrences(const std::string& haystack, const std::string& needle);

// Polls `done` every 5 ms for at most `limit`.
bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds limit = std::chrono::milliseconds(3000));

// Open fds of this process (for leak checks).
int OpenFdCount();

// Drives `handles` on one multi handle until that many finish or `limit`
// passes; returns the number finished.
int RunMulti(CURLM* multi, int handles, std::chrono::milliseconds limit);

}  // namespace serpwow::sim::testing
