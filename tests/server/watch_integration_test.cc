// WatchBatch end to end: a real gateway in front of the real simulator, the
// streams read by gRPC's callback client. The poll budget measured at the
// simulator over 1,000 streams, RUN_COMPLETED per stream with its result
// set, resume with `since` after the connection's age, BATCH_DELETED,
// until=UNTIL_RUN_ENDS, a slow reader's conflation, the stream bounds, the
// failure limit and the drain.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using Event = v1::WatchBatchEvent;

// One stream, read (or not yet read: `read` false, then Resume()) by the
// callback API, so a thousand of them need no thread each.
class Watcher : public grpc::ClientReadReactor<Event> {
 public:
  Watcher(v1::BatchService::Stub* stub, v1::WatchBatchRequest request, bool read = true)
      : request_(std::move(request)) {
    stub->async()->WatchBatch(&context_, &request_, this);
    if (read) StartRead(&event_);
    StartCall();
  }
  ~Watcher() override {
    context_.TryCancel();
    WaitDone(absl::Seconds(30));
  }
  void Resume() { StartRead(&event_); }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(event_);
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  // Waits until some event satisfies `pred`.
  bool WaitFor(const std::function<bool(const Event&)>& pred, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto found = [&] {
      for (const Event& e : events_) {
        if (pred(e)) return true;
      }
      return done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
    for (const Event& e : events_) {
      if (pred(e)) return true;
    }
    return false;
  }
  // Waits until at least `n` events of `type` came.
  bool WaitForCount(Event::EventType type, int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&] {
      int seen = 0;
      for (const Event& e : events_) seen += e.type() == type ? 1 : 0;
      return seen >= n || done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  bool WaitForType(Event::EventType type, absl::Duration timeout = absl::Seconds(20)) {
    return WaitFor([type](const Event& e) { return e.type() == type; }, timeout);
  }
  std::vector<Event> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int Count(Event::EventType type) {
    int n = 0;
    for (const Event& e : events()) n += e.type() == type ? 1 : 0;
    return n;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::string Reason() {
    RpcResult<Event> r;
    r.status = status();
    return r.Reason();
  }

 private:
  grpc::ClientContext context_;
  const v1::WatchBatchRequest request_;
  Event event_;
  absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

v1::WatchBatchRequest WatchOf(const std::string& id, bool until_run_ends = false) {
  v1::WatchBatchRequest request;
  request.set_name(absl::StrCat("batches/", id));
  if (until_run_ends) request.set_until(v1::WatchBatchRequest::UNTIL_RUN_ENDS);
  return request;
}

class WatchTest : public GatewayTest {
 protected:
  void SetUp() override {
    options_.max_concurrent_streams = 2000;
    logic::WatchIntervals& i = options_.watch.intervals;
    i.queued = i.running = absl::Milliseconds(30);
    i.idle = absl::Milliseconds(60);
    i.poll_rate = 1000;  // not binding unless a test says so
    options_.watch.failure_limit = absl::Seconds(30);
  }
  void StartSim() {
    sim::SimulatorOptions o;
    o.queue_delay = absl::Seconds(10);  // virtual: AdvanceTime moves runs on
    o.run_duration = absl::Seconds(10);
    StartAll(o);
  }
  std::unique_ptr<Watcher> Watch(const std::string& id, bool until_run_ends = false,
                                 bool read = true) {
    return std::make_unique<Watcher>(stub_.get(), WatchOf(id, until_run_ends), read);
  }
  grpc::Status StartBatch(const std::string& id) {
    v1::StartBatchRequest request;
    request.set_name(absl::StrCat("batches/", id));
    return Call(&v1::BatchService::Stub::StartBatch, request).status;
  }
  // GETs the simulator received since the last ResetRequests().
  int64_t Gets() {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) n += r.method == "GET" ? 1 : 0;
    return n;
  }
  double Metric(const std::string& line_prefix) {
    for (absl::string_view line : absl::StrSplit(gateway_->RenderMetrics(), '\n')) {
      if (absl::StartsWith(line, line_prefix)) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(line_prefix.size()), &v)) return v;
      }
    }
    return -1;
  }
};

// --- the poll budget, 1,000 streams ---------------------------------------------

TEST_F(WatchTest, AThousandStreamsOnTenBatchesKeepToThePollRateAndEachHearsItsRunOnce) {
  // 10 batches at 30 ms would be ~330 reads a second; the budget of 20 a
  // second stretches each batch's interval to 10 / 20 = 0.5 s.
  options_.watch.intervals.poll_rate = 20;
  StartSim();
  std::vector<std::string> ids;
  for (int b = 0; b < 10; ++b) {
    ids.push_back(absl::StrCat("THOU", b));
    sim_->PutBatch(ids.back(), BatchState::kIdle, 10);
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int s = 0; s < 1000; ++s) watchers.push_back(Watch(ids[s % 10]));
  for (auto& w : watchers) ASSERT_TRUE(w->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  for (auto& w : watchers) {
    EXPECT_EQ(w->events().front().type(), Event::EVENT_TYPE_SNAPSHOT);
    EXPECT_GT(w->events().front().poll_interval().nanos() +
                  w->events().front().poll_interval().seconds() * 1000000000LL,
              0);
  }
  EXPECT_EQ(gateway_->watch_hub().streams(), 1000u);
  EXPECT_EQ(gateway_->watch_hub().watched_batches(), 10u);
  for (const std::string& id : ids) ASSERT_TRUE(StartBatch(id).ok());

  // The window: from here until every stream has its RUN_COMPLETED and 2 s
  // more, every GET the simulator receives is a watch read.
  sim_->ResetRequests();
  const absl::Time begin = absl::Now();
  sim_->AdvanceTime(absl::Seconds(25));  // past queue + run: one result set each
  for (auto& w : watchers) ASSERT_TRUE(w->WaitForType(Event::EVENT_TYPE_RUN_COMPLETED));
  absl::SleepFor(absl::Seconds(2));
  const int64_t gets = Gets();
  const double window = absl::ToDoubleSeconds(absl::Now() - begin);
  // At most burst (20) + rate * window; printed for the report.
  std::printf("watch budget: %lld GETs in %.2f s at --watch_poll_rate=20 (bound %.0f)\n",
              static_cast<long long>(gets), window, 20 + 20 * window);
  EXPECT_LE(gets, 20 + 20 * window);
  EXPECT_GE(gets, 10 * window / 2);  // and the polls do go on (about 20 a second)

  for (size_t s = 0; s < watchers.size(); ++s) {
    auto& w = watchers[s];
    EXPECT_EQ(w->Count(Event::EVENT_TYPE_RUN_COMPLETED), 1) << s;
    for (const Event& e : w->events()) {
      if (e.type() != Event::EVENT_TYPE_RUN_COMPLETED) continue;
      EXPECT_EQ(e.result_set().name(), absl::StrCat("batches/", ids[s % 10], "/resultSets/1"));
      EXPECT_EQ(e.batch().next_result_set_id(), 2);
      EXPECT_EQ(e.batch().status(), v1::BATCH_STATUS_IDLE);
      EXPECT_TRUE(e.has_observe_time());
      EXPECT_GE(e.poll_interval().seconds() * 1000 + e.poll_interval().nanos() / 1000000, 400);
    }
  }
  EXPECT_GE(Metric("serpwow_gateway_watch_polls_total{reason=\"result_set\"} "), 10);
  EXPECT_EQ(Metric("serpwow_gateway_watch_streams "), 1000);
  watchers.clear();
  // The server hears of each cancel a moment after the client has.
  for (int i = 0; i < 500 && gateway_->watch_hub().watched_batches() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(gateway_->watch_hub().streams(), 0u);
  EXPECT_EQ(gateway_->watch_hub().watched_batches(), 0u);
}

// --- resume ----------------------------------------------------------------------

TEST_F(WatchTest, AStreamCutByConnectionAgeResumesWithSinceAndLosesNoEvent) {
  options_.max_connection_age = absl::Milliseconds(300);
  options_.max_connection_age_grace = absl::Milliseconds(200);
  StartSim();
  sim_->PutBatch("AGE1", BatchState::kIdle, 10);
  auto channel = [&] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    return grpc::CreateCustomChannel(gateway_->address(), grpc::InsecureChannelCredentials(), args);
  };
  auto stub1 = v1::BatchService::NewStub(channel());
  Watcher first(stub1.get(), WatchOf("AGE1"));
  ASSERT_TRUE(first.WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  ASSERT_TRUE(first.WaitDone(absl::Seconds(20)));  // the connection's age ends it
  EXPECT_FALSE(first.status().ok());
  const v1::Batch last_seen = first.events().back().batch();
  EXPECT_EQ(last_seen.next_result_set_id(), 1);

  // While nobody watches, a run completes.
  ASSERT_TRUE(sim_->CompleteRuns("AGE1", 1).ok());
  v1::WatchBatchRequest resume = WatchOf("AGE1");
  *resume.mutable_since() = last_seen;
  auto stub2 = v1::BatchService::NewStub(channel());
  Watcher second(stub2.get(), resume);
  ASSERT_TRUE(second.WaitForType(Event::EVENT_TYPE_RUN_COMPLETED));
  const Event e = second.events().front();
  EXPECT_EQ(e.type(), Event::EVENT_TYPE_RUN_COMPLETED);  // first, not a SNAPSHOT
  EXPECT_EQ(e.result_set().name(), "batches/AGE1/resultSets/1");
  EXPECT_EQ(e.batch().next_result_set_id(), 2);
  EXPECT_EQ(second.Count(Event::EVENT_TYPE_SNAPSHOT), 0);
}

TEST_F(WatchTest, SinceOfAnotherBatchIsInvalidAndNothingIsSent) {
  StartSim();
  sim_->PutBatch("S1", BatchState::kIdle, 10);
  v1::WatchBatchRequest request = WatchOf("S1");
  request.mutable_since()->set_name("batches/OTHER");
  Watcher w(stub_.get(), request);
  ASSERT_TRUE(w.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(w.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w.Reason(), "INVALID_FIELD");
  Watcher bad(stub_.get(), WatchOf("stopall"));
  ASSERT_TRUE(bad.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(bad.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.Reason(), "INVALID_NAME");
  EXPECT_EQ(sim_->request_count(), 0);
}

// --- ends --------------------------------------------------------------------------

TEST_F(WatchTest, AnUnknownBatchFailsNotFoundAtTheStart) {
  StartSim();
  Watcher w(stub_.get(), WatchOf("NOSUCH"));
  ASSERT_TRUE(w.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(w.status().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(w.Reason(), "BATCH_NOT_FOUND");
  EXPECT_TRUE(w.events().empty());
}

TEST_F(WatchTest, DeletingAWatchedBatchEndsItsStreamsOkAfterBatchDeleted) {
  StartSim();
  sim_->PutBatch("DEL1", BatchState::kIdle, 10);
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 3; ++i) watchers.push_back(Watch("DEL1"));
  for (auto& w : watchers) ASSERT_TRUE(w->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  v1::DeleteBatchRequest del;
  del.set_name("batches/DEL1");
  del.set_force(true);  // it has searches
  ASSERT_TRUE(Call(&v1::BatchService::Stub::DeleteBatch, del).status.ok());
  for (auto& w : watchers) {
    ASSERT_TRUE(w->WaitDone(absl::Seconds(20)));
    EXPECT_TRUE(w->status().ok()) << w->status().error_message();
    ASSERT_FALSE(w->events().empty());
    EXPECT_EQ(w->events().back().type(), Event::EVENT_TYPE_BATCH_DELETED);
    EXPECT_EQ(w->events().back().batch().name(), "batches/DEL1");  // as last seen
  }
  EXPECT_EQ(gateway_->watch_hub().watched_batches(), 0u);
}

TEST_F(WatchTest, UntilRunEndsEndsAfterTheRunCompletedOrEnded) {
  StartSim();
  sim_->PutBatch("RUN1", BatchState::kIdle, 10);
  sim_->PutBatch("RUN2", BatchState::kIdle, 10);
  auto completes = Watch("RUN1", /*until_run_ends=*/true);
  auto stops = Watch("RUN2", /*until_run_ends=*/true);
  auto stays = Watch("RUN1");  // UNTIL_UNSPECIFIED: goes on
  ASSERT_TRUE(completes->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  ASSERT_TRUE(stops->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  ASSERT_TRUE(StartBatch("RUN1").ok());
  ASSERT_TRUE(StartBatch("RUN2").ok());
  ASSERT_TRUE(stops->WaitForType(Event::EVENT_TYPE_STATUS_CHANGED));
  EXPECT_FALSE(stops->WaitDone(absl::Milliseconds(300)));  // queued: the run goes on
  v1::StopBatchRequest stop;
  stop.set_batch_id("RUN2");
  ASSERT_TRUE(Call(&v1::BatchService::Stub::StopBatch, stop).status.ok());
  ASSERT_TRUE(stops->WaitDone(absl::Seconds(20)));
  EXPECT_TRUE(stops->status().ok());
  EXPECT_EQ(stops->events().back().type(), Event::EVENT_TYPE_RUN_ENDED);
  EXPECT_EQ(stops->events().back().previous_status(), v1::BATCH_STATUS_QUEUED);

  sim_->AdvanceTime(absl::Seconds(25));
  ASSERT_TRUE(completes->WaitDone(absl::Seconds(20)));
  EXPECT_TRUE(completes->status().ok());
  EXPECT_EQ(completes->events().back().type(), Event::EVENT_TYPE_RUN_COMPLETED);
  EXPECT_EQ(completes->events().back().result_set().name(), "batches/RUN1/resultSets/1");
  ASSERT_TRUE(stays->WaitForType(Event::EVENT_TYPE_RUN_COMPLETED));
  EXPECT_FALSE(stays->WaitDone(absl::Milliseconds(200)));
}

TEST_F(WatchTest, MaxStreamsRefusesTheNextOneAndMaxDurationEndsOk) {
  options_.watch.max_streams = 3;
  options_.watch.max_duration = absl::Milliseconds(500);
  StartSim();
  sim_->PutBatch("MAX1", BatchState::kIdle, 10);
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 3; ++i) watchers.push_back(Watch("MAX1"));
  for (auto& w : watchers) ASSERT_TRUE(w->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  Watcher refused(stub_.get(), WatchOf("MAX1"));
  ASSERT_TRUE(refused.WaitDone(absl::Seconds(10)));
  EXPECT_EQ(refused.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refused.Reason(), "GATEWAY_OVERLOADED");
  for (auto& w : watchers) {
    ASSERT_TRUE(w->WaitDone(absl::Seconds(20)));
    EXPECT_TRUE(w->status().ok()) << w->status().error_message();
  }
  // Room again.
  Watcher again(stub_.get(), WatchOf("MAX1"));
  EXPECT_TRUE(again.WaitForType(Event::EVENT_TYPE_SNAPSHOT));
}

TEST_F(WatchTest, PollsFailingLongerThanTheLimitEndTheStreamUnavailable) {
  options_.watch.failure_limit = absl::Milliseconds(400);
  StartSim();
  sim_->PutBatch("FAIL1", BatchState::kIdle, 10);
  Watcher w(stub_.get(), WatchOf("FAIL1"));
  ASSERT_TRUE(w.WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  sim::Fault fault;
  fault.path_suffix = "/batches/FAIL1";
  fault.status = 503;
  fault.body = "{}";
  sim_->AddFault(fault);
  ASSERT_TRUE(w.WaitDone(absl::Seconds(20)));
  EXPECT_EQ(w.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(w.Reason(), "UPSTREAM_UNAVAILABLE");
}

// --- slow readers --------------------------------------------------------------------

TEST_F(WatchTest, ASlowReaderGetsConflatedEventsAndStillTheRunCompleted) {
  StartSim();
  sim_->PutBatch("SLOW1", BatchState::kIdle, 10);
  // The slow reader on a connection of its own whose window stays 64 KiB
  // (no BDP probing that would grow it).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 10);
  auto slow_stub = v1::BatchService::NewStub(
      grpc::CreateCustomChannel(gateway_->address(), grpc::InsecureChannelCredentials(), args));
  auto slow = std::make_unique<Watcher>(slow_stub.get(), WatchOf("SLOW1"), /*read=*/false);
  auto fast = Watch("SLOW1");
  ASSERT_TRUE(fast->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  // Big events (60 fields of 1 KiB in other_fields) that change at every
  // poll fill the unread stream's flow-control window within a few events.
  const std::string filler(1000, 'x');
  for (int round = 0; round < 120; ++round) {
    std::string patch = "{";
    for (int f = 0; f < 60; ++f) {
      absl::StrAppend(&patch, f ? "," : "", "\"extra_", f, "\":\"", filler, round, "\"");
    }
    patch += "}";
    ASSERT_TRUE(sim_->SetBatchFields("SLOW1", patch).ok());
    const int seen = fast->Count(Event::EVENT_TYPE_BATCH_CHANGED);
    fast->WaitForCount(Event::EVENT_TYPE_BATCH_CHANGED, seen + 1, absl::Seconds(2));
  }
  ASSERT_TRUE(sim_->CompleteRuns("SLOW1", 1).ok());
  ASSERT_TRUE(fast->WaitForType(Event::EVENT_TYPE_RUN_COMPLETED));
  slow->Resume();
  ASSERT_TRUE(slow->WaitForType(Event::EVENT_TYPE_RUN_COMPLETED));
  const int fast_events = static_cast<int>(fast->events().size());
  const int slow_events = static_cast<int>(slow->events().size());
  std::printf("slow reader: %d events, the reading one %d\n", slow_events, fast_events);
  EXPECT_LT(slow_events, fast_events);  // conflated
  EXPECT_EQ(slow->Count(Event::EVENT_TYPE_RUN_COMPLETED), 1);
  EXPECT_EQ(slow->events().front().type(), Event::EVENT_TYPE_SNAPSHOT);
  slow->Cancel();
  ASSERT_TRUE(slow->WaitDone(absl::Seconds(10)));
  // The count reaches the metrics when the stream ends.
  for (int i = 0; i < 100 && Metric("serpwow_gateway_watch_events_conflated_total ") <= 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(Metric("serpwow_gateway_watch_events_conflated_total "), fast_events - slow_events);
}

// --- drain ----------------------------------------------------------------------------

TEST_F(WatchTest, DrainEndsEveryStreamUnavailableShuttingDownWithNothingInFlight) {
  StartSim();
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int b = 0; b < 3; ++b) sim_->PutBatch(absl::StrCat("DRAIN", b), BatchState::kIdle, 10);
  for (int s = 0; s < 30; ++s) watchers.push_back(Watch(absl::StrCat("DRAIN", s % 3)));
  for (auto& w : watchers) ASSERT_TRUE(w->WaitForType(Event::EVENT_TYPE_SNAPSHOT));
  // Every poll now hangs at the simulator: at the drain, polls are in flight.
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  sim_->AddFault(hang);
  for (int i = 0; i < 200 && gateway_->calls_in_flight() < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(gateway_->calls_in_flight(), 3u);
  std::thread drain([&] { gateway_->Shutdown(absl::Seconds(10)); });
  for (auto& w : watchers) {
    ASSERT_TRUE(w->WaitDone(absl::Seconds(20)));
    EXPECT_EQ(w->status().error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(w->Reason(), "SHUTTING_DOWN");
  }
  // The polls were cancelled before the streams were ended.
  EXPECT_EQ(gateway_->calls_in_flight(), 0u);
  drain.join();
  EXPECT_EQ(gateway_->watch_hub().streams(), 0u);
}

}  // namespace
}  // namespace serpwow::testing
