// The watch hub's stream-slot contract (server/logic/watch_hub.h): a stream's
// slot under max_streams is given back before its subscriber hears of the
// end, on every way a stream ends, so a caller that has the end can open its
// next stream at once. The hub runs on the real parts below it (an upstream
// loop, the SerpWow client and the upstream caller against the simulator on
// loopback); the subscriber is a fake that reads the hub's count inside
// OnWatchEnd, which the end-to-end test (WatchTest.MaxStreamsRefuses...) can
// only catch when the timing happens to expose it. The stream's clock is a
// seam: max_duration passes without a sleep.
#include "server/logic/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "server/logic/errors.h"
#include "server/logic/upstream_caller.h"
#include "server/upstream/http_loop.h"
#include "server/upstream/serpwow_client.h"
#include "sim/simulator.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;

constexpr char kKey[] = "watch-hub-test-key";

// Records its events and what the hub counted when its end came.
class CountingSubscriber : public WatchSubscriber {
 public:
  struct End {
    absl::Status status;
    std::string why;
    int counted = -1;  // hub.streams() inside OnWatchEnd
    int others = -1;   // the test's streams still open, this one not included
  };

  // `open`: the streams of the test not yet ended, this one included.
  CountingSubscriber(const WatchHub* hub, std::atomic<int>* open) : hub_(hub), open_(open) {}

  void OnWatchEvent(const WatchEvent& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event.type);
  }
  void OnWatchEnd(absl::Status status, const char* why) override {
    End end{std::move(status), why, static_cast<int>(hub_->streams()), open_->fetch_sub(1) - 1};
    absl::MutexLock lock(&mu_);
    end_ = std::move(end);
  }

  // Waits (bounded) for the first event; true when it came.
  bool WaitForFirstEvent() {
    absl::MutexLock lock(&mu_);
    auto any = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !events_.empty(); };
    return mu_.AwaitWithTimeout(absl::Condition(&any), absl::Seconds(10));
  }
  // Waits (bounded) for the end; nullopt when it did not come.
  absl::optional<End> WaitForEnd() {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return end_.has_value(); };
    (void)mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(10));
    return end_;
  }
  std::vector<WatchEventType> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  const WatchHub* const hub_;
  std::atomic<int>* const open_;
  absl::Mutex mu_;
  std::vector<WatchEventType> events_ ABSL_GUARDED_BY(mu_);
  absl::optional<End> end_ ABSL_GUARDED_BY(mu_);
};

class WatchHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimulatorOptions sim_options;
    sim_options.api_key = kKey;
    auto sim = sim::Simulator::Start(sim_options);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = std::move(*sim);
    auto loop = upstream::HttpLoop::Create(upstream::HttpLoopOptions{});
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    pool_ = std::make_unique<upstream::LoopPool>(std::vector<upstream::HttpLoop*>{loop_.get()});
    upstream::UpstreamOptions upstream;
    upstream.base_url = sim_->base_url();
    upstream.api_key = kKey;
    auto client = upstream::SerpwowClient::Create(upstream, pool_.get());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    caller_ = std::make_unique<UpstreamCaller>(client_.get(), CallerOptions{});
  }
  void TearDown() override {
    // As the gateway does (watch_hub.h): the hub shut down, then the loop
    // (it ends what is still in flight, through the client, the caller and
    // the hub, which must all be there), then the hub.
    if (hub_ != nullptr) hub_->Shutdown(absl::CancelledError("the test is over"));
    loop_.reset();
    pool_.reset();
    hub_.reset();
    caller_.reset();
    client_.reset();
  }

  // A hub with room for `max_streams` streams, polling every 20 ms with no
  // budget, on the test's clock.
  WatchHub& Hub(size_t max_streams, absl::Duration max_duration = absl::ZeroDuration()) {
    WatchOptions options;
    options.intervals.queued = options.intervals.running = options.intervals.idle =
        absl::Milliseconds(20);
    options.intervals.poll_rate = 0;
    options.intervals.jitter = 0;
    options.max_streams = max_streams;
    options.max_duration = max_duration;
    hub_ = std::make_unique<WatchHub>(caller_.get(), nullptr, options, nullptr,
                                      [this] { return absl::Now() + clock_offset(); });
    return *hub_;
  }

  std::shared_ptr<CountingSubscriber> Subscriber() {
    ++open_;
    return std::make_shared<CountingSubscriber>(hub_.get(), &open_);
  }

  absl::Status Watch(const std::shared_ptr<CountingSubscriber>& subscriber, const std::string& id,
                     bool until_run_ends = false) {
    WatchRequest request;
    request.batch_id = id;
    request.until_run_ends = until_run_ends;
    return hub_->Watch(subscriber, std::move(request));
  }

  // The stream ended as `why` with `code` (and `reason`, when given), and
  // its slot was given back before it heard so; a next stream then finds
  // room at once.
  void ExpectEndedWithItsSlotBack(CountingSubscriber& s, absl::StatusCode code,
                                  const std::string& why, const char* reason = nullptr) {
    const absl::optional<CountingSubscriber::End> end = s.WaitForEnd();
    ASSERT_TRUE(end.has_value()) << "no end for a stream expecting " << why;
    EXPECT_EQ(end->status.code(), code) << end->status;
    EXPECT_EQ(end->why, why);
    if (reason != nullptr) {
      EXPECT_EQ(ReasonOf(end->status), reason) << end->status;
    }
    EXPECT_EQ(end->counted, end->others)
        << "the hub still counted the stream when its subscriber heard of the end (" << why << ")";
  }

  absl::Duration clock_offset() const {
    return absl::Milliseconds(offset_ms_.load(std::memory_order_relaxed));
  }
  void AdvanceClock(absl::Duration d) { offset_ms_ += absl::ToInt64Milliseconds(d); }

  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<upstream::HttpLoop> loop_;
  std::unique_ptr<upstream::LoopPool> pool_;
  std::unique_ptr<upstream::SerpwowClient> client_;
  std::unique_ptr<UpstreamCaller> caller_;
  std::unique_ptr<WatchHub> hub_;
  std::atomic<int> open_{0};
  std::atomic<int64_t> offset_ms_{0};
};

TEST_F(WatchHubTest, MaxDurationGivesTheSlotBackBeforeTheEnd) {
  WatchHub& hub = Hub(1, absl::Minutes(1));
  sim_->PutBatch("HUB00001", sim::BatchState::kQueued);
  auto first = Subscriber();
  ASSERT_TRUE(Watch(first, "HUB00001").ok());
  ASSERT_TRUE(first->WaitForFirstEvent());
  EXPECT_EQ(first->events().front(), WatchEventType::kSnapshot);
  auto refused = std::make_shared<CountingSubscriber>(&hub, &open_);  // never opened
  EXPECT_EQ(ReasonOf(Watch(refused, "HUB00001")), reason::kGatewayOverloaded) << "max_streams 1";
  AdvanceClock(absl::Minutes(2));
  ExpectEndedWithItsSlotBack(*first, absl::StatusCode::kOk, "max_duration");
  // The caller has its end: its next stream finds room at once.
  auto next = Subscriber();
  EXPECT_TRUE(Watch(next, "HUB00001").ok());
  EXPECT_EQ(hub.streams(), 1u);
}

TEST_F(WatchHubTest, ADeletedBatchGivesTheSlotsBackBeforeTheEnds) {
  WatchHub& hub = Hub(2);
  sim_->PutBatch("HUB00002", sim::BatchState::kQueued);
  auto a = Subscriber(), b = Subscriber();
  ASSERT_TRUE(Watch(a, "HUB00002").ok());
  ASSERT_TRUE(Watch(b, "HUB00002").ok());
  ASSERT_TRUE(a->WaitForFirstEvent());
  ASSERT_TRUE(b->WaitForFirstEvent());
  sim_->RemoveBatch("HUB00002");
  ExpectEndedWithItsSlotBack(*a, absl::StatusCode::kOk, "batch_deleted");
  ExpectEndedWithItsSlotBack(*b, absl::StatusCode::kOk, "batch_deleted");
  EXPECT_EQ(a->events().back(), WatchEventType::kBatchDeleted);
  EXPECT_EQ(hub.streams(), 0u);
}

TEST_F(WatchHubTest, ARunEndGivesTheSlotBackBeforeTheEnd) {
  WatchHub& hub = Hub(1);
  sim_->PutBatch("HUB00003", sim::BatchState::kRunning);
  auto s = Subscriber();
  ASSERT_TRUE(Watch(s, "HUB00003", /*until_run_ends=*/true).ok());
  ASSERT_TRUE(s->WaitForFirstEvent());
  ASSERT_TRUE(sim_->CompleteRuns("HUB00003").ok());
  ExpectEndedWithItsSlotBack(*s, absl::StatusCode::kOk, "run_ended");
  EXPECT_EQ(s->events().back(), WatchEventType::kRunCompleted);
  auto next = Subscriber();
  EXPECT_TRUE(Watch(next, "HUB00003").ok());
  EXPECT_EQ(hub.streams(), 1u);
}

TEST_F(WatchHubTest, AMissingBatchGivesTheSlotBackBeforeTheError) {
  WatchHub& hub = Hub(1);
  auto s = Subscriber();
  ASSERT_TRUE(Watch(s, "HUBNONE1").ok());
  ExpectEndedWithItsSlotBack(*s, absl::StatusCode::kNotFound, "read_failed",
                             reason::kBatchNotFound);
  EXPECT_TRUE(s->events().empty());
  EXPECT_EQ(hub.streams(), 0u);
}

TEST_F(WatchHubTest, ShutdownCountsEachStreamOutBeforeItHears) {
  WatchHub& hub = Hub(8);
  sim_->PutBatch("HUB00004", sim::BatchState::kQueued);
  sim_->PutBatch("HUB00005", sim::BatchState::kIdle);
  std::vector<std::shared_ptr<CountingSubscriber>> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(Subscriber());
    ASSERT_TRUE(Watch(streams.back(), i < 3 ? "HUB00004" : "HUB00005").ok());
  }
  // One more that has not had its first read yet (it hangs).
  sim::Fault hang;
  hang.path_suffix = "/HUBHANG1";
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  sim_->PutBatch("HUBHANG1", sim::BatchState::kQueued);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(streams[i]->WaitForFirstEvent());
  streams.push_back(Subscriber());
  ASSERT_TRUE(Watch(streams.back(), "HUBHANG1").ok());
  EXPECT_EQ(hub.streams(), 5u);
  const absl::Status status =
      ErrorBuilder(absl::StatusCode::kUnavailable, "shutting down", reason::kShuttingDown);
  hub.Shutdown(status);
  for (auto& s : streams) {
    ExpectEndedWithItsSlotBack(*s, absl::StatusCode::kUnavailable, "shutdown");
  }
  EXPECT_EQ(hub.streams(), 0u);
  auto late = Subscriber();
  EXPECT_EQ(ReasonOf(Watch(late, "HUB00004")), reason::kShuttingDown);
}

// The loop stops under a hub that was not shut down (the gateway never
// does this; a library user may): the loop ends the poll's read and runs its
// timers at once, so the poller must end its streams rather than retry in a
// tight loop (it did, to a stack overflow).
TEST_F(WatchHubTest, ALoopThatStopsEndsTheStreamsShuttingDown) {
  WatchHub& hub = Hub(4);
  sim_->PutBatch("HUB00006", sim::BatchState::kQueued);
  sim_->PutBatch("HUBHANG2", sim::BatchState::kQueued);
  sim::Fault hang;
  hang.path_suffix = "/HUBHANG2";
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  auto waiting = Subscriber(), reading = Subscriber();
  ASSERT_TRUE(Watch(waiting, "HUB00006").ok());
  ASSERT_TRUE(Watch(reading, "HUBHANG2").ok());  // its first read hangs: in flight
  ASSERT_TRUE(waiting->WaitForFirstEvent());
  loop_.reset();
  for (CountingSubscriber* s : {waiting.get(), reading.get()}) {
    ExpectEndedWithItsSlotBack(*s, absl::StatusCode::kUnavailable, "shutdown",
                               reason::kShuttingDown);
  }
  EXPECT_EQ(hub.streams(), 0u);
  EXPECT_EQ(hub.watched_batches(), 0u);
}

}  // namespace
}  // namespace serpwow::logic
