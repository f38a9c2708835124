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

BreakerOptions Breaker(int min_calls, double ratio, absl::Duration open_for, int trials = 3) {
  BreakerOptions o;
  o.window = absl::Seconds(10);
  o.min_calls = min_calls;
  o.failure_ratio = ratio;
  o.open_for = open_for;
  o.half_open_trials = trials;
  return o;
}

bool Admitted(CircuitBreaker& breaker, absl::Time now, bool* trial = nullptr) {
  bool t = false;
  bool ok = !breaker.Admit(now, &t).has_value();
  if (trial != nullptr) *trial = t;
  return ok;
}

TEST(CircuitBreaker, NeverOpensBelowTheMinimumNumberOfCalls) {
  CircuitBreaker breaker(Breaker(20, 0.5, absl::Seconds(5)));
  for (int i = 0; i < 19; ++i) breaker.Record(true, false, kT0);  // 19 of 19 failed
  EXPECT_FALSE(breaker.open(kT0));
  EXPECT_TRUE(Admitted(breaker, kT0));
  breaker.Record(true, false, kT0);  // the 20th
  EXPECT_TRUE(breaker.open(kT0));
}

TEST(CircuitBreaker, OpensOnTheFailureRatioOverTheWindow) {
  CircuitBreaker breaker(Breaker(20, 0.5, absl::Seconds(5)));
  // 20% failures over many calls: never opens.
  for (int i = 0; i < 300; ++i) {
    breaker.Record(i % 5 == 0, false, kT0 + absl::Milliseconds(10 * i));
    ASSERT_FALSE(breaker.open(kT0 + absl::Milliseconds(10 * i))) << i;
  }
  // Then half of the calls fail: it opens once the ratio is reached.
  CircuitBreaker second(Breaker(20, 0.5, absl::Seconds(5)));
  for (int i = 0; i < 10; ++i) second.Record(false, false, kT0);
  for (int i = 0; i < 9; ++i) second.Record(true, false, kT0);
  EXPECT_FALSE(second.open(kT0));   // 9 of 19
  second.Record(true, false, kT0);  // 10 of 20
  EXPECT_TRUE(second.open(kT0));
}

TEST(CircuitBreaker, OldCallsLeaveTheWindow) {
  CircuitBreaker breaker(Breaker(20, 0.5, absl::Seconds(5)));
  for (int i = 0; i < 19; ++i) breaker.Record(true, false, kT0);
  // Ten seconds later those 19 are gone: one more failure is 1 of 1.
  breaker.Record(true, false, kT0 + absl::Seconds(10));
  EXPECT_FALSE(breaker.open(kT0 + absl::Seconds(10)));
}

TEST(CircuitBreaker, FailsFastWhileOpenThenClosesAfterItsTrialsSucceed) {
  CircuitBreaker breaker(Breaker(2, 0.5, absl::Seconds(5), 3));
  breaker.Record(true, false, kT0);
  breaker.Record(true, false, kT0);
  ASSERT_TRUE(breaker.open(kT0));
  bool trial = false;
  auto wait = breaker.Admit(kT0 + absl::Seconds(1), &trial);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Seconds(4));
  // After open_for: three trials go through, the fourth waits for them.
  const absl::Time later = kT0 + absl::Seconds(5);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Admitted(breaker, later, &trial)) << i;
    EXPECT_TRUE(trial);
  }
  EXPECT_FALSE(Admitted(breaker, later));
  breaker.Record(false, true, later);
  breaker.Record(false, true, later);
  EXPECT_FALSE(Admitted(breaker, later));  // still half-open
  breaker.Record(false, true, later);      // the last trial succeeded: closed
  EXPECT_TRUE(Admitted(breaker, later, &trial));
  EXPECT_FALSE(trial);
  // With an empty window: one failure does not reopen it.
  breaker.Record(true, false, later);
  EXPECT_FALSE(breaker.open(later));
}

TEST(CircuitBreaker, AFailedTrialReopens) {
  CircuitBreaker breaker(Breaker(1, 0.5, absl::Seconds(2)));
  breaker.Record(true, false, kT0);
  bool trial = false;
  ASSERT_TRUE(Admitted(breaker, kT0 + absl::Seconds(2), &trial));
  ASSERT_TRUE(trial);
  breaker.Record(true, true, kT0 + absl::Seconds(2));
  EXPECT_TRUE(breaker.open(kT0 + absl::Seconds(3)));
  EXPECT_FALSE(Admitted(breaker, kT0 + absl::Seconds(3)));
}

TEST(CircuitBreaker, CallsAdmittedBeforeItOpenedDoNotCloseIt) {
  CircuitBreaker breaker(Breaker(1, 0.5, absl::Seconds(2), 1));
  breaker.Record(true, false, kT0);
  ASSERT_TRUE(Admitted(breaker, kT0 + absl::Seconds(2)));          // half-open now
  breaker.Record(false, /*trial=*/false, kT0 + absl::Seconds(2));  // a straggler
  EXPECT_FALSE(Admitted(breaker, kT0 + absl::Seconds(2)));         // the trial is still out
}

TEST(CircuitBreaker, ATrialThatNeverReportsDoesNotWedgeIt) {
  CircuitBreaker breaker(Breaker(1, 0.5, absl::Seconds(2), 1));
  breaker.Record(true, false, kT0);
  EXPECT_TRUE(Admitted(breaker, kT0 + absl::Seconds(2)));  // trial, then silence
  EXPECT_FALSE(Admitted(breaker, kT0 + absl::Seconds(3)));
  EXPECT_TRUE(Admitted(breaker, kT0 + absl::Seconds(4)));  // a new trial
}

TEST(CircuitBreaker, ZeroOpenTimeDisablesIt) {
  CircuitBreaker breaker(Breaker(1, 0.5, absl::ZeroDuration()));
  for (int i = 0; i < 100; ++i) breaker.Record(true, false, kT0);
  EXPECT_FALSE(breaker.open(kT0));
  EXPECT_TRUE(Admitted(breaker, kT0));
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
