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
//  - A loop has several multi handles ("pools"), made as load needs them:
//    a new transfer goes to the first pool with fewer than
//    kTransfersPerPool transfers, so a light load uses the first pool only
//    and keeps reusing its connections. The reason: to start a transfer,
//    libcurl 7.88 walks every connection its multi handle has to the host
//    (ConnectionExists), in use or not, so with thousands of transfers to
//    one upstream on one handle each start costs thousands of cache misses
//    (a 10,000-call burst spent most of its loop time there). Pools bound
//    that walk.
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
  // Idle connections kept for reuse, per pool (see the threading model).
  // libcurl's own cap
  // (CURLMOPT_MAXCONNECTS) counts connections in use too, and every
  // connection returned over it costs a scan of the whole pool to close the
  // oldest: so the loop keeps that cap at the transfers in flight plus this
  // many (SyncConnectionCap), and a burst of thousands of calls neither
  // closes the connections its next requests need nor pays a scan per reply.
  // Large enough that a burst keeps its connections for the next request.
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
  // Multi handles made so far (see the threading model); never shrinks.
  int pools() const { return pool_count_.load(std::memory_order_relaxed); }
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

  // One multi handle and what the loop tracks of it (see the threading
  // model). Its index is in the epoll data of its sockets.
  struct Pool {
    HttpLoop* loop = nullptr;
    uint32_t index = 0;
    CurlMulti multi{nullptr};
    absl::Time timer_deadline = absl::InfiniteFuture();  // libcurl's timer
    int64_t transfers = 0;                               // added and not finished
    long connection_cap = 0;                             // CURLMOPT_MAXCONNECTS as last set
  };
  // Transfers per pool before a new transfer goes to the next one.
  static constexpr int64_t kTransfersPerPool = 64;
  static constexpr size_t kMaxPools = 256;

  HttpLoop(HttpLoopOptions options, int epoll_fd, int wake_fd, int timer_fd);
  // A new pool (nullptr if libcurl cannot make a multi handle).
  Pool* AddPool();
  // The pool a new transfer goes to (see the threading model).
  Pool* PickPool();
  // Lets libcurl act on `pool`'s due timer.
  void RunPoolTimeout(Pool& pool);
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
  // Adds the transfer to a pool (PickPool) and returns it; nullptr when
  // it could not start, and has been finished with kOther.
  Pool* StartTransfer(std::unique_ptr<Transfer> transfer);
  void Finish(Transfer* transfer, HttpResult result);
  void CheckCompleted();
  void CheckCompleted(Pool& pool);
  // Sets `pool`'s connection cap to its transfers in flight plus
  // max_idle_connections (see HttpLoopOptions), when that has moved by more
  // than a small step since it was last set.
  void SyncConnectionCap(Pool& pool);
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
  std::atomic<int> pool_count_{0};

  std::atomic<std::thread::id> loop_thread_{};

  // Guards every libcurl call and the state below (see the threading model).
  absl::Mutex curl_mu_;

  // Loop state, under curl_mu_.
  std::vector<Command> local_commands_;  // queued by callbacks on the loop thread
  std::vector<Completion> completions_;  // finished; callbacks not yet run
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> transfers_;
  std::vector<std::unique_ptr<Pool>> pools_;  // at least one; only ever grows
  // Configured handles kept for reuse, at most kMaxIdleEasy.
  static constexpr size_t kMaxIdleEasy = 256;
  std::vector<CurlEasy> idle_easy_;
  absl::Time armed_ = absl::InfiniteFuture();  // the timerfd's deadline
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  uint64_t timer_seq_ = 0;
  std::thread thread_;
};

}  // namespace serpwow::upstream
