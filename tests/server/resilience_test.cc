// Unit tests of the retry budget, the circuit breaker and the backoff
// schedule (server/logic/resilience.h), with explicit clocks.
#include "server/logic/resilience.h"

#include <gtest/gtest.h>

namespace serpwow::logic {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(RetryBudget, AllowsTheFloorThenARatioOfCalls) {
  RetryBudget budget(0.1, 2, absl::Seconds(10));
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_FALSE(budget.TryRetry(kT0));  // floor spent, no calls yet
  for (int i = 0; i < 30; ++i) budget.OnCall(kT0);
  // 2 + 0.1 * 30 = 5 retries in the window; 2 used.
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_FALSE(budget.TryRetry(kT0));
}

TEST(RetryBudget, TheWindowSlides) {
  RetryBudget budget(0.0, 1, absl::Seconds(3));
  EXPECT_TRUE(budget.TryRetry(kT0));
  EXPECT_FALSE(budget.TryRetry(kT0 + absl::Seconds(2)));
  EXPECT_TRUE(budget.TryRetry(kT0 + absl::Seconds(3)));  // the first retry aged out
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndRecoversThroughOneTrial) {
  CircuitBreaker breaker(3, absl::Seconds(5));
  EXPECT_FALSE(breaker.Admit(kT0).has_value());
  breaker.Record(true, kT0);
  breaker.Record(true, kT0);
  breaker.Record(false, kT0);  // a success resets the count
  breaker.Record(true, kT0);
  breaker.Record(true, kT0);
  EXPECT_FALSE(breaker.open(kT0));
  breaker.Record(true, kT0);
  EXPECT_TRUE(breaker.open(kT0));
  auto wait = breaker.Admit(kT0 + absl::Seconds(1));
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Seconds(4));
  // After open_for: one trial goes through, the next call waits for it.
  const absl::Time later = kT0 + absl::Seconds(5);
  EXPECT_FALSE(breaker.Admit(later).has_value());
  EXPECT_TRUE(breaker.Admit(later).has_value());
  breaker.Record(false, later);  // the trial succeeded
  EXPECT_FALSE(breaker.Admit(later).has_value());
  EXPECT_FALSE(breaker.Admit(later).has_value());
}

TEST(CircuitBreaker, AFailedTrialReopens) {
  CircuitBreaker breaker(1, absl::Seconds(2));
  breaker.Record(true, kT0);
  EXPECT_FALSE(breaker.Admit(kT0 + absl::Seconds(2)).has_value());  // trial
  breaker.Record(true, kT0 + absl::Seconds(2));
  EXPECT_TRUE(breaker.open(kT0 + absl::Seconds(3)));
  EXPECT_TRUE(breaker.Admit(kT0 + absl::Seconds(3)).has_value());
}

TEST(CircuitBreaker, ATrialThatNeverReportsDoesNotWedgeIt) {
  CircuitBreaker breaker(1, absl::Seconds(2));
  breaker.Record(true, kT0);
  EXPECT_FALSE(breaker.Admit(kT0 + absl::Seconds(2)).has_value());  // trial, then silence
  EXPECT_TRUE(breaker.Admit(kT0 + absl::Seconds(3)).has_value());
  EXPECT_FALSE(breaker.Admit(kT0 + absl::Seconds(4)).has_value());  // a new trial
}

TEST(CircuitBreaker, ZeroThresholdDisablesIt) {
  CircuitBreaker breaker(0, absl::Seconds(2));
  for (int i = 0; i < 100; ++i) breaker.Record(true, kT0);
  EXPECT_FALSE(breaker.Admit(kT0).has_value());
}

TEST(Backoff, GrowsWithinTheCapAndHonoursHints) {
  std::mt19937_64 rng(42);
  for (int retry = 1; retry <= 8; ++retry) {
    for (int i = 0; i < 100; ++i) {
      absl::Duration d =
          BackoffDelay(retry, absl::Milliseconds(50), absl::Seconds(1), absl::nullopt, rng);
      EXPECT_GE(d, absl::ZeroDuration());
      EXPECT_LE(d, std::min(absl::Seconds(1), absl::Milliseconds(50) * (1 << (retry - 1))));
    }
  }
  EXPECT_GE(BackoffDelay(1, absl::Milliseconds(50), absl::Seconds(1), absl::Seconds(7), rng),
            absl::Seconds(7));
}

}  // namespace
}  // namespace serpwow::logic
