// GetBatch end to end: a real gateway in front of the real simulator, every
// row of its contract (design: GetBatch{name} -> Batch; the common codes of
// every RPC plus NOT_FOUND BATCH_NOT_FOUND).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/ports.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

// SerpWow's Get example, every documented field set (and one it does not
// document yet).
constexpr char kFullBatch[] = R"({"request_info":{"success":true},"batch":{
  "id":"G1","name":"Nightly","enabled":true,"schedule_type":"weekly",
  "schedule_hours":[9,17],"schedule_days_of_week":[1,3],"priority":"high",
  "destination_ids":["D1","D2"],"notification_email":"ops@example.com",
  "notification_webhook":"https://hooks.example.com/x","notification_as_json":true,
  "notification_as_jsonlines":false,"notification_as_csv":true,"status":"queued",
  "created_at":"2020-01-01T00:00:00.000Z","last_run":"2020-02-01T10:00:00.000Z",
  "search_total_count":200,"search_page_count":"1","credits_required":200,
  "next_result_set_id":4,"results_count":3,"searches_type":"mixed",
  "searches_type_locked":true,"schedule_minutes":[0,30]}})";

class GetBatchTest : public GatewayTest {
 protected:
  void SetUp() override {
    options_.calls.backoff_base = absl::Milliseconds(10);
    options_.calls.backoff_cap = absl::Milliseconds(50);
  }

  RpcResult<v1::Batch> Get(const std::string& name, absl::Duration timeout = absl::Seconds(10)) {
    v1::GetBatchRequest request;
    request.set_name(name);
    return Call(&v1::BatchService::Stub::GetBatch, request, timeout);
  }

  void Expect(const RpcResult<v1::Batch>& r, grpc::StatusCode code, const std::string& reason) {
    EXPECT_EQ(r.status.error_code(), code) << r.status.error_message();
    EXPECT_EQ(r.Reason(), reason) << r.status.error_message();
    EXPECT_EQ(r.ErrorInfoCount(), 1);
  }

  Fault Respond(const std::string& suffix, int status, const std::string& body, int times = -1) {
    Fault f;
    f.path_suffix = suffix;
    f.status = status;
    f.body = body;
    f.times = times;
    return f;
  }

  int Requests(const std::string& suffix) {
    int n = 0;
    for (const auto& r : sim_->requests()) n += absl::EndsWith(r.path, suffix) ? 1 : 0;
    return n;
  }
};

TEST_F(GetBatchTest, ReturnsTheBatchWithEveryDocumentedFieldMapped) {
  StartAll();
  sim_->PutBatch("G1", BatchState::kIdle, 5);
  sim_->AddFault(Respond("/batches/G1", 200, kFullBatch));
  auto r = Get("batches/G1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const v1::Batch& b = r.response;
  EXPECT_EQ(b.name(), "batches/G1");
  EXPECT_EQ(b.batch_id(), "G1");
  EXPECT_EQ(b.display_name(), "Nightly");
  EXPECT_TRUE(b.has_enabled() && b.enabled());
  EXPECT_EQ(b.schedule_type(), v1::SCHEDULE_TYPE_WEEKLY);
  EXPECT_EQ(std::vector<int>(b.schedule_hours().begin(), b.schedule_hours().end()),
            (std::vector<int>{9, 17}));
  EXPECT_EQ(std::vector<int>(b.schedule_days_of_week().begin(), b.schedule_days_of_week().end()),
            (std::vector<int>{1, 3}));
  EXPECT_EQ(b.priority(), v1::PRIORITY_HIGH);
  ASSERT_EQ(b.destination_ids_size(), 2);
  EXPECT_EQ(b.destination_ids(1), "D2");
  EXPECT_EQ(b.notification_email(), "ops@example.com");
  EXPECT_EQ(b.notification_webhook(), "https://hooks.example.com/x");
  EXPECT_TRUE(b.notification_as_json());
  EXPECT_TRUE(b.has_notification_as_jsonlines() && !b.notification_as_jsonlines());
  EXPECT_TRUE(b.notification_as_csv());
  EXPECT_EQ(b.status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(b.create_time()), "2020-01-01T00:00:00Z");
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(b.last_run_time()), "2020-02-01T10:00:00Z");
  EXPECT_EQ(b.searches_total_count(), 200);  // the Get example's singular spelling
  EXPECT_EQ(b.searches_page_count(), 1);     // a number sent as a string
  EXPECT_EQ(b.credits_required(), 200);
  EXPECT_EQ(b.next_result_set_id(), 4);
  EXPECT_EQ(b.results_count(), 3);
  EXPECT_EQ(b.searches_type(), "mixed");
  EXPECT_TRUE(b.searches_type_locked());
  // An estimate: two months after the last run.
  EXPECT_EQ(google::protobuf::util::TimeUtil::ToString(b.expire_time()), "2020-04-01T10:00:00Z");
  // A field SerpWow adds later is visible at once.
  ASSERT_EQ(b.other_fields().count("schedule_minutes"), 1u);
  EXPECT_EQ(b.other_fields().at("schedule_minutes"), "[0,30]");
  EXPECT_EQ(Requests("/batches/G1"), 1);
}

TEST_F(GetBatchTest, ReadsTheSimulatorsBatchesInEveryState) {
  StartAll();
  sim_->PutBatch("I1", BatchState::kIdle, 10, "idle one");
  sim_->PutBatch("Q1", BatchState::kQueued, 20);
  sim_->PutBatch("R1", BatchState::kRunning, 30);
  for (const auto& [id, status] :
       std::vector<std::pair<std::string, v1::BatchStatus>>{{"I1", v1::BATCH_STATUS_IDLE},
                                                            {"Q1", v1::BATCH_STATUS_QUEUED},
                                                            {"R1", v1::BATCH_STATUS_RUNNING}}) {
    auto r = Get("batches/" + id);
    ASSERT_TRUE(r.status.ok()) << id << ": " << r.status.error_message();
    EXPECT_EQ(r.response.name(), "batches/" + id);
    EXPECT_EQ(r.response.status(), status) << id;
  }
  EXPECT_EQ(Get("batches/I1").response.display_name(), "idle one");
  EXPECT_EQ(Get("batches/R1").response.credits_required(), 30);
  // A read changes nothing.
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);
}

TEST_F(GetBatchTest, InvalidNamesSendNothing) {
  StartAll();
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  const std::vector<std::string> names = {"",
                                          "Q1",
                                          "batch/Q1",
                                          "batches/",
                                          "batches/Q1/stop",
                                          "batches/../account",
                                          "batches/stopall",
                                          "batches/STOPALL",
                                          "batches/StopAll",
                                          "batches/searches",
                                          "batches/clear",
                                          "batches/Q1:stop",
                                          "batches/a b",
                                          "batches/" + std::string(65, 'A'),
                                          "/batches/Q1",
                                          std::string("batches/Q\0", 10)};
  for (const std::string& name : names) {
    auto r = Get(name);
    Expect(r, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_NAME");
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value()) << name;
    EXPECT_EQ(bad->field_violations(0).field(), "name");
  }
  EXPECT_EQ(sim_->request_count(), 0);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, BatchState::kQueued);
  // A bare id gets a message showing the full form.
  EXPECT_TRUE(absl::StrContains(Get("Q1").status.error_message(), "batches/9E867FAA"));
}

TEST_F(GetBatchTest, UnknownBatchIsNotFound) {
  StartAll();
  auto r = Get("batches/NOPE");
  Expect(r, grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
  EXPECT_TRUE(r.Detail<google::rpc::ResourceInfo>().has_value());
}

TEST_F(GetBatchTest, ServerErrorsAreRetriedThenUnavailable) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 1);
  sim_->AddFault(Respond("/batches/S1", 503, "busy", 1));
  auto once = Get("batches/S1");
  ASSERT_TRUE(once.status.ok()) << once.status.error_message();
  EXPECT_EQ(Requests("/batches/S1"), 2);

  sim_->PutBatch("S2", BatchState::kIdle, 1);
  sim_->AddFault(Respond("/batches/S2", 500, "boom"));
  auto always = Get("batches/S2");
  Expect(always, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  EXPECT_EQ(Requests("/batches/S2"), options_.calls.max_attempts);
  EXPECT_FALSE(absl::StrContains(always.status.error_message(), "stopping"))
      << always.status.error_message();
}

TEST_F(GetBatchTest, RateLimitIsRetriedAfterTheHint) {
  StartAll();
  sim_->PutBatch("L1", BatchState::kIdle, 1);
  Fault f = Respond("/batches/L1", 429, R"({"request_info":{"success":false}})", 1);
  f.headers = {{"Retry-After", "1"}};
  sim_->AddFault(f);
  auto r = Get("batches/L1", absl::Seconds(5));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_GE(r.elapsed, absl::Milliseconds(950));

  sim_->PutBatch("L2", BatchState::kIdle, 1);
  Fault far = Respond("/batches/L2", 429, "", -1);
  far.headers = {{"Retry-After", "60"}};
  sim_->AddFault(far);
  auto limited = Get("batches/L2", absl::Seconds(2));
  Expect(limited, grpc::StatusCode::RESOURCE_EXHAUSTED, "RATE_LIMITED");
  EXPECT_TRUE(limited.Detail<google::rpc::RetryInfo>().has_value());
  EXPECT_LT(limited.elapsed, absl::Seconds(1));
}

TEST_F(GetBatchTest, RepliesTheGatewayCannotUseAreInternal) {
  StartAll();
  struct Case {
    std::string id;
    int status;
    std::string body;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"B1", 200, R"({"request_info":{"success":true}})", "UPSTREAM_BAD_RESPONSE"},
      {"B2", 200, R"({"request_info":{"success":true},"batch":{"name":"no id"}})",
       "UPSTREAM_BAD_RESPONSE"},
      {"B3", 200, R"({"request_info":{"success":true},"batch":{"id":"OTHER"}})",
       "UPSTREAM_BAD_RESPONSE"},
      {"B4", 200, "<html>hi</html>", "UPSTREAM_BAD_RESPONSE"},
      {"B5", 404, "<html><body>Not Found</body></html>", "UPSTREAM_ROUTE_NOT_FOUND"},
      {"B6", 401, R"({"request_info":{"success":false,"message":"bad key"}})",
       "UPSTREAM_AUTH_FAILED"},
      {"B7", 501, "nope", "UPSTREAM_BAD_RESPONSE"},
      {"B8", 302, "", "UPSTREAM_REDIRECT"},
  };
  for (const Case& c : cases) {
    sim_->PutBatch(c.id, BatchState::kIdle, 1);
    Fault f = Respond("/batches/" + c.id, c.status, c.body);
    if (c.status == 302) f.headers = {{"Location", "https://elsewhere.example/"}};
    sim_->AddFault(f);
    auto r = Get("batches/" + c.id);
    Expect(r, grpc::StatusCode::INTERNAL, c.reason);
    EXPECT_EQ(Requests("/batches/" + c.id), 1) << c.id;  // never retried
  }
}

TEST_F(GetBatchTest, DeadlineAndCancelAbortTheTransfer) {
  StartAll();
  sim_->PutBatch("H1", BatchState::kIdle, 1);
  Fault hang;
  hang.path_suffix = "/batches/H1";
  hang.action = Fault::Action::kHang;
  sim_->AddFault(hang);
  auto r = Get("batches/H1", absl::Milliseconds(300));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(r.elapsed, absl::Seconds(2));
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(5)));

  grpc::ClientContext context;
  v1::GetBatchRequest request;
  request.set_name("batches/H1");
  v1::Batch response;
  absl::Notification done;
  grpc::Status status;
  stub_->async()->GetBatch(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(100));
  context.TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(5)));
}

TEST_F(GetBatchTest, ConnectionRefusedIsUnavailable) {
  StartGateway(absl::StrCat("http://127.0.0.1:", UnusedLoopbackPort()), kTestKey);
  auto r = Get("batches/ANY");
  Expect(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "reading batch ANY"))
      << r.status.error_message();
}

}  // namespace
}  // namespace serpwow::testing
