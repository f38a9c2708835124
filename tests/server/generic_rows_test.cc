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
  // Where the fault goes when the RPC reads before it writes: the write's
  // method and path suffix (the fault applies to that suffix only), and how
  // many requests on that suffix pass untouched first (AddSearches' count
  // read is a GET of the same path as its PUT). Empty: every request.
  const char* fault_method = "";
  const char* fault_path = "";
  int pass_first = 0;
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
      // The search calls: the fault is on the write, past the count read
      // (AddSearches, BatchDeleteSearches, PurgeSearches read the batch first),
      // so each row tests the write and what follows it: class N reconciles a
      // lost write from a re-read that the same fault fails (AddSearches) or
      // resends once when the count shows nothing happened
      // (BatchDeleteSearches), then OUTCOME_UNKNOWN.
      {"AddSearches", true,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::AddSearchesRequest request;
         request.set_parent("batches/9E867FAA");
         v1::Search* search = request.add_searches();
         search->set_q("coffee");
         search->set_location("United States");
         return t.Run(&v1::BatchService::Stub::AddSearches, request, timeout);
       },
       "PUT", "/batches/9E867FAA", 1},
      {"UpdateSearch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::UpdateSearchRequest request;
         request.mutable_search()->set_name("batches/9E867FAA/searches/ABCDEFGHIJKLMNOP");
         request.mutable_search()->set_q("espresso");
         request.mutable_update_mask()->add_paths("q");
         return t.Run(&v1::BatchService::Stub::UpdateSearch, request, timeout);
       },
       "PUT", "/batches/9E867FAA/ABCDEFGHIJKLMNOP"},
      {"DeleteSearch", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::DeleteSearchRequest request;
         request.set_name("batches/9E867FAA/searches/ABCDEFGHIJKLMNOP");
         return t.Run(&v1::BatchService::Stub::DeleteSearch, request, timeout);
       },
       "DELETE", "/batches/9E867FAA/ABCDEFGHIJKLMNOP"},
      {"BatchDeleteSearches", true,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::BatchDeleteSearchesRequest request;
         request.set_parent("batches/9E867FAA");
         request.add_names("batches/9E867FAA/searches/ABCDEFGHIJKLMNOP");
         request.add_names("batches/9E867FAA/searches/QRSTUVWXYZABCDEF");
         return t.Run(&v1::BatchService::Stub::BatchDeleteSearches, request, timeout);
       },
       "DELETE", "/batches/9E867FAA/searches"},
      {"PurgeSearches", false,
       [](GenericRowsTest& t, absl::Duration timeout) {
         v1::PurgeSearchesRequest request;
         request.set_parent("batches/9E867FAA");
         request.set_filter("*");
         request.set_force(true);
         return t.Run(&v1::BatchService::Stub::PurgeSearches, request, timeout);
       },
       "DELETE", "/batches/9E867FAA/clear"},
  };
  return *probes;
}

TEST_P(GenericRowsTest, EndsWithTheContractsCodeAndReason) {
  const Probe& probe = Probes()[std::get<0>(GetParam())];
  const Row& row = Rows()[std::get<1>(GetParam())];
  StartAll();
  sim().PutBatch("9E867FAA", BatchState::kQueued, 200);
  if (probe.pass_first > 0) {
    sim::Fault pass;  // status 0: answered normally
    pass.path_suffix = probe.fault_path;
    pass.times = probe.pass_first;
    sim().AddFault(pass);
  }
  sim::Fault fault = row.fault;
  fault.path_suffix = probe.fault_path;
  sim().AddFault(fault);
  RpcResult<v1::Batch> result;  // only its status is used
  const absl::Time start = absl::Now();
  result.status = probe.call(*this, row.timeout);
  if (*probe.fault_method != '\0') {
    int faulted = 0;  // the write the row is about was sent
    for (const sim::RecordedRequest& r : sim().requests()) {
      faulted += r.method == probe.fault_method && absl::EndsWith(r.path, probe.fault_path);
    }
    EXPECT_GE(faulted, 1) << probe.name << " " << row.name << ": no " << probe.fault_method << " "
                          << probe.fault_path;
  }
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

// The search writes go to routes SerpWow wants sent one at a time, where a
// 429 means nothing was applied (README "Search calls, one at a time"): a
// 429 without a hint is retried with backoff up to --max_attempts (3), then
// RESOURCE_EXHAUSTED RATE_LIMITED, for AddSearches and BatchDeleteSearches
// too, and never reconciled (no re-read of the batch, never OUTCOME_UNKNOWN).
// (The generic 429 row's Retry-After of 120 s never fits the deadline, so it
// ends after one attempt.)
class SearchRateLimitTest : public GenericRowsTest {};

TEST_F(SearchRateLimitTest, ASearchWritesRateLimitIsRetriedThenRateLimited) {
  StartAll();
  sim().PutBatch("9E867FAA", BatchState::kIdle, 200);
  int probed = 0;
  for (const Probe& probe : Probes()) {
    if (*probe.fault_method == '\0') continue;
    ++probed;
    sim().ClearFaults();
    sim().ResetRequests();
    if (probe.pass_first > 0) {
      sim::Fault pass;
      pass.path_suffix = probe.fault_path;
      pass.times = probe.pass_first;
      sim().AddFault(pass);
    }
    sim::Fault fault = Respond(429, R"({"request_info":{"success":false}})");
    fault.path_suffix = probe.fault_path;
    sim().AddFault(fault);
    RpcResult<v1::Batch> result;
    result.status = probe.call(*this, absl::Seconds(10));
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << probe.name << ": " << result.status.error_message();
    EXPECT_EQ(result.Reason(), "RATE_LIMITED") << probe.name;
    EXPECT_TRUE(result.Detail<google::rpc::RetryInfo>().has_value()) << probe.name;
    int writes = 0, reads = 0;
    for (const sim::RecordedRequest& r : sim().requests()) {
      writes += r.method == probe.fault_method && absl::EndsWith(r.path, probe.fault_path);
      reads += r.method == "GET";
    }
    EXPECT_EQ(writes, 3) << probe.name << ": the write, retried up to --max_attempts";
    // The count read of those that read first (AddSearches, BatchDeleteSearches,
    // PurgeSearches), and no read after the 429s.
    const bool counts_first = probe.not_idempotent || std::string(probe.name) == "PurgeSearches";
    EXPECT_EQ(reads, counts_first ? 1 : 0) << probe.name;
  }
  EXPECT_EQ(probed, 5);
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
