// StopBatch, the service logic: validate, read the batch, stop it, retry what
// is safe to retry, and say honestly whether credits were refunded. Free of
// gRPC types.
//
// Refund rule. SerpWow's stop reply documents no refund signal, so the
// stopper reads the batch (GET /batches/{id}) just before stopping it:
//  - the stop reply says whether credits were refunded -> that (STOP_REPLY);
//  - else the read saw queued -> refunded; running -> not (PRE_READ);
//  - else (the read failed, or saw idle and the stop still succeeded because
//    the batch was started in between) -> not known, reported as false with
//    basis UNKNOWN.
// The stop call is always made, whatever the read said: the upstream decides.
// Race: the scheduler may move the batch from queued to running between the
// read and the stop (milliseconds apart); the gateway then reports a refund
// that did not happen. No documented API closes that window.
//
// Time: the read phase may use at most `read_share` of the caller's remaining
// time (and at most `read_timeout_cap`), so that the stop always keeps time
// of its own; if the read fails or times out the stop goes ahead without it.
//
// Retries (all within the caller's deadline, each taken from a shared retry
// budget, with jittered exponential backoff that honours Retry-After and a
// body's retry_after):
//  - the read: on connect failures, lost connections, 429 and 500/502/503/504;
//  - the stop: on connect failures (nothing was sent), and on lost
//    connections, the gateway's own timeout and 500/502/503/504 (the stop may
//    or may not have happened: the attempt is "ambiguous").
// Truthful answers after a retry: when a retried stop hears "not queued or
// running" after an ambiguous attempt, an earlier attempt probably did stop
// the batch. The stopper then re-reads it: idle (or unreadable) -> OK with
// the status first seen and its refund; queued or running again -> the
// refusal (FAILED_PRECONDITION) stands. And when the attempts run out with
// the last one ambiguous too (every reply lost, timed out or 5xx after
// sending), while time remains and the pre-read saw the batch queued or
// running, one more read decides: idle -> OK with the status first seen and
// its refund (logged as reconciled); anything else -> the failure stands.
//
// Overload: at most `max_in_flight` operations at once; beyond that calls
// fail fast with UNAVAILABLE (reason GATEWAY_OVERLOADED) instead of queueing.
// A circuit breaker (resilience.h) counts calls, not attempts: it opens only
// when, over its window, enough calls ended in the unavailable class (see
// outcome.h's Verdict); while open, calls fail fast with UNAVAILABLE (reason
// CIRCUIT_OPEN) and a RetryInfo until its trial calls succeed.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/logic/outcome.h"
#include "server/logic/resilience.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow::logic {

enum class RefundBasis { kStopReply, kPreRead, kUnknown };

struct StopBatchResult {
  std::string batch_id;
  BatchStatus previous_status = BatchStatus::kUnknown;
  bool credits_refunded = false;
  RefundBasis refund_basis = RefundBasis::kUnknown;
  std::string message;
};

struct StopperOptions {
  double read_share = 0.5;
  absl::Duration read_timeout_cap = absl::Seconds(3);
  absl::Duration default_rate_limit_delay = absl::Seconds(1);
  // Attempts per phase (read, stop), first one included.
  int max_attempts = 3;
  absl::Duration backoff_base = absl::Milliseconds(50);
  absl::Duration backoff_cap = absl::Seconds(1);
  // Retries may be at most this share of calls over the window, plus a floor.
  double retry_budget_ratio = 0.1;
  int retry_budget_min = 10;
  absl::Duration retry_budget_window = absl::Seconds(10);
  // breaker.open_for 0 disables the breaker.
  BreakerOptions breaker;
  // Operations in flight at once; beyond, calls fail fast.
  size_t max_in_flight = 4096;
};

// What happened upstream during one operation, for the per-call log line.
struct StopTrace {
  long read_http_status = 0;  // the last read's status; 0: no HTTP reply
  long stop_http_status = 0;  // the last stop's status; 0: no HTTP reply
  int read_attempts = 0;
  int stop_attempts = 0;
  bool reconciled = false;       // answered after a confirming re-read
  absl::Duration upstream_time;  // summed over every upstream request
};

using StopDone = std::function<void(absl::StatusOr<StopBatchResult>, const StopTrace&)>;

class BatchStopper;

// One StopBatch in progress. Thread-safe.
class StopOperation : public std::enable_shared_from_this<StopOperation> {
 public:
  // Ends the operation now with `status` (CANCELLED or DEADLINE_EXCEEDED)
  // unless it already ended; aborts the transfer in flight. `done` runs on the
  // calling thread.
  void Cancel(absl::Status status);

 private:
  friend class BatchStopper;

  StopOperation(BatchStopper* owner, std::string batch_id, absl::Time deadline, StopDone done);
  void Start();
  void StartRead();
  void StartStop();
  void StartConfirm();
  void OnRead(upstream::HttpResult result);
  void OnStop(upstream::HttpResult result, bool deadline_binds);
  void OnConfirm(upstream::HttpResult result);
  // Schedules `next` after a backoff if the attempt budget, the retry budget
  // and the time left allow; false (and nothing scheduled) otherwise.
  bool MaybeRetry(int attempts_so_far, absl::Time phase_deadline,
                  absl::optional<absl::Duration> hint, void (StopOperation::*next)());
  // Submits a call and records its id; cancels it at once if the operation
  // ended meanwhile. The result may arrive (on the loop thread) before Call()
  // even returns here.
  void Submit(upstream::Endpoint endpoint, absl::Duration timeout, upstream::HttpCallback callback);
  // Notes what an upstream result said (loop thread), for the breaker.
  void Observe(const upstream::HttpResult& result, bool deadline_binds);
  // Records that `id` ended; false if the operation already ended.
  bool TransferEnded(upstream::TransferId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `done` once; returns false if the operation had already ended.
  bool Complete(absl::StatusOr<StopBatchResult> result);
  StopBatchResult Stopped(std::string message, absl::optional<bool> reply_refund) const;
  ClassifyContext Context(bool deadline_binds) const;

  BatchStopper* const owner_;
  const std::string batch_id_;
  const absl::Time deadline_;
  absl::Time read_deadline_;

  // Loop-thread state (one callback at a time touches these).
  BatchStatus seen_ = BatchStatus::kUnknown;
  bool ambiguous_stop_ = false;  // an earlier stop attempt may have taken effect
  // The answer being confirmed by a read: the "not stoppable" refusal of a
  // retried stop, or (confirm_lost_reply_) the failure of a stop whose every
  // attempt may have been carried out with its reply lost.
  absl::Status refusal_;
  bool confirm_lost_reply_ = false;
  Verdict last_verdict_;        // of the newest upstream result: the call's outcome
  bool breaker_trial_ = false;  // admitted as a half-open trial

  absl::Mutex mu_;
  StopDone done_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The transfer in flight (0: none), and the newest one whose result came
  // back: Submit() must not record a transfer that already ended.
  upstream::TransferId transfer_ ABSL_GUARDED_BY(mu_) = 0;
  upstream::TransferId completed_ ABSL_GUARDED_BY(mu_) = 0;
  StopTrace trace_ ABSL_GUARDED_BY(mu_);
};

class BatchStopper {
 public:
  // `client` must outlive the stopper and every operation.
  BatchStopper(upstream::SerpwowClient* client, StopperOptions options);

  // Starts a stop. An invalid id ends at once with INVALID_ARGUMENT (`done`
  // runs before Stop returns) and sends nothing upstream; so do the fail-fast
  // answers (overload, open breaker). Otherwise `done` runs exactly once, on
  // the upstream loop thread or in Cancel().
  std::shared_ptr<StopOperation> Stop(const std::string& batch_id, absl::Time deadline,
                                      StopDone done);

  // Operations started and not yet ended.
  size_t in_flight() const;
  // Ends every operation in flight with `status` (used at the end of a
  // shutdown grace period: UNAVAILABLE, retry elsewhere).
  void CancelAll(const absl::Status& status);

  const StopperOptions& options() const { return options_; }

 private:
  friend class StopOperation;
  void Unregister(StopOperation* op);
  // Feeds the breaker with one call's outcome (its last upstream result).
  void RecordCall(const Verdict& last, bool trial);
  absl::Duration Jitter(int retry, absl::optional<absl::Duration> hint);

  upstream::SerpwowClient* const client_;
  const StopperOptions options_;
  RetryBudget retry_budget_;
  CircuitBreaker breaker_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
  mutable absl::Mutex mu_;
  std::unordered_map<StopOperation*, std::weak_ptr<StopOperation>> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::logic
