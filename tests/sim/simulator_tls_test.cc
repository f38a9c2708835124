// The simulator's TLS mode: HTTPS over loopback with libcurl (CURLOPT_CAINFO =
// a throwaway test CA made by the openssl CLI) and, where curl would hide the
// details (pipelining, close_notify, back-pressure), a raw blocking OpenSSL
// client. Durations are short and every wait is bounded.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_certs.h"

namespace serpwow::sim {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kKey[] = "sim-tls-test-key";

size_t AppendTo(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(3000)) {
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

int CountOccurrences(const std::string& haystack, const std::string& needle) {
  int k = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++k;
  }
  return k;
}

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  long http_version = 0;
  std::string body;
  std::string headers;
  milliseconds elapsed{0};

  json Json() const { return json::parse(body); }
  bool HasHeader(const std::string& line) const {
    return headers.find(line + "\r\n") != std::string::npos;
  }
};

// One CURL easy handle that trusts only the test CA; reusing it reuses its
// connection (keep-alive).
class TlsClient {
 public:
  explicit TlsClient(const std::string& ca_file, CURLSH* share = nullptr, long ssl_version = 0)
      : h_(curl_easy_init()) {
    curl_easy_setopt(h_, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    if (share != nullptr) curl_easy_setopt(h_, CURLOPT_SHARE, share);
    if (ssl_version != 0) curl_easy_setopt(h_, CURLOPT_SSLVERSION, ssl_version);
  }
  ~TlsClient() { curl_easy_cleanup(h_); }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  CURL* handle() { return h_; }

  Reply Get(const std::string& url, long timeout_ms = 5000) {
    Reply r;
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, &AppendTo);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, &AppendTo);
    curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r.headers);
    auto start = std::chrono::steady_clock::now();
    r.code = curl_easy_perform(h_);
    r.elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(h_, CURLINFO_HTTP_VERSION, &r.http_version);
    return r;
  }

 private:
  CURL* h_;
};

// A blocking TLS client on a raw socket (OpenSSL), for what curl hides.
// Without SSL_OP_IGNORE_UNEXPECTED_EOF, so a close without close_notify is
// told apart from an orderly one.
class RawTls {
 public:
  // `rcvbuf` > 0 shrinks the socket's receive buffer (back-pressure tests).
  RawTls(int port, const std::string& ca_file, int rcvbuf = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    timeval tv{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~RawTls() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;

  bool connected() const { return connected_; }

  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  enum class End { kCloseNotify, kAbrupt, kTimeout };
  // Everything until the server closes (or 3 s pass without a byte).
  std::string ReadUntilClose(End* end) {
    std::string out;
    char buf[16384];
    while (true) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      const bool timed_out = err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
      *end = err == SSL_ERROR_ZERO_RETURN ? End::kCloseNotify
             : timed_out                  ? End::kTimeout
                                          : End::kAbrupt;
      ERR_clear_error();
      return out;
    }
  }
  // Reads until `needle` has been seen `count` times (or EOF/timeout).
  std::string ReadUntil(const std::string& needle, int count) {
    std::string out;
    char buf[16384];
    while (CountOccurrences(out, needle) < count) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ERR_clear_error();
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

// A plain TCP socket (for speaking not-TLS to the TLS port).
class RawTcp {
 public:
  explicit RawTcp(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawTcp() { ::close(fd_); }
  RawTcp(const RawTcp&) = delete;
  RawTcp& operator=(const RawTcp&) = delete;

  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Everything until the server closes; `*closed` false on a 3 s timeout.
  std::string ReadUntilClose(bool* closed) {
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return out;
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Drives `handles` on one multi handle until all finish or `limit` passes.
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

class SimulatorTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    certs_ = new testing::SimTestCerts();
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(certs_->error().empty()) << certs_->error();
    StartSim(SimulatorOptions());
  }

  void StartSim(SimulatorOptions options) {
    sim_.reset();
    options.api_key = kKey;
    options.tls_cert_file = certs_->server_cert();
    options.tls_key_file = certs_->server_key();
    auto s = Simulator::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    sim_ = std::move(*s);
  }

  std::string Url(const std::string& path,
                  const std::string& query = std::string("api_key=") + kKey) const {
    return "https://127.0.0.1:" + std::to_string(sim_->port()) + path +
           (query.empty() ? "" : "?" + query);
  }
  static std::string Ca() { return certs_->ca_cert(); }

  Reply Get(const std::string& path, long timeout_ms = 5000) {
    TlsClient c(Ca());
    return c.Get(Url(path), timeout_ms);
  }

  // One shared-session resumption round: two easy handles, one CURLSH.
  void ExpectResumption(long ssl_version) {
    CURLSH* share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    {
      TlsClient first(Ca(), share, ssl_version);
      Reply a = first.Get(Url("/account"));
      ASSERT_EQ(a.code, CURLE_OK) << curl_easy_strerror(a.code);
      EXPECT_EQ(a.status, 200);
      EXPECT_EQ(sim_->tls_handshakes(), 1);
      EXPECT_EQ(sim_->tls_resumed_handshakes(), 0);

      TlsClient second(Ca(), share, ssl_version);
      Reply b = second.Get(Url("/account"));
      ASSERT_EQ(b.code, CURLE_OK) << curl_easy_strerror(b.code);
      EXPECT_EQ(b.status, 200);
      EXPECT_EQ(sim_->connections_accepted(), 2);
      EXPECT_EQ(sim_->tls_handshakes(), 2);
      EXPECT_EQ(sim_->tls_resumed_handshakes(), 1);
    }
    curl_share_cleanup(share);
  }

  static testing::SimTestCerts* certs_;
  std::unique_ptr<Simulator> sim_;
};

testing::SimTestCerts* SimulatorTlsTest::certs_ = nullptr;

// --- Basics ----------------------------------------------------------------------

TEST_F(SimulatorTlsTest, GetBatchOverHttps) {
  EXPECT_EQ(sim_->base_url(), "https://127.0.0.1:" + std::to_string(sim_->port()));
  sim_->PutBatch("B1", BatchState::kQueued, 120, "TLS batch");
  Reply r = Get("/batches/B1");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_1_1);  // ALPN never picks h2
  EXPECT_TRUE(r.HasHeader("Content-Type: application/json")) << r.headers;
  json j = r.Json();
  EXPECT_EQ(j["batch"]["id"], "B1");
  EXPECT_EQ(j["batch"]["status"], "queued");
  // The certificate also names localhost.
  TlsClient c(Ca());
  Reply by_name = c.Get("https://localhost:" + std::to_string(sim_->port()) +
                        "/batches/B1/stop?api_key=" + kKey);
  ASSERT_EQ(by_name.code, CURLE_OK) << curl_easy_strerror(by_name.code);
  EXPECT_EQ(by_name.status, 200);
  EXPECT_EQ(sim_->GetBatch("B1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->tls_handshakes(), 2);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_F(SimulatorTlsTest, BaseUrlKeepsTheLivePrefix) {
  SimulatorOptions options;
  options.live_prefix = true;
  StartSim(options);
  EXPECT_EQ(sim_->base_url(), "https://127.0.0.1:" + std::to_string(sim_->port()) + "/live");
  EXPECT_EQ(Get("/live/account").status, 200);
}

TEST_F(SimulatorTlsTest, KeepAliveHandshakesOnce) {
  TlsClient c(Ca());
  Reply a = c.Get(Url("/account"));
  Reply b = c.Get(Url("/batches"));
  ASSERT_EQ(a.code, CURLE_OK) << curl_easy_strerror(a.code);
  ASSERT_EQ(b.code, CURLE_OK) << curl_easy_strerror(b.code);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_TRUE(a.HasHeader("Connection: keep-alive"));
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->tls_handshakes(), 1);
  EXPECT_EQ(sim_->tls_resumed_handshakes(), 0);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_F(SimulatorTlsTest, SharedSessionResumesOverTls12) {
  ExpectResumption(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2);
}

TEST_F(SimulatorTlsTest, SharedSessionResumesOverTls13) {
  // The server sends its TLS 1.3 tickets with the end of the handshake, so
  // they precede the first response: the client always holds one in time.
  ExpectResumption(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3);
}

TEST_F(SimulatorTlsTest, CountersStayZeroWithoutTls) {
  auto plain = Simulator::Start(SimulatorOptions());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->base_url(), "http://127.0.0.1:" + std::to_string((*plain)->port()));
  EXPECT_EQ((*plain)->tls_handshakes(), 0);
  EXPECT_EQ((*plain)->tls_resumed_handshakes(), 0);
}

// --- Not TLS, or TLS that fails ----------------------------------------------------

TEST_F(SimulatorTlsTest, PlainHttpToTheTlsPortGets400AndTheServerKeepsServing) {
  TlsClient plain(Ca());
  Reply r =
      plain.Get("http://127.0.0.1:" + std::to_string(sim_->port()) + "/account?api_key=" + kKey);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.HasHeader("Connection: close")) << r.headers;
  EXPECT_THAT(r.body, HasSubstr("HTTPS only"));
  EXPECT_THAT(r.body, HasSubstr(sim_->base_url()));
  EXPECT_EQ(sim_->tls_handshakes(), 0);
  EXPECT_EQ(sim_->request_count(), 0);  // not a request the API saw

  // Not HTTP and not TLS either: the connection is just closed.
  {
    RawTcp garbage(sim_->port());
    ASSERT_TRUE(garbage.connected());
    garbage.Send(std::string("\x01\x02\x03\x04\x05\x06\x07\x08 hello\r\n\r\n", 16));
    bool closed = false;
    EXPECT_EQ(garbage.ReadUntilClose(&closed), "");
    EXPECT_TRUE(closed);
  }
  // A TLS client that does not trust the certificate gives up mid-handshake.
  {
    CURL* h = curl_easy_init();
    const std::string url = Url("/account");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CAINFO, certs_->other_ca_cert().c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    EXPECT_EQ(curl_easy_perform(h), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(h);
  }
  EXPECT_EQ(sim_->tls_handshakes(), 0);
  EXPECT_EQ(sim_->connections_accepted(), 3);

  Reply ok = Get("/account");
  ASSERT_EQ(ok.code, CURLE_OK) << curl_easy_strerror(ok.code);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(sim_->tls_handshakes(), 1);
  EXPECT_EQ(sim_->request_count(), 1);
}

TEST_F(SimulatorTlsTest, BadCertificateOrKeyIsInvalidArgumentNamingTheFile) {
  struct Case {
    std::string cert, key, mention;
  };
  const std::string missing = certs_->dir() + "/no-such-file.pem";
  const std::vector<Case> cases = {
      {missing, certs_->server_key(), "tls_cert_file=" + missing},
      {certs_->garbage_file(), certs_->server_key(), "tls_cert_file=" + certs_->garbage_file()},
      {certs_->server_key(), certs_->server_key(), "tls_cert_file=" + certs_->server_key()},
      {certs_->server_cert(), missing, "tls_key_file=" + missing},
      {certs_->server_cert(), certs_->garbage_file(), "tls_key_file=" + certs_->garbage_file()},
      {certs_->server_cert(), certs_->other_key(), "tls_key_file=" + certs_->other_key()},
      {certs_->server_cert(), certs_->encrypted_server_key(),
       "tls_key_file=" + certs_->encrypted_server_key()},
      {certs_->server_cert(), "", "tls_key_file is not set"},
      {"", certs_->server_key(), "tls_cert_file is not set"},
  };
  for (const Case& k : cases) {
    SimulatorOptions o;
    o.tls_cert_file = k.cert;
    o.tls_key_file = k.key;
    auto s = Simulator::Start(o);
    ASSERT_FALSE(s.ok()) << k.mention;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(k.mention));
  }
}

// --- Framing over TLS (raw client) -------------------------------------------------

TEST_F(SimulatorTlsTest, PipelinedRequestsThenCloseNotify) {
  RawTls conn(sim_->port(), Ca());
  ASSERT_TRUE(conn.connected());
  const std::string key = std::string("?api_key=") + kKey;
  sim_->PutBatch("Q1", BatchState::kQueued, 1);
  ASSERT_TRUE(conn.Send("GET /batches/Q1" + key + " HTTP/1.1\r\n\r\n" + "GET /account" + key +
                        " HTTP/1.1\r\n\r\n" + "GET /batches/Q1/stop" + key +
                        " HTTP/1.1\r\nConnection: close\r\n\r\n"));
  RawTls::End end = RawTls::End::kTimeout;
  std::string all = conn.ReadUntilClose(&end);
  EXPECT_EQ(end, RawTls::End::kCloseNotify);  // an orderly close, not a truncation
  EXPECT_EQ(CountOccurrences(all, "HTTP/1.1 200 OK\r\n"), 3) << all;
  EXPECT_LT(all.find("\"status\":\"queued\""), all.find("Batch stopped"));
  EXPECT_EQ(sim_->request_count(), 3);
}

TEST_F(SimulatorTlsTest, LargeRequestBodySpanningManyRecords) {
  RawTls conn(sim_->port(), Ca());
  ASSERT_TRUE(conn.connected());
  const std::string key = std::string("?api_key=") + kKey;
  // ~600 KiB: dozens of 16 KiB records in one write, then a pipelined GET.
  const std::string body(600 * 1024, 'b');
  ASSERT_TRUE(conn.Send("POST /account" + key +
                        " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                        body + "GET /account" + key + " HTTP/1.1\r\n\r\n"));
  std::string all = conn.ReadUntil("credits_remaining", 1);
  EXPECT_THAT(all, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(all, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(sim_->request_count(), 2);
  EXPECT_EQ(sim_->connections_accepted(), 1);
}

TEST_F(SimulatorTlsTest, LargeResponsesToASlowReader) {
  for (int i = 0; i < 1000; ++i) {
    sim_->PutBatch("BATCH" + std::to_string(i), BatchState::kIdle, 1,
                   "a batch with a fairly long name, number " + std::to_string(i));
  }
  // A tiny receive window and a late reader: the server's SSL_write blocks
  // (WANT_WRITE) while the second reply is appended behind the first.
  RawTls conn(sim_->port(), Ca(), /*rcvbuf=*/4096);
  ASSERT_TRUE(conn.connected());
  const std::string req =
      std::string("GET /batches?page_size=1000&api_key=") + kKey + " HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(conn.Send(req + req));
  std::this_thread::sleep_for(milliseconds(200));
  std::string all = conn.ReadUntil("\"count_this_page\":1000", 2);
  EXPECT_EQ(CountOccurrences(all, "\"count_this_page\":1000"), 2);
  EXPECT_GT(all.size(), 2u * 100 * 1024);
  const size_t second = all.find("HTTP/1.1 200 OK\r\n", 1);
  ASSERT_NE(second, std::string::npos);
  const size_t body_start = all.find("\r\n\r\n") + 4;
  EXPECT_NO_THROW(json::parse(all.substr(body_start, second - body_start)));
}

// --- Faults over TLS -------------------------------------------------------------

TEST_F(SimulatorTlsTest, FaultRespondAndDelay) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault injected;
  injected.path_suffix = "/batches/Q1";
  injected.status = 429;
  injected.body = R"({"request_info":{"success":false,"message":"slow down"}})";
  injected.times = 1;
  sim_->AddFault(injected);
  Fault delayed;
  delayed.path_suffix = "/stop";
  delayed.delay = absl::Milliseconds(150);
  sim_->AddFault(delayed);

  TlsClient c(Ca());
  Reply r = c.Get(Url("/batches/Q1"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, injected.body);
  Reply stop = c.Get(Url("/batches/Q1/stop"));
  ASSERT_EQ(stop.code, CURLE_OK) << curl_easy_strerror(stop.code);
  EXPECT_EQ(stop.status, 200);
  EXPECT_GE(stop.elapsed.count(), 150);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->tls_handshakes(), 1);  // one connection throughout
}

TEST_F(SimulatorTlsTest, FaultDropConnectionIsACleanEofWithoutAReply) {
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  Fault f;
  f.action = Fault::Action::kDropConnection;
  f.times = 2;
  sim_->AddFault(f);
  Reply r = Get("/batches/Q1/stop");
  EXPECT_THAT(r.code, AnyOf(CURLE_GOT_NOTHING, CURLE_RECV_ERROR)) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);  // not executed

  RawTls conn(sim_->port(), Ca());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send(std::string("GET /account?api_key=") + kKey + " HTTP/1.1\r\n\r\n"));
  RawTls::End end = RawTls::End::kTimeout;
  EXPECT_EQ(conn.ReadUntilClose(&end), "");
  EXPECT_EQ(end, RawTls::End::kCloseNotify);
  EXPECT_EQ(sim_->request_count(), 2);
}

TEST_F(SimulatorTlsTest, FaultHangNeverAnswersAndIsClosedWhenTheClientLeaves) {
  Fault f;
  f.action = Fault::Action::kHang;
  sim_->AddFault(f);
  const int fds = OpenFdCount();
  Reply r = Get("/account", 300);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(sim_->request_count(), 1);
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; })) << OpenFdCount() << " vs " << fds;
}

TEST_F(SimulatorTlsTest, FaultStallAfterHeaders) {
  Fault f;
  f.action = Fault::Action::kStallAfterHeaders;
  f.status = 200;
  f.body = R"({"request_info":{"success":true}})";
  sim_->AddFault(f);
  const int fds = OpenFdCount();
  Reply r = Get("/account", 300);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.HasHeader("Content-Length: " + std::to_string(f.body.size()))) << r.headers;
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(WaitFor([&] { return OpenFdCount() == fds; }));
}

TEST_F(SimulatorTlsTest, FaultSlowDripKeepsTheConnection) {
  Fault f;
  f.action = Fault::Action::kSlowDrip;
  f.status = 200;
  f.body = "abcde";
  f.drip_interval = absl::Milliseconds(30);
  f.times = 1;
  sim_->AddFault(f);
  TlsClient c(Ca());
  Reply r = c.Get(Url("/account"));
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.body, "abcde");
  EXPECT_GE(r.elapsed.count(), 5 * 30);
  EXPECT_EQ(c.Get(Url("/account")).status, 200);
  EXPECT_EQ(sim_->connections_accepted(), 1);
  EXPECT_EQ(sim_->tls_handshakes(), 1);
}

TEST_F(SimulatorTlsTest, FaultResetMidBody) {
  sim_->PutBatch("Q1", BatchState::kQueued, 60);
  const int64_t before = sim_->credits();
  Fault f;
  f.action = Fault::Action::kResetMidBody;
  f.path_suffix = "/stop";  // status 0: the real stop happens, its reply is cut
  f.times = 1;
  sim_->AddFault(f);
  Fault big;
  big.action = Fault::Action::kResetMidBody;
  big.path_suffix = "/account";
  big.status = 200;
  big.body = std::string(100, 'x');
  big.times = 1;
  sim_->AddFault(big);

  Reply stop = Get("/batches/Q1/stop");
  EXPECT_NE(stop.code, CURLE_OK);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
  EXPECT_EQ(sim_->credits(), before + 60);

  Reply r = Get("/account");
  EXPECT_THAT(r.code, AnyOf(CURLE_RECV_ERROR, CURLE_PARTIAL_FILE)) << curl_easy_strerror(r.code);
  EXPECT_LT(r.body.size(), 100u);

  // Raw: the half body arrives, then an abrupt end (no close_notify).
  big.times = 1;
  sim_->AddFault(big);
  RawTls conn(sim_->port(), Ca());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send(std::string("GET /account?api_key=") + kKey + " HTTP/1.1\r\n\r\n"));
  RawTls::End end = RawTls::End::kTimeout;
  std::string all = conn.ReadUntilClose(&end);
  EXPECT_EQ(end, RawTls::End::kAbrupt);
  EXPECT_THAT(all, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(all, ::testing::EndsWith("\r\n\r\n" + std::string(50, 'x')));
}

// --- Load and shutdown -----------------------------------------------------------

TEST_F(SimulatorTlsTest, TwoHundredConcurrentTlsConnectionsWithADelay) {
  constexpr int kClients = 200;
  Fault f;
  f.delay = absl::Milliseconds(300);
  sim_->AddFault(f);
  CURLM* multi = curl_multi_init();
  std::vector<CURL*> easy(kClients);
  std::vector<std::string> bodies(kClients);
  const std::string url = Url("/account");
  const std::string ca = Ca();
  for (int i = 0; i < kClients; ++i) {
    easy[i] = curl_easy_init();
    curl_easy_setopt(easy[i], CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy[i], CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(easy[i], CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy[i], CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, &AppendTo);
    curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bodies[i]);
    curl_multi_add_handle(multi, easy[i]);
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunMulti(multi, kClients, milliseconds(10000)), kClients);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(300));
  // Concurrent, not 200 x 300 ms; 200 full handshakes on a shared machine
  // (and under sanitizers) fit easily.
  EXPECT_LT(elapsed, milliseconds(4000));
  for (int i = 0; i < kClients; ++i) {
    long status = 0;
    curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
    EXPECT_EQ(status, 200) << i;
    EXPECT_THAT(bodies[i], HasSubstr("credits_remaining"));
    curl_multi_remove_handle(multi, easy[i]);
    curl_easy_cleanup(easy[i]);
  }
  curl_multi_cleanup(multi);
  EXPECT_EQ(sim_->connections_accepted(), kClients);
  EXPECT_EQ(sim_->tls_handshakes(), kClients);
  EXPECT_EQ(sim_->request_count(), kClients);
}

TEST_F(SimulatorTlsTest, DestructionWithOpenTlsConnectionsLeaksNoFds) {
  sim_.reset();
  const int fds_before = OpenFdCount();
  {
    StartSim(SimulatorOptions());
    Fault hang;
    hang.action = Fault::Action::kHang;
    hang.path_suffix = "/hang";
    sim_->AddFault(hang);

    // Mid-handshake: connected, ClientHello never sent.
    RawTcp silent(sim_->port());
    ASSERT_TRUE(silent.connected());

    constexpr int kClients = 8;
    CURLM* multi = curl_multi_init();
    std::vector<CURL*> easy;
    std::vector<std::string> sinks(kClients);
    const std::string ca = Ca();
    for (int i = 0; i < kClients; ++i) {
      CURL* e = curl_easy_init();
      const std::string url = Url(i % 2 ? "/hang" : "/account");
      curl_easy_setopt(e, CURLOPT_URL, url.c_str());
      curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &AppendTo);
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &sinks[static_cast<size_t>(i)]);
      curl_multi_add_handle(multi, e);
      easy.push_back(e);
    }
    // Half finish (their keep-alive connections stay open), half hang.
    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(5000)), kClients / 2);
    EXPECT_TRUE(WaitFor([&] { return sim_->request_count() == kClients; }));
    EXPECT_EQ(sim_->connections_accepted(), kClients + 1);
    EXPECT_EQ(sim_->tls_handshakes(), kClients);

    auto start = std::chrono::steady_clock::now();
    sim_.reset();  // must not wait for anyone
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));

    EXPECT_EQ(RunMulti(multi, kClients / 2, milliseconds(3000)), kClients / 2);
    for (CURL* e : easy) {
      curl_multi_remove_handle(multi, e);
      curl_easy_cleanup(e);
    }
    curl_multi_cleanup(multi);
    bool closed = false;
    EXPECT_EQ(silent.ReadUntilClose(&closed), "");
    EXPECT_TRUE(closed);
  }
  EXPECT_EQ(OpenFdCount(), fds_before);
}

}  // namespace
}  // namespace serpwow::sim
