// WatchBatch's logic (design §2.8): one poller per watched batch per
// replica, shared by every stream on that batch, created with its first
// stream and dropped with its last. Free of gRPC types: a stream is a
// WatchSubscriber (the rpc edge's reactor).
//
// A poller reads its batch (GET /batches/{id}, one attempt per poll, mapped
// as GetBatch maps it) through the one UpstreamCaller, diffs the read with
// the previous one (watch_events.h) and hands the events to every stream of
// the batch; a RUN_COMPLETED first gets its result set (GET
// /batches/{id}/results/{rs}, as GetResultSet reads it). Polls wait on
// timers of the batch's upstream loop (SerpwowClient::RunAfter), never on a
// thread: an open stream costs no CPU between polls and has no timer of its
// own. Every read a poller makes draws on one token bucket per hub
// (WatchIntervals::poll_rate): with B batches watched each interval is at
// least B / rate, and a read that finds no token waits for one (a
// reservation), so the reads leaving the replica stay within the rate. An
// upstream 429 pauses every poll: Retry-After, else 5 s doubling to 60 s.
//
// Stream ends (OnWatchEnd, exactly once, unless Unwatch came first):
//  * OK after BATCH_DELETED (a NOT_FOUND poll), after a RUN_COMPLETED or
//    RUN_ENDED with until_run_ends, after max_duration (checked at each of
//    its batch's polls);
//  * NOT_FOUND BATCH_NOT_FOUND when the batch's first read finds none, and
//    the read's error when it is one that a retry cannot mend;
//  * UNAVAILABLE UPSTREAM_UNAVAILABLE after failure_limit of polls failing
//    without a success in between;
//  * Shutdown()'s status, at once, with every poll in flight cancelled;
//  * UNAVAILABLE SHUTTING_DOWN when its batch's upstream loop stops.
// A stream's slot under max_streams is given back before OnWatchEnd, so a
// caller that has the end can open its next stream at once.
//
// Threading: Watch, Unwatch and Shutdown from any thread; polls run on the
// batch's loop thread. A subscriber's calls come one at a time, in order,
// under its poller's lock: it must not call back into the hub from them.
// Lock order: hub, then poller, then whatever the subscriber takes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/logic/download_links.h"
#include "server/logic/upstream_caller.h"
#include "server/logic/watch_events.h"

namespace serpwow::logic {

struct WatchOptions {
  WatchIntervals intervals;
  // Open streams per replica; beyond, UNAVAILABLE GATEWAY_OVERLOADED.
  size_t max_streams = 10000;
  // A stream ends OK this long after it began (the caller resumes with
  // `since`); 0: never.
  absl::Duration max_duration = absl::Hours(1);
  // Polls of a batch failing this long without a success end its streams
  // UNAVAILABLE UPSTREAM_UNAVAILABLE.
  absl::Duration failure_limit = absl::Minutes(2);
  // The pause of every poll after a 429 without Retry-After, doubled per
  // consecutive 429 up to pause_max.
  absl::Duration pause_initial = absl::Seconds(5);
  absl::Duration pause_max = absl::Seconds(60);
  // One read's deadline.
  absl::Duration read_timeout = absl::Seconds(10);
};

// What the hub does, for metrics. Must not block.
class WatchObserver {
 public:
  virtual ~WatchObserver() = default;
  // Streams open now (after a change).
  virtual void OnWatchStreams(int64_t open) = 0;
  // A read sent by a poller: "first" (a new poller), "interval", "retry"
  // (after a failed poll), "result_set" (a RUN_COMPLETED's result set).
  virtual void OnWatchPoll(const char* reason) = 0;
};

class WatchSubscriber {
 public:
  virtual ~WatchSubscriber() = default;
  // The stream's next event; its first is a SNAPSHOT (or the events since
  // `since`). Called under the poller's lock: must not block or call the hub.
  virtual void OnWatchEvent(const WatchEvent& event) = 0;
  // The stream is over (see the top of this file); no call follows. `why`
  // (a static string, for the log line): "batch_deleted", "run_ended",
  // "max_duration", "upstream_unavailable", "read_failed", "shutdown".
  virtual void OnWatchEnd(absl::Status status, const char* why) = 0;
};

struct WatchRequest {
  std::string batch_id;  // validated
  absl::optional<serpwow::batches::v1::Batch> since;
  bool until_run_ends = false;
};

class WatchHub {
 public:
  using Clock = std::function<absl::Time()>;
  // `caller`, `links` (may be null: no result-set links are passed on) and
  // `observer` (may be null) must outlive the hub. To end it (as the
  // gateway does): Shutdown(), then stop the upstream loops, then destroy
  // the hub: a poll's reply or timer running on a loop thread calls into its
  // poller and the hub, and the destructor does not wait for one in
  // progress. (Loops that stop first end every stream with their
  // UNAVAILABLE SHUTTING_DOWN, as Shutdown() would.)
  WatchHub(
      UpstreamCaller* caller, const DownloadLinkPolicy* links, WatchOptions options,
      WatchObserver* observer = nullptr, Clock clock = [] { return absl::Now(); });
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Opens a stream: OK and `subscriber` hears its events, or the refusal
  // (GATEWAY_OVERLOADED, SHUTTING_DOWN) and it never hears anything. Its
  // first events may come on this thread, before Watch returns.
  absl::Status Watch(std::shared_ptr<WatchSubscriber> subscriber, WatchRequest request);
  // The caller went away: `subscriber` (watching `batch_id`) hears nothing
  // more once this returns; its batch's poller goes with its last stream.
  void Unwatch(const WatchSubscriber* subscriber, const std::string& batch_id);
  // Ends every stream with `status` at once, cancels every poll in flight and
  // refuses new streams with it. Idempotent.
  void Shutdown(const absl::Status& status);

  size_t streams() const { return streams_.load(std::memory_order_relaxed); }
  size_t watched_batches() const { return batches_.load(std::memory_order_relaxed); }
  const WatchOptions& options() const { return options_; }

 private:
  class Poller;
  friend class Poller;

  // The budget: when the read may be sent (0: now); reserves the token.
  absl::Duration TakeToken();
  // A 429 from SerpWow (its Retry-After when given), or a reply that is not.
  void RateLimited(absl::optional<absl::Duration> retry_after);
  void NotRateLimited();
  double Unit();  // jitter
  // Drops `poller` if it has no stream left; true when dropped.
  bool MaybeDrop(Poller* poller);
  void StreamsEnded(size_t n);

  UpstreamCaller* const caller_;
  const DownloadLinkPolicy* const links_;
  const WatchOptions options_;
  WatchObserver* const observer_;
  const Clock clock_;

  absl::Mutex budget_mu_;
  WatchBudget budget_ ABSL_GUARDED_BY(budget_mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(budget_mu_);

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Poller>> pollers_ ABSL_GUARDED_BY(mu_);
  absl::optional<absl::Status> shut_down_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> streams_{0};
  std::atomic<size_t> batches_{0};
};

}  // namespace serpwow::logic
