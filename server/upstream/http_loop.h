// HttpLoop: libcurl's multi interface driven by our own epoll event loop.
//
// Threading model (the whole upstream side of the gateway):
//  - One HttpLoop owns one thread, one CURLM and one epoll instance (with an
//    eventfd for wake-ups and a timerfd for libcurl's and our own timers).
//    libcurl's socket and timer callbacks tell the loop which fds to watch
//    and when to time out (curl_multi_socket_action), so the cost of an event
//    is independent of how many transfers are in flight.
//  - Every libcurl call is made holding curl_mu_. The loop thread holds it
//    except while it waits in epoll_wait.
//  - Submit() may be called from any thread (gRPC threads). If curl_mu_ is
//    free (TryLock: never waits), it starts the transfer on the calling
//    thread, so the request goes out without a thread hop; otherwise it
//    queues a command and wakes the loop through the eventfd. Cancel() and
//    RunAfter() always queue. None of them blocks on network I/O or on the
//    loop.
//  - Every submitted transfer ends with exactly one call of its callback, on
//    the loop thread: completed, failed, cancelled, or aborted by shutdown.
//    Callbacks must be short and must not block; they may call Submit() and
//    Cancel() (re-entrancy is fine: commands are queued).
//  - Connections (and TLS sessions) are kept in the multi handle's pool and
//    reused across transfers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/upstream/curl_handles.h"
#include "server/upstream/http_types.h"

namespace serpwow::upstream {

struct HttpLoopOptions {
  // Idle connections kept for reuse (CURLMOPT_MAXCONNECTS).
  // Large enough that a burst of concurrent calls keeps its connections
  // for the next request instead of closing and reopening them.
  long max_idle_connections = 1024;
  // Optional CA bundle for https upstreams (empty: the system store).
  std::string ca_file;
  // A proxy for an https upstream, used as a CONNECT tunnel (it sees the
  // host, never a URL, so never the key). Empty: no proxy at all, whatever
  // http_proxy, https_proxy or all_proxy in the environment say. A plain http
  // upstream never goes through a proxy (the gateway refuses the setting).
  std::string proxy;
  // When several loops share the work (see SerpwowClient), loop `id_shard`
  // of `id_shards` hands out ids congruent to id_shard modulo id_shards, so
  // an id names its loop. Ids still increase in submission order per loop.
  uint32_t id_shard = 0;
  uint32_t id_shards = 1;
};

class HttpLoop {
 public:
  // Starts the loop thread. Requires curl_global_init() to have run.
  static absl::StatusOr<std::unique_ptr<HttpLoop>> Create(HttpLoopOptions options);

  // Ends every pending transfer with kCancelled (callbacks run on the loop
  // thread before it exits), then joins it.
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  // Starts a request. `done` runs exactly once on the loop thread. Thread-safe.
  TransferId Submit(HttpRequest request, HttpCallback done);

  // Aborts a transfer if it is still pending; its callback then runs with
  // kCancelled. A finished or unknown id is ignored. Thread-safe.
  void Cancel(TransferId id);

  // Runs `fn` on the loop thread after `delay` (retry backoff). Thread-safe.
  // At shutdown, timers not yet due run at once (their Submit()s then end as
  // kCancelled), so work waiting on a timer is never silently dropped.
  void RunAfter(absl::Duration delay, std::function<void()> fn);

  // Transfers submitted and not yet completed.
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // New upstream connections opened since start (TCP connects).
  int64_t connections_opened() const { return connections_opened_.load(std::memory_order_relaxed); }

 private:
  struct Transfer;
  struct Command {
    enum class Kind { kSubmit, kCancel, kTimer } kind;
    TransferId id;
    std::unique_ptr<Transfer> transfer;  // for kSubmit
    absl::Time when;                     // for kTimer
    std::function<void()> fn;            // for kTimer
  };
  struct Timer {
    absl::Time when;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Timer& other) const {
      return when != other.when ? when > other.when : seq > other.seq;
    }
  };

  struct Completion {
    HttpCallback done;
    HttpResult result;
  };

  HttpLoop(HttpLoopOptions options, int epoll_fd, int wake_fd, int timer_fd);
  void Run();
  // Submit()'s fast path; called holding curl_mu_, releases it.
  void StartDirect(std::unique_ptr<Transfer> transfer);
  // Sets the timerfd to the earliest of libcurl's and our timers (see .cc).
  void ArmTimer(bool only_earlier);
  // Runs the callbacks of finished transfers (loop thread only).
  void RunCompletions();
  void Wake();
  void DrainCommands();
  void Execute(std::vector<Command>& commands);
  // Queues a command: onto the loop's own list when called on the loop thread
  // (from a callback: no wake-up needed), else onto commands_ with a wake-up.
  // Returns false (and leaves `command` untouched) when stopping.
  bool Enqueue(Command& command);
  bool OnLoopThread() const { return std::this_thread::get_id() == loop_thread_.load(); }
  // A new easy handle with every option that does not change per transfer.
  CurlEasy NewConfiguredEasy();
  void StartTransfer(std::unique_ptr<Transfer> transfer);
  void Finish(Transfer* transfer, HttpResult result);
  void CheckCompleted();
  void CancelAll();
  void RunDueTimers(bool all);

  static int SocketCallback(CURL* easy, curl_socket_t fd, int what, void* loop, void* socket_data);
  static int TimerCallback(CURLM* multi, long timeout_ms, void* loop);
  static size_t WriteCallback(char* data, size_t size, size_t nmemb, void* transfer);
  // Counts the reply head's bytes against HttpRequest::max_header_bytes and
  // tracks whether a head is arriving (see ClassifyCurlCode).
  static size_t HeaderCallback(char* data, size_t size, size_t nitems, void* transfer);

  const HttpLoopOptions options_;
  const int epoll_fd_;
  const int wake_fd_;
  const int timer_fd_;
  CurlMulti multi_;
  CURLSH* share_ = nullptr;

  absl::Mutex mu_;
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // An eventfd write is on its way and the loop has not drained commands_
  // since: further commands need no wake-up of their own.
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<TransferId> next_id_{1};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> connections_opened_{0};

  std::atomic<std::thread::id> loop_thread_{};

  // Guards every libcurl call and the state below (see the threading model).
  absl::Mutex curl_mu_;

  // Loop state, under curl_mu_.
  std::vector<Command> local_commands_;  // queued by callbacks on the loop thread
  std::vector<Completion> completions_;  // finished; callbacks not yet run
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> transfers_;
  // Configured handles kept for reuse, at most kMaxIdleEasy.
  static constexpr size_t kMaxIdleEasy = 256;
  std::vector<CurlEasy> idle_easy_;
  absl::Time timer_deadline_ = absl::InfiniteFuture();  // libcurl's timer
  absl::Time armed_ = absl::InfiniteFuture();           // the timerfd's deadline
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  uint64_t timer_seq_ = 0;
  std::thread thread_;
};

}  // namespace serpwow::upstream
