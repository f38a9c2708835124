// The simulator's HTTP server: one epoll event-loop thread, level-triggered,
// non-blocking sockets, keep-alive and pipelining, timers kept in an ordered
// set and served through epoll_wait's timeout. API semantics live in
// batch_api.cc; this file owns the sockets, the faults and the request record.
//
// Connection life cycle (Phase):
//   kReady            parse and answer buffered requests in order
//   kDelayed          a fault's delay is running; the request is held
//   kHeldReply        a search call's reply waits for its hold to end (the
//                     concurrency model, SimulatorOptions); the call was
//                     carried out
//   kHanging          kHang: never answer; closed when the client goes away
//   kStalled          kStallAfterHeaders: head sent, body never comes
//   kDripping         kSlowDrip: one body byte per timer tick
//   kResetAfterFlush  kResetMidBody: RST as soon as the partial reply is out
//   kCloseAfterFlush  last reply queued ("Connection: close" or a framing error)
//   kLingering        our side shut down; drain the client's bytes until its
//                     FIN (or kLingerTimeout) so the reply is not lost to a RST
// Input is read in every phase, so a client's EOF is noticed even while its
// request is held. Closed connections are marked and reaped after each loop
// iteration, so references stay valid while an event is being handled.
//
// TLS mode: each connection gets an OpenSSL SSL object on its (non-blocking)
// socket. It first runs the handshake (`handshaking`), with the epoll
// interest set to exactly what SSL_do_handshake asked for (WANT_READ ->
// EPOLLIN, WANT_WRITE -> EPOLLOUT); after that all reads and writes go
// through ReadSome()/WriteSome(), which use SSL_read/SSL_write and map their
// WANT_* results onto the same interest computation as plain sockets (plus
// the rare cross-direction wants: a read that must write, a write that must
// read). OpenSSL never reads ahead (read_ahead is off), so whatever it has
// not consumed is still in the socket and level-triggered epoll reports it;
// a record it has consumed but not yet handed out is drained via
// SSL_has_pending() before the loop moves on. In kLingering the bytes are
// only discarded, so the raw socket is read there.
#include "sim/simulator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <deque>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/fd_limit.h"
#include "common/file.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "sim/batch_api.h"

namespace serpwow::sim {

const char* BatchStateName(BatchState state) {
  switch (state) {
    case BatchState::kIdle:
      return "idle";
    case BatchState::kQueued:
      return "queued";
    case BatchState::kRunning:
      return "running";
  }
  return "idle";
}

namespace {

using Clock = std::chrono::steady_clock;

// epoll user data for the two non-connection fds; connections count from 2.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;

// A client that pipelines more than this while its requests are held is cut off.
constexpr size_t kMaxBufferedInput = 4 * 1024 * 1024;
// Stop parsing further pipelined requests while this much output is unsent.
constexpr size_t kOutputHighWater = 1024 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// Reads per readiness event, so one busy client cannot starve the others.
constexpr int kReadsPerEvent = 4;
constexpr int kMaxEvents = 256;
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr auto kMinDripInterval = std::chrono::milliseconds(1);
// requests() keeps at most this many (the newest); request_count() is exact.
constexpr size_t kMaxRecorded = 100000;

// strerror() may share a static buffer between threads; the GNU strerror_r
// does not.
std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));
}

Clock::duration ToChrono(absl::Duration d) {
  // Capped so that now() + d cannot overflow; a century is "never" here.
  constexpr auto kNever = std::chrono::hours(24 * 365 * 100);
  if (d <= absl::ZeroDuration()) return Clock::duration::zero();
  if (d >= absl::FromChrono(kNever)) return kNever;
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Drains this thread's OpenSSL error queue into one line.
std::string TakeOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// An encrypted private key would make OpenSSL prompt on the terminal; refuse.
int NoPassphrase(char*, int, int, void*) { return 0; }

// ALPN: select "http/1.1" when offered; otherwise no ALPN at all.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof(kHttp11), in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// The files are read with common/file.h (so a missing or unreadable file is
// reported like everywhere else) and parsed from memory. Messages name the
// setting and the path, never the content.
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

absl::StatusOr<BioPtr> ReadPemFile(const char* setting, const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(setting, "=", path, ": ", content.status().message()));
  }
  // A read-write memory BIO owns a copy of the bytes.
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || BIO_write(bio.get(), content->data(), static_cast<int>(content->size())) !=
                  static_cast<int>(content->size())) {
    return absl::InternalError(absl::StrCat("memory BIO: ", TakeOpenSslErrors()));
  }
  return bio;
}

// The server certificate first, then any chain certificates after it (what
// SSL_CTX_use_certificate_chain_file accepts).
absl::Status UseCertificateChain(SSL_CTX* c, const std::string& path) {
  absl::StatusOr<BioPtr> bio = ReadPemFile("tls_cert_file", path);
  if (!bio.ok()) return bio.status();
  auto fail = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_cert_file=", path, ": cannot load a PEM certificate (chain): ", TakeOpenSslErrors()));
  };
  X509Ptr leaf(PEM_read_bio_X509_AUX(bio->get(), nullptr, &NoPassphrase, nullptr), &X509_free);
  if (!leaf || SSL_CTX_use_certificate(c, leaf.get()) != 1) return fail();
  while (
      X509Ptr extra{PEM_read_bio_X509(bio->get(), nullptr, &NoPassphrase, nullptr), &X509_free}) {
    if (SSL_CTX_add0_chain_cert(c, extra.get()) != 1) return fail();
    extra.release();  // owned by the context now
  }
  // The loop ends on "no start line" at the end of the file: not an error.
  const unsigned long last = ERR_peek_last_error();
  if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return absl::OkStatus();
  }
  return last == 0 ? absl::OkStatus() : fail();
}

absl::Status UsePrivateKey(SSL_CTX* c, const std::string& path) {
  absl::StatusOr<BioPtr> bio = ReadPemFile("tls_key_file", path);
  if (!bio.ok()) return bio.status();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, &NoPassphrase, nullptr), &EVP_PKEY_free);
  if (!key || SSL_CTX_use_PrivateKey(c, key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_key_file=", path,
                     ": cannot load an unencrypted PEM private key matching tls_cert_file: ",
                     TakeOpenSslErrors()));
  }
  return absl::OkStatus();
}

// The server context for TLS mode, or nullptr (and OK) when TLS is off.
absl::StatusOr<SslCtxPtr> MakeServerTlsContext(const SimulatorOptions& o) {
  const bool have_cert = !o.tls_cert_file.empty();
  const bool have_key = !o.tls_key_file.empty();
  if (!have_cert && !have_key) return SslCtxPtr();
  if (!have_cert) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_cert_file is not set but tls_key_file=", o.tls_key_file, " is (TLS needs both)"));
  }
  if (!have_key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_key_file is not set but tls_cert_file=", o.tls_cert_file, " is (TLS needs both)"));
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", TakeOpenSslErrors()));
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_default_passwd_cb(c, &NoPassphrase);
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("TLS 1.2 minimum: ", TakeOpenSslErrors()));
  }
  if (absl::Status s = UseCertificateChain(c, o.tls_cert_file); !s.ok()) return s;
  if (absl::Status s = UsePrivateKey(c, o.tls_key_file); !s.ok()) return s;
  if (SSL_CTX_check_private_key(c) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_key_file=", o.tls_key_file, ": does not match the certificate in ",
                     "tls_cert_file=", o.tls_cert_file, ": ", TakeOpenSslErrors()));
  }
  // Peers that close without close_notify are an ordinary EOF; no
  // renegotiation (TLS 1.2), so a write never has to wait for a read.
  SSL_CTX_set_options(
      c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes, retried from wherever the (growing) output buffer now
  // lives; idle connections give their record buffers back.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  // Resumption: the built-in server session cache plus tickets (on by default).
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  static const unsigned char kSessionContext[] = "serpwow-sim";
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_alpn_select_cb(c, &SelectAlpn, nullptr);
  return ctx;
}

Clock::duration DripInterval(const Fault& fault) {
  return std::max<Clock::duration>(kMinDripInterval, ToChrono(fault.drip_interval));
}

const char* FaultName(Fault::Action action) {
  switch (action) {
    case Fault::Action::kRespond:
      return "respond";
    case Fault::Action::kDropConnection:
      return "drop-connection";
    case Fault::Action::kHang:
      return "hang";
    case Fault::Action::kStallAfterHeaders:
      return "stall-after-headers";
    case Fault::Action::kSlowDrip:
      return "slow-drip";
    case Fault::Action::kResetMidBody:
      return "reset-mid-body";
  }
  return "?";
}

struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string url_host;  // "127.0.0.1" or "[::1]"
};

absl::StatusOr<ResolvedAddress> ResolveLoopback(const std::string& host, int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", port, " is out of range 0..65535"));
  }
  ResolvedAddress out;
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    if ((ntohl(v4.s_addr) >> 24) != 127) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host '", host, "' is not a loopback address (allowed: 127.0.0.0/8, ::1, localhost)"));
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr = v4;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof(sockaddr_in);
    out.url_host = h;
    return out;
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host '", host, "' is not a loopback address (allowed: 127.0.0.0/8, ::1, localhost)"));
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = v6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof(sockaddr_in6);
    out.url_host = "[::1]";
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("host '", host,
                   "' is not a loopback address literal (allowed: 127.0.0.0/8, ::1, localhost)"));
}

absl::Status ValidateOptions(const SimulatorOptions& o) {
  auto bad_status = [](int s) { return s < 100 || s > 599; };
  if (bad_status(o.stop_idle_status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stop_idle_status=", o.stop_idle_status, " is not an HTTP status (100..599)"));
  }
  for (const auto& [name, status] :
       {std::pair<const char*, int>{"insufficient_credits_status", o.insufficient_credits_status},
        {"busy_status", o.busy_status},
        {"search_not_found_status", o.search_not_found_status},
        {"batch_limit_status", o.batch_limit_status}}) {
    if (bad_status(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, "=", status, " is not an HTTP status (100..599)"));
    }
  }
  if (bad_status(o.unknown_batch_status)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown_batch_status=", o.unknown_batch_status,
                                                   " is not an HTTP status (100..599)"));
  }
  if (o.queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("queue_delay must not be negative");
  }
  if (o.run_duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("run_duration must not be negative");
  }
  if (o.search_mutation_duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("search_mutation_duration must not be negative");
  }
  if (o.max_searches_per_batch < 0 || o.max_searches_with_html < 0 || o.max_searches_per_call < 1 ||
      o.max_page_limit < 1) {
    return absl::InvalidArgumentError(
        "max_searches_per_call and max_page_limit must be positive, max_searches_per_batch and "
        "max_searches_with_html not negative");
  }
  if (o.result_set_retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("result_set_retention must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace

class Simulator::Impl {
 public:
  explicit Impl(SimulatorOptions options) : options_(std::move(options)), api_(options_) {}

  ~Impl() {
    if (thread_.joinable()) {
      stop_.store(true);
      uint64_t one = 1;
      // The eventfd counter cannot overflow from a single write; ignore EAGAIN.
      [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
      thread_.join();
    }
  }

  absl::Status Listen();
  void StartThread() {
    thread_ = std::thread([this] {
      // OpenSSL writes to the socket with write(2), which cannot be given
      // MSG_NOSIGNAL: a TLS client that has gone away (say, before the
      // session tickets that follow the handshake are out) would raise
      // SIGPIPE and kill a host process that does not ignore it. SIGPIPE
      // from write(2) goes to the writing thread; blocked here, it stays
      // pending on this thread and the write fails with EPIPE instead.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      Run();
    });
  }

  int port() const { return port_; }
  std::string base_url() const {
    return absl::StrCat(tls_ctx_ ? "https://" : "http://", url_host_, ":", port_,
                        options_.live_prefix ? "/live" : "");
  }
  BatchApi& api() { return api_; }

  void AddFault(Fault fault) {
    absl::MutexLock lock(&mu_);
    faults_.push_back(std::move(fault));
  }
  void ClearFaults() {
    absl::MutexLock lock(&mu_);
    faults_.clear();
  }
  int64_t request_count() const {
    absl::MutexLock lock(&mu_);
    return request_count_;
  }
  std::vector<RecordedRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return {recorded_.begin(), recorded_.end()};
  }
  void ResetRequests() {
    absl::MutexLock lock(&mu_);
    request_count_ = 0;
    recorded_.clear();
  }
  int64_t connections_accepted() const { return connections_accepted_.load(); }
  int64_t tls_handshakes() const { return tls_handshakes_.load(); }
  int64_t tls_resumed_handshakes() const { return tls_resumed_handshakes_.load(); }

 private:
  enum class Phase {
    kReady,
    kDelayed,
    kHeldReply,
    kHanging,
    kStalled,
    kDripping,
    kResetAfterFlush,
    kCloseAfterFlush,
    kLingering,
  };

  struct Connection {
    uint64_t id = 0;
    UniqueFd fd;
    // TLS mode only (freed before `fd` closes; it never owns the fd).
    SslPtr ssl;
    bool handshaking = false;
    uint32_t handshake_interest = 0;    // what SSL_do_handshake waits for
    bool read_wants_write = false;      // SSL_read returned WANT_WRITE
    bool write_wants_read = false;      // SSL_write returned WANT_READ
    bool close_notify_pending = false;  // SSL_shutdown returned WANT_WRITE
    bool close_notify_done = false;
    std::string in;
    std::string out;
    size_t out_pos = 0;  // bytes of `out` already sent
    uint32_t interest = 0;
    bool read_eof = false;
    bool closed = false;
    bool continue_sent = false;
    Phase phase = Phase::kReady;
    absl::optional<Clock::time_point> deadline;
    // The request held by a fault (kDelayed..kDripping).
    Fault fault;
    ApiRequest request;
    bool keep_alive = true;
    bool head_only = false;
    std::string drip;
    size_t drip_pos = 0;
    http1::Response held_reply;  // kHeldReply

    size_t unsent() const { return out.size() - out_pos; }
  };

  enum class Io { kData, kEof, kBlocked, kError };

  void Run();
  void Dispatch(uint64_t id, uint32_t events);
  void Accept();
  void Handshake(Connection& c);
  void AnswerPlainHttpOnTlsPort(Connection& c);
  Io ReadSome(Connection& c, size_t* n);
  Io WriteSome(Connection& c, size_t* n);
  // Sends close_notify once, best effort; false while it waits for EPOLLOUT.
  bool SendCloseNotify(Connection& c);
  void OnReadable(Connection& c);
  void Pump(Connection& c);
  void Flush(Connection& c);
  void HandleRequest(Connection& c, http1::Request request);
  void RunFault(Connection& c);
  void OnTimer(Connection& c);
  void QueueResponse(Connection& c, const http1::Response& response, const std::string& note);
  http1::Response FaultOrNormalResponse(Connection& c);
  void UpdateInterest(Connection& c);
  void ArmTimer(Connection& c, Clock::time_point when);
  void CancelTimer(Connection& c);
  void Close(Connection& c);
  void Reset(Connection& c);
  int TimeoutMs() const;
  void FireTimers();
  absl::optional<Fault> TakeFault(const std::string& match_path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string StripLive(const std::string& path) const;

  const SimulatorOptions options_;
  BatchApi api_;
  UniqueFd listen_fd_;
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  int port_ = 0;
  std::string url_host_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> connections_accepted_{0};
  std::atomic<int64_t> tls_handshakes_{0};
  std::atomic<int64_t> tls_resumed_handshakes_{0};
  SslCtxPtr tls_ctx_;  // null without TLS; outlives every connection

  // Faults and the request record, shared with the public methods.
  mutable absl::Mutex mu_;
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::deque<RecordedRequest> recorded_ ABSL_GUARDED_BY(mu_);
  int64_t request_count_ ABSL_GUARDED_BY(mu_) = 0;

  // Loop-thread-only state.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::set<std::pair<Clock::time_point, uint64_t>> timers_;
  std::vector<uint64_t> closed_;
  uint64_t next_id_ = kFirstConnectionId;
  bool accept_paused_ = false;
  std::string read_buffer_ = std::string(kReadChunk, '\0');
};

absl::Status Simulator::Impl::Listen() {
  if (absl::Status s = ValidateOptions(options_); !s.ok()) return s;
  absl::StatusOr<SslCtxPtr> tls = MakeServerTlsContext(options_);
  if (!tls.ok()) return tls.status();
  tls_ctx_ = std::move(*tls);
  absl::StatusOr<ResolvedAddress> addr = ResolveLoopback(options_.host, options_.port);
  if (!addr.ok()) return addr.status();
  url_host_ = addr->url_host;
  RaiseFdLimit();  // thousands of loopback connections must fit

  const int family = addr->addr.ss_family;
  listen_fd_.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd_) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  int on = 1;
  ::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (family == AF_INET6)
    ::setsockopt(listen_fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  if (::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr->addr), addr->len) != 0) {
    int err = errno;
    return absl::UnavailableError(
        absl::StrCat("bind ", addr->url_host, ":", options_.port, ": ", ErrnoText(err)));
  }
  if (::listen(listen_fd_.get(), 4096) != 0) {
    return absl::InternalError(absl::StrCat("listen: ", ErrnoText(errno)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", ErrnoText(errno)));
  }
  port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_) return absl::InternalError(absl::StrCat("epoll_create1: ", ErrnoText(errno)));
  wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_) return absl::InternalError(absl::StrCat("eventfd: ", ErrnoText(errno)));
  for (auto [fd, id] : {std::pair<int, uint64_t>{listen_fd_.get(), kListenId},
                        std::pair<int, uint64_t>{wake_fd_.get(), kWakeId}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      return absl::InternalError(absl::StrCat("epoll_ctl: ", ErrnoText(errno)));
    }
  }
  return absl::OkStatus();
}

void Simulator::Impl::Run() {
  std::vector<epoll_event> events(kMaxEvents);
  while (!stop_.load()) {
    int n = ::epoll_wait(epoll_fd_.get(), events.data(), kMaxEvents, TimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      SERPWOW_LOG(kError, "serpwow-sim: epoll_wait: ", ErrnoText(errno));
      break;
    }
    for (int i = 0; i < n && !stop_.load(); ++i) Dispatch(events[i].data.u64, events[i].events);
    FireTimers();
    for (uint64_t id : closed_) connections_.erase(id);
    closed_.clear();
  }
  // Destroying the connections closes their sockets.
  connections_.clear();
  timers_.clear();
}

int Simulator::Impl::TimeoutMs() const {
  if (timers_.empty()) return -1;
  auto left = timers_.begin()->first - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  // Round up: waking before the deadline would only spin.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void Simulator::Impl::FireTimers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    uint64_t id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    if (id == kListenId) {
      accept_paused_ = false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenId;
      ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, listen_fd_.get(), &ev);
      continue;
    }
    auto it = connections_.find(id);
    if (it == connections_.end() || it->second->closed) continue;
    it->second->deadline.reset();
    OnTimer(*it->second);
  }
}

void Simulator::Impl::Dispatch(uint64_t id, uint32_t events) {
  if (id == kListenId) {
    Accept();
    return;
  }
  if (id == kWakeId) {
    uint64_t value = 0;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &value, sizeof(value));
    return;
  }
  auto it = connections_.find(id);
  if (it == connections_.end() || it->second->closed) return;
  Connection& c = *it->second;
  if (events & (EPOLLERR | EPOLLHUP)) {
    Close(c);
    return;
  }
  if (c.handshaking) {
    Handshake(c);
    return;
  }
  // A TLS read that must write first is retried when the socket is writable.
  if ((events & EPOLLIN) || ((events & EPOLLOUT) && c.read_wants_write)) {
    OnReadable(c);
    if (c.closed) return;
  }
  if (events & EPOLLOUT) Pump(c);
}

void Simulator::Impl::Accept() {
  while (true) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Out of fds or memory: level-triggered readiness would spin, so stop
      // watching the listener for a moment.
      SERPWOW_LOG(kWarning, "serpwow-sim: accept: ", ErrnoText(err), "; pausing accepts");
      epoll_event ev{};
      ev.data.u64 = kListenId;
      ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, listen_fd_.get(), &ev);
      if (!accept_paused_) timers_.emplace(Clock::now() + kAcceptRetry, kListenId);
      accept_paused_ = true;
      return;
    }
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->fd.reset(fd);
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (tls_ctx_) {
      ERR_clear_error();
      c->ssl.reset(SSL_new(tls_ctx_.get()));
      if (!c->ssl || SSL_set_fd(c->ssl.get(), fd) != 1) {
        SERPWOW_LOG(kWarning, "serpwow-sim: SSL_new: ", TakeOpenSslErrors());
        continue;  // `c` closes the socket
      }
      SSL_set_accept_state(c->ssl.get());
      c->handshaking = true;
      c->handshake_interest = EPOLLIN;  // the ClientHello comes first
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c->id;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      SERPWOW_LOG(kWarning, "serpwow-sim: epoll_ctl(ADD): ", ErrnoText(errno));
      continue;  // `c` closes the socket
    }
    c->interest = EPOLLIN;
    connections_accepted_.fetch_add(1);
    connections_.emplace(c->id, std::move(c));
  }
}

void Simulator::Impl::Handshake(Connection& c) {
  ERR_clear_error();
  errno = 0;
  const int r = SSL_do_handshake(c.ssl.get());
  if (r == 1) {
    c.handshaking = false;
    c.handshake_interest = 0;
    tls_handshakes_.fetch_add(1);
    if (SSL_session_reused(c.ssl.get()) == 1) tls_resumed_handshakes_.fetch_add(1);
    // The first request may already be waiting (in the socket or in OpenSSL).
    OnReadable(c);
    return;
  }
  switch (SSL_get_error(c.ssl.get(), r)) {
    case SSL_ERROR_WANT_READ:
      c.handshake_interest = EPOLLIN;
      UpdateInterest(c);
      return;
    case SSL_ERROR_WANT_WRITE:
      c.handshake_interest = EPOLLOUT;
      UpdateInterest(c);
      return;
    default:
      break;
  }
  const unsigned long first = ERR_peek_error();
  if (ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST) {
    ERR_clear_error();
    AnswerPlainHttpOnTlsPort(c);
    return;
  }
  // Usually the client gave up (unknown CA, wrong protocol) or went away.
  const int err = errno;
  const std::string why = ERR_peek_error() != 0 ? TakeOpenSslErrors()
                          : err != 0            ? ErrnoText(err)
                                                : std::string("the client closed the connection");
  SERPWOW_LOG(kDebug, "serpwow-sim: TLS handshake failed: ", why);
  Close(c);
}

void Simulator::Impl::AnswerPlainHttpOnTlsPort(Connection& c) {
  // OpenSSL has taken the first 5 bytes ("GET /"); the rest of the request is
  // left unread and drained while lingering. From here on the socket is plain.
  c.ssl.reset();
  c.handshaking = false;
  c.handshake_interest = 0;
  c.keep_alive = false;
  c.head_only = false;
  c.request = ApiRequest();
  http1::Response response;
  response.status = 400;
  response.headers = {{"Content-Type", "text/plain"}};
  response.body = absl::StrCat("Bad Request: this port speaks HTTPS only; use ", base_url(), "\n");
  QueueResponse(c, response, "(plain HTTP on the HTTPS port)");
  Flush(c);
  if (!c.closed) UpdateInterest(c);
}

Simulator::Impl::Io Simulator::Impl::ReadSome(Connection& c, size_t* n) {
  *n = 0;
  if (!c.ssl || c.phase == Phase::kLingering) {
    while (true) {
      ssize_t r = ::recv(c.fd.get(), read_buffer_.data(), read_buffer_.size(), 0);
      if (r > 0) {
        *n = static_cast<size_t>(r);
        return Io::kData;
      }
      if (r == 0) return Io::kEof;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kBlocked;
      return Io::kError;  // ECONNRESET and friends
    }
  }
  c.read_wants_write = false;
  ERR_clear_error();
  const int r = SSL_read(c.ssl.get(), read_buffer_.data(),
                         static_cast<int>(std::min<size_t>(read_buffer_.size(), INT_MAX)));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Io::kData;
  }
  switch (SSL_get_error(c.ssl.get(), r)) {
    case SSL_ERROR_WANT_READ:
      return Io::kBlocked;
    case SSL_ERROR_WANT_WRITE:
      c.read_wants_write = true;
      return Io::kBlocked;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or a bare FIN (IGNORE_UNEXPECTED_EOF)
      return Io::kEof;
    default:
      SERPWOW_LOG(kDebug, "serpwow-sim: TLS read failed: ",
                  ERR_peek_error() != 0 ? TakeOpenSslErrors() : ErrnoText(errno));
      ERR_clear_error();
      return Io::kError;
  }
}

Simulator::Impl::Io Simulator::Impl::WriteSome(Connection& c, size_t* n) {
  *n = 0;
  const char* data = c.out.data() + c.out_pos;
  if (!c.ssl) {
    while (true) {
      ssize_t r = ::send(c.fd.get(), data, c.unsent(), MSG_NOSIGNAL);
      if (r > 0) {
        *n = static_cast<size_t>(r);
        return Io::kData;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kBlocked;
      return Io::kError;  // EPIPE, ECONNRESET: the client is gone
    }
  }
  c.write_wants_read = false;
  ERR_clear_error();
  // Partial writes are on, so a large `out` goes out record by record; a
  // retry after WANT_WRITE passes the same bytes (or more), as OpenSSL needs.
  const int r =
      SSL_write(c.ssl.get(), data, static_cast<int>(std::min<size_t>(c.unsent(), INT_MAX)));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Io::kData;
  }
  switch (SSL_get_error(c.ssl.get(), r)) {
    case SSL_ERROR_WANT_WRITE:
      return Io::kBlocked;
    case SSL_ERROR_WANT_READ:
      if (c.read_eof) return Io::kError;  // nothing more will ever arrive
      c.write_wants_read = true;
      return Io::kBlocked;
    default:
      SERPWOW_LOG(kDebug, "serpwow-sim: TLS write failed: ",
                  ERR_peek_error() != 0 ? TakeOpenSslErrors() : ErrnoText(errno));
      ERR_clear_error();
      return Io::kError;
  }
}

bool Simulator::Impl::SendCloseNotify(Connection& c) {
  if (!c.ssl || c.close_notify_done) return true;
  ERR_clear_error();
  const int r = SSL_shutdown(c.ssl.get());
  if (r < 0 && SSL_get_error(c.ssl.get(), r) == SSL_ERROR_WANT_WRITE) {
    c.close_notify_pending = true;
    return false;
  }
  ERR_clear_error();  // any other failure: the close goes ahead without it
  c.close_notify_pending = false;
  c.close_notify_done = true;
  return true;
}

void Simulator::Impl::OnReadable(Connection& c) {
  // TLS: a record OpenSSL has already taken off the socket but not handed out
  // yet would never wake epoll again, so it is drained past the limit.
  auto tls_pending = [&] {
    return c.ssl && c.phase != Phase::kLingering && SSL_has_pending(c.ssl.get()) == 1;
  };
  for (int i = 0; i < kReadsPerEvent || tls_pending(); ++i) {
    size_t n = 0;
    Io io = ReadSome(c, &n);
    if (io == Io::kData) {
      if (c.phase == Phase::kLingering) continue;  // discarded
      c.in.append(read_buffer_.data(), n);
      if (c.in.size() > kMaxBufferedInput) {
        Close(c);
        return;
      }
      // A short plain read drained the socket; SSL_read returns one record
      // at a time, so only WANT_READ says that.
      if (!c.ssl && n < read_buffer_.size()) break;
      continue;
    }
    if (io == Io::kEof) {
      c.read_eof = true;
      break;
    }
    if (io == Io::kBlocked) break;
    Close(c);
    return;
  }
  if (c.phase == Phase::kLingering) {
    if (c.read_eof) Close(c);
    return;
  }
  Pump(c);
}

void Simulator::Impl::Pump(Connection& c) {
  bool input_drained = false;
  while (!c.closed && c.phase == Phase::kReady) {
    if (c.unsent() > kOutputHighWater) break;
    http1::Request request;
    http1::ParseResult r = http1::ParseRequest(c.in, &request);
    if (r.kind == http1::ParseResult::Kind::kIncomplete) {
      if (r.expect_continue && !c.continue_sent) {
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        c.continue_sent = true;
      }
      input_drained = true;
      break;
    }
    if (r.kind == http1::ParseResult::Kind::kError) {
      c.in.clear();
      c.request = ApiRequest();
      c.keep_alive = false;
      c.head_only = false;
      http1::Response response;
      response.status = r.status;
      response.headers = {{"Content-Type", "text/plain"}};
      response.body = absl::StrCat(http1::ReasonPhrase(r.status), ": ", r.reason, "\n");
      QueueResponse(c, response, "(malformed request)");
      break;
    }
    c.in.erase(0, r.consumed);
    c.continue_sent = false;
    HandleRequest(c, std::move(request));
  }
  if (c.closed) return;
  if (c.read_eof) {
    // No further request can arrive: finish what is in progress, then close.
    if (c.phase == Phase::kHanging || c.phase == Phase::kStalled) {
      Close(c);
      return;
    }
    if (c.phase == Phase::kReady && input_drained) c.phase = Phase::kCloseAfterFlush;
  }
  Flush(c);
  if (!c.closed) UpdateInterest(c);
}

void Simulator::Impl::Flush(Connection& c) {
  while (c.unsent() > 0) {
    size_t n = 0;
    Io io = WriteSome(c, &n);
    if (io == Io::kData) {
      c.out_pos += n;
      continue;
    }
    if (io == Io::kBlocked) return;
    Close(c);
    return;
  }
  c.out.clear();
  c.out_pos = 0;
  if (c.phase == Phase::kResetAfterFlush) {
    Reset(c);  // TLS: abrupt, no close_notify
  } else if (c.phase == Phase::kCloseAfterFlush) {
    if (!SendCloseNotify(c)) return;  // retried on EPOLLOUT
    if (c.read_eof) {
      Close(c);
      return;
    }
    ::shutdown(c.fd.get(), SHUT_WR);
    c.phase = Phase::kLingering;
    c.in.clear();
    ArmTimer(c, Clock::now() + kLingerTimeout);
  }
}

std::string Simulator::Impl::StripLive(const std::string& path) const {
  if (options_.live_prefix && absl::StartsWith(path, "/live/")) return path.substr(5);
  return path;
}

absl::optional<Fault> Simulator::Impl::TakeFault(const std::string& match_path) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->times == 0 || !absl::EndsWith(match_path, it->path_suffix)) continue;
    Fault fault = *it;
    if (it->times > 0 && --it->times == 0) faults_.erase(it);
    return fault;
  }
  return absl::nullopt;
}

void Simulator::Impl::HandleRequest(Connection& c, http1::Request request) {
  c.request = MakeApiRequest(request, options_.api_key);
  c.keep_alive = request.keep_alive;
  c.head_only = request.method == "HEAD";
  absl::optional<Fault> fault;
  {
    absl::MutexLock lock(&mu_);
    ++request_count_;
    // A client that misplaces "?" could put a key into the path: scrub it.
    RecordedRequest recorded;
    recorded.method = request.method;
    recorded.path = RedactSecrets(request.path);
    recorded.had_api_key = c.request.auth != ApiRequest::Auth::kMissing;
    for (const auto& [name, value] : c.request.params) {
      recorded.params.emplace_back(RedactSecrets(name), RedactSecrets(value));
    }
    recorded_.push_back(std::move(recorded));
    if (recorded_.size() > kMaxRecorded) recorded_.pop_front();
    fault = TakeFault(StripLive(request.path));
  }
  if (!fault) {
    absl::Duration hold;
    http1::Response response = api_.Handle(c.request, &hold);
    if (hold > absl::ZeroDuration()) {
      // The search call holds its batch until its reply goes (a timer, no
      // sleep): another one arriving meanwhile was, or will be, refused.
      c.held_reply = std::move(response);
      c.phase = Phase::kHeldReply;
      ArmTimer(c, Clock::now() + ToChrono(hold));
      return;
    }
    QueueResponse(c, response, "");
    return;
  }
  c.fault = std::move(*fault);
  if (c.fault.action == Fault::Action::kHang) {
    SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> fault hang");
    c.phase = Phase::kHanging;
    return;
  }
  if (c.fault.delay > absl::ZeroDuration()) {
    c.phase = Phase::kDelayed;
    ArmTimer(c, Clock::now() + ToChrono(c.fault.delay));
    return;
  }
  RunFault(c);
}

http1::Response Simulator::Impl::FaultOrNormalResponse(Connection& c) {
  if (c.fault.status == 0) return api_.Handle(c.request);
  http1::Response r;
  r.status = c.fault.status;
  r.headers = c.fault.headers;
  bool has_type = false;
  for (const auto& [name, value] : r.headers)
    has_type |= absl::EqualsIgnoreCase(name, "content-type");
  if (!has_type && !c.fault.body.empty())
    r.headers.emplace_back("Content-Type", "application/json");
  r.body = c.fault.body;
  return r;
}

void Simulator::Impl::RunFault(Connection& c) {
  c.phase = Phase::kReady;
  const std::string note = absl::StrCat("(fault ", FaultName(c.fault.action), ")");
  switch (c.fault.action) {
    case Fault::Action::kRespond:
      QueueResponse(c, FaultOrNormalResponse(c), note);
      return;
    case Fault::Action::kDropConnection:
      SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> ", note);
      SendCloseNotify(c);  // one try, never waits: a clean EOF over TLS
      Close(c);
      return;
    case Fault::Action::kHang:
      c.phase = Phase::kHanging;
      return;
    case Fault::Action::kStallAfterHeaders:
    case Fault::Action::kSlowDrip:
    case Fault::Action::kResetMidBody: {
      http1::Response r = FaultOrNormalResponse(c);
      SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> ", r.status,
                  " ", note);
      c.out += http1::SerializeHead(r, c.keep_alive);
      if (c.fault.action == Fault::Action::kStallAfterHeaders) {
        c.phase = Phase::kStalled;
      } else if (c.fault.action == Fault::Action::kResetMidBody) {
        c.out.append(r.body, 0, r.body.size() / 2);
        c.phase = Phase::kResetAfterFlush;
      } else if (r.body.empty()) {
        c.phase = c.keep_alive ? Phase::kReady : Phase::kCloseAfterFlush;
      } else {
        c.drip = std::move(r.body);
        c.drip_pos = 0;
        c.phase = Phase::kDripping;
        ArmTimer(c, Clock::now() + DripInterval(c.fault));
      }
      return;
    }
  }
}

void Simulator::Impl::OnTimer(Connection& c) {
  switch (c.phase) {
    case Phase::kDelayed:
      RunFault(c);
      break;
    case Phase::kHeldReply: {
      http1::Response response = std::move(c.held_reply);
      c.held_reply = http1::Response();
      QueueResponse(c, response, "(after the search call's hold)");
      break;
    }
    case Phase::kDripping:
      c.out.push_back(c.drip[c.drip_pos++]);
      if (c.drip_pos == c.drip.size()) {
        c.drip.clear();
        c.phase = c.keep_alive ? Phase::kReady : Phase::kCloseAfterFlush;
      } else {
        ArmTimer(c, Clock::now() + DripInterval(c.fault));
      }
      break;
    case Phase::kLingering:
      Close(c);
      return;
    default:
      return;
  }
  if (!c.closed) Pump(c);
}

void Simulator::Impl::QueueResponse(Connection& c, const http1::Response& response,
                                    const std::string& note) {
  SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> ",
              response.status, note.empty() ? "" : " ", note);
  c.out += http1::SerializeHead(response, c.keep_alive);
  if (!c.head_only) c.out += response.body;
  c.phase = c.keep_alive ? Phase::kReady : Phase::kCloseAfterFlush;
}

void Simulator::Impl::UpdateInterest(Connection& c) {
  constexpr auto kIn = static_cast<uint32_t>(EPOLLIN);
  constexpr auto kOut = static_cast<uint32_t>(EPOLLOUT);
  uint32_t want = 0;
  if (c.handshaking) {
    want = c.handshake_interest;
  } else {
    want = (c.read_eof ? 0u : kIn) | (c.unsent() > 0 ? kOut : 0u);
    if (c.read_wants_write || c.close_notify_pending) want |= kOut;
    if (c.write_wants_read) want |= kIn;
  }
  if (want == c.interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    Close(c);
    return;
  }
  c.interest = want;
}

void Simulator::Impl::ArmTimer(Connection& c, Clock::time_point when) {
  CancelTimer(c);
  timers_.emplace(when, c.id);
  c.deadline = when;
}

void Simulator::Impl::CancelTimer(Connection& c) {
  if (c.deadline) timers_.erase({*c.deadline, c.id});
  c.deadline.reset();
}

void Simulator::Impl::Close(Connection& c) {
  if (c.closed) return;
  CancelTimer(c);
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  c.ssl.reset();
  c.fd.reset();
  c.closed = true;
  closed_.push_back(c.id);
}

void Simulator::Impl::Reset(Connection& c) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;  // close() then sends RST instead of FIN
  ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  Close(c);
}

// ---------------------------------------------------------------------------

Simulator::Simulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Simulator::~Simulator() = default;

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Start(SimulatorOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  std::string origin = impl->base_url();
  if (absl::EndsWith(origin, "/live")) origin.resize(origin.size() - 5);
  impl->api().SetFilesOrigin(origin);
  impl->StartThread();
  return std::unique_ptr<Simulator>(new Simulator(std::move(impl)));
}

int Simulator::port() const { return impl_->port(); }
std::string Simulator::base_url() const { return impl_->base_url(); }

void Simulator::PutBatch(const std::string& id, BatchState state, int64_t credits_required,
                         const std::string& name) {
  impl_->api().PutBatch(id, state, credits_required, name, /*follows_timers=*/true);
}
absl::Status Simulator::SetBatchFields(const std::string& id, const std::string& json_object) {
  return impl_->api().SetBatchFields(id, json_object);
}
absl::optional<BatchSnapshot> Simulator::GetBatch(const std::string& id) const {
  return impl_->api().GetBatch(id);
}
void Simulator::RemoveBatch(const std::string& id) { impl_->api().RemoveBatch(id); }

void Simulator::SeedDemo() {
  BatchApi& api = impl_->api();
  api.PutBatch("DEMOIDLE", BatchState::kIdle, 100, "Demo 1: idle", true);
  api.PutBatch("9E867FAA", BatchState::kQueued, 200, "Demo 2: queued (200 credits)", false);
  api.PutBatch("2A6F94BB", BatchState::kRunning, 150, "Demo 3: running (150 credits)", false);
  api.PutBatch("CAC8651D", BatchState::kQueued, 50, "Demo 4: queued (50 credits)", false);
  api.PutBatch("DEMOHUGE", BatchState::kIdle, 100000000, "Demo 5: too expensive to start", true);
  // Searches and result sets to read: 9E867FAA's searches_total_count
  // follows its 200 searches; it has 3 result sets (ids 1 to 3).
  api.PutSearches("DEMOIDLE", 100).IgnoreError();
  api.PutSearches("9E867FAA", 200).IgnoreError();
  api.CompleteRuns("9E867FAA", 3).IgnoreError();
  api.CompleteRuns("DEMOIDLE", 1).IgnoreError();
  api.AddGeneratedBatches(kDemoGeneratedBatches, 1);
}

std::vector<std::string> Simulator::AddGeneratedBatches(int count, uint64_t seed) {
  return impl_->api().AddGeneratedBatches(count, seed);
}

std::string Simulator::SeedDemoDescription() {
  return "Demo batches (queued/running ones stay put until you stop or restart them):\n"
         "  DEMOIDLE  idle     stop -> error: not queued or running (HTTP 400 by default);\n"
         "                     start -> queued (reserves 100 credits), then follows the timers\n"
         "  9E867FAA  queued   stop -> idle, 200 credits refunded\n"
         "  2A6F94BB  running  stop -> idle, no refund (the run consumed its 150 credits)\n"
         "  CAC8651D  queued   stop -> idle, 50 credits refunded\n"
         "  DEMOHUGE  idle     start -> 402 insufficient credits\n"
         "  any other id       -> \"Batch with ID '...' was not found\" (HTTP 404 by default)\n"
         "  stopall stops every queued/running batch with the same refund rules;\n"
         "  GET /account shows the credits (seeding reserved 400 of them).\n"
         "  9E867FAA has 200 searches and result sets 1-3, DEMOIDLE 100 searches and\n"
         "  result set 1 (kept 14 days), with download links to this simulator.\n"
         "Plus 300 generated batches (\"Nightly rankings 0042\"...), mostly idle, so that\n"
         "  list paging, filters and sorting show; their queued and running ones follow\n"
         "  the timers and reserve their credits (10 to 55 each) too.\n";
}

int64_t Simulator::credits() const { return impl_->api().credits(); }
int64_t Simulator::batches_created() const { return impl_->api().batches_created(); }
int64_t Simulator::starts() const { return impl_->api().starts(); }
int64_t Simulator::search_calls_refused() const { return impl_->api().search_calls_refused(); }
int64_t Simulator::searches_added() const { return impl_->api().searches_added(); }
int64_t Simulator::search_count(const std::string& id) const {
  return impl_->api().search_count(id);
}
void Simulator::SetCredits(int64_t credits) { impl_->api().SetCredits(credits); }
absl::Status Simulator::PutSearches(const std::string& id, int count) {
  return impl_->api().PutSearches(id, count);
}
absl::Status Simulator::CompleteRuns(const std::string& id, int runs) {
  return impl_->api().CompleteRuns(id, runs);
}
void Simulator::AdvanceTime(absl::Duration d) { impl_->api().AdvanceTime(d); }
void Simulator::AddFault(Fault fault) { impl_->AddFault(std::move(fault)); }
void Simulator::ClearFaults() { impl_->ClearFaults(); }
int64_t Simulator::request_count() const { return impl_->request_count(); }
std::vector<RecordedRequest> Simulator::requests() const { return impl_->requests(); }
void Simulator::ResetRequests() { impl_->ResetRequests(); }
int64_t Simulator::connections_accepted() const { return impl_->connections_accepted(); }
int64_t Simulator::tls_handshakes() const { return impl_->tls_handshakes(); }
int64_t Simulator::tls_resumed_handshakes() const { return impl_->tls_resumed_handshakes(); }

}  // namespace serpwow::sim
