#include "server/upstream/http_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace serpwow::upstream {

struct HttpLoop::Transfer {
  TransferId id = 0;
  HttpRequest request;
  HttpCallback done;
  CurlEasy easy{nullptr};  // taken from the idle list or configured anew
  Pool* pool = nullptr;    // the pool whose multi handle it was added to, once added
  std::string body;
  size_t max_body = 0;
  bool too_large = false;
  // The reply's head, as HeaderCallback sees it (one call per complete line).
  size_t header_bytes = 0;
  bool headers_too_large = false;  // over request.max_header_bytes: aborted
  bool in_head = false;            // a status line came, its head's end not yet
  absl::Time submitted;
  CurlSlist headers;  // for a request with a body: Accept, Content-Type, Expect
  char error_buffer[CURL_ERROR_SIZE] = {};
};

namespace {

// What only the transfer knows about how it ended.
struct TransferFacts {
  bool body_too_large;     // WriteCallback refused the body (over max_body_bytes)
  bool headers_too_large;  // HeaderCallback refused the head (over max_header_bytes)
  bool in_head;            // it ended while a reply's head was arriving
};

// What a failed transfer's libcurl code means. The gateway's own aborts (a
// body or head over its limits) reach libcurl as a write error.
TransportError ClassifyCurlCode(CURLcode code, const TransferFacts& t) {
  switch (code) {
    case CURLE_OK:
      return TransportError::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::kResolve;
    case CURLE_COULDNT_CONNECT:
      return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return TransportError::kTls;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return TransportError::kConnectionLost;
    case CURLE_FILESIZE_EXCEEDED:
      return TransportError::kBodyTooLarge;
    case CURLE_WRITE_ERROR:
      if (t.body_too_large) return TransportError::kBodyTooLarge;
      return t.headers_too_large ? TransportError::kHeadersTooLarge : TransportError::kOther;
    case CURLE_OUT_OF_MEMORY:
      // libcurl 7.88 answers a header line over its line limit (100 KiB,
      // CURL_MAX_HTTP_HEADER) with CURLE_OUT_OF_MEMORY and no error text,
      // before the line reaches HeaderCallback, so the two cannot be told
      // apart by the code. The choice: inside a reply's head (after its status
      // line, before the blank line that ends it) it is taken to be the line
      // limit; anywhere else a real out-of-memory (kOther, UNAVAILABLE). A real
      // one inside a head (a process out of memory while a few header
      // allocations happen) is misnamed a bad reply; a status line itself over
      // 100 KiB is misnamed an out-of-memory. libcurl 8.6+ reports the line
      // limit as CURLE_TOO_LARGE instead, which
      // FaultTest.OversizedReplyHeadersAreABadReplyNotRetried would catch.
      return t.in_head ? TransportError::kHeadersTooLarge : TransportError::kOther;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return TransportError::kBadReply;
    case CURLE_ABORTED_BY_CALLBACK:
      return TransportError::kCancelled;
    default:
      return TransportError::kOther;
  }
}

// The header list of a request without a body (libcurl never writes to it).
curl_slist kAcceptJson = {const_cast<char*>("Accept: application/json"), nullptr};

long ClampMillis(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
  if (ms < 1) ms = 1;
  return static_cast<long>(ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpLoop>> HttpLoop::Create(HttpLoopOptions options) {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(epoll_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) {
    close(wake_fd);
    close(epoll_fd);
    return absl::InternalError(absl::StrCat("timerfd_create: ", strerror(errno)));
  }
  std::unique_ptr<HttpLoop> loop(new HttpLoop(std::move(options), epoll_fd, wake_fd, timer_fd));
  for (int fd : {wake_fd, timer_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(errno)));
    }
  }
  // One share handle for TLS sessions and DNS, used only by this loop's
  // handles and so only under curl_mu_ (hence no lock callbacks): a new
  // connection to the same upstream resumes the TLS session instead of a
  // full handshake.
  loop->share_ = curl_share_init();
  if (loop->share_ != nullptr) {
    curl_share_setopt(loop->share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(loop->share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  if (loop->AddPool() == nullptr) return absl::InternalError("curl_multi_init failed");
  loop->thread_ = std::thread([p = loop.get()] { p->Run(); });
  return loop;
}

HttpLoop::HttpLoop(HttpLoopOptions options, int epoll_fd, int wake_fd, int timer_fd)
    : options_(std::move(options)), epoll_fd_(epoll_fd), wake_fd_(wake_fd), timer_fd_(timer_fd) {}

HttpLoop::~HttpLoop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  idle_easy_.clear();
  // The multi handles must go before the share handle they reference; each
  // is cleaned up while its Pool is whole (libcurl may call the socket and
  // timer callbacks, which use the Pool, as it closes the connections).
  for (auto& pool : pools_) pool->multi = CurlMulti(nullptr);
  pools_.clear();
  if (share_ != nullptr) curl_share_cleanup(share_);
  close(timer_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

HttpLoop::Pool* HttpLoop::AddPool() {
  if (pools_.size() >= kMaxPools) return nullptr;
  auto pool = std::make_unique<Pool>();
  pool->loop = this;
  pool->index = static_cast<uint32_t>(pools_.size());
  pool->multi = CurlMulti();
  if (!pool->multi) return nullptr;
  CURLM* m = pool->multi.get();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &HttpLoop::SocketCallback);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, pool.get());
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &HttpLoop::TimerCallback);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, pool.get());
  SyncConnectionCap(*pool);
  pools_.push_back(std::move(pool));
  pool_count_.store(static_cast<int>(pools_.size()), std::memory_order_relaxed);
  return pools_.back().get();
}

HttpLoop::Pool* HttpLoop::PickPool() {
  Pool* least = pools_.front().get();
  for (const auto& pool : pools_) {
    if (pool->transfers < kTransfersPerPool) return pool.get();
    if (pool->transfers < least->transfers) least = pool.get();
  }
  // All full: a new pool, or (at kMaxPools) the least loaded.
  Pool* added = AddPool();
  return added != nullptr ? added : least;
}

void HttpLoop::RunPoolTimeout(Pool& pool) {
  pool.timer_deadline = absl::InfiniteFuture();
  int running = 0;
  curl_multi_socket_action(pool.multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
}

void HttpLoop::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;
}

bool HttpLoop::Enqueue(Command& command) {
  const bool on_loop = OnLoopThread();
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    // Once stopping, nothing drains either list: CancelAll() has taken them.
    if (stopping_) return false;
    (on_loop ? local_commands_ : commands_).push_back(std::move(command));
    // One wake-up per drain: later commands ride on the pending one. The
    // loop thread itself reaches local_commands_ before it sleeps again.
    if (!on_loop && !wake_pending_) wake = wake_pending_ = true;
  }
  if (wake) Wake();
  return true;
}

TransferId HttpLoop::Submit(HttpRequest request, HttpCallback done) {
  auto transfer = std::make_unique<Transfer>();
  transfer->id =
      next_id_.fetch_add(1, std::memory_order_relaxed) * options_.id_shards + options_.id_shard;
  transfer->request = std::move(request);
  transfer->done = std::move(done);
  transfer->submitted = absl::Now();
  const TransferId id = transfer->id;
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  // Fast path: when the loop is not busy (it holds curl_mu_ whenever it is
  // not waiting in epoll_wait), start the transfer right here, so the request
  // leaves without waking the loop thread first. TryLock never blocks: a
  // busy loop means the usual queue-and-wake path.
  if (!OnLoopThread() && curl_mu_.TryLock()) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
    }
    if (!stopping) {
      StartDirect(std::move(transfer));
      return id;
    }
    curl_mu_.Unlock();  // shutting down: Enqueue below refuses, ends it here
  }
  Command command{Command::Kind::kSubmit, id, std::move(transfer), absl::Time(), nullptr};
  if (!Enqueue(command)) {
    // The loop is shutting down: end it here, on the caller's thread.
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    HttpResult result;
    result.transfer_id = id;
    result.error = TransportError::kCancelled;
    command.transfer->done(std::move(result));
  }
  return id;
}

void HttpLoop::StartDirect(std::unique_ptr<Transfer> transfer) {
  // Let libcurl act on the new handle now (its timer is due at once): this
  // reuses a pooled connection and sends the request. Whatever completes
  // here (an immediate failure) is only queued; callbacks run on the loop.
  if (Pool* pool = StartTransfer(std::move(transfer)); pool != nullptr) RunPoolTimeout(*pool);
  CheckCompleted();
  const bool wake = !completions_.empty();
  ArmTimer(/*only_earlier=*/true);
  curl_mu_.Unlock();
  if (wake) Wake();
}

void HttpLoop::RunAfter(absl::Duration delay, std::function<void()> fn) {
  Command command{Command::Kind::kTimer, 0, nullptr, absl::Now() + delay, std::move(fn)};
  if (!Enqueue(command)) command.fn();  // shutting down: run it now, here
}

void HttpLoop::Cancel(TransferId id) {
  Command command{Command::Kind::kCancel, id, nullptr, absl::Time(), nullptr};
  Enqueue(command);  // when stopping, shutdown cancels everything anyway
}

void HttpLoop::ArmTimer(bool only_earlier) {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& pool : pools_) next = std::min(next, pool->timer_deadline);
  if (!timers_.empty()) next = std::min(next, timers_.top().when);
  if (next == armed_) return;
  // Earlier always wins: a timeout must never fire late. A later (or no)
  // deadline is only set once the armed one has passed; until then the
  // armed one costs at most a spurious wake-up, and saves a syscall for
  // every transfer whose timeout lies beyond it.
  const absl::Time now = absl::Now();
  if (!(next < armed_ || (!only_earlier && armed_ <= now))) return;
  itimerspec spec{};  // all zero: disarmed
  if (next != absl::InfiniteFuture()) {
    const int64_t ns = std::max<int64_t>(absl::ToInt64Nanoseconds(next - now), 1);
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  if (timerfd_settime(timer_fd_, 0, &spec, nullptr) == 0) armed_ = next;
}

void HttpLoop::RunDueTimers(bool all) {
  const absl::Time now = absl::Now();
  while (!timers_.empty() && (all || timers_.top().when <= now)) {
    std::function<void()> fn = std::move(const_cast<Timer&>(timers_.top()).fn);
    timers_.pop();
    fn();
  }
}

void HttpLoop::Run() {
  loop_thread_.store(std::this_thread::get_id());
  // Named, so that per-thread figures (bench --only=switches, top -H) tell
  // the upstream loops from the other threads.
  pthread_setname_np(pthread_self(), "upstream-loop");
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int running = 0;
  bool more = false;  // follow-up commands left from the last pass
  curl_mu_.Lock();
  for (;;) {
    // Sleep without curl_mu_, so that Submit() can start transfers itself.
    curl_mu_.Unlock();
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, more ? 0 : -1);
    const int wait_errno = errno;
    curl_mu_.Lock();
    if (n < 0 && wait_errno != EINTR) {
      SERPWOW_LOG(kError, "upstream loop: epoll_wait failed: ", strerror(wait_errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      // The data: the fd in the low half, its pool's index + 1 in the high
      // half (0 for the loop's own eventfd and timerfd).
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      const uint64_t tag = events[i].data.u64 >> 32;
      if (tag == 0 || tag > pools_.size()) {
        uint64_t count;  // one read resets the counter
        [[maybe_unused]] ssize_t r = read(fd, &count, sizeof(count));
        continue;
      }
      int flags = 0;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
      if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
      if (events[i].events & EPOLLERR) flags |= CURL_CSELECT_ERR;
      curl_multi_socket_action(pools_[tag - 1]->multi.get(), fd, flags, &running);
    }
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    // Callbacks may queue follow-up work (a stop after a read): start it in
    // this same pass instead of going round epoll_wait first. Bounded, so
    // that sockets are never starved.
    for (int pass = 0; pass < 4; ++pass) {
      DrainCommands();
      const absl::Time now = absl::Now();
      // By index: a timeout's callbacks never add a pool (only StartTransfer
      // does, from DrainCommands), but the loop does not rely on it.
      for (size_t p = 0; p < pools_.size(); ++p) {
        if (pools_[p]->timer_deadline <= now) RunPoolTimeout(*pools_[p]);
      }
      CheckCompleted();
      RunCompletions();
      RunDueTimers(/*all=*/false);
      if (local_commands_.empty()) break;
    }
    more = !local_commands_.empty();
    ArmTimer(/*only_earlier=*/false);
  }
  CancelAll();
  curl_mu_.Unlock();
}

void HttpLoop::DrainCommands() {
  // The loop's own commands first. A callback that queues a transfer here
  // (a stop after its read) has already told its caller the transfer's id,
  // so a cancel for it may be waiting in commands_: it must find the
  // transfer, or the transfer would be sent after the call was cancelled.
  // (The other order cannot arise: a transfer submitted from another thread
  // is cancelled from a thread other than the loop's, and in order there.)
  std::vector<Command> commands;
  commands.swap(local_commands_);
  Execute(commands);
  commands.clear();
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
    wake_pending_ = false;
  }
  Execute(commands);
}

void HttpLoop::Execute(std::vector<Command>& commands) {
  for (Command& command : commands) {
    if (command.kind == Command::Kind::kSubmit) {
      StartTransfer(std::move(command.transfer));
    } else if (command.kind == Command::Kind::kTimer) {
      timers_.push(Timer{command.when, timer_seq_++, std::move(command.fn)});
    } else {
      auto it = transfers_.find(command.id);
      if (it == transfers_.end()) continue;
      HttpResult result;
      result.error = TransportError::kCancelled;
      Finish(it->second.get(), std::move(result));
    }
  }
}

CurlEasy HttpLoop::NewConfiguredEasy() {
  CurlEasy easy;
  if (!easy) return easy;
  // Options that are the same for every transfer, set once per handle: the
  // handle is reused without curl_easy_reset, and StartTransfer sets every
  // per-transfer option each time.
  CURL* e = easy.get();
  bool ok = true;
  auto set = [&ok](CURLcode c) { ok = ok && c == CURLE_OK; };
  set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpLoop::WriteCallback));
  set(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &HttpLoop::HeaderCallback));
  // Redirects are never followed: the key must not travel to another host.
  set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!options_.ca_file.empty()) set(curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str()));
  // No proxy unless one is configured: an environment proxy would see a
  // plain http URL, key included. A configured one is a CONNECT tunnel.
  set(curl_easy_setopt(e, CURLOPT_PROXY, options_.proxy.c_str()));
  if (!options_.proxy.empty()) set(curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L));
  set(curl_easy_setopt(e, CURLOPT_USERAGENT, "serpwow-batches-gateway/0.1"));
  set(curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""));
  set(curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L));
  if (share_ != nullptr) set(curl_easy_setopt(e, CURLOPT_SHARE, share_));
  if (!ok) return CurlEasy(nullptr);
  return easy;
}

HttpLoop::Pool* HttpLoop::StartTransfer(std::unique_ptr<Transfer> transfer) {
  Transfer* t = transfer.get();
  if (!idle_easy_.empty()) {
    t->easy = std::move(idle_easy_.back());
    idle_easy_.pop_back();
  } else {
    t->easy = NewConfiguredEasy();
  }
  transfers_.emplace(t->id, std::move(transfer));
  if (!t->easy) {
    HttpResult result;
    result.error = TransportError::kOther;
    Finish(t, std::move(result));
    return nullptr;
  }
  CURL* e = t->easy.get();
  t->max_body = t->request.max_body_bytes;
  bool ok = true;
  auto set = [&ok](CURLcode c) { ok = ok && c == CURLE_OK; };
  set(curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str()));
  // The verb and the body are set for every transfer: the handle is reused,
  // and a previous POST's body or custom method must never leak into this
  // request. HTTPGET turns off any POST mode; CUSTOMREQUEST nullptr goes
  // back to libcurl's method for the mode.
  const HttpRequest& rq = t->request;
  const bool has_body = !rq.body.empty();
  if (has_body) {
    set(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size())));
    set(curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq.body.data()));
    // "Expect:" turns off the 100-continue round trip libcurl adds to larger
    // bodies; Accept as on every request (the list replaces the default one).
    bool listed = t->headers.Append("Accept: application/json") &&
                  t->headers.Append(absl::StrCat("Content-Type: ", rq.content_type).c_str()) &&
                  t->headers.Append("Expect:");
    set(listed ? CURLE_OK : CURLE_OUT_OF_MEMORY);
    set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers.get()));
  } else {
    set(curl_easy_setopt(e, CURLOPT_HTTPGET, 1L));
    set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, &kAcceptJson));
  }
  const bool custom = rq.method == HttpMethod::kPut || rq.method == HttpMethod::kDelete ||
                      (rq.method == HttpMethod::kPost && !has_body);
  set(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom ? HttpMethodName(rq.method) : nullptr));
  set(curl_easy_setopt(e, CURLOPT_PRIVATE, t));
  set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_buffer));
  set(curl_easy_setopt(e, CURLOPT_WRITEDATA, t));
  set(curl_easy_setopt(e, CURLOPT_HEADERDATA, t));
  set(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ClampMillis(t->request.timeout)));
  set(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                       ClampMillis(std::min(t->request.connect_timeout, t->request.timeout))));
  set(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(t->request.max_body_bytes)));
  // https: prefer waiting for an existing connection that may multiplex
  // (HTTP/2 via ALPN) over opening a new one. Not for plain http: HTTP/1.1
  // never multiplexes, and waiting would only delay concurrent requests.
  set(curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                       t->request.url.compare(0, 8, "https://") == 0 ? 1L : 0L));
  Pool* pool = ok ? PickPool() : nullptr;
  if (pool != nullptr && curl_multi_add_handle(pool->multi.get(), e) == CURLM_OK) {
    t->pool = pool;
    ++pool->transfers;
    SyncConnectionCap(*pool);
    return pool;
  }
  HttpResult result;
  result.error = TransportError::kOther;
  Finish(t, std::move(result));
  return nullptr;
}

size_t HttpLoop::WriteCallback(char* data, size_t size, size_t nmemb, void* transfer) {
  auto* t = static_cast<Transfer*>(transfer);
  size_t n = size * nmemb;
  if (t->body.size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

size_t HttpLoop::HeaderCallback(char* data, size_t size, size_t nitems, void* transfer) {
  auto* t = static_cast<Transfer*>(transfer);
  const size_t n = size * nitems;
  t->header_bytes += n;
  if (t->header_bytes > t->request.max_header_bytes) {
    t->headers_too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  // libcurl passes every head's status line first (HTTP/2's too, as
  // "HTTP/2 200") and the blank line that ends the head last.
  if (n >= 5 && std::memcmp(data, "HTTP/", 5) == 0) {
    t->in_head = true;
  } else if ((n == 2 && data[0] == '\r' && data[1] == '\n') || (n == 1 && data[0] == '\n')) {
    t->in_head = false;
  }
  return n;
}

void HttpLoop::SyncConnectionCap(Pool& pool) {
  // Raised at once (a connection returned while the cap is below the
  // connections in use would close an idle one the next request needs, after
  // a scan of the pool); lowered only by steps of 1/8 of the idle allowance,
  // so that a steady load does not set it on every transfer. Lowering it
  // closes nothing by itself: libcurl applies it when a connection returns.
  const long wanted = static_cast<long>(pool.transfers) + options_.max_idle_connections;
  if (wanted > pool.connection_cap ||
      pool.connection_cap - wanted > std::max<long>(1, options_.max_idle_connections / 8)) {
    pool.connection_cap = wanted;
    curl_multi_setopt(pool.multi.get(), CURLMOPT_MAXCONNECTS, pool.connection_cap);
  }
}

void HttpLoop::CheckCompleted() {
  // A pool with no transfer has no message waiting: a transfer leaves its
  // pool's count only once its message has been read, or with its handle
  // removed (which drops the message). So a loop with many pools left by a
  // burst asks libcurl only about those in use.
  for (size_t p = 0; p < pools_.size(); ++p) {
    if (pools_[p]->transfers > 0) CheckCompleted(*pools_[p]);
  }
}

void HttpLoop::CheckCompleted(Pool& pool) {
  int pending = 0;
  while (CURLMsg* msg = curl_multi_info_read(pool.multi.get(), &pending)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    char* priv = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    auto* t = reinterpret_cast<Transfer*>(priv);
    CURLcode code = msg->data.result;
    HttpResult result;
    result.curl_code = static_cast<int>(code);
    result.error = ClassifyCurlCode(code, {t->too_large, t->headers_too_large, t->in_head});
    long connects = 0;
    if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
      result.opened_connection = true;
      connections_opened_.fetch_add(connects, std::memory_order_relaxed);
    }
    if (result.error == TransportError::kNone) {
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &result.http_status);
      char* content_type = nullptr;
      if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK &&
          content_type != nullptr) {
        result.content_type = content_type;
      }
      curl_header* header = nullptr;
      if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &header) == CURLHE_OK) {
        result.retry_after = header->value;
      }
      result.body = std::move(t->body);
    } else if (MinLogLevel() <= LogLevel::kDebug) {
      // libcurl's own text, redacted: it names hosts and ports, not queries.
      SERPWOW_LOG(kDebug, "upstream transfer failed: ", TransportErrorName(result.error), " (",
                  curl_easy_strerror(code), ", libcurl code ", static_cast<int>(code),
                  "): ", t->error_buffer);
    }
    Finish(t, std::move(result));
  }
}

void HttpLoop::Finish(Transfer* t, HttpResult result) {
  Pool* pool = t->pool;
  if (pool != nullptr) {
    curl_multi_remove_handle(pool->multi.get(), t->easy.get());
    --pool->transfers;
  }
  result.transfer_id = t->id;
  result.elapsed = absl::Now() - t->submitted;
  HttpCallback done = std::move(t->done);
  if (t->easy) {
    // Kept configured for the next transfer; only the pointers into *t,
    // about to be destroyed, are cleared.
    CURL* e = t->easy.get();
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(e, CURLOPT_PRIVATE, nullptr);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, nullptr);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &kAcceptJson);  // t->headers dies with *t
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);               // forgets t's POSTFIELDS
    // At most kMaxIdleEasy are kept: a burst of thousands of transfers must
    // not leave thousands of handles (and their buffers) behind.
    if (idle_easy_.size() < kMaxIdleEasy) idle_easy_.push_back(std::move(t->easy));
  }
  transfers_.erase(t->id);  // destroys *t
  if (pool != nullptr) SyncConnectionCap(*pool);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  completions_.push_back(Completion{std::move(done), std::move(result)});
}

void HttpLoop::RunCompletions() {
  while (!completions_.empty()) {
    std::vector<Completion> ready;
    ready.swap(completions_);
    for (Completion& c : ready) c.done(std::move(c.result));
  }
}

void HttpLoop::CancelAll() {
  // Callbacks may submit more work while we cancel; Submit() ends those
  // inline once stopping_ is set, so this terminates.
  std::vector<Command> commands;
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
  }
  for (Command& command : local_commands_) commands.push_back(std::move(command));
  local_commands_.clear();
  for (Command& command : commands) {
    if (command.kind == Command::Kind::kTimer) {
      timers_.push(Timer{command.when, timer_seq_++, std::move(command.fn)});
    }
    if (command.kind != Command::Kind::kSubmit) continue;
    Transfer* t = command.transfer.get();
    transfers_.emplace(t->id, std::move(command.transfer));
  }
  while (!transfers_.empty() || !completions_.empty()) {
    while (!transfers_.empty()) {
      HttpResult result;
      result.error = TransportError::kCancelled;
      Finish(transfers_.begin()->second.get(), std::move(result));
    }
    RunCompletions();  // may submit more: Submit() ends those inline now
  }
  RunDueTimers(/*all=*/true);
}

int HttpLoop::SocketCallback(CURL* /*easy*/, curl_socket_t fd, int what, void* pool_ptr,
                             void* socket_data) {
  auto* pool = static_cast<Pool*>(pool_ptr);
  const int epoll_fd = pool->loop->epoll_fd_;
  if (what == CURL_POLL_REMOVE) {
    // libcurl calls this before it closes the socket.
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    curl_multi_assign(pool->multi.get(), fd, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.data.u64 = (static_cast<uint64_t>(pool->index) + 1) << 32 | static_cast<uint32_t>(fd);
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev.events |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev.events |= EPOLLOUT;
  int op = socket_data != nullptr ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) {
    // Our bookkeeping and the kernel's disagree (fd reuse): try the other op.
    op = (op == EPOLL_CTL_ADD) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epoll_fd, op, fd, &ev) != 0) return -1;
  }
  static char registered;
  curl_multi_assign(pool->multi.get(), fd, &registered);
  return 0;
}

int HttpLoop::TimerCallback(CURLM* /*multi*/, long timeout_ms, void* pool_ptr) {
  auto* pool = static_cast<Pool*>(pool_ptr);
  pool->timer_deadline =
      timeout_ms < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Milliseconds(timeout_ms);
  return 0;
}

}  // namespace serpwow::upstream
