// The search queue on its own (logic/search_queue.h), with a fake executor
// and clock: order, bound, deadline while queued, cancellation, and the
// slot released exactly once.
#include "server/logic/search_queue.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "server/logic/errors.h"
#include "server/logic/search_mutations.h"

namespace serpwow::logic {
namespace {

// A loop stand-in: functions run when the test says, in time order.
class FakeLoop {
 public:
  absl::Time now = absl::FromUnixSeconds(1000);
  void Post(absl::Duration delay, std::function<void()> fn) {
    pending_.emplace(std::make_pair(now + delay, seq_++), std::move(fn));
  }
  // Runs everything due by now (including what those functions post).
  void RunDue() {
    while (!pending_.empty() && pending_.begin()->first.first <= now) {
      auto fn = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      fn();
    }
  }
  void Advance(absl::Duration d) {
    now += d;
    RunDue();
  }

 private:
  std::map<std::pair<absl::Time, int>, std::function<void()>> pending_;
  int seq_ = 0;
};

class SearchQueueTest : public ::testing::Test {
 protected:
  SearchQueue& Queue(size_t max_waiting) {
    SearchQueueOptions options;
    options.max_waiting = max_waiting;
    queue_ = std::make_unique<SearchQueue>(
        options,
        [this](const std::string&, absl::Duration delay, std::function<void()> fn) {
          loop_.Post(delay, std::move(fn));
        },
        [this] { return loop_.now; });
    return *queue_;
  }
  // Enters a call named `name`; its grant is recorded in `log_`.
  SearchQueue::Ticket Enter(const std::string& name, absl::Time deadline = absl::InfiniteFuture()) {
    auto ticket = SearchQueue::MakeTicket(
        "B1", "B1", deadline, [this, name](absl::Status s, SearchQueue::Grant g) {
          log_.push_back(s.ok() ? name + ":ok" : name + ":" + ReasonOf(s));
          positions_[name] = g.position;
        });
    queue_->Enter(ticket);
    loop_.RunDue();
    return ticket;
  }
  void Leave(const SearchQueue::Ticket& t) {
    queue_->Leave(t);
    loop_.RunDue();
  }

  FakeLoop loop_;
  std::unique_ptr<SearchQueue> queue_;
  std::vector<std::string> log_;
  std::map<std::string, size_t> positions_;
};

TEST_F(SearchQueueTest, OneAtATimeInArrivalOrder) {
  SearchQueue& q = Queue(8);
  auto a = Enter("a");
  auto b = Enter("b");
  auto c = Enter("c");
  EXPECT_EQ(log_, (std::vector<std::string>{"a:ok"}));
  EXPECT_EQ(q.size(), 3);
  EXPECT_EQ(q.depth_max(), 3);
  Leave(a);
  EXPECT_EQ(log_, (std::vector<std::string>{"a:ok", "b:ok"}));
  Leave(b);
  Leave(c);
  EXPECT_EQ(log_, (std::vector<std::string>{"a:ok", "b:ok", "c:ok"}));
  EXPECT_EQ(positions_["c"], 2u);
  EXPECT_EQ(q.size(), 0);
}

TEST_F(SearchQueueTest, BoundedBeyondMaxWaiting) {
  Queue(2);
  auto a = Enter("a");
  auto b = Enter("b");
  auto c = Enter("c");
  auto d = Enter("d");
  EXPECT_EQ(log_.back(), "d:BATCH_BUSY");
  Leave(d);  // a refused call's Leave is harmless
  Leave(a);
  EXPECT_EQ(log_.back(), "b:ok");
}

TEST_F(SearchQueueTest, DeadlineWhileQueuedEndsItWithoutTheSlot) {
  SearchQueue& q = Queue(8);
  auto a = Enter("a");
  auto b = Enter("b", loop_.now + absl::Milliseconds(100));
  auto c = Enter("c");
  loop_.Advance(absl::Milliseconds(100));
  EXPECT_EQ(log_.back(), "b:DEADLINE_EXCEEDED");
  EXPECT_EQ(q.size(), 2);
  Leave(b);
  Leave(a);
  EXPECT_EQ(log_.back(), "c:ok");
}

TEST_F(SearchQueueTest, ACancelledWaiterLeavesAtOnceAndIsNeverGranted) {
  SearchQueue& q = Queue(8);
  auto a = Enter("a");
  auto b = Enter("b");
  auto c = Enter("c");
  Leave(b);
  EXPECT_EQ(q.size(), 2);
  Leave(a);
  EXPECT_EQ(log_, (std::vector<std::string>{"a:ok", "c:ok"}));
}

TEST_F(SearchQueueTest, TheSlotIsReleasedExactlyOnce) {
  SearchQueue& q = Queue(8);
  auto a = Enter("a");
  auto b = Enter("b");
  auto c = Enter("c");
  Leave(a);
  Leave(a);  // a second release of the same ticket grants nothing more
  EXPECT_EQ(log_, (std::vector<std::string>{"a:ok", "b:ok"}));
  EXPECT_EQ(q.size(), 2);
}

TEST_F(SearchQueueTest, LeftBeforeItsEnterReachedTheLoop) {
  SearchQueue& q = Queue(8);
  auto ticket = SearchQueue::MakeTicket(
      "B1", "B1", absl::InfiniteFuture(),
      [this](absl::Status, SearchQueue::Grant) { log_.push_back("granted"); });
  // A cancel that overtakes the hop of Enter to the loop.
  q.Leave(ticket);
  q.Enter(ticket);
  loop_.RunDue();
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(q.size(), 0);
}

}  // namespace
// The count reconciliation of AddSearches (+n) and BatchDeleteSearches (-n).
TEST(JudgeCount, AppliedResendOrUnknown) {
  EXPECT_EQ(JudgeCount(10, 15, 5, false, false), CountVerdict::kApplied);
  EXPECT_EQ(JudgeCount(10, 15, 5, true, true), CountVerdict::kApplied) << "applied is applied";
  EXPECT_EQ(JudgeCount(10, 7, -3, false, false), CountVerdict::kApplied);
  EXPECT_EQ(JudgeCount(10, 10, 5, false, false), CountVerdict::kResend);
  EXPECT_EQ(JudgeCount(10, 10, -3, false, false), CountVerdict::kResend);
  EXPECT_EQ(JudgeCount(10, 10, 5, true, false), CountVerdict::kUnknown) << "only once";
  EXPECT_EQ(JudgeCount(10, 10, 5, false, true), CountVerdict::kUnknown) << "running: refused";
  EXPECT_EQ(JudgeCount(10, 12, 5, false, false), CountVerdict::kUnknown) << "someone else's";
  EXPECT_EQ(JudgeCount(10, 8, -3, false, false), CountVerdict::kUnknown);
}

}  // namespace serpwow::logic
