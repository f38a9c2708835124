// The gateway's defences against a failing upstream and against overload:
// a retry budget, a circuit breaker, and the backoff schedule. All
// thread-safe; all cheap enough for every call.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace serpwow::logic {

// Retries may be at most `ratio` of the calls seen over the last `window`
// (plus `min_retries` per window, so that a quiet gateway can still retry).
// This keeps a failing upstream from being hit by a retry storm: at worst the
// load on it grows by `ratio`.
class RetryBudget {
 public:
  RetryBudget(double ratio, int min_retries, absl::Duration window);
  // A call started (counts towards the allowance).
  void OnCall(absl::Time now);
  // Takes one retry from the budget; false when it is spent.
  bool TryRetry(absl::Time now);

 private:
  struct Bucket {
    int64_t second = 0;
    int64_t calls = 0;
    int64_t retries = 0;
  };
  Bucket& BucketFor(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double ratio_;
  const int min_retries_;
  absl::Mutex mu_;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);  // one per second of the window
};

// A circuit breaker on upstream failures (transport errors and 5xx; any
// other HTTP reply is a success: the upstream is answering).
//   closed:    calls go through; `threshold` consecutive failures -> open.
//   open:      calls fail fast for `open_for`; then half-open.
//   half-open: one trial call goes through, the others fail fast; its
//              success closes the breaker, its failure opens it again.
// threshold 0 disables the breaker.
class CircuitBreaker {
 public:
  CircuitBreaker(int threshold, absl::Duration open_for);

  // nullopt: go ahead (and, when half-open, this call is the trial). Else the
  // time until the breaker may let a trial through (for RetryInfo).
  absl::optional<absl::Duration> Admit(absl::Time now);
  // The outcome of one upstream request. `trial` ends a half-open trial.
  void Record(bool failure, absl::Time now);
  bool open(absl::Time now);

 private:
  enum class State { kClosed, kOpen, kHalfOpen };
  const int threshold_;
  const absl::Duration open_for_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mu_);
  bool trial_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // A trial that never reports (its call was cancelled first) must not keep
  // the breaker half-open forever: after `open_for` another trial may go.
  absl::Time trial_started_ ABSL_GUARDED_BY(mu_);
};

// Exponential backoff with full jitter: attempt n (1-based retry count) waits
// a uniform random time in [0, min(cap, base * 2^(n-1))], but never less than
// the upstream's hint (Retry-After / retry_after).
absl::Duration BackoffDelay(int retry, absl::Duration base, absl::Duration cap,
                            absl::optional<absl::Duration> hint, std::mt19937_64& rng);

}  // namespace serpwow::logic
