#include "server/logic/list_pacer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace serpwow::logic {
namespace {

// A clock the test moves by hand: no sleeps.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  ListPacer::Clock fn() {
    return [this] { return now; };
  }
};

class CountingObserver : public ListPacerObserver {
 public:
  void OnListCache(const char* result) override { results.push_back(result); }
  void OnListWait(absl::Duration waited) override { waits.push_back(waited); }
  std::vector<std::string> results;
  std::vector<absl::Duration> waits;
};

upstream::HttpResult Ok(const std::string& body) {
  upstream::HttpResult r;
  r.http_status = 200;
  r.body = body;
  return r;
}

TEST(TokenBucket, BurstThenTheRate) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(60, 5, t);  // one a second
  for (int i = 0; i < 5; ++i) {
    TokenBucket::Grant g = bucket.Take(t, t);
    ASSERT_TRUE(g.granted) << i;
    EXPECT_EQ(g.wait, absl::ZeroDuration());
  }
  TokenBucket::Grant refused = bucket.Take(t, t);
  EXPECT_FALSE(refused.granted);
  EXPECT_EQ(refused.retry_after, absl::Seconds(1));
  // Willing to wait: the next token is reserved one second out, the one
  // after two seconds out.
  TokenBucket::Grant first = bucket.Take(t, t + absl::Seconds(2));
  ASSERT_TRUE(first.granted);
  EXPECT_EQ(first.wait, absl::Seconds(1));
  TokenBucket::Grant second = bucket.Take(t, t + absl::Seconds(2));
  ASSERT_TRUE(second.granted);
  EXPECT_EQ(second.wait, absl::Seconds(2));
  EXPECT_FALSE(bucket.Take(t, t + absl::Seconds(2)).granted);
  // Half a second later the refused caller hears 2.5 s.
  EXPECT_EQ(bucket.Take(t + absl::Milliseconds(500), t).retry_after, absl::Milliseconds(2500));
}

// Over any 60 s window the bucket grants at most burst + rate tokens.
TEST(TokenBucket, NeverMoreThanBurstPlusRatePerMinute) {
  absl::Time start = absl::FromUnixSeconds(1000);
  TokenBucket bucket(55, 5, start);
  std::vector<absl::Time> sends;
  // A greedy caller asking every 10 ms for three minutes.
  for (absl::Time t = start; t < start + absl::Minutes(3); t += absl::Milliseconds(10)) {
    TokenBucket::Grant g = bucket.Take(t, t);
    if (g.granted) sends.push_back(t + g.wait);
  }
  size_t worst = 0;
  for (size_t i = 0; i < sends.size(); ++i) {
    size_t j = i;
    while (j < sends.size() && sends[j] < sends[i] + absl::Minutes(1)) ++j;
    worst = std::max(worst, j - i);
  }
  EXPECT_LE(worst, 60u);
  EXPECT_GE(worst, 59u);  // and it does use what it may
  EXPECT_NEAR(sends.size(), 5 + 55 * 3, 2);
}

TEST(TokenBucket, PauseHoldsEveryTokenAndDropsTheSavedOnes) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(60, 5, t);
  bucket.PauseUntil(t, t + absl::Seconds(5));
  EXPECT_EQ(bucket.PauseLeft(t), absl::Seconds(5));
  TokenBucket::Grant g = bucket.Take(t, t + absl::Seconds(2));
  EXPECT_FALSE(g.granted);
  EXPECT_EQ(g.retry_after, absl::Seconds(6));  // the pause, then one token's time
  g = bucket.Take(t + absl::Seconds(6), t + absl::Seconds(6));
  EXPECT_TRUE(g.granted);
  EXPECT_FALSE(bucket.Take(t + absl::Seconds(6), t + absl::Seconds(6)).granted);
}

TEST(TokenBucket, RateZeroIsOff) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(0, 1, t);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bucket.Take(t, t).granted);
}

TEST(ListPacer, AcquireWaitsOnlyWithinTheDeadlineAndTheCap) {
  FakeClock clock;
  CountingObserver observer;
  ListPacerOptions options;
  options.rate_per_minute = 60;
  options.burst = 1;
  options.max_wait = absl::Seconds(2);
  ListPacer pacer(options, clock.fn(), &observer);
  EXPECT_TRUE(pacer.Acquire(absl::InfiniteFuture()).granted);
  // Next token in 1 s; a deadline of 1.1 s minus the expected 200 ms is too
  // soon: refused at once with the time to the token.
  TokenBucket::Grant g = pacer.Acquire(clock.now + absl::Milliseconds(1100));
  EXPECT_FALSE(g.granted);
  EXPECT_EQ(g.retry_after, absl::Seconds(1));
  g = pacer.Acquire(clock.now + absl::Seconds(5));
  ASSERT_TRUE(g.granted);
  EXPECT_EQ(g.wait, absl::Seconds(1));
  // The next is 2 s out: within the cap of 2 s, granted; then 3 s out: never.
  EXPECT_TRUE(pacer.Acquire(absl::InfiniteFuture()).granted);
  g = pacer.Acquire(absl::InfiniteFuture());
  EXPECT_FALSE(g.granted);
  EXPECT_EQ(g.retry_after, absl::Seconds(3));
  EXPECT_EQ(observer.waits, (std::vector<absl::Duration>{absl::ZeroDuration(), absl::Seconds(1),
                                                         absl::Seconds(2)}));
}

TEST(ListPacer, RateLimitPausesWithHintOrDoublingBackoff) {
  FakeClock clock;
  ListPacerOptions options;
  options.rate_per_minute = 6000;
  ListPacer pacer(options, clock.fn());
  pacer.OnRateLimited(absl::nullopt);
  EXPECT_EQ(pacer.PauseLeft(), absl::Seconds(5));
  EXPECT_FALSE(pacer.Acquire(clock.now + absl::Seconds(1)).granted);
  clock.now += absl::Seconds(5);
  pacer.OnRateLimited(absl::nullopt);
  EXPECT_EQ(pacer.PauseLeft(), absl::Seconds(10));
  clock.now += absl::Seconds(10);
  pacer.OnRateLimited(absl::Seconds(3));  // a Retry-After wins
  EXPECT_EQ(pacer.PauseLeft(), absl::Seconds(3));
  clock.now += absl::Seconds(3);
  for (int i = 0; i < 5; ++i) pacer.OnRateLimited(absl::nullopt), clock.now += absl::Minutes(2);
  pacer.OnRateLimited(absl::nullopt);
  EXPECT_EQ(pacer.PauseLeft(), absl::Seconds(60));  // capped
  clock.now += absl::Minutes(2);
  pacer.OnReply(absl::Milliseconds(50));  // a good reply resets the backoff
  pacer.OnRateLimited(absl::nullopt);
  EXPECT_EQ(pacer.PauseLeft(), absl::Seconds(5));
}

TEST(ListPacer, CacheServesWithinTheTtlAndInvalidateEmptiesIt) {
  FakeClock clock;
  CountingObserver observer;
  ListPacer pacer(ListPacerOptions{}, clock.fn(), &observer);
  EXPECT_FALSE(pacer.Lookup("q").has_value());
  pacer.Store("q", Ok("one"), pacer.generation());
  clock.now += absl::Milliseconds(1500);
  absl::optional<ListPacer::Cached> hit = pacer.Lookup("q");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->result.body, "one");
  EXPECT_EQ(hit->age, absl::Milliseconds(1500));
  EXPECT_FALSE(pacer.Lookup("other").has_value());
  clock.now += absl::Milliseconds(500);
  EXPECT_FALSE(pacer.Lookup("q").has_value());  // the TTL (2 s) passed

  pacer.Store("q", Ok("two"), pacer.generation());
  const uint64_t before = pacer.generation();
  pacer.Invalidate();
  EXPECT_FALSE(pacer.Lookup("q").has_value());
  pacer.Store("q", Ok("stale"), before);  // sent before the mutation
  EXPECT_FALSE(pacer.Lookup("q").has_value());
  upstream::HttpResult failed = Ok("");
  failed.http_status = 429;
  pacer.Store("q", failed, pacer.generation());  // only successes are cached
  EXPECT_FALSE(pacer.Lookup("q").has_value());
  EXPECT_EQ(observer.results, (std::vector<std::string>{"hit"}));
}

TEST(ListPacer, CoalescesIdenticalCallsAndRestartsFollowersOfAnAbandonedLeader) {
  FakeClock clock;
  CountingObserver observer;
  ListPacer pacer(ListPacerOptions{}, clock.fn(), &observer);
  int leader_a = 0, leader_b = 0;
  std::vector<std::string> got;
  int restarted = 0;
  auto waiter = [&](const upstream::HttpResult* r) {
    if (r == nullptr) {
      ++restarted;
    } else {
      got.push_back(r->body);
    }
  };
  EXPECT_FALSE(pacer.JoinOrLead("q", &leader_a, waiter));
  EXPECT_TRUE(pacer.JoinOrLead("q", &leader_b, waiter));
  EXPECT_TRUE(pacer.JoinOrLead("q", &leader_b, waiter));
  EXPECT_FALSE(pacer.JoinOrLead("other", &leader_b, waiter));
  pacer.Abandon("q", &leader_b);  // not its flight: nothing happens
  EXPECT_EQ(restarted, 0);
  pacer.Complete("q", &leader_a, Ok("reply"), pacer.generation());
  EXPECT_EQ(got, (std::vector<std::string>{"reply", "reply"}));
  EXPECT_TRUE(pacer.Lookup("q").has_value());  // and cached
  EXPECT_TRUE(pacer.JoinOrLead("other", &leader_a, waiter));
  pacer.Abandon("other", &leader_b);
  EXPECT_EQ(restarted, 1);
  EXPECT_FALSE(pacer.JoinOrLead("other", &leader_a, waiter));  // the flight is gone
  EXPECT_EQ(observer.results, (std::vector<std::string>{"miss", "coalesced", "coalesced", "miss",
                                                        "hit", "coalesced", "miss"}));
}

}  // namespace
}  // namespace serpwow::logic
