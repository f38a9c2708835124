// The simulator's HTTP server: one epoll event-loop thread, level-triggered,
// non-blocking sockets, keep-alive and pipelining, timers kept in an ordered
// set and served through epoll_wait's timeout. API semantics live in
// batch_api.cc; this file owns the sockets, the faults and the request record.
//
// Connection life cycle (Phase):
//   kReady            parse and answer buffered requests in order
//   kDelayed          a fault's delay is running; the request is held
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
#include "sim/simulator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "sim/batch_api.h"
#include "sim/http.h"
#include "sim/unique_fd.h"

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
constexpr rlim_t kWantedFdLimit = 65536;

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

// Thousands of simultaneous connections (both ends live in one process in the
// tests) need more than the common soft limit of 1024 fds. Raised once,
// process-wide, never above the hard limit.
void RaiseFdLimitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    rlim_t want =
        lim.rlim_max == RLIM_INFINITY ? kWantedFdLimit : std::min(lim.rlim_max, kWantedFdLimit);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
      lim.rlim_cur = want;
      if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
        SERPWOW_LOG(kWarning, "serpwow-sim: could not raise the fd limit: ", ErrnoText(errno));
      }
    }
  });
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
    thread_ = std::thread([this] { Run(); });
  }

  int port() const { return port_; }
  std::string base_url() const {
    return absl::StrCat("http://", url_host_, ":", port_, options_.live_prefix ? "/live" : "");
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

 private:
  enum class Phase {
    kReady,
    kDelayed,
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

    size_t unsent() const { return out.size() - out_pos; }
  };

  void Run();
  void Dispatch(uint64_t id, uint32_t events);
  void Accept();
  void OnReadable(Connection& c);
  void Pump(Connection& c);
  void Flush(Connection& c);
  void HandleRequest(Connection& c, http::Request request);
  void RunFault(Connection& c);
  void OnTimer(Connection& c);
  void QueueResponse(Connection& c, const http::Response& response, const std::string& note);
  http::Response FaultOrNormalResponse(Connection& c);
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
  absl::StatusOr<ResolvedAddress> addr = ResolveLoopback(options_.host, options_.port);
  if (!addr.ok()) return addr.status();
  url_host_ = addr->url_host;
  RaiseFdLimitOnce();

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
  if (events & EPOLLIN) {
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

void Simulator::Impl::OnReadable(Connection& c) {
  for (int i = 0; i < kReadsPerEvent; ++i) {
    ssize_t n = ::recv(c.fd.get(), read_buffer_.data(), read_buffer_.size(), 0);
    if (n > 0) {
      if (c.phase == Phase::kLingering) continue;  // discarded
      c.in.append(read_buffer_.data(), static_cast<size_t>(n));
      if (c.in.size() > kMaxBufferedInput) {
        Close(c);
        return;
      }
      if (static_cast<size_t>(n) < read_buffer_.size()) break;
      continue;
    }
    if (n == 0) {
      c.read_eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    Close(c);  // ECONNRESET and friends
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
    http::Request request;
    http::ParseResult r = http::ParseRequest(c.in, &request);
    if (r.kind == http::ParseResult::Kind::kIncomplete) {
      if (r.expect_continue && !c.continue_sent) {
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        c.continue_sent = true;
      }
      input_drained = true;
      break;
    }
    if (r.kind == http::ParseResult::Kind::kError) {
      c.in.clear();
      c.request = ApiRequest();
      c.keep_alive = false;
      c.head_only = false;
      http::Response response;
      response.status = r.status;
      response.headers = {{"Content-Type", "text/plain"}};
      response.body = absl::StrCat(http::ReasonPhrase(r.status), ": ", r.reason, "\n");
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
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_pos, c.unsent(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out_pos += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close(c);  // EPIPE, ECONNRESET: the client is gone
    return;
  }
  c.out.clear();
  c.out_pos = 0;
  if (c.phase == Phase::kResetAfterFlush) {
    Reset(c);
  } else if (c.phase == Phase::kCloseAfterFlush) {
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

void Simulator::Impl::HandleRequest(Connection& c, http::Request request) {
  c.request = MakeApiRequest(request, options_.api_key);
  c.keep_alive = request.keep_alive;
  c.head_only = request.method == "HEAD";
  absl::optional<Fault> fault;
  {
    absl::MutexLock lock(&mu_);
    ++request_count_;
    // A client that misplaces "?" could put a key into the path: scrub it.
    recorded_.push_back(RecordedRequest{request.method, RedactSecrets(request.path),
                                        c.request.auth != ApiRequest::Auth::kMissing});
    if (recorded_.size() > kMaxRecorded) recorded_.pop_front();
    fault = TakeFault(StripLive(request.path));
  }
  if (!fault) {
    QueueResponse(c, api_.Handle(c.request), "");
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

http::Response Simulator::Impl::FaultOrNormalResponse(Connection& c) {
  if (c.fault.status == 0) return api_.Handle(c.request);
  http::Response r;
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
      Close(c);
      return;
    case Fault::Action::kHang:
      c.phase = Phase::kHanging;
      return;
    case Fault::Action::kStallAfterHeaders:
    case Fault::Action::kSlowDrip:
    case Fault::Action::kResetMidBody: {
      http::Response r = FaultOrNormalResponse(c);
      SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> ", r.status,
                  " ", note);
      c.out += http::SerializeHead(r, c.keep_alive);
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

void Simulator::Impl::QueueResponse(Connection& c, const http::Response& response,
                                    const std::string& note) {
  SERPWOW_LOG(kDebug, "serpwow-sim: ", c.request.method, " ", c.request.path, " -> ",
              response.status, note.empty() ? "" : " ", note);
  c.out += http::SerializeHead(response, c.keep_alive);
  if (!c.head_only) c.out += response.body;
  c.phase = c.keep_alive ? Phase::kReady : Phase::kCloseAfterFlush;
}

void Simulator::Impl::UpdateInterest(Connection& c) {
  uint32_t want = (c.read_eof ? 0u : static_cast<uint32_t>(EPOLLIN)) |
                  (c.unsent() > 0 ? static_cast<uint32_t>(EPOLLOUT) : 0u);
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
  impl->StartThread();
  return std::unique_ptr<Simulator>(new Simulator(std::move(impl)));
}

int Simulator::port() const { return impl_->port(); }
std::string Simulator::base_url() const { return impl_->base_url(); }

void Simulator::PutBatch(const std::string& id, BatchState state, int64_t credits_required,
                         const std::string& name) {
  impl_->api().PutBatch(id, state, credits_required, name, /*follows_timers=*/true);
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
         "  GET /account shows the credits (seeding reserved 400 of them).\n";
}

int64_t Simulator::credits() const { return impl_->api().credits(); }
void Simulator::SetCredits(int64_t credits) { impl_->api().SetCredits(credits); }
void Simulator::AddFault(Fault fault) { impl_->AddFault(std::move(fault)); }
void Simulator::ClearFaults() { impl_->ClearFaults(); }
int64_t Simulator::request_count() const { return impl_->request_count(); }
std::vector<RecordedRequest> Simulator::requests() const { return impl_->requests(); }
void Simulator::ResetRequests() { impl_->ResetRequests(); }
int64_t Simulator::connections_accepted() const { return impl_->connections_accepted(); }

}  // namespace serpwow::sim
