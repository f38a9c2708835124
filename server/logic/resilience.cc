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

CircuitBreaker::CircuitBreaker(int threshold, absl::Duration open_for)
    : threshold_(threshold), open_for_(open_for) {}

absl::optional<absl::Duration> CircuitBreaker::Admit(absl::Time now) {
  if (threshold_ <= 0) return absl::nullopt;
  absl::MutexLock lock(&mu_);
  switch (state_) {
    case State::kClosed:
      return absl::nullopt;
    case State::kOpen:
      if (now < open_until_) return open_until_ - now;
      state_ = State::kHalfOpen;
      trial_in_flight_ = true;
      trial_started_ = now;
      return absl::nullopt;  // this call is the trial
    case State::kHalfOpen:
      if (!trial_in_flight_ || now - trial_started_ >= open_for_) {
        trial_in_flight_ = true;
        trial_started_ = now;
        return absl::nullopt;
      }
      return open_for_ / 10;  // a trial is under way; check back soon
  }
  return absl::nullopt;
}

void CircuitBreaker::Record(bool failure, absl::Time now) {
  if (threshold_ <= 0) return;
  absl::MutexLock lock(&mu_);
  if (!failure) {
    consecutive_failures_ = 0;
    state_ = State::kClosed;
    trial_in_flight_ = false;
    return;
  }
  ++consecutive_failures_;
  if (state_ == State::kHalfOpen || consecutive_failures_ >= threshold_) {
    state_ = State::kOpen;
    open_until_ = now + open_for_;
    trial_in_flight_ = false;
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
