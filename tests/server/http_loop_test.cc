// The upstream loop's contract (server/upstream/http_loop.h), against the
// real simulator on loopback: every transfer ends with exactly one callback,
// on the loop thread, whichever thread submitted it and whether it started on
// the submitting thread (the fast path) or through the queue; timeouts and
// timers fire on time even when they were armed from another thread while the
// loop slept; cancel and shutdown end what is in flight.
#include "server/upstream/http_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/upstream/serpwow_client.h"
#include "sim/simulator.h"

namespace serpwow::upstream {
namespace {

constexpr char kKey[] = "loop-test-key";

class HttpLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimulatorOptions options;
    options.api_key = kKey;
    auto started = sim::Simulator::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    sim_ = std::move(*started);
    auto loop = HttpLoop::Create(HttpLoopOptions{});
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  HttpRequest Get(const std::string& id, absl::Duration timeout = absl::Seconds(10)) {
    HttpRequest request;
    request.url = absl::StrCat(sim_->base_url(), "/batches/", id, "?api_key=", kKey);
    request.timeout = timeout;
    return request;
  }

  // Records, per transfer, how many callbacks ran and on which thread.
  struct Ledger {
    absl::Mutex mu;
    std::map<TransferId, int> calls;
    std::map<TransferId, HttpResult> results;
    std::vector<std::thread::id> threads;
    int done = 0;

    HttpCallback Record() {
      return [this](HttpResult result) {
        absl::MutexLock lock(&mu);
        threads.push_back(std::this_thread::get_id());
        ++calls[result.transfer_id];
        results[result.transfer_id] = std::move(result);
        ++done;
      };
    }
    bool WaitFor(int n, absl::Duration timeout) {
      absl::MutexLock lock(&mu);
      auto enough = [&] { return done >= n; };
      return mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
    }
  };

  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<HttpLoop> loop_;
};

TEST_F(HttpLoopTest, ManySubmittersEveryTransferEndsOnceOnTheLoopThread) {
  constexpr int kThreads = 8, kPerThread = 250;
  for (int i = 0; i < 50; ++i) sim_->PutBatch(absl::StrCat("B", i), sim::BatchState::kQueued);
  Ledger ledger;
  std::vector<std::thread> submitters;
  std::vector<std::thread::id> submitter_ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      submitter_ids[static_cast<size_t>(t)] = std::this_thread::get_id();
      for (int i = 0; i < kPerThread; ++i) {
        loop_->Submit(Get(absl::StrCat("B", (t * kPerThread + i) % 50)), ledger.Record());
        // A follow-up submitted from inside a callback takes the loop's own
        // queue (every 25th call).
        if (i % 25 == 0) {
          loop_->Submit(Get("B0"), [&](HttpResult) { loop_->Submit(Get("B1"), ledger.Record()); });
        }
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  const int expected = kThreads * kPerThread + kThreads * (kPerThread / 25);
  ASSERT_TRUE(ledger.WaitFor(expected, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(50));  // a duplicate callback would show now
  absl::MutexLock lock(&ledger.mu);
  EXPECT_EQ(ledger.done, expected);
  EXPECT_EQ(static_cast<int>(ledger.calls.size()), expected);
  for (const auto& [id, n] : ledger.calls) EXPECT_EQ(n, 1) << "transfer " << id;
  for (const auto& [id, r] : ledger.results) {
    EXPECT_EQ(r.error, TransportError::kNone) << "transfer " << id;
    EXPECT_EQ(r.http_status, 200) << "transfer " << id;
  }
  // One thread ran every callback, and it was none of the submitters.
  ASSERT_FALSE(ledger.threads.empty());
  for (const std::thread::id& id : ledger.threads) EXPECT_EQ(id, ledger.threads.front());
  for (const std::thread::id& id : submitter_ids) EXPECT_NE(id, ledger.threads.front());
  EXPECT_EQ(loop_->in_flight(), 0);
}

TEST_F(HttpLoopTest, ATimeoutArmedFromAnotherThreadWhileTheLoopSleepsFiresOnTime) {
  // The loop is idle (asleep with no timer) when the transfer starts, so its
  // timeout is armed by the submitting thread.
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  absl::SleepFor(absl::Milliseconds(50));
  Ledger ledger;
  const absl::Time start = absl::Now();
  loop_->Submit(Get("B1", absl::Milliseconds(300)), ledger.Record());
  ASSERT_TRUE(ledger.WaitFor(1, absl::Seconds(10)));
  const absl::Duration took = absl::Now() - start;
  absl::MutexLock lock(&ledger.mu);
  EXPECT_EQ(ledger.results.begin()->second.error, TransportError::kTimeout);
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Milliseconds(1300)) << "the timeout fired late";
}

TEST_F(HttpLoopTest, AShorterTimeoutStartedAfterALongerOneStillFiresFirst) {
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  Ledger ledger;
  loop_->Submit(Get("LONG", absl::Seconds(5)), ledger.Record());
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  const TransferId short_id = loop_->Submit(Get("SHORT", absl::Milliseconds(200)), ledger.Record());
  const bool ended = ledger.WaitFor(1, absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;
  loop_.reset();  // ends the long one (its callback uses `ledger`)
  ASSERT_TRUE(ended);
  absl::MutexLock lock(&ledger.mu);
  ASSERT_EQ(ledger.results.count(short_id), 1u);
  EXPECT_EQ(ledger.results[short_id].error, TransportError::kTimeout);
  EXPECT_LT(took, absl::Milliseconds(1200)) << "the short timeout waited for the long one";
  EXPECT_EQ(ledger.calls.size(), 2u);
}

TEST_F(HttpLoopTest, TimersFromAnotherThreadRunInOrderAndOnTime) {
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<absl::Duration> at;
  const absl::Time start = absl::Now();
  for (int ms : {150, 50, 100}) {
    loop_->RunAfter(absl::Milliseconds(ms), [&, ms] {
      absl::MutexLock lock(&mu);
      order.push_back(ms);
      at.push_back(absl::Now() - start);
    });
  }
  absl::MutexLock lock(&mu);
  auto all = [&] { return order.size() == 3; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(5)));
  EXPECT_EQ(order, (std::vector<int>{50, 100, 150}));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GE(at[i], absl::Milliseconds(order[i]) - absl::Milliseconds(1));
    EXPECT_LT(at[i], absl::Milliseconds(order[i] + 500)) << "timer " << order[i] << " late";
  }
}

TEST_F(HttpLoopTest, CancelFromAnotherThreadEndsTheTransferOnce) {
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  Ledger ledger;
  const TransferId id = loop_->Submit(Get("B1"), ledger.Record());
  absl::SleepFor(absl::Milliseconds(50));
  std::thread([&] { loop_->Cancel(id); }).join();
  ASSERT_TRUE(ledger.WaitFor(1, absl::Seconds(5)));
  loop_->Cancel(id);  // finished: ignored
  absl::SleepFor(absl::Milliseconds(50));
  absl::MutexLock lock(&ledger.mu);
  EXPECT_EQ(ledger.done, 1);
  EXPECT_EQ(ledger.results[id].error, TransportError::kCancelled);
}

TEST_F(HttpLoopTest, ShutdownEndsEverythingInFlightAndRefusesLateWork) {
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  Ledger ledger;
  for (int i = 0; i < 20; ++i) loop_->Submit(Get(absl::StrCat("H", i)), ledger.Record());
  absl::SleepFor(absl::Milliseconds(100));
  loop_.reset();  // joins the loop thread
  absl::MutexLock lock(&ledger.mu);
  EXPECT_EQ(ledger.done, 20);
  for (const auto& [id, r] : ledger.results) {
    EXPECT_EQ(r.error, TransportError::kCancelled) << "transfer " << id;
  }
}

// Several loops behind one SerpwowClient (the gateway runs one per core):
// every call for a batch runs on that batch's loop, ids name their loop, and
// Cancel reaches the loop that owns the transfer.
TEST_F(HttpLoopTest, ShardedLoopsKeepABatchOnOneLoopAndRouteCancels) {
  std::vector<std::unique_ptr<HttpLoop>> loops;
  std::vector<HttpLoop*> raw;
  for (uint32_t i = 0; i < 3; ++i) {
    HttpLoopOptions options;
    options.id_shard = i;
    options.id_shards = 3;
    auto loop = HttpLoop::Create(options);
    ASSERT_TRUE(loop.ok()) << loop.status();
    raw.push_back(loop->get());
    loops.push_back(std::move(*loop));
  }
  UpstreamOptions upstream;
  upstream.base_url = sim_->base_url();
  upstream.api_key = kKey;
  LoopPool pool(raw);
  auto client = SerpwowClient::Create(upstream, &pool);
  ASSERT_TRUE(client.ok()) << client.status();

  absl::Mutex mu;
  std::map<std::string, std::set<std::thread::id>> threads_by_batch;
  std::map<TransferId, HttpResult> results;
  int done = 0;
  auto record = [&](const std::string& batch) {
    return [&, batch](HttpResult r) {
      absl::MutexLock lock(&mu);
      threads_by_batch[batch].insert(std::this_thread::get_id());
      results[r.transfer_id] = std::move(r);
      ++done;
    };
  };
  constexpr int kBatches = 12, kCallsEach = 6;
  for (int b = 0; b < kBatches; ++b) {
    const std::string id = absl::StrCat("S", b);
    sim_->PutBatch(id, sim::BatchState::kQueued);
    for (int i = 0; i < kCallsEach; ++i) {
      UpstreamRequest request;
      request.endpoint = i % 2 == 0 ? Endpoint::kGetBatch : Endpoint::kStopBatch;
      request.args.batch = id;
      ASSERT_TRUE((*client)->Call(request, absl::Seconds(5), record(id)).ok());
    }
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return done == kBatches * kCallsEach; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
    std::set<std::thread::id> loop_threads;
    for (const auto& [batch, threads] : threads_by_batch) {
      EXPECT_EQ(threads.size(), 1u) << "batch " << batch << " ran on several loops";
      loop_threads.insert(threads.begin(), threads.end());
    }
    EXPECT_GT(loop_threads.size(), 1u) << "12 batches all hashed to one of 3 loops";
    for (const auto& [id, r] : results) EXPECT_EQ(r.error, TransportError::kNone) << id;
  }

  // Cancel finds the owning loop from the id alone, whichever loop it is.
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  std::map<TransferId, std::string> pending;
  for (int b = 0; b < kBatches; ++b) {
    const std::string id = absl::StrCat("S", b);
    UpstreamRequest request;
    request.args.batch = id;
    absl::StatusOr<TransferId> transfer = (*client)->Call(request, absl::Seconds(30), record(id));
    ASSERT_TRUE(transfer.ok()) << transfer.status();
    pending[*transfer] = id;
  }
  absl::SleepFor(absl::Milliseconds(100));
  for (const auto& [transfer, batch] : pending) (*client)->Cancel(transfer);
  absl::MutexLock lock(&mu);
  auto cancelled = [&] { return done == kBatches * (kCallsEach + 1); };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&cancelled), absl::Seconds(5)))
      << "a cancel went to the wrong loop";
  for (const auto& [transfer, batch] : pending) {
    EXPECT_EQ(results[transfer].error, TransportError::kCancelled) << batch;
  }
}

}  // namespace
}  // namespace serpwow::upstream
