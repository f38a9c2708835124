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

struct BreakerOptions {
  // Calls are counted over this sliding window (1 s granularity).
  absl::Duration window = absl::Seconds(10);
  // The breaker never opens on fewer calls than this in the window.
  int min_calls = 20;
  // ...and opens when at least this share of them failed.
  double failure_ratio = 0.5;
  // How long it stays open before trial calls go through; 0 disables the
  // breaker.
  absl::Duration open_for = absl::Seconds(5);
  // Trial calls let through when half-open; all must succeed to close it.
  int half_open_trials = 3;
};

// A circuit breaker over SerpWow as a whole, counting *calls* (one RPC's
// upstream work, whatever its retries), in the manner of resilience4j's
// count-in-window breaker with a minimum number of calls, so that one batch
// whose requests keep failing cannot black out the gateway for the others.
// A call is a failure when it ended in the unavailable class (transport
// errors, 500/502/503/504, the gateway's own upstream timeout: see
// outcome.h's Verdict); any other upstream answer is a success; a call that
// never got an upstream answer for another reason (invalid input, cancelled,
// the caller's own deadline) is not recorded at all.
//   closed:    calls go through; when, over `window`, at least `min_calls`
//              finished and at least `failure_ratio` of them failed -> open.
//   open:      calls fail fast for `open_for`; then half-open.
//   half-open: up to `half_open_trials` trial calls go through, the others
//              fail fast; when every trial succeeded it closes (with an empty
//              window), when one fails it opens again. Trials that never
//              report (their call was cancelled) free their slot after
//              `open_for`, so the breaker cannot stay half-open forever.
// Time is passed in (a clock seam: tests need no sleeps). Thread-safe.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerOptions options);

  // nullopt: go ahead; `*trial` says whether this call is a half-open trial
  // (pass it back to Record). Otherwise the time until a trial may go through
  // (for RetryInfo).
  absl::optional<absl::Duration> Admit(absl::Time now, bool* trial);
  // The outcome of one admitted call.
  void Record(bool failure, bool trial, absl::Time now);
  bool open(absl::Time now);

 private:
  enum class State { kClosed, kOpen, kHalfOpen };
  struct Bucket {
    int64_t second = 0;
    int64_t calls = 0;
    int64_t failures = 0;
  };
  void Open(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BreakerOptions options_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);  // one per second of the window
  absl::Time open_until_ ABSL_GUARDED_BY(mu_);
  int trials_admitted_ ABSL_GUARDED_BY(mu_) = 0;
  int trials_succeeded_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time half_open_since_ ABSL_GUARDED_BY(mu_);
};

// Exponential backoff with full jitter: attempt n (1-based retry count) waits
// a uniform random time in [0, min(cap, base * 2^(n-1))], but never less than
// the upstream's hint (Retry-After / retry_after).
absl::Duration BackoffDelay(int retry, absl::Duration base, absl::Duration cap,
                            absl::optional<absl::Duration> hint, std::mt19937_64& rng);

}  // namespace serpwow::logic
