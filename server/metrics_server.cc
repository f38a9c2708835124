#include "server/metrics_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/http1.h"
#include "common/log.h"

namespace serpwow {
namespace {

using Clock = std::chrono::steady_clock;

// epoll user data of the two fixed fds; connections count from 2.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr int kMaxEvents = 64;
// A scrape request is one line and a few headers.
constexpr http1::ParseLimits kLimits{8 * 1024, 0};
// After EMFILE/ENFILE, accepting pauses this long (level-triggered epoll
// would otherwise report the pending connection in a busy loop).
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));  // the GNU variant: thread-safe
}

}  // namespace

class MetricsServer::Loop {
 public:
  Loop(UniqueFd listen_fd, UniqueFd wake_fd, UniqueFd epoll_fd, std::function<std::string()> render,
       MetricsServerOptions options)
      : listen_fd_(std::move(listen_fd)),
        wake_fd_(std::move(wake_fd)),
        epoll_fd_(std::move(epoll_fd)),
        render_(std::move(render)),
        options_(options),
        timeout_(std::chrono::duration_cast<Clock::duration>(
            absl::ToChronoNanoseconds(options.request_timeout))) {}

  // Registers the fixed fds; before the thread starts.
  absl::Status Init() {
    if (!Watch(listen_fd_.get(), kListenId, EPOLLIN, EPOLL_CTL_ADD) ||
        !Watch(wake_fd_.get(), kWakeId, EPOLLIN, EPOLL_CTL_ADD)) {
      return absl::InternalError(absl::StrCat("metrics server: epoll_ctl: ", ErrnoText(errno)));
    }
    return absl::OkStatus();
  }

  void Run();

  // Any thread: makes Run() return.
  void Stop() {
    stop_.store(true);
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  }

 private:
  struct Connection {
    UniqueFd fd;
    // Start of the current request's deadline (accept, or end of the last
    // response).
    Clock::time_point since;
    std::string in;
    std::string out;  // unsent response bytes
    bool close_after_write = false;
    bool eof = false;  // the client has shut down its side
  };

  bool Watch(int fd, uint64_t id, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    return ::epoll_ctl(epoll_fd_.get(), op, fd, &ev) == 0;
  }
  // Reading while waiting for a request, writing while a response is unsent.
  void UpdateInterest(uint64_t id, Connection& c) {
    Watch(c.fd.get(), id, c.out.empty() ? EPOLLIN | EPOLLRDHUP : EPOLLOUT, EPOLL_CTL_MOD);
  }
  int TimeoutMs(Clock::time_point now) const;
  void Accept(Clock::time_point now);
  bool MakeRoom();
  void OnEvent(uint64_t id, uint32_t events, Clock::time_point now);
  // Reads what is there (setting c.eof at the client's FIN); false on a
  // socket error.
  bool ReadSome(Connection& c);
  // Writes what it can; false if the connection is to be closed.
  bool WriteSome(Connection& c);
  // Answers the next complete buffered request, if any, into c.out.
  void AnswerNext(Connection& c);
  void CloseExpired(Clock::time_point now);

  const UniqueFd listen_fd_;
  const UniqueFd wake_fd_;
  const UniqueFd epoll_fd_;
  const std::function<std::string()> render_;
  const MetricsServerOptions options_;
  const Clock::duration timeout_;
  std::atomic<bool> stop_{false};

  // Loop-thread-only state, by epoll id (ids are never reused).
  std::map<uint64_t, Connection> connections_;
  uint64_t next_id_ = 2;
  Clock::time_point accept_resume_{};
  bool accept_paused_ = false;
};

int MetricsServer::Loop::TimeoutMs(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  // At most max_connections entries: a scan is cheaper than keeping a heap.
  for (const auto& [id, c] : connections_) next = std::min(next, c.since + timeout_);
  if (accept_paused_) next = std::min(next, accept_resume_);
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Rounded up, so the loop does not wake just before the deadline.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
  return static_cast<int>(std::min<int64_t>(ms, 60 * 1000));
}

void MetricsServer::Loop::Run() {
  epoll_event events[kMaxEvents];
  while (!stop_.load()) {
    int n = ::epoll_wait(epoll_fd_.get(), events, kMaxEvents, TimeoutMs(Clock::now()));
    if (n < 0) {
      if (errno == EINTR) continue;
      SERPWOW_LOG(kError, "metrics server: epoll_wait failed: ", ErrnoText(errno));
      return;
    }
    const Clock::time_point now = Clock::now();
    for (int i = 0; i < n && !stop_.load(); ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) continue;  // stop_ says why
      if (id == kListenId) {
        Accept(now);
      } else {
        OnEvent(id, events[i].events, now);
      }
    }
    if (accept_paused_ && now >= accept_resume_) {
      accept_paused_ = false;
      Watch(listen_fd_.get(), kListenId, EPOLLIN, EPOLL_CTL_MOD);
    }
    CloseExpired(Clock::now());
  }
}

void MetricsServer::Loop::CloseExpired(Clock::time_point now) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    it = now >= it->second.since + timeout_ ? connections_.erase(it) : std::next(it);
  }
}

bool MetricsServer::Loop::MakeRoom() {
  if (connections_.size() < static_cast<size_t>(options_.max_connections)) return true;
  // The connection that has waited longest for (the rest of) a request,
  // counted from its accept or its last response; a connection sending a
  // response is about to be done and is kept.
  auto victim = connections_.end();
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (it->second.out.empty() &&
        (victim == connections_.end() || it->second.since < victim->second.since)) {
      victim = it;
    }
  }
  if (victim == connections_.end()) return false;
  connections_.erase(victim);
  return true;
}

void MetricsServer::Loop::Accept(Clock::time_point now) {
  for (;;) {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        SERPWOW_LOG(kWarning, "metrics server: accept: ", ErrnoText(errno), "; pausing");
        accept_paused_ = true;
        accept_resume_ = now + kAcceptPause;
        Watch(listen_fd_.get(), kListenId, 0, EPOLL_CTL_MOD);
      }
      return;  // EAGAIN: all taken
    }
    if (!MakeRoom()) continue;  // every slot is sending: `fd` is closed
    const uint64_t id = next_id_++;
    if (!Watch(fd.get(), id, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD)) continue;
    Connection& c = connections_[id];
    c.fd = std::move(fd);
    c.since = now;
  }
}

void MetricsServer::Loop::OnEvent(uint64_t id, uint32_t events, Clock::time_point now) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // evicted earlier in this batch
  Connection& c = it->second;
  bool keep = (events & EPOLLERR) == 0;
  if (keep && c.out.empty() && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) {
    keep = ReadSome(c);
    if (keep) AnswerNext(c);
    // A client that sent its request and shut down its side still gets the
    // answer; one that left mid-request does not.
    if (c.eof && c.out.empty()) keep = false;
  }
  // Write at once what was just answered; a full socket buffer leaves the
  // rest for EPOLLOUT.
  while (keep && !c.out.empty()) {
    keep = WriteSome(c);
    if (!keep || !c.out.empty()) break;
    if (c.close_after_write) {
      keep = false;
      break;
    }
    c.since = now;  // the next request's deadline starts now
    AnswerNext(c);  // a pipelined request may be waiting
    if (c.eof && c.out.empty()) keep = false;
  }
  if (!keep) {
    connections_.erase(it);
    return;
  }
  UpdateInterest(id, c);
}

bool MetricsServer::Loop::ReadSome(Connection& c) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      // Beyond the header limit the parser answers 431; no need to buffer more.
      if (c.in.size() > kLimits.max_header_bytes + sizeof(buf)) return true;
      continue;
    }
    if (n == 0) {
      c.eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

bool MetricsServer::Loop::WriteSome(Connection& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void MetricsServer::Loop::AnswerNext(Connection& c) {
  if (c.in.empty() || !c.out.empty()) return;
  http1::Request request;
  http1::ParseResult parsed = http1::ParseRequest(c.in, &request, kLimits);
  http1::Response response;
  bool keep_alive = false;
  switch (parsed.kind) {
    case http1::ParseResult::Kind::kIncomplete:
      return;
    case http1::ParseResult::Kind::kError:
      // The framing can no longer be trusted: answer and close.
      response.status = parsed.status;
      response.body = absl::StrCat(parsed.reason, "\n");
      response.headers = {{"Content-Type", "text/plain"}};
      c.in.clear();
      break;
    case http1::ParseResult::Kind::kComplete:
      c.in.erase(0, parsed.consumed);
      keep_alive = request.keep_alive;
      if (request.method != "GET") {
        response.status = 405;
        response.headers = {{"Content-Type", "text/plain"}, {"Allow", "GET"}};
        response.body = "GET only\n";
      } else if (request.path == "/metrics") {
        response.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
        response.body = render_();
      } else {
        response.status = 404;
        response.headers = {{"Content-Type", "text/plain"}};
        response.body = "try /metrics\n";
      }
      break;
  }
  c.out = http1::SerializeHead(response, keep_alive);
  c.out += response.body;
  c.close_after_write = !keep_alive;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::function<std::string()> render, MetricsServerOptions options) {
  if (options.max_connections < 1 || options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "metrics server: max_connections and request_timeout must be positive");
  }
  absl::StatusOr<HostPort> host_port =
      ParseHostPort(address, {"--metrics_listen", "0.0.0.0:9090", "[::]:9090"});
  if (!host_port.ok()) return host_port.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(host_port->port);
  if (getaddrinfo(host_port->host.c_str(), port_text.c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: cannot resolve host '", host_port->host, "'"));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> resolved(res, &freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  if (fd) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!fd || ::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd.get(), 128) != 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics_listen: cannot listen on ", address, ": ", ErrnoText(errno)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat("metrics server: getsockname: ", ErrnoText(errno)));
  }
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!wake || !epoll) {
    return absl::InternalError(absl::StrCat("metrics server: ", ErrnoText(errno)));
  }
  auto loop = std::make_unique<Loop>(std::move(fd), std::move(wake), std::move(epoll),
                                     std::move(render), options);
  if (absl::Status s = loop->Init(); !s.ok()) return s;
  std::unique_ptr<MetricsServer> server(new MetricsServer(bound_port, std::move(loop)));
  server->thread_ = std::thread([l = server->loop_.get()] { l->Run(); });
  return server;
}

MetricsServer::MetricsServer(int port, std::unique_ptr<Loop> loop)
    : port_(port), loop_(std::move(loop)) {}

MetricsServer::~MetricsServer() {
  loop_->Stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace serpwow
