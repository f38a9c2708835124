// The batch mutations end to end: a real gateway in front of the real
// simulator. StartBatch's contract rows, its reconciliation under the faults
// of design §6 phase 2 (never two starts, counted at the simulator), and
// request_id de-duplication.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

constexpr char kUuid1[] = "0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a10";
constexpr char kUuid2[] = "7F1B3C2D-0000-4AAA-9BBB-123456789ABC";

class MutationsTest : public GatewayTest {
 protected:
  void SetUp() override {
    options_.calls.backoff_base = absl::Milliseconds(10);
    options_.calls.backoff_cap = absl::Milliseconds(50);
  }

  RpcResult<v1::StartBatchResponse> Start(const std::string& id, const std::string& request_id = "",
                                          absl::Duration timeout = absl::Seconds(10)) {
    v1::StartBatchRequest request;
    request.set_name(absl::StrCat("batches/", id));
    request.set_request_id(request_id);
    return Call(&v1::BatchService::Stub::StartBatch, request, timeout);
  }

  int64_t StartRequests() const {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) {
      n += absl::EndsWith(r.path, "/start") ? 1 : 0;
    }
    return n;
  }
};

template <typename Response>
std::string Meta(const RpcResult<Response>& r, const std::string& key) {
  auto info = r.template Detail<google::rpc::ErrorInfo>();
  if (!info) return "";
  auto it = info->metadata().find(key);
  return it == info->metadata().end() ? "" : it->second;
}

// --- StartBatch: contract rows ---------------------------------------------------

TEST_F(MutationsTest, StartReservesTheCreditsReadBeforeAndNamesTheResultSet) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 120);
  const int64_t credits = sim_->credits();
  auto r = Start("S1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.name(), "batches/S1");
  EXPECT_EQ(r.response.credits_reserved(), 120);
  EXPECT_EQ(r.response.credits_basis(), v1::CREDITS_BASIS_PRE_READ);
  EXPECT_EQ(r.response.result_set(), "batches/S1/resultSets/1");
  EXPECT_EQ(r.response.batch().status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(r.response.message(), "Batch started");
  EXPECT_FALSE(r.response.reconciled());
  EXPECT_EQ(sim_->starts(), 1);
  EXPECT_EQ(sim_->credits(), credits - 120);
}

TEST_F(MutationsTest, StartWithTooFewCreditsNamesNeededAndRemaining) {
  for (int status : {402, 400}) {
    sim::SimulatorOptions o;
    o.insufficient_credits_status = status;
    StartAll(o);
    sim_->PutBatch("S1", BatchState::kIdle, 200);
    sim_->SetCredits(150);
    auto r = Start("S1");
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status;
    EXPECT_EQ(r.Reason(), "CREDITS_EXHAUSTED");
    EXPECT_EQ(r.ErrorInfoCount(), 1);
    EXPECT_EQ(r.status.error_message(), "batch S1 needs 200 credits, the account has 150");
    EXPECT_EQ(Meta(r, "credits_required"), "200");
    EXPECT_EQ(Meta(r, "credits_remaining"), "150");
    auto quota = r.Detail<google::rpc::QuotaFailure>();
    ASSERT_TRUE(quota.has_value());
    ASSERT_EQ(quota->violations_size(), 1);
    EXPECT_EQ(quota->violations(0).subject(), "batches/S1");
    EXPECT_TRUE(absl::StrContains(quota->violations(0).description(), "200"));
    EXPECT_TRUE(absl::StrContains(quota->violations(0).description(), "150"));
    EXPECT_EQ(sim_->starts(), 0);
    TearDown();
  }
}

TEST_F(MutationsTest, StartOfAnActiveBatchIsAlreadyActive) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kRunning, 10);
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  for (const char* id : {"R1", "Q1"}) {
    auto r = Start(id);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << id;
    EXPECT_EQ(r.Reason(), "BATCH_ALREADY_ACTIVE") << id;
    EXPECT_EQ(r.ErrorInfoCount(), 1);
    EXPECT_TRUE(r.Detail<google::rpc::PreconditionFailure>().has_value());
  }
  EXPECT_EQ(sim_->starts(), 0);
}

TEST_F(MutationsTest, StartOfAQueuedBatchThatSerpWowAcceptsIsOk) {
  sim::SimulatorOptions o;
  o.start_queued = sim::SimulatorOptions::StartQueued::kAccept;
  StartAll(o);
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  auto r = Start("Q1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.batch().status(), v1::BATCH_STATUS_QUEUED);
}

TEST_F(MutationsTest, StartOfAnUnknownBatchIsNotFoundAfterTheReadAlone) {
  StartAll();
  auto r = Start("NOPE");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(r.Reason(), "BATCH_NOT_FOUND");
  EXPECT_EQ(sim_->request_count(), 1);
  EXPECT_EQ(StartRequests(), 0);
}

TEST_F(MutationsTest, StartRefusedForAnotherReasonIsUpstreamRejected) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 10);
  Fault f;
  f.path_suffix = "/S1/start";
  f.status = 422;
  f.body = R"({"request_info":{"success":false,"message":"Batch has no searches"}})";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Start("S1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(r.Reason(), "UPSTREAM_REJECTED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "Batch has no searches"))
      << r.status.error_message();
}

TEST_F(MutationsTest, BadNamesAndRequestIdsSendNothing) {
  StartAll();
  for (const char* name : {"S1", "batches/", "batches/stopall", "batches/a b"}) {
    v1::StartBatchRequest request;
    request.set_name(name);
    auto r = Call(&v1::BatchService::Stub::StartBatch, request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_EQ(r.Reason(), "INVALID_NAME") << name;
  }
  for (const char* id :
       {"x", "0d5c0a3e9a544f3e8d552f4b9d1c7a10", "0d5c0a3e-9a54-4f3e-8d55-2f4b9d1c7a1g"}) {
    auto r = Start("S1", id);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_EQ(r.Reason(), "INVALID_REQUEST_ID") << id;
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field_violations(0).field(), "request_id");
  }
  EXPECT_EQ(sim_->request_count(), 0);
}

// --- StartBatch: never two starts ------------------------------------------------

TEST_F(MutationsTest, ResetMidReplyIsReconciledFromTheBatchsState) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault f;
  f.action = Fault::Action::kResetMidBody;  // carried out, reply cut
  f.path_suffix = "/S1/start";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Start("S1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.reconciled());
  EXPECT_EQ(r.response.batch().status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(r.response.credits_reserved(), 30);
  EXPECT_EQ(sim_->starts(), 1);
  EXPECT_EQ(StartRequests(), 1);
  EXPECT_TRUE(absl::StrContains(
      gateway_->RenderMetrics(),
      "serpwow_gateway_reconciliations_total{method=\"StartBatch\",outcome=\"confirmed\"} 1\n"));
}

TEST_F(MutationsTest, StallAfterHeadersIsReconciledFromTheBatchsState) {
  options_.upstream.timeout_cap = absl::Milliseconds(300);
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault f;
  f.action = Fault::Action::kStallAfterHeaders;
  f.path_suffix = "/S1/start";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Start("S1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.reconciled());
  EXPECT_EQ(sim_->starts(), 1);
  EXPECT_EQ(StartRequests(), 1);
}

TEST_F(MutationsTest, A503ThatChangedNothingIsSentOnceMore) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault f;
  f.path_suffix = "/S1/start";
  f.status = 503;
  f.body = R"({"request_info":{"success":false,"message":"busy"}})";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Start("S1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.reconciled());
  EXPECT_EQ(r.response.batch().status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(sim_->starts(), 1);
  EXPECT_EQ(StartRequests(), 2);  // the 503, then the one that started it
}

TEST_F(MutationsTest, EveryReplyLostAndNothingChangedIsOutcomeUnknownNotUnavailable) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault f;
  f.path_suffix = "/S1/start";
  f.status = 503;
  sim_->AddFault(f);  // every start
  auto r = Start("S1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(r.Reason(), "OUTCOME_UNKNOWN");
  EXPECT_EQ(r.ErrorInfoCount(), 1);
  EXPECT_EQ(StartRequests(), 2);  // the first, and one resend after the read
  EXPECT_EQ(sim_->starts(), 0);
}

TEST_F(MutationsTest, ConnectionRefusedIsUnavailableAndNothingStarted) {
  StartGateway("http://127.0.0.1:1", kTestKey);
  auto r = Start("S1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// --- request_id --------------------------------------------------------------------

TEST_F(MutationsTest, ADuplicateRequestIdGetsTheFirstAnswerWithNothingSent) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  auto first = Start("S1", kUuid1);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const int64_t requests = sim_->request_count();
  auto second = Start("S1", kUuid1);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.response.SerializeAsString(), first.response.SerializeAsString());
  EXPECT_EQ(sim_->request_count(), requests);
  EXPECT_EQ(sim_->starts(), 1);
  // Without the id, a second start is a second call: SerpWow refuses it.
  EXPECT_EQ(Start("S1").Reason(), "BATCH_ALREADY_ACTIVE");
}

TEST_F(MutationsTest, ADuplicateInFlightWaitsForTheFirstAnswer) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault slow;
  slow.path_suffix = "/S1/start";
  slow.delay = absl::Milliseconds(400);  // then the normal reply
  slow.times = 1;
  sim_->AddFault(slow);
  std::vector<RpcResult<v1::StartBatchResponse>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] { result = Start("S1", kUuid2); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.response.SerializeAsString(), results[0].response.SerializeAsString());
  }
  EXPECT_EQ(sim_->starts(), 1);
  EXPECT_EQ(StartRequests(), 1);
}

TEST_F(MutationsTest, TheSameRequestIdWithAnotherPayloadIsRequestIdReused) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  sim_->PutBatch("S2", BatchState::kIdle, 30);
  ASSERT_TRUE(Start("S1", kUuid1).status.ok());
  const int64_t requests = sim_->request_count();
  auto r = Start("S2", kUuid1);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.Reason(), "REQUEST_ID_REUSED");
  EXPECT_EQ(r.ErrorInfoCount(), 1);
  EXPECT_EQ(sim_->request_count(), requests);
  EXPECT_EQ(sim_->GetBatch("S2")->state, BatchState::kIdle);
  ASSERT_TRUE(Start("S1", kUuid1).status.ok());  // the stored answer
  const std::string metrics = gateway_->RenderMetrics();
  for (const char* line :
       {"serpwow_gateway_dedupe_total{method=\"StartBatch\",result=\"first\"} 1\n",
        "serpwow_gateway_dedupe_total{method=\"StartBatch\",result=\"reused\"} 1\n",
        "serpwow_gateway_dedupe_total{method=\"StartBatch\",result=\"stored\"} 1\n"}) {
    EXPECT_TRUE(absl::StrContains(metrics, line)) << line << metrics;
  }
}

TEST_F(MutationsTest, AnAnswerThatChangedNothingIsNotStoredSoARetryRuns) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  sim_->SetCredits(0);
  EXPECT_EQ(Start("S1", kUuid1).Reason(), "CREDITS_EXHAUSTED");  // stored: SerpWow said no
  sim_->SetCredits(100);
  EXPECT_EQ(Start("S1", kUuid1).Reason(), "CREDITS_EXHAUSTED");  // the same answer
  EXPECT_EQ(sim_->starts(), 0);
  // A refusal before anything was sent (NOT_FOUND from the read) is forgotten.
  EXPECT_EQ(Start("S9", kUuid2).Reason(), "BATCH_NOT_FOUND");
  sim_->PutBatch("S9", BatchState::kIdle, 30);
  EXPECT_TRUE(Start("S9", kUuid2).status.ok());
}

TEST_F(MutationsTest, ADuplicateOfAFirstCallThatRanOutOfTimeHearsOutcomeUnknown) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault slow;
  slow.path_suffix = "/S1/start";
  slow.delay = absl::Milliseconds(600);  // then carried out, whoever still listens
  slow.times = 1;
  sim_->AddFault(slow);
  RpcResult<v1::StartBatchResponse> first;
  std::thread a([&] { first = Start("S1", kUuid1, absl::Milliseconds(300)); });
  for (int i = 0; i < 200 && StartRequests() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(StartRequests(), 1);
  auto second = Start("S1", kUuid1);  // waits for the first
  a.join();
  EXPECT_EQ(first.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::UNKNOWN) << second.status.error_message();
  EXPECT_EQ(second.Reason(), "OUTCOME_UNKNOWN");
  // A later retry with the id hears the same, and nothing is sent again.
  EXPECT_EQ(Start("S1", kUuid1).Reason(), "OUTCOME_UNKNOWN");
  EXPECT_EQ(StartRequests(), 1);
}

// --- Shutdown ---------------------------------------------------------------------

TEST_F(MutationsTest, AStartInFlightAtShutdownNeverHearsShuttingDown) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 30);
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/S1/start";
  sim_->AddFault(hang);
  RpcResult<v1::StartBatchResponse> r;
  std::thread call([&] { r = Start("S1"); });
  // Wait until the start is at the simulator, then shut down with a short grace.
  for (int i = 0; i < 200 && StartRequests() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(StartRequests(), 1);
  gateway_->Shutdown(absl::Milliseconds(200));
  call.join();
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNKNOWN) << r.status.error_message();
  EXPECT_EQ(r.Reason(), "OUTCOME_UNKNOWN");
}

// --- StopAllBatches -------------------------------------------------------------

class StopAllTest : public MutationsTest {
 protected:
  // 5 queued (10..50 credits), 3 running (7 each), 2 idle.
  void Seed() {
    for (int i = 1; i <= 5; ++i) {
      sim_->PutBatch(absl::StrCat("Q", i), BatchState::kQueued, 10 * i, absl::StrCat("queued ", i));
    }
    for (int i = 1; i <= 3; ++i) sim_->PutBatch(absl::StrCat("R", i), BatchState::kRunning, 7);
    sim_->PutBatch("I1", BatchState::kIdle, 99);
    sim_->PutBatch("I2", BatchState::kIdle, 99);
  }
  RpcResult<v1::StopAllBatchesResponse> StopAll(bool validate_only) {
    v1::StopAllBatchesRequest request;
    request.set_validate_only(validate_only);
    return Call(&v1::BatchService::Stub::StopAllBatches, request);
  }
  int64_t Requests(const std::string& path) const {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) n += r.path == path ? 1 : 0;
    return n;
  }
};

TEST_F(StopAllTest, ListsEveryQueuedAndRunningBatchWithTheRefundEstimate) {
  StartAll();
  Seed();
  const int64_t credits = sim_->credits();
  auto r = StopAll(false);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.batches_stopped(), 8);
  EXPECT_EQ(r.response.batches_failed_to_stop(), 0);
  EXPECT_EQ(r.response.message(), "8 Batches stopped");
  EXPECT_TRUE(r.response.listing_complete());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_EQ(r.response.credits_refunded_estimate(), 150);  // 10+20+30+40+50
  ASSERT_EQ(r.response.batches_size(), 8);
  int queued = 0;
  for (const auto& b : r.response.batches()) {
    if (b.previous_status() == v1::BATCH_STATUS_QUEUED) {
      ++queued;
      EXPECT_EQ(b.credits_refunded(), b.credits_required()) << b.name();
      EXPECT_TRUE(absl::StartsWith(b.display_name(), "queued ")) << b.name();
    } else {
      EXPECT_EQ(b.previous_status(), v1::BATCH_STATUS_RUNNING) << b.name();
      EXPECT_EQ(b.credits_refunded(), 0) << b.name();
      EXPECT_EQ(b.credits_required(), 7);
    }
  }
  EXPECT_EQ(queued, 5);
  EXPECT_FALSE(r.response.retried());
  EXPECT_EQ(sim_->credits(), credits + 150);  // the estimate was right
  for (const char* id : {"Q1", "Q5", "R1", "R3"}) {
    EXPECT_EQ(sim_->GetBatch(id)->state, BatchState::kIdle) << id;
  }
}

TEST_F(StopAllTest, ValidateOnlyListsAndStopsNothing) {
  StartAll();
  Seed();
  auto r = StopAll(true);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.batches_size(), 8);
  EXPECT_EQ(r.response.credits_refunded_estimate(), 150);
  EXPECT_EQ(r.response.batches_stopped(), 0);
  EXPECT_EQ(Requests("/batches/stopall"), 0);
  EXPECT_EQ(Requests("/batches"), 2);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);
  EXPECT_EQ(sim_->GetBatch("R1")->state, BatchState::kRunning);
}

TEST_F(StopAllTest, ASlowListingIsSkippedAndNeverDelaysTheStop) {
  StartAll();
  Seed();
  Fault slow;
  slow.path_suffix = "/batches";  // the list only (the stop is /batches/stopall)
  slow.delay = absl::Seconds(2);
  sim_->AddFault(slow);
  auto r = StopAll(false);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_LT(r.elapsed, absl::Milliseconds(1500));
  EXPECT_FALSE(r.response.listing_complete());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);
  EXPECT_EQ(r.response.batches_size(), 0);
  EXPECT_EQ(r.response.batches_stopped(), 8);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kIdle);
}

TEST_F(StopAllTest, ALostReplyIsSentAgainAndSaysSo) {
  StartAll();
  Seed();
  Fault reset;
  reset.action = Fault::Action::kResetMidBody;
  reset.path_suffix = "/batches/stopall";
  reset.times = 1;
  sim_->AddFault(reset);
  auto r = StopAll(false);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.retried());
  EXPECT_EQ(r.response.batches_stopped(), 0);  // the second call's count: all were stopped
  EXPECT_EQ(r.response.batches_size(), 8);     // the report is from before
  EXPECT_EQ(Requests("/batches/stopall"), 2);
}

// --- CreateBatch ------------------------------------------------------------------

class CreateTest : public MutationsTest {
 protected:
  static v1::Batch Nightly() {
    v1::Batch b;
    b.set_display_name("Nightly");
    b.set_schedule_type(v1::SCHEDULE_TYPE_WEEKLY);
    b.add_schedule_hours(9);
    b.add_schedule_hours(17);
    b.add_schedule_days_of_week(1);
    b.set_priority(v1::PRIORITY_HIGH);
    b.set_enabled(false);
    b.set_notification_webhook("https://hooks.example.com/x");
    b.add_destination_ids("D1");
    return b;
  }
  RpcResult<v1::Batch> Create(const v1::Batch& batch, const std::string& request_id = "") {
    v1::CreateBatchRequest request;
    *request.mutable_batch() = batch;
    request.set_request_id(request_id);
    return Call(&v1::BatchService::Stub::CreateBatch, request);
  }
  int64_t CreateRequests() const {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) {
      n += r.method == "POST" && r.path == "/batches" ? 1 : 0;
    }
    return n;
  }
};

TEST_F(CreateTest, CreatesTheBatchWithEveryFieldSet) {
  StartAll();
  auto r = Create(Nightly());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const v1::Batch& b = r.response;
  EXPECT_EQ(b.batch_id().size(), 8u);
  EXPECT_EQ(b.name(), "batches/" + b.batch_id());
  EXPECT_EQ(b.display_name(), "Nightly");
  EXPECT_EQ(b.schedule_type(), v1::SCHEDULE_TYPE_WEEKLY);
  EXPECT_THAT(b.schedule_hours(), ::testing::ElementsAre(9, 17));
  EXPECT_THAT(b.schedule_days_of_week(), ::testing::ElementsAre(1));
  EXPECT_EQ(b.priority(), v1::PRIORITY_HIGH);
  ASSERT_TRUE(b.has_enabled());
  EXPECT_FALSE(b.enabled());
  EXPECT_EQ(b.notification_webhook(), "https://hooks.example.com/x");
  EXPECT_THAT(b.destination_ids(), ::testing::ElementsAre("D1"));
  EXPECT_EQ(b.status(), v1::BATCH_STATUS_IDLE);
  EXPECT_EQ(sim_->batches_created(), 1);
  ASSERT_TRUE(sim_->GetBatch(b.batch_id()).has_value());
  EXPECT_EQ(sim_->GetBatch(b.batch_id())->name, "Nightly");
}

TEST_F(CreateTest, BadValuesNameTheirFieldAndSendNothing) {
  StartAll();
  struct Case {
    const char* field;
    void (*change)(v1::Batch&);
  };
  const Case cases[] = {
      {"batch.schedule_hours[2]", [](v1::Batch& b) { b.add_schedule_hours(24); }},
      {"batch.schedule_days_of_week[0]", [](v1::Batch& b) { b.set_schedule_days_of_week(0, 7); }},
      {"batch.display_name", [](v1::Batch& b) { b.clear_display_name(); }},
      {"batch.schedule_days_of_month",
       [](v1::Batch& b) { b.add_schedule_days_of_month(3); }},  // weekly
      {"batch.schedule_days_of_week",
       [](v1::Batch& b) {
         b.set_schedule_type(v1::SCHEDULE_TYPE_DAILY);  // days of week only for weekly
       }},
      {"batch.schedule_hours",
       [](v1::Batch& b) {
         b.set_schedule_type(v1::SCHEDULE_TYPE_MANUAL);
         b.clear_schedule_days_of_week();
       }},
      {"batch.priority", [](v1::Batch& b) { b.set_priority(v1::PRIORITY_UNSPECIFIED); }},
      {"batch.notification_webhook",
       [](v1::Batch& b) { b.set_notification_webhook("http://hooks.example.com/x"); }},
      {"batch.notification_webhook",
       [](v1::Batch& b) {
         b.set_notification_webhook("https://h.example.com/" + std::string(2100, 'a'));
       }},
      {"batch.destination_ids",
       [](v1::Batch& b) {
         for (int i = 0; i < 50; ++i) b.add_destination_ids(absl::StrCat("D", i + 2));
       }},
      {"batch.name", [](v1::Batch& b) { b.set_name("batches/X"); }},
      {"batch.status", [](v1::Batch& b) { b.set_status(v1::BATCH_STATUS_QUEUED); }},
  };
  for (const Case& c : cases) {
    v1::Batch b = Nightly();
    c.change(b);
    auto r = Create(b);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(r.Reason(), "INVALID_FIELD") << c.field;
    EXPECT_EQ(r.ErrorInfoCount(), 1);
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value()) << c.field;
    ASSERT_GE(bad->field_violations_size(), 1) << c.field;
    EXPECT_EQ(bad->field_violations(0).field(), c.field) << bad->DebugString();
    EXPECT_TRUE(absl::StartsWith(r.status.error_message(), c.field)) << r.status.error_message();
  }
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(CreateTest, TheLimitsAreFlags) {
  options_.mutations.max_destination_ids = 1;
  StartAll();
  v1::Batch b = Nightly();
  b.add_destination_ids("D2");
  EXPECT_EQ(Create(b).Reason(), "INVALID_FIELD");
  b.clear_destination_ids();
  b.add_destination_ids("D2");
  EXPECT_TRUE(Create(b).status.ok());
}

TEST_F(CreateTest, SerpWowsRefusalIsUpstreamInvalidArgumentWithItsMessage) {
  StartAll();
  Fault f;
  f.path_suffix = "/batches";
  f.status = 400;
  f.body =
      R"({"request_info":{"success":false,"message":"Destination D1 does not belong to you"}})";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Create(Nightly());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.Reason(), "UPSTREAM_INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "Destination D1 does not belong to you"))
      << r.status.error_message();
}

TEST_F(CreateTest, TheAccountsBatchLimitIsConfirmedFromTheAccount) {
  sim::SimulatorOptions o;
  o.max_batches = 2;
  StartAll(o);
  ASSERT_TRUE(Create(Nightly()).status.ok());
  ASSERT_TRUE(Create(Nightly()).status.ok());
  auto r = Create(Nightly());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.Reason(), "BATCH_LIMIT_REACHED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "2 batches")) << r.status.error_message();
  EXPECT_TRUE(r.Detail<google::rpc::QuotaFailure>().has_value());
  EXPECT_EQ(sim_->batches_created(), 2);
}

TEST_F(CreateTest, ResetMidReplyFindsTheBatchByName) {
  StartAll();
  Fault f;
  f.action = Fault::Action::kResetMidBody;
  f.path_suffix = "/batches";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Create(Nightly());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.display_name(), "Nightly");
  EXPECT_TRUE(sim_->GetBatch(r.response.batch_id()).has_value());
  EXPECT_EQ(sim_->batches_created(), 1);
  EXPECT_EQ(CreateRequests(), 1);
}

TEST_F(CreateTest, StallAfterHeadersFindsTheBatchByName) {
  options_.upstream.timeout_cap = absl::Milliseconds(300);
  StartAll();
  Fault f;
  f.action = Fault::Action::kStallAfterHeaders;
  f.path_suffix = "/batches";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Create(Nightly());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(sim_->batches_created(), 1);
  EXPECT_EQ(CreateRequests(), 1);
}

TEST_F(CreateTest, A503ThatCreatedNothingIsOutcomeUnknownAndNeverSentAgain) {
  StartAll();
  Fault f;
  f.path_suffix = "/batches";
  f.status = 503;
  f.times = 1;
  sim_->AddFault(f);
  auto r = Create(Nightly());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(r.Reason(), "OUTCOME_UNKNOWN");
  EXPECT_EQ(sim_->batches_created(), 0);
  EXPECT_EQ(CreateRequests(), 1);
}

TEST_F(CreateTest, TwoBatchesOfTheNameInTheWindowAreOutcomeUnknown) {
  StartAll();
  ASSERT_TRUE(Create(Nightly()).status.ok());  // a "Nightly" made a moment ago...
  Fault f;
  f.action = Fault::Action::kResetMidBody;  // ...and the lost one: two candidates
  f.path_suffix = "/batches";
  f.times = 1;
  sim_->AddFault(f);
  auto r = Create(Nightly());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(r.Reason(), "OUTCOME_UNKNOWN");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "2 batches")) << r.status.error_message();
  EXPECT_EQ(sim_->batches_created(), 2);
  EXPECT_EQ(CreateRequests(), 2);
}

TEST_F(CreateTest, ADuplicateRequestIdCreatesOneBatch) {
  StartAll();
  auto first = Create(Nightly(), kUuid1);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  auto second = Create(Nightly(), kUuid1);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.response.batch_id(), first.response.batch_id());
  EXPECT_EQ(sim_->batches_created(), 1);
  v1::Batch other = Nightly();
  other.set_display_name("Other");
  EXPECT_EQ(Create(other, kUuid1).Reason(), "REQUEST_ID_REUSED");
  EXPECT_EQ(sim_->batches_created(), 1);
}

// --- DeleteBatch ------------------------------------------------------------------

class DeleteTest : public MutationsTest {
 protected:
  RpcResult<google::protobuf::Empty> Delete(const std::string& id, bool force = false) {
    v1::DeleteBatchRequest request;
    request.set_name(absl::StrCat("batches/", id));
    request.set_force(force);
    return Call(&v1::BatchService::Stub::DeleteBatch, request);
  }
  int64_t Count(const std::string& method, const std::string& path) const {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) {
      n += r.method == method && r.path == path ? 1 : 0;
    }
    return n;
  }
  // An idle empty batch E1 whose DELETE meets `fault`. Faults match GET and
  // DELETE alike: a first one passes the read before the delete through.
  void DeleteMeets(Fault fault) {
    sim_->PutBatch("E1", BatchState::kIdle, 0);
    Fault pass;
    pass.path_suffix = "/batches/E1";
    pass.times = 1;
    sim_->AddFault(pass);
    fault.path_suffix = "/batches/E1";
    fault.times = 1;
    sim_->AddFault(fault);
  }
};

TEST_F(DeleteTest, DeletesAnIdleEmptyBatch) {
  StartAll();
  sim_->PutBatch("E1", BatchState::kIdle, 0);  // no searches (one credit per search)
  auto r = Delete("E1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(sim_->GetBatch("E1").has_value());
}

TEST_F(DeleteTest, ABatchWithSearchesNeedsForce) {
  StartAll();
  sim_->PutBatch("F1", BatchState::kIdle, 20);
  auto r = Delete("F1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.Reason(), "BATCH_NOT_EMPTY");
  EXPECT_EQ(r.ErrorInfoCount(), 1);
  EXPECT_TRUE(r.Detail<google::rpc::PreconditionFailure>().has_value());
  EXPECT_EQ(Count("DELETE", "/batches/F1"), 0);
  EXPECT_TRUE(sim_->GetBatch("F1").has_value());
  ASSERT_TRUE(Delete("F1", /*force=*/true).status.ok());
  EXPECT_FALSE(sim_->GetBatch("F1").has_value());
}

TEST_F(DeleteTest, ARunningBatchIsRefusedWithNothingSent) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kRunning, 20);
  auto r = Delete("R1", true);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.Reason(), "BATCH_RUNNING");
  EXPECT_EQ(Count("DELETE", "/batches/R1"), 0);
  EXPECT_TRUE(sim_->GetBatch("R1").has_value());
}

TEST_F(DeleteTest, AQueuedBatchIsStoppedFirstSoItsCreditsComeBack) {
  sim::SimulatorOptions o;
  o.delete_queued = sim::SimulatorOptions::DeleteQueued::kKeepReservation;
  StartAll(o);
  const int64_t credits = sim_->credits();
  sim_->PutBatch("Q1", BatchState::kQueued, 40);
  ASSERT_EQ(sim_->credits(), credits - 40);
  auto r = Delete("Q1", true);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("GET", "/batches/Q1/stop"), 1);
  EXPECT_FALSE(sim_->GetBatch("Q1").has_value());
  EXPECT_EQ(sim_->credits(), credits);
}

TEST_F(DeleteTest, AnUnknownBatchIsNotFound) {
  StartAll();
  auto r = Delete("NOPE");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(r.Reason(), "BATCH_NOT_FOUND");
}

TEST_F(DeleteTest, NotFoundAfterALostReplyMeansDeleted) {
  StartAll();
  Fault reset;
  reset.action = Fault::Action::kResetMidBody;  // the delete is carried out, its reply cut
  DeleteMeets(reset);
  auto r = Delete("E1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("DELETE", "/batches/E1"), 2);  // the lost one, then NOT_FOUND
  EXPECT_FALSE(sim_->GetBatch("E1").has_value());
}

TEST_F(DeleteTest, A503IsRetried) {
  StartAll();
  Fault busy;
  busy.status = 503;
  DeleteMeets(busy);
  auto r = Delete("E1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("DELETE", "/batches/E1"), 2);
  EXPECT_FALSE(sim_->GetBatch("E1").has_value());
}

TEST_F(DeleteTest, ARefusalOfAnIdleBatchIsUpstreamRejected) {
  StartAll();
  Fault refuse;
  refuse.status = 400;
  refuse.body = R"({"request_info":{"success":false,"message":"Batch is locked"}})";
  DeleteMeets(refuse);
  auto r = Delete("E1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(r.Reason(), "UPSTREAM_REJECTED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "Batch is locked"));
}

// --- UpdateBatch ------------------------------------------------------------------

class UpdateTest : public MutationsTest {
 protected:
  RpcResult<v1::Batch> Update(const v1::Batch& batch, std::vector<std::string> paths) {
    v1::UpdateBatchRequest request;
    *request.mutable_batch() = batch;
    for (std::string& p : paths) request.mutable_update_mask()->add_paths(std::move(p));
    return Call(&v1::BatchService::Stub::UpdateBatch, request);
  }
  RpcResult<v1::Batch> Read(const std::string& id) {
    v1::GetBatchRequest request;
    request.set_name("batches/" + id);
    return Call(&v1::BatchService::Stub::GetBatch, request);
  }
  // A weekly batch, 9 and 17 on Mondays, priority high (through the gateway).
  std::string MakeWeekly() {
    v1::CreateBatchRequest request;
    v1::Batch* b = request.mutable_batch();
    b->set_display_name("Weekly");
    b->set_schedule_type(v1::SCHEDULE_TYPE_WEEKLY);
    b->add_schedule_hours(9);
    b->add_schedule_hours(17);
    b->add_schedule_days_of_week(1);
    b->set_priority(v1::PRIORITY_HIGH);
    auto r = Call(&v1::BatchService::Stub::CreateBatch, request);
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    return r.response.batch_id();
  }
};

TEST_F(UpdateTest, SendsExactlyTheMaskedFields) {
  StartAll();
  const std::string id = MakeWeekly();
  v1::Batch change;
  change.set_name("batches/" + id);
  change.set_display_name("Renamed");
  change.set_priority(v1::PRIORITY_LOW);
  change.add_schedule_hours(3);  // set, but not in the mask: not sent
  auto r = Update(change, {"display_name", "priority"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.display_name(), "Renamed");
  EXPECT_EQ(r.response.priority(), v1::PRIORITY_LOW);
  EXPECT_THAT(r.response.schedule_hours(), ::testing::ElementsAre(9, 17));
  EXPECT_EQ(sim_->GetBatch(id)->name, "Renamed");
}

TEST_F(UpdateTest, WithoutAMaskEveryFieldSetIsSentAndAMaskedEmptyListClearsIt) {
  StartAll();
  const std::string id = MakeWeekly();
  v1::Batch change;
  change.set_name("batches/" + id);
  change.set_enabled(false);
  change.set_notification_email("ops@example.com");
  auto r = Update(change, {});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_TRUE(r.response.has_enabled());
  EXPECT_FALSE(r.response.enabled());
  EXPECT_EQ(r.response.notification_email(), "ops@example.com");
  EXPECT_EQ(r.response.display_name(), "Weekly");

  v1::Batch clear;
  clear.set_name("batches/" + id);
  auto cleared = Update(clear, {"schedule_hours"});
  ASSERT_TRUE(cleared.status.ok()) << cleared.status.error_message();
  EXPECT_EQ(cleared.response.schedule_hours_size(), 0);
  EXPECT_EQ(Read(id).response.schedule_hours_size(), 0);
}

TEST_F(UpdateTest, BadMasksAndValuesSendNothing) {
  StartAll();
  v1::Batch change;
  change.set_name("batches/B1");
  change.set_display_name("x");
  for (const char* path :
       {"*", "status", "batch_id", "name", "credits_required", "nope", "displayName"}) {
    auto r = Update(change, {path});
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_EQ(r.Reason(), "INVALID_UPDATE_MASK") << path;
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value()) << path;
    EXPECT_EQ(bad->field_violations(0).field(), "update_mask");
  }
  EXPECT_EQ(Update(v1::Batch(), {"display_name"}).Reason(), "INVALID_NAME");
  v1::Batch bare;
  bare.set_name("batches/B1");
  EXPECT_EQ(Update(bare, {}).Reason(), "INVALID_UPDATE_MASK");  // nothing to send
  change.add_schedule_hours(30);
  auto r = Update(change, {"schedule_hours"});
  EXPECT_EQ(r.Reason(), "INVALID_FIELD");
  EXPECT_EQ(r.Detail<google::rpc::BadRequest>()->field_violations(0).field(),
            "batch.schedule_hours[0]");
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(UpdateTest, ARunningBatchIsBatchRunning) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kRunning, 5);
  v1::Batch change;
  change.set_name("batches/R1");
  change.set_display_name("x");
  auto r = Update(change, {"display_name"});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.Reason(), "BATCH_RUNNING");
  auto pre = r.Detail<google::rpc::PreconditionFailure>();
  ASSERT_TRUE(pre.has_value());
  EXPECT_EQ(pre->violations(0).type(), "BATCH_STATE");
  EXPECT_EQ(pre->violations(0).subject(), "batches/R1");
}

TEST_F(UpdateTest, AQueuedBatchIsBatchRunningWhenSerpWowRefusesQueuedToo) {
  sim::SimulatorOptions o;
  o.mutation_refused_when = sim::SimulatorOptions::MutationRefusedWhen::kQueuedOrRunning;
  StartAll(o);
  sim_->PutBatch("Q1", BatchState::kQueued, 5);
  v1::Batch change;
  change.set_name("batches/Q1");
  change.set_display_name("x");
  EXPECT_EQ(Update(change, {"display_name"}).Reason(), "BATCH_RUNNING");
}

TEST_F(UpdateTest, SerpWowsOtherRefusalIsUpstreamInvalidArgument) {
  StartAll();
  sim_->PutBatch("B1", BatchState::kIdle, 5);
  Fault f;
  f.path_suffix = "/batches/B1";
  f.status = 400;
  f.body = R"({"request_info":{"success":false,"message":"Unknown destination"}})";
  f.times = 1;
  sim_->AddFault(f);
  v1::Batch change;
  change.set_name("batches/B1");
  change.add_destination_ids("DX");
  auto r = Update(change, {"destination_ids"});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.Reason(), "UPSTREAM_INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "Unknown destination"));
}

TEST_F(UpdateTest, AnUnknownBatchIsNotFoundAndA503IsRetried) {
  StartAll();
  v1::Batch change;
  change.set_name("batches/NOPE");
  change.set_display_name("x");
  EXPECT_EQ(Update(change, {"display_name"}).Reason(), "BATCH_NOT_FOUND");
  sim_->PutBatch("B1", BatchState::kIdle, 5);
  Fault f;
  f.path_suffix = "/batches/B1";
  f.status = 503;
  f.times = 1;
  sim_->AddFault(f);
  change.set_name("batches/B1");
  auto r = Update(change, {"display_name"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(sim_->GetBatch("B1")->name, "x");
}

}  // namespace
}  // namespace serpwow::testing
