// Faults, bad input and overload, end to end: a real gateway in front of a
// real simulator that injects the fault. Each test asserts the exact code, a
// bounded completion time, and that the gateway still serves afterwards.
// docs/faults.md lists every fault tried here with the code it gets.
#include <atomic>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

class FaultTest : public GatewayTest {
 protected:
  void SetUp() override {
    // Fast retries keep the tests quick; the rules are the production ones.
    options_.calls.backoff_base = absl::Milliseconds(10);
    options_.calls.backoff_cap = absl::Milliseconds(50);
  }

  int Requests(const std::string& suffix) {
    int n = 0;
    for (const auto& r : sim_->requests()) n += absl::EndsWith(r.path, suffix) ? 1 : 0;
    return n;
  }

  // The fault is gone: a fresh queued batch stops normally.
  void ExpectStillServes() {
    sim_->ClearFaults();
    const std::string id = absl::StrCat("AFTER", ++after_);
    sim_->PutBatch(id, BatchState::kQueued, 5);
    CallResult r = Stop(id, absl::Seconds(5));
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_TRUE(r.response.credits_refunded());
  }

  void Expect(const CallResult& r, grpc::StatusCode code, const std::string& reason,
              absl::Duration within) {
    EXPECT_EQ(r.status.error_code(), code) << r.status.error_message();
    EXPECT_EQ(r.Reason(), reason) << r.status.error_message();
    EXPECT_LT(r.elapsed, within);
  }

  Fault On(const std::string& suffix, Fault::Action action, int status = 0,
           const std::string& body = "") {
    Fault f;
    f.path_suffix = suffix;
    f.action = action;
    f.status = status;
    f.body = body;
    return f;
  }

  int after_ = 0;
};

// --- Retries that never lie -------------------------------------------------

TEST_F(FaultTest, PreReadRetriedAfter503) {
  StartAll();
  sim_->PutBatch("B1", BatchState::kQueued, 10);
  Fault f = On("/batches/B1", Fault::Action::kRespond, 503, "busy");
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("B1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_EQ(Requests("/batches/B1"), 2);
  ExpectStillServes();
}

TEST_F(FaultTest, PreReadRetriedAfter429HonoursRetryAfter) {
  StartAll();
  sim_->PutBatch("B2", BatchState::kRunning, 10);
  Fault f = On("/batches/B2", Fault::Action::kRespond, 429, "");
  f.headers = {{"Retry-After", "1"}};
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("B2", absl::Seconds(6));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_RUNNING);
  EXPECT_GE(r.elapsed, absl::Seconds(1));
  EXPECT_LT(r.elapsed, absl::Seconds(3));
  ExpectStillServes();
}

TEST_F(FaultTest, PreRead429BeyondTheDeadlineIsNotWaitedFor) {
  StartAll();
  sim_->PutBatch("B3", BatchState::kQueued, 10);
  Fault f = On("/batches/B3", Fault::Action::kRespond, 429, "");
  f.headers = {{"Retry-After", "30"}};
  sim_->AddFault(f);
  CallResult r = Stop("B3", absl::Seconds(3));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);  // stopped without it
  EXPECT_LT(r.elapsed, absl::Seconds(1));
}

TEST_F(FaultTest, StopRetriedAfter503WithBodyRetryAfter) {
  StartAll();
  sim_->PutBatch("B4", BatchState::kQueued, 10);
  Fault f = On("/B4/stop", Fault::Action::kRespond, 503, R"({"retry_after":0.3})");
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("B4");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_GE(r.elapsed, absl::Milliseconds(300));
  EXPECT_EQ(Requests("/B4/stop"), 2);
  ExpectStillServes();
}

TEST_F(FaultTest, LostStopReplyIsReconciled) {
  // SerpWow stops the batch, then the connection dies mid-reply. The retry
  // hears "not queued or running"; the gateway re-reads and answers OK with
  // the status it first saw: the refund did happen.
  StartAll();
  sim_->SetCredits(1000);
  sim_->PutBatch("B5", BatchState::kQueued, 100);
  const int64_t before = sim_->credits();
  Fault f = On("/B5/stop", Fault::Action::kResetMidBody);  // status 0: carried out
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("B5");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_EQ(sim_->credits(), before + 100);  // refunded exactly once
  EXPECT_EQ(Requests("/B5/stop"), 2);
  EXPECT_EQ(Requests("/batches/B5"), 2);  // the pre-read and the confirming read
  ExpectStillServes();
}

TEST_F(FaultTest, StalledStopReplyIsReconciled) {
  options_.upstream.timeout_cap = absl::Milliseconds(300);
  StartAll();
  sim_->PutBatch("B6", BatchState::kRunning, 10);
  Fault f = On("/B6/stop", Fault::Action::kStallAfterHeaders);  // carried out, then stalls
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("B6", absl::Seconds(5));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_RUNNING);
  EXPECT_FALSE(r.response.credits_refunded());
  EXPECT_LT(r.elapsed, absl::Seconds(2));
  ExpectStillServes();
}

TEST_F(FaultTest, RefusalWithoutAnEarlierAttemptIsNotReconciled) {
  StartAll();
  sim_->PutBatch("B7", BatchState::kIdle, 10);
  CallResult r = Stop("B7");
  Expect(r, grpc::StatusCode::FAILED_PRECONDITION, "BATCH_NOT_STOPPABLE", absl::Seconds(1));
  EXPECT_EQ(Requests("/B7/stop"), 1);
  EXPECT_EQ(Requests("/batches/B7"), 1);
}

TEST_F(FaultTest, Persistent500EndsUnavailableAfterThreeAttempts) {
  StartAll();
  sim_->PutBatch("B8", BatchState::kQueued, 10);
  sim_->AddFault(On("/B8/stop", Fault::Action::kRespond, 500, "<html>500</html>"));
  Expect(Stop("B8"), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE", absl::Seconds(2));
  EXPECT_EQ(Requests("/B8/stop"), 3);
  ExpectStillServes();
}

TEST_F(FaultTest, DefinitiveAnswersAreNotRetried) {
  StartAll();
  struct Case {
    int status;
    grpc::StatusCode code;
  };
  int n = 0;
  for (Case c :
       {Case{400, grpc::StatusCode::INTERNAL}, Case{401, grpc::StatusCode::INTERNAL},
        Case{402, grpc::StatusCode::RESOURCE_EXHAUSTED}, Case{404, grpc::StatusCode::NOT_FOUND},
        Case{429, grpc::StatusCode::RESOURCE_EXHAUSTED}}) {
    const std::string id = absl::StrCat("D", ++n);
    sim_->PutBatch(id, BatchState::kQueued, 10);
    sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, c.status,
                      R"({"request_info":{"success":false,"message":"x"}})"));
    EXPECT_EQ(Stop(id).status.error_code(), c.code) << c.status;
    EXPECT_EQ(Requests("/" + id + "/stop"), 1) << c.status;
  }
  ExpectStillServes();
}

TEST_F(FaultTest, RetryBudgetPreventsRetryStorms) {
  options_.calls.retry_budget_ratio = 0.0;
  options_.calls.retry_budget_min = 3;
  options_.calls.breaker.open_for = absl::ZeroDuration();  // breaker off
  StartAll();
  for (int i = 0; i < 10; ++i) sim_->PutBatch(absl::StrCat("S", i), BatchState::kQueued, 1);
  sim_->AddFault(On("/stop", Fault::Action::kRespond, 503, ""));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Stop(absl::StrCat("S", i)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(Requests("/stop"), 10 + 3);  // one each, plus the 3 retries the budget allowed
  ExpectStillServes();
}

// --- Transport faults ----------------------------------------------------------

TEST_F(FaultTest, AcceptThenHangWithinTheDeadline) {
  StartAll();
  sim_->PutBatch("H1", BatchState::kQueued, 10);
  sim_->AddFault(On("/H1/stop", Fault::Action::kHang));
  CallResult r = Stop("H1", absl::Milliseconds(800));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(r.elapsed, absl::Milliseconds(1500));
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(2)));
  ExpectStillServes();
}

TEST_F(FaultTest, HeadersThenStallHitsTheGatewayCap) {
  options_.upstream.timeout_cap = absl::Milliseconds(200);
  StartAll();
  sim_->PutBatch("H2", BatchState::kQueued, 10);
  sim_->AddFault(On("/H2/stop", Fault::Action::kStallAfterHeaders, 200,
                    R"({"request_info":{"success":true}})"));  // never carried out
  Expect(Stop("H2", absl::Seconds(10)), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_TIMEOUT",
         absl::Seconds(2));
  EXPECT_EQ(sim_->GetBatch("H2")->state, BatchState::kQueued);
  ExpectStillServes();
}

TEST_F(FaultTest, SlowDripBodyHitsTheGatewayCap) {
  options_.upstream.timeout_cap = absl::Milliseconds(300);
  StartAll();
  sim_->PutBatch("H3", BatchState::kQueued, 10);
  Fault f = On("/H3/stop", Fault::Action::kSlowDrip, 200,
               R"({"request_info":{"success":true,"message":"Batch stopped"}})");
  f.drip_interval = absl::Milliseconds(50);
  sim_->AddFault(f);
  Expect(Stop("H3", absl::Seconds(10)), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_TIMEOUT",
         absl::Seconds(2));
  ExpectStillServes();
}

TEST_F(FaultTest, ResetMidBodyEveryTimeIsUnavailable) {
  StartAll();
  sim_->PutBatch("H4", BatchState::kQueued, 10);
  sim_->AddFault(On("/H4/stop", Fault::Action::kResetMidBody, 200,
                    R"({"request_info":{"success":true,"message":"Batch stopped"}})"));
  Expect(Stop("H4"), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE", absl::Seconds(2));
  ExpectStillServes();
}

TEST_F(FaultTest, DroppedConnectionOnceIsRetried) {
  StartAll();
  sim_->PutBatch("H5", BatchState::kQueued, 10);
  Fault f = On("/H5/stop", Fault::Action::kDropConnection);
  f.times = 1;
  sim_->AddFault(f);
  CallResult r = Stop("H5");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.credits_refunded());
}

// --- Bad replies -------------------------------------------------------------

TEST_F(FaultTest, BadRepliesAreInternal) {
  StartAll();
  struct Case {
    const char* name;
    int status;
    std::string body;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"html 502", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
       "UPSTREAM_UNAVAILABLE"},
      {"truncated json", 200, R"({"request_info":{"success":true,"mess)", "UPSTREAM_BAD_RESPONSE"},
      {"success false", 200, R"({"request_info":{"success":false,"message":"Hmm"}})",
       "UPSTREAM_BAD_RESPONSE"},
      {"wrong shape", 200, R"({"request_info":"yes","batch":[]})", "UPSTREAM_BAD_RESPONSE"},
      {"json array", 200, "[true]", "UPSTREAM_BAD_RESPONSE"},
      {"over the cap", 200,
       R"({"request_info":{"success":true,"message":")" + std::string(1100000, 'x') + "\"}}",
       "UPSTREAM_BAD_RESPONSE"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("X", ++n);
    sim_->PutBatch(id, BatchState::kQueued, 10);
    sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, c.status, c.body));
    CallResult r = Stop(id);
    EXPECT_EQ(r.Reason(), c.reason) << c.name << ": " << r.status.error_message();
    EXPECT_LT(r.elapsed, absl::Seconds(2)) << c.name;
  }
  ExpectStillServes();
}

// Reply headers beyond what the gateway accepts are a bad reply: SerpWow
// answered, so the call is INTERNAL, not retried and not a breaker failure,
// and the message names no libcurl code. One header line over libcurl's own
// line limit (100 KiB, which libcurl 7.88 reports as out of memory) and many
// short lines over the gateway's total cap (64 KiB) both count.
TEST_F(FaultTest, OversizedReplyHeadersAreABadReplyNotRetried) {
  StartAll();
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 5000; ++i)
    many.emplace_back(absl::StrCat("X-Filler-", i), std::string(200, 'b'));
  const std::vector<Case> cases = {
      {"one 1 MiB header", {{"X-Huge", std::string(1 << 20, 'a')}}},
      {"one 200 KiB header", {{"X-Big", std::string(200 << 10, 'a')}}},
      {"5000 headers of 200 bytes", many},
      {"80 KiB over two headers",
       {{"X-A", std::string(40 << 10, 'a')}, {"X-B", std::string(40 << 10, 'b')}}},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("HDR", ++n);
    sim_->PutBatch(id, BatchState::kQueued, 10);
    Fault f = On("/" + id + "/stop", Fault::Action::kRespond, 200,
                 R"({"request_info":{"success":true,"message":"Batch stopped"}})");
    f.headers = c.headers;
    sim_->AddFault(f);
    CallResult r = Stop(id);
    Expect(r, grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE", absl::Seconds(2));
    EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(r.status.error_message()), "libcurl"))
        << c.name << ": " << r.status.error_message();
    EXPECT_EQ(Requests("/" + id + "/stop"), 1) << c.name << ": retried";
  }
  ExpectStillServes();
}

TEST_F(FaultTest, PreReadOfTheWrongShapeStillStops) {
  StartAll();
  sim_->PutBatch("X9", BatchState::kQueued, 10);
  sim_->AddFault(On("/batches/X9", Fault::Action::kRespond, 200,
                    R"({"request_info":{"success":true},"batch":["queued"]})"));
  CallResult r = Stop("X9");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);
}

TEST_F(FaultTest, RedirectToAnotherHostIsNeverFollowed) {
  StartAll();
  sim::SimulatorOptions other;
  other.api_key = "";  // would accept any key: a thief
  auto thief = sim::Simulator::Start(other);
  ASSERT_TRUE(thief.ok());
  sim_->PutBatch("R1", BatchState::kQueued, 10);
  Fault f = On("/R1/stop", Fault::Action::kRespond, 307, "");
  f.headers = {{"Location", absl::StrCat((*thief)->base_url(), "/batches/R1/stop?api_key=x")}};
  sim_->AddFault(f);
  Expect(Stop("R1"), grpc::StatusCode::INTERNAL, "UPSTREAM_REDIRECT", absl::Seconds(2));
  EXPECT_EQ((*thief)->request_count(), 0);  // the key never travelled there
  EXPECT_EQ((*thief)->connections_accepted(), 0);
  ExpectStillServes();
}

// SerpWow carries out every stop but every reply is lost (the connection is
// reset mid-body, after the stop was applied): the retries hear nothing
// either, and a read afterwards finds the batch idle: the stop worked.
TEST_F(FaultTest, EveryStopReplyLostIsReconciledByARead) {
  StartAll();
  sim_->PutBatch("L1", BatchState::kQueued, 7);
  sim_->AddFault(On("/L1/stop", Fault::Action::kResetMidBody));  // status 0: applied, then cut
  CallResult r = Stop("L1");
  ASSERT_TRUE(r.status.ok()) << r.Reason() << " " << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_EQ(Requests("/L1/stop"), options_.calls.max_attempts);
  EXPECT_EQ(Requests("/batches/L1"), 2);  // the pre-read and the confirming read
  EXPECT_EQ(sim_->GetBatch("L1")->state, BatchState::kIdle);
  ExpectStillServes();
}

// The same lost replies, but SerpWow never carried the stop out: the read
// finds the batch still queued, and the answer stays "safe to retry".
TEST_F(FaultTest, LostStopRepliesOfAStopThatNeverHappenedStayUnavailable) {
  StartAll();
  sim_->PutBatch("L2", BatchState::kQueued, 7);
  sim_->AddFault(On("/L2/stop", Fault::Action::kDropConnection));  // never carried out
  CallResult r = Stop("L2");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  EXPECT_EQ(r.Reason(), "UPSTREAM_UNAVAILABLE");
  EXPECT_EQ(Requests("/batches/L2"), 2);
  EXPECT_EQ(sim_->GetBatch("L2")->state, BatchState::kQueued);
  ExpectStillServes();
}

// --- Overload and the circuit breaker -------------------------------------------

TEST_F(FaultTest, BeyondTheInFlightBoundCallsFailFast) {
  options_.calls.max_in_flight = 3;
  StartAll();
  sim_->AddFault(On("/stop", Fault::Action::kHang));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<v1::StopBatchRequest> requests(3);
  std::vector<v1::StopBatchResponse> responses(3);
  std::atomic<int> ended{0};
  for (int i = 0; i < 3; ++i) {
    sim_->PutBatch(absl::StrCat("O", i), BatchState::kQueued, 1);
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    requests[i].set_batch_id(absl::StrCat("O", i));
    stub_->async()->StopBatch(contexts.back().get(), &requests[i], &responses[i],
                              [&ended](grpc::Status) { ++ended; });
  }
  // Wait until the three stops hang upstream (their reads are done).
  absl::Time until = absl::Now() + absl::Seconds(10);
  while (Requests("/stop") < 3 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(Requests("/stop"), 3);
  const int64_t before = sim_->request_count();
  CallResult r = Stop("O0", absl::Seconds(5));
  Expect(r, grpc::StatusCode::UNAVAILABLE, "GATEWAY_OVERLOADED", absl::Milliseconds(500));
  EXPECT_TRUE(r.Detail<google::rpc::RetryInfo>().has_value());
  EXPECT_EQ(sim_->request_count(), before);
  for (auto& c : contexts) c->TryCancel();
  until = absl::Now() + absl::Seconds(5);
  while (ended.load() < 3 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(ended.load(), 3);
  // The client sees its cancel at once; the server learns of it a moment later.
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(100));
  ExpectStillServes();
}

// The breaker counts calls, not attempts: five failing batches in a row
// (each call making several attempts) do not black out the others.
TEST_F(FaultTest, FiveFailingBatchesDoNotOpenTheBreaker) {
  StartAll();
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("BAD", i);
    sim_->PutBatch(id, BatchState::kQueued, 1);
    sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, 500, "boom"));
    EXPECT_EQ(Stop(id).status.error_code(), grpc::StatusCode::UNAVAILABLE) << id;
  }
  EXPECT_GE(Requests("/stop"), 10);  // retried: several attempts per call
  sim_->PutBatch("GOOD", BatchState::kQueued, 1);
  CallResult good = Stop("GOOD");
  EXPECT_TRUE(good.status.ok()) << good.status.error_message();
}

TEST_F(FaultTest, SustainedFailureOpensTheBreakerWhichFailsFastAndRecovers) {
  options_.calls.breaker.open_for = absl::Milliseconds(400);
  options_.calls.max_attempts = 1;
  StartAll();
  sim_->AddFault(On("", Fault::Action::kRespond, 503, "down"));
  const int min_calls = options_.calls.breaker.min_calls;
  for (int i = 0; i < min_calls; ++i) {
    const std::string id = absl::StrCat("C", i);
    sim_->PutBatch(id, BatchState::kQueued, 1);
    ASSERT_EQ(Stop(id).status.error_code(), grpc::StatusCode::UNAVAILABLE) << i;
  }
  const int64_t before = sim_->request_count();
  sim_->PutBatch("NEXT", BatchState::kQueued, 1);
  CallResult fast = Stop("NEXT");
  Expect(fast, grpc::StatusCode::UNAVAILABLE, "CIRCUIT_OPEN", absl::Milliseconds(100));
  auto retry = fast.Detail<google::rpc::RetryInfo>();
  ASSERT_TRUE(retry.has_value());
  EXPECT_GT(retry->retry_delay().seconds() * 1000 + retry->retry_delay().nanos() / 1000000, 0);
  EXPECT_LE(retry->retry_delay().seconds() * 1000 + retry->retry_delay().nanos() / 1000000, 400);
  EXPECT_EQ(sim_->request_count(), before);  // nothing sent while open
  sim_->ClearFaults();
  absl::SleepFor(absl::Milliseconds(450));
  // Half-open: the trial calls succeed and close it.
  for (int i = 0; i < options_.calls.breaker.half_open_trials + 2; ++i) {
    const std::string id = absl::StrCat("T", i);
    sim_->PutBatch(id, BatchState::kQueued, 1);
    CallResult r = Stop(id);
    EXPECT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
  }
}

TEST_F(FaultTest, TwentyPercentOfBatchesFailingNeverOpenTheBreaker) {
  StartAll();
  int failed = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string id = absl::StrCat("M", i);
    sim_->PutBatch(id, BatchState::kQueued, 1);
    const bool bad = i % 5 == 0;
    if (bad) sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, 502, "bad gateway"));
    CallResult r = Stop(id);
    if (bad) {
      ++failed;
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << id;
      EXPECT_EQ(r.Reason(), "UPSTREAM_UNAVAILABLE") << id;
    } else {
      ASSERT_TRUE(r.status.ok()) << id << ": " << r.Reason() << " " << r.status.error_message();
    }
  }
  EXPECT_EQ(failed, 60);
}

TEST_F(FaultTest, NotImplementedRepliesNeverCountAsFailures) {
  options_.calls.breaker.min_calls = 5;
  StartAll();
  for (int i = 0; i < 25; ++i) {
    const std::string id = absl::StrCat("N", i);
    sim_->PutBatch(id, BatchState::kQueued, 1);
    sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, 501, "not implemented"));
    EXPECT_EQ(Stop(id).status.error_code(), grpc::StatusCode::INTERNAL) << id;
  }
  for (const int status : {505, 400, 404}) {
    for (int i = 0; i < 10; ++i) {
      const std::string id = absl::StrCat("X", status, "_", i);
      sim_->PutBatch(id, BatchState::kQueued, 1);
      sim_->AddFault(On("/" + id + "/stop", Fault::Action::kRespond, status, "no"));
      EXPECT_NE(Stop(id).Reason(), "CIRCUIT_OPEN") << id;
    }
  }
  sim_->PutBatch("GOOD", BatchState::kQueued, 1);
  CallResult good = Stop("GOOD");
  EXPECT_TRUE(good.status.ok()) << good.Reason() << " " << good.status.error_message();
}

// --- Bad input ------------------------------------------------------------------

TEST_F(FaultTest, HostileBatchIdsSendNothingUpstream) {
  StartAll();
  const std::vector<std::string> hostile = {
      "",
      ".",
      "..",
      "../account",
      "..%2Faccount",
      "%2e%2e%2faccount",
      "a/b",
      "a\\b",
      "a?api_key=stolen",
      "a#frag",
      "a%2Fb",
      "a%00b",
      "a&b=c",
      "a;b",
      "a b",
      " leading",
      "trailing ",
      "a\tb",
      "a\rb",
      "a\nb",
      "a\r\nHost: evil",
      std::string("a\0b", 3),
      std::string(1, '\0'),
      "\x7f",
      "a+b",
      "a=b",
      "a@b",
      "a:b",
      "a|b",
      "`id`",
      "$(id)",
      "<script>",
      "\"quoted\"",
      "'single'",
      "\xEF\xBC\xA1\xEF\xBC\xA2",  // fullwidth "AB"
      "\xD0\x90",                  // Cyrillic A
      "9E867FA\xCE\x91",           // Greek Alpha at the end
      "\xE2\x80\x8B"
      "9E867FAA",  // zero-width space
      "\xC3\xA9",  // é
      std::string(65, 'A'),
      std::string(10 * 1024, 'A'),
      std::string(100 * 1024, '/'),
  };
  ASSERT_GE(hostile.size(), 30u);
  for (const std::string& id : hostile) {
    CallResult r = Stop(id, absl::Seconds(5));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id.substr(0, 40);
    EXPECT_EQ(r.Reason(), "INVALID_BATCH_ID");
  }
  // Not valid UTF-8: protobuf refuses to parse the request (proto3 strings
  // must be UTF-8) before the handler runs; it is still an error, and still
  // nothing goes upstream.
  for (const std::string id : {"\xFF\xFE", "9E867FA\xC0"}) {
    CallResult r = Stop(id, absl::Seconds(5));
    // gRPC 1.51's answer to a request it cannot parse (docs/faults.md).
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  EXPECT_EQ(sim_->request_count(), 0);
  EXPECT_EQ(sim_->connections_accepted(), 0);
  ExpectStillServes();
}

}  // namespace
}  // namespace serpwow::testing
