#include "server/logic/resilience.h"

#include <algorithm>
#include <cmath>

namespace serpwow::logic {

RetryBudget::RetryBudget(double ratio, int min_retries, absl::Duration window)
    : ratio_(ratio), min_retries_(min_retries) {
  int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(window));
  buckets_.resize(static_cast<size_t>(seconds));
}

RetryBudget::Bucket& RetryBudget::BucketFor(absl::Time now) {
  int64_t second = absl::ToUnixSeconds(now);
  Bucket& b = buckets_[static_cast<size_t>(second) % buckets_.size()];
  if (b.second != second) b = Bucket{second, 0, 0};
  return b;
}

void RetryBudget::OnCall(absl::Time now) {
  absl::MutexLock lock(&mu_);
  ++BucketFor(now).calls;
}

bool RetryBudget::TryRetry(absl::Time now) {
  absl::MutexLock lock(&mu_);
  Bucket& current = BucketFor(now);
  const int64_t oldest = absl::ToUnixSeconds(now) - static_cast<int64_t>(buckets_.size()) + 1;
  int64_t calls = 0, retries = 0;
  for (const Bucket& b : buckets_) {
    if (b.second >= oldest) {
      calls += b.calls;
      retries += b.retries;
    }
  }
  const double allowed = static_cast<double>(min_retries_) + ratio_ * static_cast<double>(calls);
  if (static_cast<double>(retries) + 1 > allowed) return false;
  ++current.retries;
  return true;
}

CircuitBreaker::CircuitBreaker(BreakerOptions options) : options_(options) {
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(options.window));
  buckets_.resize(static_cast<size_t>(seconds));
}

void CircuitBreaker::Open(absl::Time now) {
  state_ = State::kOpen;
  open_until_ = now + options_.open_for;
  trials_admitted_ = 0;
  trials_succeeded_ = 0;
}

absl::optional<absl::Duration> CircuitBreaker::Admit(absl::Time now, bool* trial) {
  *trial = false;
  if (options_.open_for <= absl::ZeroDuration()) return absl::nullopt;
  absl::MutexLock lock(&mu_);
  if (state_ == State::kClosed) return absl::nullopt;
  if (state_ == State::kOpen) {
    if (now < open_until_) return open_until_ - now;
    state_ = State::kHalfOpen;
    half_open_since_ = now;
    trials_admitted_ = 0;
    trials_succeeded_ = 0;
  }
  // Half-open. Trials that never reported free their slots after open_for.
  if (now - half_open_since_ >= options_.open_for && trials_admitted_ > trials_succeeded_) {
    half_open_since_ = now;
    trials_admitted_ = trials_succeeded_;
  }
  if (trials_admitted_ < std::max(1, options_.half_open_trials)) {
    ++trials_admitted_;
    *trial = true;
    return absl::nullopt;
  }
  return std::max(options_.open_for / 10, absl::Milliseconds(1));  // trials under way
}

void CircuitBreaker::Record(bool failure, bool trial, absl::Time now) {
  if (options_.open_for <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (state_ == State::kHalfOpen) {
    if (!trial) return;  // admitted before the breaker opened: says nothing new
    if (failure) {
      Open(now);
      return;
    }
    if (++trials_succeeded_ >= std::max(1, options_.half_open_trials)) {
      state_ = State::kClosed;
      for (Bucket& b : buckets_) b = Bucket{};
    }
    return;
  }
  if (state_ == State::kOpen) return;  // a straggler from before it opened
  const int64_t second = absl::ToUnixSeconds(now);
  Bucket& current = buckets_[static_cast<size_t>(second) % buckets_.size()];
  if (current.second != second) current = Bucket{second, 0, 0};
  ++current.calls;
  if (failure) ++current.failures;
  const int64_t oldest = second - static_cast<int64_t>(buckets_.size()) + 1;
  int64_t calls = 0, failures = 0;
  for (const Bucket& b : buckets_) {
    if (b.second >= oldest && b.second <= second) {
      calls += b.calls;
      failures += b.failures;
    }
  }
  if (calls >= options_.min_calls &&
      static_cast<double>(failures) >= options_.failure_ratio * static_cast<double>(calls) &&
      failures > 0) {
    Open(now);
  }
}

bool CircuitBreaker::open(absl::Time now) {
  absl::MutexLock lock(&mu_);
  return state_ == State::kOpen && now < open_until_;
}

absl::Duration BackoffDelay(int retry, absl::Duration base, absl::Duration cap,
                            absl::optional<absl::Duration> hint, std::mt19937_64& rng) {
  const int shift = std::clamp(retry - 1, 0, 20);
  absl::Duration ceiling = std::min(cap, base * static_cast<double>(int64_t{1} << shift));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  absl::Duration delay = ceiling * uniform(rng);
  if (hint.has_value()) delay = std::max(delay, *hint);
  return delay;
}

}  // namespace serpwow::logic
