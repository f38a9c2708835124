// WatchBatch's pure parts: the diff of two snapshots, the first events of a
// stream, the poll interval and the budget (fake times), the conflating
// queue of a slow reader.
#include "server/logic/watch_events.h"

#include <gtest/gtest.h>

#include <vector>

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using T = WatchEventType;

v1::Batch B(v1::BatchStatus status, int32_t next_result_set_id, int32_t results_count) {
  v1::Batch b;
  b.set_name("batches/W1");
  b.set_batch_id("W1");
  b.set_display_name("watched");
  b.set_status(status);
  b.set_next_result_set_id(next_result_set_id);
  b.set_results_count(results_count);
  b.set_searches_total_count(10);
  return b;
}

std::vector<T> Types(const std::vector<WatchEvent>& events) {
  std::vector<T> out;
  for (const WatchEvent& e : events) out.push_back(e.type);
  return out;
}

constexpr v1::BatchStatus kIdle = v1::BATCH_STATUS_IDLE;
constexpr v1::BatchStatus kQueued = v1::BATCH_STATUS_QUEUED;
constexpr v1::BatchStatus kRunning = v1::BATCH_STATUS_RUNNING;

TEST(DiffBatches, NothingChangedIsNoEvent) {
  EXPECT_TRUE(DiffBatches(B(kIdle, 1, 0), B(kIdle, 1, 0)).empty());
}

TEST(DiffBatches, StatusChangesAreReportedWithTheStatusBefore) {
  auto events = DiffBatches(B(kIdle, 1, 0), B(kQueued, 1, 0));
  ASSERT_EQ(Types(events), std::vector<T>{T::kStatusChanged});
  EXPECT_EQ(events[0].previous_status, kIdle);
  EXPECT_EQ(events[0].batch.status(), kQueued);
  events = DiffBatches(B(kQueued, 1, 0), B(kRunning, 1, 0));
  ASSERT_EQ(Types(events), std::vector<T>{T::kStatusChanged});
  EXPECT_EQ(events[0].previous_status, kQueued);
}

TEST(DiffBatches, ARunThatEndsWithAResultSetIsRunCompletedWithItsId) {
  auto events = DiffBatches(B(kRunning, 3, 2), B(kIdle, 4, 3));
  ASSERT_EQ(Types(events), std::vector<T>{T::kRunCompleted});
  EXPECT_EQ(events[0].result_set_id, 3);
  EXPECT_EQ(events[0].previous_status, kRunning);
}

TEST(DiffBatches, ARunBetweenTwoPollsIsStillCompletedOncePerResultSet) {
  // idle -> (queued, running, idle) -> idle, twice: two result sets.
  auto events = DiffBatches(B(kIdle, 1, 0), B(kIdle, 3, 2));
  ASSERT_EQ(Types(events), (std::vector<T>{T::kRunCompleted, T::kRunCompleted}));
  EXPECT_EQ(events[0].result_set_id, 1);
  EXPECT_EQ(events[1].result_set_id, 2);
  EXPECT_EQ(events[0].previous_status, kIdle);
}

TEST(DiffBatches, ResultsCountAloneGrowingIsACompletedRunOfUnknownId) {
  auto events = DiffBatches(B(kRunning, 0, 1), B(kIdle, 0, 2));
  ASSERT_EQ(Types(events), std::vector<T>{T::kRunCompleted});
  EXPECT_EQ(events[0].result_set_id, 0);
}

TEST(DiffBatches, BackToIdleWithoutAResultSetIsRunEnded) {
  for (v1::BatchStatus before : {kQueued, kRunning}) {
    auto events = DiffBatches(B(before, 2, 1), B(kIdle, 2, 1));
    ASSERT_EQ(Types(events), std::vector<T>{T::kRunEnded});
    EXPECT_EQ(events[0].previous_status, before);
  }
}

TEST(DiffBatches, ARestartedRunIsAStatusChangeAndACompletion) {
  // running (rs 1) -> completed -> started again, seen queued.
  auto events = DiffBatches(B(kRunning, 1, 0), B(kQueued, 2, 1));
  EXPECT_EQ(Types(events), (std::vector<T>{T::kStatusChanged, T::kRunCompleted}));
}

TEST(DiffBatches, OtherFieldsAreBatchChangedButRunTimesAreNot) {
  v1::Batch before = B(kIdle, 1, 0);
  v1::Batch renamed = before;
  renamed.set_display_name("renamed");
  EXPECT_EQ(Types(DiffBatches(before, renamed)), std::vector<T>{T::kBatchChanged});
  v1::Batch more = before;
  more.set_searches_total_count(11);
  EXPECT_EQ(Types(DiffBatches(before, more)), std::vector<T>{T::kBatchChanged});
  v1::Batch ran = B(kIdle, 2, 1);
  ran.mutable_last_run_time()->set_seconds(100);
  ran.mutable_expire_time()->set_seconds(200);
  EXPECT_EQ(Types(DiffBatches(before, ran)), std::vector<T>{T::kRunCompleted});
}

TEST(FirstEvents, ASnapshotWithoutSinceOrWhenNothingChanged) {
  const v1::Batch now = B(kRunning, 2, 1);
  EXPECT_EQ(Types(FirstEvents(nullptr, now)), std::vector<T>{T::kSnapshot});
  EXPECT_EQ(Types(FirstEvents(&now, now)), std::vector<T>{T::kSnapshot});
}

TEST(FirstEvents, WithSinceTheEventsMissedMeanwhile) {
  const v1::Batch since = B(kQueued, 2, 1);
  const v1::Batch now = B(kIdle, 3, 2);
  auto events = FirstEvents(&since, now);
  ASSERT_EQ(Types(events), std::vector<T>{T::kRunCompleted});
  EXPECT_EQ(events[0].result_set_id, 2);
}

TEST(BaseInterval, ByStatusAndStretchedByTheNumberOfBatches) {
  WatchIntervals i;  // 10 s, 5 s, 60 s, 10 a second
  EXPECT_EQ(BaseInterval(i, kQueued, 1), absl::Seconds(10));
  EXPECT_EQ(BaseInterval(i, kRunning, 1), absl::Seconds(5));
  EXPECT_EQ(BaseInterval(i, kIdle, 1), absl::Seconds(60));
  EXPECT_EQ(BaseInterval(i, v1::BATCH_STATUS_UNSPECIFIED, 1), absl::Seconds(10));
  // 100 batches at 10/s: each at least every 10 s; 1000: every 100 s.
  EXPECT_EQ(BaseInterval(i, kRunning, 100), absl::Seconds(10));
  EXPECT_EQ(BaseInterval(i, kRunning, 1000), absl::Seconds(100));
  EXPECT_EQ(BaseInterval(i, kQueued, 1000), absl::Seconds(100));
  EXPECT_EQ(BaseInterval(i, kIdle, 1000), absl::Seconds(100));
  i.poll_rate = 0;  // no budget: no stretch
  EXPECT_EQ(BaseInterval(i, kRunning, 1000), absl::Seconds(5));
}

TEST(Jittered, WithinTwentyPercent) {
  EXPECT_EQ(Jittered(absl::Seconds(10), 0.2, 0.0), absl::Seconds(8));
  EXPECT_EQ(Jittered(absl::Seconds(10), 0.2, 0.5), absl::Seconds(10));
  EXPECT_LT(Jittered(absl::Seconds(10), 0.2, 0.999999), absl::Seconds(12));
}

TEST(WatchBudget, ReadsBeyondTheBurstWaitForTheirTokenInTurn) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  WatchBudget budget(10, absl::Seconds(5), absl::Seconds(60), t0);  // 10/s, 10 saved up
  for (int i = 0; i < 10; ++i) EXPECT_EQ(budget.Take(t0), absl::ZeroDuration()) << i;
  // The 11th waits 0.1 s, the 12th 0.2 s: reservations, one after the other.
  EXPECT_EQ(budget.Take(t0), absl::Milliseconds(100));
  EXPECT_EQ(budget.Take(t0), absl::Milliseconds(200));
  // Over any window T at most 10 + 10 T reads: 1 s later 10 more tokens,
  // two of them already reserved.
  const absl::Time t1 = t0 + absl::Seconds(1);
  int now = 0;
  while (budget.Take(t1) == absl::ZeroDuration()) ++now;
  EXPECT_EQ(now, 8);
}

TEST(WatchBudget, A429PausesEveryReadAndDoublesUpToTheMax) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  WatchBudget budget(10, absl::Seconds(5), absl::Seconds(60), t0);
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(5));
  EXPECT_GE(budget.Take(t0), absl::Seconds(5));
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(10));
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(20));
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(40));
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(60));
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(60));
  EXPECT_EQ(budget.RateLimited(t0, absl::Seconds(3)), absl::Seconds(3));  // Retry-After wins
  budget.NotRateLimited();
  EXPECT_EQ(budget.RateLimited(t0, absl::nullopt), absl::Seconds(5));
}

WatchEvent E(T type, v1::BatchStatus status,
             v1::BatchStatus previous = v1::BATCH_STATUS_UNSPECIFIED) {
  WatchEvent e;
  e.type = type;
  e.batch = B(status, 1, 0);
  e.previous_status = previous;
  return e;
}

TEST(ConflatingQueue, TheLatestStateWinsAndRunEndsAreKept) {
  ConflatingQueue q;
  q.Push(E(T::kStatusChanged, kQueued, kIdle));
  q.Push(E(T::kStatusChanged, kRunning, kQueued));  // conflated into one
  q.Push(E(T::kBatchChanged, kRunning));            // still the status change
  q.Push(E(T::kRunCompleted, kIdle, kRunning));
  q.Push(E(T::kBatchChanged, kIdle));
  q.Push(E(T::kBatchChanged, kIdle));
  q.Push(E(T::kRunEnded, kIdle, kRunning));
  q.Push(E(T::kBatchDeleted, kIdle));
  EXPECT_EQ(q.conflated(), 3u);
  ASSERT_EQ(q.size(), 5u);
  WatchEvent first = q.Pop();
  EXPECT_EQ(first.type, T::kStatusChanged);
  EXPECT_EQ(first.previous_status, kIdle);    // from the first of the run
  EXPECT_EQ(first.batch.status(), kRunning);  // the latest state
  EXPECT_EQ(q.Pop().type, T::kRunCompleted);
  EXPECT_EQ(q.Pop().type, T::kBatchChanged);
  EXPECT_EQ(q.Pop().type, T::kRunEnded);
  EXPECT_EQ(q.Pop().type, T::kBatchDeleted);
  EXPECT_TRUE(q.empty());
}

TEST(ConflatingQueue, ASnapshotStaysASnapshot) {
  ConflatingQueue q;
  q.Push(E(T::kSnapshot, kIdle));
  q.Push(E(T::kStatusChanged, kQueued, kIdle));
  ASSERT_EQ(q.size(), 1u);
  WatchEvent e = q.Pop();
  EXPECT_EQ(e.type, T::kSnapshot);
  EXPECT_EQ(e.batch.status(), kQueued);
}

TEST(ConflatingQueue, AThousandPollsOfAnUnreadStreamHoldOneEvent) {
  ConflatingQueue q;
  for (int i = 0; i < 1000; ++i) q.Push(E(T::kBatchChanged, kIdle));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.conflated(), 999u);
}

}  // namespace
}  // namespace serpwow::logic
