// The one upstream caller every RPC goes through, and the base of every
// RPC's upstream work (Operation). Free of gRPC types.
//
// UpstreamCaller holds what protects SerpWow as a whole, shared by all RPCs:
// the bound on calls in flight, the circuit breaker (resilience.h; it counts
// calls, fed with each call's last upstream result) and the retry budget.
// It also keeps every call in flight, so that a shutdown can wait for them
// and end the stragglers.
//
// An Operation is one RPC's upstream work. A subclass validates its input
// (Validate: nothing is sent when it fails), then sends its requests with
// Send(), one phase at a time, and ends with End(). Send() runs one request
// with the attempts its endpoint's effect class allows (endpoints.h), each
// decided from the classifier's Verdict (outcome.h):
//   read, idempotent: retried on unavailable-class failures and 429;
//   stop:             retried on unavailable-class failures (the stop flow
//                     reconciles the ambiguous ones);
//   not idempotent:   retried only when nothing was sent, or on a 429 from a
//                     route SerpWow wants sent one at a time (endpoints.h:
//                     the search calls; their 429 means nothing applied).
// Retries stay within the caller's deadline and the phase's own deadline,
// take a token from the retry budget, and wait a jittered exponential
// backoff that honours Retry-After and a body's retry_after. Each attempt's
// timeout is the time left, capped; it runs on the loop of the request's
// shard key, and so do its retries and the phase's callback.
//
// Threading: Start() and Cancel() may be called from any thread; every
// phase callback runs on the upstream loop thread of the request's shard
// key, one at a time. The `ended` callback runs exactly once: on the thread
// that calls Start() when the call ends at once (invalid input, overload,
// open breaker), in Cancel(), or on the loop thread.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/logic/outcome.h"
#include "server/logic/resilience.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow::logic {

struct CallerOptions {
  // RetryInfo delay for a 429 that gives no hint.
  absl::Duration default_rate_limit_delay = absl::Seconds(1);
  // Attempts per request (per phase), first one included.
  int max_attempts = 3;
  absl::Duration backoff_base = absl::Milliseconds(50);
  absl::Duration backoff_cap = absl::Seconds(1);
  // Retries may be at most this share of calls over the window, plus a floor.
  double retry_budget_ratio = 0.1;
  int retry_budget_min = 10;
  absl::Duration retry_budget_window = absl::Seconds(10);
  // breaker.open_for 0 disables the breaker.
  BreakerOptions breaker;
  // Calls in flight at once; beyond, calls fail fast.
  size_t max_in_flight = 4096;
};

// One phase of a call (a read, a stop...), for the call's log line.
struct PhaseTrace {
  const char* label = "";
  int attempts = 0;
  long http_status = 0;  // the last attempt's; 0: no HTTP reply
};

// What happened upstream during one call.
struct CallTrace {
  absl::InlinedVector<PhaseTrace, 3> phases;
  bool reconciled = false;       // answered after a confirming read
  absl::Duration upstream_time;  // summed over every upstream request
  // What the request_id table decided (request_dedupe.h): "first", "waited",
  // "stored", "reused"; nullptr when the call carried no request_id.
  const char* dedupe = nullptr;
};

class Operation;

// UNAVAILABLE SHUTTING_DOWN: the gateway is going away, retry on another
// instance; ErrorInfo metadata batch_id when `batch_id` is not empty.
absl::Status ShuttingDownError(const std::string& batch_id);

// UNKNOWN OUTCOME_UNKNOWN: `what` ("the start of batch X") may or may not
// have happened and the gateway could not find out; `why` says what got in
// the way. ErrorInfo metadata batch_id when not empty.
absl::Status OutcomeUnknownError(const std::string& batch_id, const std::string& what,
                                 const std::string& why);

class UpstreamCaller {
 public:
  // `client` must outlive the caller and every operation.
  UpstreamCaller(upstream::SerpwowClient* client, CallerOptions options);

  // Calls started and not yet ended.
  size_t in_flight() const;
  // Ends every call in flight with `status` (at the end of a shutdown's
  // grace period: UNAVAILABLE, retry elsewhere).
  void CancelAll(const absl::Status& status);

  const CallerOptions& options() const { return options_; }
  upstream::SerpwowClient& client() const { return *client_; }

  // Runs after every upstream reply (or failure) of a request that is not a
  // read (endpoints.h): whatever it changed, a cached read may now be stale
  // (the List cache, list_pacer.h). Set once, before the first call; runs
  // on the loop thread and must not block.
  void SetMutationListener(std::function<void()> listener) {
    mutation_listener_ = std::move(listener);
  }

 private:
  friend class Operation;
  // Registers `op`, or the fail-fast answer (overload, open breaker).
  absl::Status Admit(const std::shared_ptr<Operation>& op, bool* breaker_trial);
  void Unregister(Operation* op);
  // Feeds the breaker with one call's outcome (its last upstream result).
  void RecordCall(const Verdict& last, bool trial);
  absl::Duration Jitter(int retry, absl::optional<absl::Duration> hint);

  upstream::SerpwowClient* const client_;
  const CallerOptions options_;
  std::function<void()> mutation_listener_;
  RetryBudget retry_budget_;
  CircuitBreaker breaker_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
  mutable absl::Mutex mu_;
  std::unordered_map<Operation*, std::weak_ptr<Operation>> live_ ABSL_GUARDED_BY(mu_);
};

class Operation : public std::enable_shared_from_this<Operation> {
 public:
  using Ended = std::function<void(absl::Status, const CallTrace&)>;

  virtual ~Operation() = default;
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // Validates, admits and begins `op`; `ended` runs exactly once (see the
  // threading note above). When it reports OK, the subclass's result is set.
  static void Start(const std::shared_ptr<Operation>& op, Ended ended);

  // Ends the call now with `status` (CANCELLED, DEADLINE_EXCEEDED or
  // UNAVAILABLE at shutdown) unless it already ended, and aborts the
  // transfer in flight. `ended` runs on the calling thread.
  void Cancel(absl::Status status);

  // The batch the call is about, once Validate() accepted it ("" before, and
  // for invalid input): safe to log.
  const std::string& batch_id() const { return batch_id_; }

 protected:
  // The end of one phase: the last attempt's result and its verdict.
  struct PhaseOutcome {
    upstream::HttpResult result;
    Verdict verdict;
    // Attempts made; 0 when there was no time for the first one.
    int attempts = 0;
    // A scheduled retry found no time left when it was due (the phase then
    // ends with the previous attempt's result).
    bool out_of_time = false;
    // Some attempt was retryable and may have been carried out
    // (Verdict::retryable && maybe_applied): a lost reply, the gateway's
    // own timeout, a 5xx.
    bool any_ambiguous = false;
    // The last attempt's timeout was the caller's deadline, not a cap.
    bool deadline_binds = false;
  };
  // A subclass's member that takes a phase's outcome, e.g.
  // Done(&StopBatchOperation::OnRead). A member pointer, not a closure: the
  // phase holds no reference to the operation (the transfer's callback and
  // the retry timer keep it alive while a phase is under way).
  using PhaseDone = void (Operation::*)(PhaseOutcome);
  template <typename Derived>
  static PhaseDone Done(void (Derived::*member)(PhaseOutcome)) {
    return static_cast<PhaseDone>(member);
  }

  // Below this, an attempt is not worth starting.
  static constexpr absl::Duration kMinAttemptTime = absl::Milliseconds(20);

  Operation(UpstreamCaller* caller, absl::Time deadline);

  // Checks the caller's input (and sets batch_id_ when it names a batch); an
  // error ends the call at once, nothing sent.
  virtual absl::Status Validate() = 0;
  // Sends the first request (or ends the call). Runs after admission.
  virtual void Begin() = 0;
  // Runs `request` as one phase named `label` (the log line's
  // "upstream_<label>_status"): attempts per its endpoint's effect class (at
  // most `max_attempts`, 0: the configured number), each with a timeout of
  // the time left before min(phase_deadline, the call's deadline), capped by
  // `timeout_cap`. `done` runs on the loop thread unless the call has ended.
  // A transfer ended by the loop's shutdown ends the call UNAVAILABLE
  // (SHUTTING_DOWN) instead.
  void Send(const char* label, upstream::UpstreamRequest request, absl::Time phase_deadline,
            absl::Duration timeout_cap, PhaseDone done, int max_attempts = 0);

  // Ends the call with `status` (set the result first when OK); false if it
  // had already ended. Call it from Validate/Begin or a phase callback.
  bool End(absl::Status status);

  void MarkReconciled();
  // Records the request_id table's decision (a static string; CallTrace).
  void NoteDedupe(const char* decision);
  // Called once when the call ends (by End or Cancel), with its final status,
  // before the `ended` callback, on the thread that ends it, with no lock
  // held. For an OK status the subclass's result is complete. For operations
  // that registered with something shared and must let go (a List flight
  // others wait on, a request_id's waiters).
  virtual void OnFinished(const absl::Status& status) { (void)status; }
  // Whether a not-idempotent request of this call was handed to the loop
  // (so it may have reached SerpWow), or MarkEffectSubmitted() was called
  // (a call whose answer depends on another call's such request). Such a
  // call never answers SHUTTING_DOWN: when a shutdown ends it, it answers
  // UNKNOWN OUTCOME_UNKNOWN instead (Cancel and the loop's shutdown both),
  // so that UNAVAILABLE keeps meaning "nothing was applied".
  bool effect_submitted() const;
  void MarkEffectSubmitted();
  // What `effect` words the OUTCOME_UNKNOWN answer at shutdown uses ("the
  // start of batch X"); default "the call".
  virtual std::string EffectWords() const { return "the call"; }
  absl::Time deadline() const { return deadline_; }
  const CallerOptions& options() const { return caller_->options_; }
  const upstream::UpstreamOptions& upstream_options() const { return caller_->client_->options(); }
  // The classifier's context for this call's batch.
  ClassifyContext Context(const std::string& batch_id, bool deadline_binds) const;

  std::string batch_id_;  // set by Validate()

 private:
  struct Phase {
    const char* label = "";
    upstream::UpstreamRequest request;
    absl::Time deadline;
    absl::Duration timeout_cap;
    int max_attempts = 0;
    PhaseDone done = nullptr;
    PhaseOutcome outcome;
  };
  void Attempt();
  void OnAttempt(upstream::HttpResult result, bool deadline_binds);
  void FinishPhase();
  // Records that `id` ended; false if the call already ended.
  bool TransferEnded(upstream::TransferId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // SHUTTING_DOWN unless effect_submitted() (see there).
  absl::Status AtShutdown(absl::Status status) const;

  UpstreamCaller* const caller_;
  const absl::Time deadline_;

  // Loop-thread state (one callback at a time touches these).
  Phase phase_;
  Verdict last_verdict_;  // of the newest upstream result: the call's outcome
  bool breaker_trial_ = false;

  mutable absl::Mutex mu_;
  Ended ended_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The transfer in flight (0: none), and the newest one whose result came
  // back: a submit must not record a transfer that already ended.
  upstream::TransferId transfer_ ABSL_GUARDED_BY(mu_) = 0;
  upstream::TransferId completed_ ABSL_GUARDED_BY(mu_) = 0;
  CallTrace trace_ ABSL_GUARDED_BY(mu_);
  bool effect_submitted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace serpwow::logic
