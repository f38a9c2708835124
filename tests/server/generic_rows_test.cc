// The generic rows of the error contract (README "Error contract"), once per
// RPC: every RPC goes through the one upstream caller and the one classifier,
// and this proves that each of them ends each generic upstream failure with
// the same code and reason, exactly one ErrorInfo, and a message that carries
// neither the key nor an upstream URL. Real gateway, real simulator on
// 127.0.0.1:0; the failure is a simulator fault on every request.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;

struct Row {
  const char* name;
  sim::Fault fault;
  grpc::StatusCode code;
  // nullptr: the caller's own deadline, which its gRPC library enforces
  // before the gateway's answer arrives, so the status has no details.
  const char* reason;
  bool retry_info = false;
  absl::Duration timeout = absl::Seconds(10);
  // For CreateBatch and StartBatch (not idempotent upstream), when their
  // answer differs: an attempt that may have been carried out is reconciled,
  // and when SerpWow's state cannot tell, the outcome is UNKNOWN (never
  // UNAVAILABLE, which would promise that nothing was applied).
  grpc::StatusCode code_not_idempotent = grpc::StatusCode::OK;  // OK: as `code`
  const char* reason_not_idempotent = nullptr;
};

sim::Fault Respond(int status, std::string body, std::string content_type = "application/json",
                   std::vector<std::pair<std::string, std::string>> extra = {}) {
  sim::Fault fault;
  fault.action = sim::Fault::Action::kRespond;
  fault.status = status;
  fault.body = std::move(body);
  fault.headers = std::move(extra);
  fault.headers.emplace_back("Content-Type", std::move(content_type));
  return fault;
}

sim::Fault Act(sim::Fault::Action action) {
  sim::Fault fault;
  fault.action = action;
  return fault;
}

const std::vector<Row>& Rows() {
  static const std::vector<Row>* rows = new std::vector<Row>{
      {"auth_401",
       Respond(401,
               R"({"request_info":{"success":false,"message":"Supplied api_key is not valid"}})"),
       grpc::StatusCode::INTERNAL, "UPSTREAM_AUTH_FAILED"},
      {"rate_429", Respond(429, "", "application/json", {{"Retry-After", "120"}}),
       grpc::StatusCode::RESOURCE_EXHAUSTED, "RATE_LIMITED", true},
      {"unavailable_503", Respond(503, "<html>down</html>", "text/html"),
       grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE", false, absl::Seconds(10),
       grpc::StatusCode::UNKNOWN, "OUTCOME_UNKNOWN"},
      {"route_404_html", Respond(404, "<html><body>Not Found</body></html>", "text/html"),
       grpc::StatusCode::INTERNAL, "UPSTREAM_ROUTE_NOT_FOUND"},
      {"redirect_302", Respond(302, "", "text/html", {{"Location", "https://example.com/"}}),
       grpc::StatusCode::INTERNAL, "UPSTREAM_REDIRECT"},
      {"not_json_200", Respond(200, "<html>hello</html>", "text/html"), grpc::StatusCode::INTERNAL,
       "UPSTREAM_BAD_RESPONSE"},
      {"connection_dropped", Act(sim::Fault::Action::kDropConnection),
       grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE", false, absl::Seconds(10),
       grpc::StatusCode::UNKNOWN, "OUTCOME_UNKNOWN"},
      {"hang_past_deadline", Act(sim::Fault::Action::kHang), grpc::StatusCode::DEADLINE_EXCEEDED,
       nullptr, false, absl::Milliseconds(600)},
  };
  return *rows;
}

class GenericRowsTest;

// One RPC: a valid request for it, and the call.
struct Probe {
  const char* name;
  bool not_idempotent;
  std::function<grpc::Status(GenericRowsTest&, absl::Duration)> call;
};

class GenericRowsTest : public GatewayTest,
                        public ::testing::WithParamInterface<std::tuple<size_t, size_t>> {
 public:
  template <typename Request, typename Response>
  grpc::Status Run(grpc::Status (v1::BatchService::Stub::*method)(grpc::ClientContext*,
                                                                  const Request&, Response*),
                   const Request& request, absl::Duration timeout) {
    return Call(method, request, timeout).status;
  }
  sim::Simulator& sim() { return *sim_; }
};

const std::vector<Probe>& Probes() {
  static const std::vector<Probe>* probes = new std::vector<Probe>{
      {"GetBatch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::GetBatchRequest request;
         request.set_name("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::GetBatch, request, timeout);
       }},
      {"ListBatches", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::ListBatchesRequest request;
         request.set_filter("status = QUEUED");
         return t.Run(&v1::BatchService::Stub::ListBatches, request, timeout);
       }},
      {"GetAccount", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::GetAccountRequest request;
         request.set_name("account");
         return t.Run(&v1::BatchService::Stub::GetAccount, request, timeout);
       }},
      {"ListResultSets", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::ListResultSetsRequest request;
         request.set_parent("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::ListResultSets, request, timeout);
       }},
      {"GetResultSet", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::GetResultSetRequest request;
         request.set_name("batches/9E867FAA/resultSets/1");
         return t.Run(&v1::BatchService::Stub::GetResultSet, request, timeout);
       }},
      {"ExportResultSet", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::ExportResultSetRequest request;
         request.set_name("batches/9E867FAA/resultSets/1");
         request.set_format(v1::EXPORT_FORMAT_CSV);
         return t.Run(&v1::BatchService::Stub::ExportResultSet, request, timeout);
       }},
      {"ExportSearches", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::ExportSearchesRequest request;
         request.set_parent("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::ExportSearches, request, timeout);
       }},
      {"ListSearches", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::ListSearchesRequest request;
         request.set_parent("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::ListSearches, request, timeout);
       }},
      {"CreateBatch", true,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::CreateBatchRequest request;
         request.mutable_batch()->set_display_name("Generic");
         return t.Run(&v1::BatchService::Stub::CreateBatch, request, timeout);
       }},
      {"UpdateBatch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::UpdateBatchRequest request;
         request.mutable_batch()->set_name("batches/9E867FAA");
         request.mutable_batch()->set_priority(v1::PRIORITY_HIGH);
         return t.Run(&v1::BatchService::Stub::UpdateBatch, request, timeout);
       }},
      {"DeleteBatch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::DeleteBatchRequest request;
         request.set_name("batches/9E867FAA");
         request.set_force(true);
         return t.Run(&v1::BatchService::Stub::DeleteBatch, request, timeout);
       }},
      {"StartBatch", true,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::StartBatchRequest request;
         request.set_name("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::StartBatch, request, timeout);
       }},
      {"StopAllBatches", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::StopAllBatchesRequest request;
         return t.Run(&v1::BatchService::Stub::StopAllBatches, request, timeout);
       }},
      {"StopBatch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::StopBatchRequest request;
         request.set_name("batches/9E867FAA");
         return t.Run(&v1::BatchService::Stub::StopBatch, request, timeout);
       }},
  };
  return *probes;
}

TEST_P(GenericRowsTest, EndsWithTheContractsCodeAndReason) {
  const Probe& probe = Probes()[std::get<0>(GetParam())];
  const Row& row = Rows()[std::get<1>(GetParam())];
  StartAll();
  sim().PutBatch("9E867FAA", BatchState::kQueued, 200);
  sim().AddFault(row.fault);
  RpcResult<v1::Batch> result;  // only its status is used
  const absl::Time start = absl::Now();
  result.status = probe.call(*this, row.timeout);
  const bool other = probe.not_idempotent && row.reason_not_idempotent != nullptr;
  const grpc::StatusCode code = other ? row.code_not_idempotent : row.code;
  const char* reason = other ? row.reason_not_idempotent : row.reason;
  EXPECT_EQ(result.status.error_code(), code)
      << probe.name << " " << row.name << ": " << result.status.error_message();
  if (row.reason == nullptr) {
    EXPECT_LT(absl::Now() - start, row.timeout + absl::Seconds(1)) << "never a hang";
    EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(5))) << "the transfer was aborted";
    return;
  }
  EXPECT_EQ(result.Reason(), reason) << probe.name << " " << row.name;
  EXPECT_EQ(result.ErrorInfoCount(), 1) << probe.name << " " << row.name;
  EXPECT_EQ(result.Detail<google::rpc::RetryInfo>().has_value(), row.retry_info)
      << probe.name << " " << row.name;
  const std::string& message = result.status.error_message();
  EXPECT_FALSE(message.empty());
  EXPECT_FALSE(absl::StrContains(message, kTestKey)) << message;
  EXPECT_FALSE(absl::StrContains(message, "http://")) << message;
  EXPECT_FALSE(absl::StrContains(message, "127.0.0.1")) << message;
}

std::string Name(const ::testing::TestParamInfo<std::tuple<size_t, size_t>>& info) {
  return std::string(Probes()[std::get<0>(info.param)].name) + "_" +
         Rows()[std::get<1>(info.param)].name;
}

INSTANTIATE_TEST_SUITE_P(EveryRpc, GenericRowsTest,
                         ::testing::Combine(::testing::Range<size_t>(0, Probes().size()),
                                            ::testing::Range<size_t>(0, Rows().size())),
                         Name);

}  // namespace
}  // namespace serpwow::testing
