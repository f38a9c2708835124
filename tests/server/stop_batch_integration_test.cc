// StopBatch end to end: a real gRPC client -> a real gateway on 127.0.0.1:0
// -> real libcurl -> a real SerpWow simulator on 127.0.0.1:0. One test per
// row of the error contract (README "Error contract"), plus the refund rule.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/ports.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

Fault Respond(const std::string& suffix, int status, const std::string& body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
  Fault f;
  f.path_suffix = suffix;
  f.status = status;
  f.body = body;
  f.headers = std::move(headers);
  return f;
}

absl::Duration RetryDelay(const CallResult& r) {
  auto retry = r.Detail<google::rpc::RetryInfo>();
  if (!retry) return absl::InfiniteDuration();
  return absl::Seconds(retry->retry_delay().seconds()) +
         absl::Nanoseconds(retry->retry_delay().nanos());
}

class StopBatchTest : public GatewayTest {
 protected:
  void ExpectError(const CallResult& r, grpc::StatusCode code, const std::string& reason) {
    EXPECT_EQ(r.status.error_code(), code) << r.status.error_message();
    EXPECT_EQ(r.Reason(), reason) << r.status.error_message();
    EXPECT_EQ(r.ErrorInfoCount(), 1);
    auto info = r.Detail<google::rpc::ErrorInfo>();
    if (info) {
      EXPECT_EQ(info->domain(), "serpwow.com");
    }
    // Messages are for people: never the key, a URL or a raw body.
    EXPECT_EQ(r.status.error_message().find(kTestKey), std::string::npos);
    EXPECT_EQ(r.status.error_message().find("http://"), std::string::npos);
    EXPECT_EQ(r.status.error_message().find("{"), std::string::npos);
    EXPECT_FALSE(r.status.error_message().empty());
  }

  // Counts requests the simulator received whose path ends with `suffix`.
  int Requests(const std::string& suffix) {
    int n = 0;
    for (const auto& req : sim_->requests()) {
      if (req.path.size() >= suffix.size() &&
          req.path.compare(req.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        ++n;
      }
    }
    return n;
  }
};

// --- OK rows and the refund rule -------------------------------------------

TEST_F(StopBatchTest, QueuedBatchIsStoppedWithRefund) {
  StartAll();
  sim_->SetCredits(1000);
  sim_->PutBatch("9E867FAA", BatchState::kQueued, 200);
  const int64_t before = sim_->credits();
  CallResult r = Stop("9E867FAA");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.batch_id(), "9E867FAA");
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_FALSE(r.response.message().empty());
  EXPECT_EQ(sim_->credits(), before + 200);  // the simulator did refund
  EXPECT_EQ(sim_->GetBatch("9E867FAA")->state, BatchState::kIdle);
  EXPECT_EQ(Requests("/batches/9E867FAA"), 1);  // the pre-read
  EXPECT_EQ(Requests("/batches/9E867FAA/stop"), 1);
}

TEST_F(StopBatchTest, RunningBatchIsStoppedWithoutRefund) {
  StartAll();
  sim_->PutBatch("2A6F94BB", BatchState::kRunning, 150);
  const int64_t before = sim_->credits();
  CallResult r = Stop("2A6F94BB");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_RUNNING);
  EXPECT_FALSE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
  EXPECT_EQ(sim_->credits(), before);
  EXPECT_EQ(sim_->GetBatch("2A6F94BB")->state, BatchState::kIdle);
}

TEST_F(StopBatchTest, StopReplyRefundStatementWins) {
  sim::SimulatorOptions o;
  o.stop_reply_reports_refund = true;
  StartAll(o);
  sim_->PutBatch("Q1", BatchState::kQueued, 10);
  // The pre-read is made to fail, so only the stop reply can know.
  sim_->AddFault(Respond("/batches/Q1", 500, "oops"));
  CallResult r = Stop("Q1");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_TRUE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_STOP_REPLY);
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_UNSPECIFIED);
}

TEST_F(StopBatchTest, FailedPreReadStillStopsAndSaysRefundUnknown) {
  StartAll();
  sim_->PutBatch("Q2", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/batches/Q2", 503, ""));
  CallResult r = Stop("Q2");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.previous_status(), v1::BATCH_STATUS_UNSPECIFIED);
  EXPECT_FALSE(r.response.credits_refunded());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);
  EXPECT_EQ(Requests("/batches/Q2/stop"), 1);
}

TEST_F(StopBatchTest, SlowPreReadLeavesTimeForTheStop) {
  StartAll();
  sim_->PutBatch("Q3", BatchState::kQueued, 10);
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/batches/Q3";
  sim_->AddFault(hang);
  CallResult r = Stop("Q3", absl::Seconds(2));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);
  EXPECT_LT(r.elapsed, absl::Seconds(2));
}

// --- Error rows ----------------------------------------------------------------

TEST_F(StopBatchTest, IdleBatchIsFailedPrecondition) {
  StartAll();
  sim_->PutBatch("IDLE1", BatchState::kIdle, 10);
  CallResult r = Stop("IDLE1");
  ExpectError(r, grpc::StatusCode::FAILED_PRECONDITION, "BATCH_NOT_STOPPABLE");
  auto pf = r.Detail<google::rpc::PreconditionFailure>();
  ASSERT_TRUE(pf.has_value());
  EXPECT_EQ(pf->violations(0).subject(), "batches/IDLE1");
  EXPECT_EQ(Requests("/batches/IDLE1/stop"), 1);  // the upstream decided
}

TEST_F(StopBatchTest, IdleBatchWithAnotherStatusCodeIsFailedPrecondition) {
  sim::SimulatorOptions o;
  o.stop_idle_status = 409;
  StartAll(o);
  sim_->PutBatch("IDLE2", BatchState::kIdle, 10);
  ExpectError(Stop("IDLE2"), grpc::StatusCode::FAILED_PRECONDITION, "BATCH_NOT_STOPPABLE");
}

TEST_F(StopBatchTest, UnknownBatchIsNotFound) {
  StartAll();
  CallResult r = Stop("NOSUCH");
  ExpectError(r, grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
  auto ri = r.Detail<google::rpc::ResourceInfo>();
  ASSERT_TRUE(ri.has_value());
  EXPECT_EQ(ri->resource_name(), "NOSUCH");
}

TEST_F(StopBatchTest, UnknownBatchAnsweredWith400IsNotFound) {
  sim::SimulatorOptions o;
  o.unknown_batch_status = 400;
  StartAll(o);
  ExpectError(Stop("NOSUCH"), grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
}

TEST_F(StopBatchTest, RejectedKeyIsInternal) {
  sim::SimulatorOptions o;
  o.api_key = "the-real-key";
  auto sim = sim::Simulator::Start(o);
  ASSERT_TRUE(sim.ok());
  sim_ = std::move(*sim);
  StartGateway(sim_->base_url(), kTestKey);
  sim_->PutBatch("Q4", BatchState::kQueued, 10);
  CallResult r = Stop("Q4");
  ExpectError(r, grpc::StatusCode::INTERNAL, "UPSTREAM_AUTH_FAILED");
  EXPECT_EQ(sim_->GetBatch("Q4")->state, BatchState::kQueued);
}

TEST_F(StopBatchTest, OutOfCreditsIsResourceExhausted) {
  StartAll();
  sim_->PutBatch("Q5", BatchState::kQueued, 10);
  sim_->AddFault(
      Respond("/stop", 402, R"({"request_info":{"success":false,"message":"Out of credits"}})"));
  CallResult r = Stop("Q5");
  ExpectError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "CREDITS_EXHAUSTED");
  EXPECT_TRUE(r.Detail<google::rpc::QuotaFailure>().has_value());
}

TEST_F(StopBatchTest, RateLimitedWithRetryAfter) {
  StartAll();
  sim_->PutBatch("Q6", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 429, "", {{"Retry-After", "17"}}));
  CallResult r = Stop("Q6");
  ExpectError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "RATE_LIMITED");
  EXPECT_EQ(RetryDelay(r), absl::Seconds(17));
}

TEST_F(StopBatchTest, RateLimitedWithoutRetryAfterGetsTheDefault) {
  options_.calls.default_rate_limit_delay = absl::Seconds(3);
  StartAll();
  sim_->PutBatch("Q7", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 429, "Too Many Requests"));
  CallResult r = Stop("Q7");
  ExpectError(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "RATE_LIMITED");
  EXPECT_EQ(RetryDelay(r), absl::Seconds(3));
}

TEST_F(StopBatchTest, ServerErrorsAreUnavailable) {
  StartAll();
  sim_->PutBatch("Q8", BatchState::kQueued, 10);
  for (int code : {500, 502, 503, 504}) {
    sim_->ClearFaults();
    sim_->AddFault(Respond("/stop", code, "<html>upstream trouble</html>"));
    CallResult r = Stop("Q8");
    ExpectError(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
    EXPECT_FALSE(r.Detail<google::rpc::RetryInfo>().has_value()) << code;
  }
}

TEST_F(StopBatchTest, ServiceUnavailableWithRetryAfterInTheBody) {
  StartAll();
  sim_->PutBatch("Q9", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 503, R"({"message":"parsing incident","retry_after":120})"));
  CallResult r = Stop("Q9");
  ExpectError(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  EXPECT_EQ(RetryDelay(r), absl::Seconds(120));
}

TEST_F(StopBatchTest, ConnectionRefusedIsUnavailable) {
  StartGateway(absl::StrCat("http://127.0.0.1:", UnusedLoopbackPort()), kTestKey);
  CallResult r = Stop("ANY");
  ExpectError(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  EXPECT_LT(r.elapsed, absl::Seconds(5));
}

TEST_F(StopBatchTest, UnresolvableHostIsUnavailable) {
  options_.upstream.timeout_cap = absl::Seconds(2);
  options_.upstream.connect_timeout = absl::Seconds(2);
  StartGateway("https://no-such-host.invalid/live", kTestKey);
  CallResult r = Stop("ANY", absl::Seconds(10));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  EXPECT_LT(r.elapsed, absl::Seconds(6));
}

TEST_F(StopBatchTest, TlsHandshakeFailureIsUnavailable) {
  StartAll();
  // https to a port that speaks plain HTTP: the handshake fails.
  sim_->PutBatch("Q10", BatchState::kQueued, 10);
  gateway_.reset();
  StartGateway(absl::StrCat("https://127.0.0.1:", sim_->port()), kTestKey);
  CallResult r = Stop("Q10");
  ExpectError(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  auto info = r.Detail<google::rpc::ErrorInfo>();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("transport_error"), "tls");
  EXPECT_EQ(sim_->GetBatch("Q10")->state, BatchState::kQueued);
}

TEST_F(StopBatchTest, DroppedConnectionIsUnavailable) {
  StartAll();
  sim_->PutBatch("Q11", BatchState::kQueued, 10);
  Fault drop;
  drop.action = Fault::Action::kDropConnection;
  drop.path_suffix = "/stop";
  sim_->AddFault(drop);
  ExpectError(Stop("Q11"), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
}

TEST_F(StopBatchTest, ResetMidBodyIsUnavailable) {
  StartAll();
  sim_->PutBatch("Q12", BatchState::kQueued, 10);
  Fault reset;
  reset.action = Fault::Action::kResetMidBody;
  reset.path_suffix = "/stop";
  reset.status = 200;
  reset.body = R"({"request_info":{"success":true,"message":"Batch stopped"}})";
  sim_->AddFault(reset);
  ExpectError(Stop("Q12"), grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
}

TEST_F(StopBatchTest, DeadlinePassingAbortsTheTransfer) {
  StartAll();
  sim_->PutBatch("Q13", BatchState::kQueued, 10);
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/stop";
  sim_->AddFault(hang);
  CallResult r = Stop("Q13", absl::Milliseconds(600));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(r.elapsed, absl::Seconds(3));
  // The upstream transfer was aborted, not left to run into the 10 s cap.
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(2)));
}

TEST_F(StopBatchTest, CallerCancelAbortsTheTransfer) {
  StartAll();
  sim_->PutBatch("Q14", BatchState::kQueued, 10);
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/stop";
  sim_->AddFault(hang);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::StopBatchRequest request;
  request.set_batch_id("Q14");
  v1::StopBatchResponse response;
  absl::Notification done;
  grpc::Status status;
  stub_->async()->StopBatch(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  // Cancel once the stop is actually in flight upstream.
  absl::Time until = absl::Now() + absl::Seconds(5);
  while (Requests("/stop") == 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(Requests("/stop"), 1);
  context.TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(2)));
}

TEST_F(StopBatchTest, GatewayCapOnUpstreamTimeIsUnavailable) {
  options_.upstream.timeout_cap = absl::Milliseconds(300);
  StartAll();
  sim_->PutBatch("Q15", BatchState::kQueued, 10);
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/stop";
  sim_->AddFault(hang);
  CallResult r = Stop("Q15", absl::Seconds(10));
  ExpectError(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_TIMEOUT");
  EXPECT_LT(r.elapsed, absl::Seconds(3));
}

TEST_F(StopBatchTest, NonJsonReplyIsInternal) {
  StartAll();
  sim_->PutBatch("Q16", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 200, "<html><body>Welcome</body></html>"));
  ExpectError(Stop("Q16"), grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE");
}

TEST_F(StopBatchTest, TruncatedJsonIsInternal) {
  StartAll();
  sim_->PutBatch("Q17", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 200, R"({"request_info":{"success":tr)"));
  ExpectError(Stop("Q17"), grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE");
}

TEST_F(StopBatchTest, UnrecognisedRefusalIsInternal) {
  StartAll();
  sim_->PutBatch("Q18", BatchState::kQueued, 10);
  sim_->AddFault(Respond(
      "/stop", 200, R"({"request_info":{"success":false,"message":"Something else happened"}})"));
  ExpectError(Stop("Q18"), grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE");
}

TEST_F(StopBatchTest, OversizedReplyIsInternal) {
  StartAll();
  sim_->PutBatch("Q19", BatchState::kQueued, 10);
  std::string big =
      R"({"request_info":{"success":true,"message":")" + std::string((1 << 20) + 10, 'x') + "\"}}";
  sim_->AddFault(Respond("/stop", 200, big));
  ExpectError(Stop("Q19"), grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE");
}

TEST_F(StopBatchTest, OtherClientErrorIsInternal) {
  StartAll();
  sim_->PutBatch("Q20", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 418, R"({"request_info":{"success":false,"message":"teapot"}})"));
  ExpectError(Stop("Q20"), grpc::StatusCode::INTERNAL, "UPSTREAM_REJECTED");
}

TEST_F(StopBatchTest, WrongRouteIsInternalNotNotFound) {
  // SerpWow needs /live; a gateway configured without it hits HTML 404s.
  sim::SimulatorOptions o;
  o.live_prefix = true;
  o.api_key = kTestKey;
  auto sim = sim::Simulator::Start(o);
  ASSERT_TRUE(sim.ok());
  sim_ = std::move(*sim);
  sim_->PutBatch("Q21", BatchState::kQueued, 10);
  StartGateway(absl::StrCat("http://127.0.0.1:", sim_->port()), kTestKey);
  ExpectError(Stop("Q21"), grpc::StatusCode::INTERNAL, "UPSTREAM_ROUTE_NOT_FOUND");
}

TEST_F(StopBatchTest, RedirectIsNeverFollowed) {
  StartAll();
  sim_->PutBatch("Q22", BatchState::kQueued, 10);
  sim_->AddFault(Respond("/stop", 302, "", {{"Location", "http://127.0.0.2:1/steal"}}));
  ExpectError(Stop("Q22"), grpc::StatusCode::INTERNAL, "UPSTREAM_REDIRECT");
}

TEST_F(StopBatchTest, InvalidIdsSendNothingUpstream) {
  StartAll();
  const std::string ids[] = {"",
                             std::string(65, 'A'),
                             "../../account",
                             "a/b",
                             "a?b=c",
                             "a#b",
                             "a%2Fb",
                             "a b",
                             "a\r\nX-Injected: 1",
                             "a.b",
                             std::string("a\0b", 3),
                             "\xEF\xBC\xA1",
                             std::string(10000, 'x')};
  for (const std::string& id : ids) {
    CallResult r = Stop(id);
    ExpectError(r, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_BATCH_ID");
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field_violations(0).field(), "batch_id");
  }
  EXPECT_EQ(sim_->request_count(), 0);
}

// "stopall" is SerpWow's Stop All route (GET /batches/stopall), which the
// pre-read would call: refused in every letter case, nothing sent, and the
// account's queued and running batches are left alone.
TEST_F(StopBatchTest, RouteWordsAsIdsSendNothingAndStopNothing) {
  StartAll();
  sim_->PutBatch("Q1", sim::BatchState::kQueued, 10);
  sim_->PutBatch("R1", sim::BatchState::kRunning, 10);
  for (const char* id : {"stopall", "STOPALL", "StopAll", "clear", "Searches", "start"}) {
    CallResult r = Stop(id);
    ExpectError(r, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_BATCH_ID");
    auto bad = r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field_violations(0).field(), "batch_id");
  }
  EXPECT_EQ(sim_->request_count(), 0);
  EXPECT_EQ(sim_->GetBatch("Q1")->state, sim::BatchState::kQueued);
  EXPECT_EQ(sim_->GetBatch("R1")->state, sim::BatchState::kRunning);
  CallResult ok = Stop("Q1");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
}

// The resource-name form (design: StopBatchRequest.name = "batches/{id}"):
// accepted alone or with the same batch_id; refused before anything is sent
// when invalid or naming another batch than batch_id.
TEST_F(StopBatchTest, TheNameFieldNamesTheBatchToo) {
  StartAll();
  sim_->PutBatch("N1", sim::BatchState::kQueued, 10);
  sim_->PutBatch("N2", sim::BatchState::kQueued, 10);
  v1::StopBatchRequest by_name;
  by_name.set_name("batches/N1");
  CallResult r = Call(&v1::BatchService::Stub::StopBatch, by_name);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.batch_id(), "N1");
  EXPECT_TRUE(r.response.credits_refunded());
  const int64_t before = sim_->request_count();
  for (const auto& [batch_id, name] : std::vector<std::pair<std::string, std::string>>{
           {"N1", "batches/N2"}, {"", "N2"}, {"", "batches/stopall"}, {"N2", "batches/"}}) {
    v1::StopBatchRequest bad;
    bad.set_batch_id(batch_id);
    bad.set_name(name);
    CallResult refused = Call(&v1::BatchService::Stub::StopBatch, bad);
    ExpectError(refused, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_NAME");
    auto violation = refused.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(violation.has_value());
    EXPECT_EQ(violation->field_violations(0).field(), "name");
  }
  EXPECT_EQ(sim_->request_count(), before);
  EXPECT_EQ(sim_->GetBatch("N2")->state, sim::BatchState::kQueued);
  v1::StopBatchRequest both;
  both.set_batch_id("N2");
  both.set_name("batches/N2");
  EXPECT_TRUE(Call(&v1::BatchService::Stub::StopBatch, both).status.ok());
}

TEST_F(StopBatchTest, ManyConcurrentCallsAllComplete) {
  StartAll();
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) sim_->PutBatch(absl::StrCat("C", i), BatchState::kQueued, 1);
  Fault slow;
  slow.path_suffix = "/stop";
  slow.delay = absl::Milliseconds(300);
  sim_->AddFault(slow);  // status 0: normal handling after the delay
  std::atomic<int> ok{0}, finished{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<v1::StopBatchRequest> requests(kCalls);
  std::vector<v1::StopBatchResponse> responses(kCalls);
  absl::Notification all_done;
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    requests[i].set_batch_id(absl::StrCat("C", i));
    stub_->async()->StopBatch(contexts.back().get(), &requests[i], &responses[i],
                              [&, i](grpc::Status s) {
                                if (s.ok() && responses[i].credits_refunded()) ++ok;
                                if (++finished == kCalls) all_done.Notify();
                              });
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(ok.load(), kCalls);
}

}  // namespace
}  // namespace serpwow::testing
