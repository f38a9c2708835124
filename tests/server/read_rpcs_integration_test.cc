// The read RPCs of the account, result sets and searches end to end: a real
// gateway in front of the real simulator on 127.0.0.1:0, every row of their
// contracts (design §1.4): the OK shapes, NOT_FOUND variants, invalid names
// with nothing sent, format and csv_fields errors, pagination with page size
// changes, result set expiry on the simulator's virtual clock, unsafe
// download links, and the metrics labels.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/http_get.h"

namespace serpwow::testing {
namespace {

using google::protobuf::util::TimeUtil;
using sim::BatchState;
using sim::Fault;
using Stub = v1::BatchService::Stub;

class ReadRpcsTest : public GatewayTest {
 protected:
  void SetUp() override {
    options_.calls.backoff_base = absl::Milliseconds(10);
    options_.calls.backoff_cap = absl::Milliseconds(50);
    options_.metrics_listen = "127.0.0.1:0";
  }

  template <typename Result>
  void Expect(const Result& r, grpc::StatusCode code, const std::string& reason) {
    EXPECT_EQ(r.status.error_code(), code) << r.status.error_message();
    EXPECT_EQ(r.Reason(), reason) << r.status.error_message();
    EXPECT_EQ(r.ErrorInfoCount(), 1);
  }
  // INVALID_ARGUMENT `reason` with a BadRequest on `field`, nothing sent.
  template <typename Result>
  void ExpectRefused(const Result& r, const std::string& reason, const std::string& field) {
    Expect(r, grpc::StatusCode::INVALID_ARGUMENT, reason);
    auto bad = r.template Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value()) << r.status.error_message();
    ASSERT_GT(bad->field_violations_size(), 0);
    EXPECT_EQ(bad->field_violations(0).field(), field);
    EXPECT_EQ(sim_->request_count(), 0) << "nothing may be sent for " << field;
  }

  RpcResult<v1::ResultSet> GetSet(const std::string& name) {
    v1::GetResultSetRequest request;
    request.set_name(name);
    return Call(&Stub::GetResultSet, request);
  }
  RpcResult<v1::ListResultSetsResponse> ListSets(const std::string& parent, int size,
                                                 const std::string& token = "") {
    v1::ListResultSetsRequest request;
    request.set_parent(parent);
    request.set_page_size(size);
    request.set_page_token(token);
    return Call(&Stub::ListResultSets, request);
  }
  RpcResult<v1::ListSearchesResponse> ListSearches(const std::string& parent, int size,
                                                   const std::string& token = "", int skip = 0) {
    v1::ListSearchesRequest request;
    request.set_parent(parent);
    request.set_page_size(size);
    request.set_page_token(token);
    request.set_skip(skip);
    return Call(&Stub::ListSearches, request);
  }
  RpcResult<v1::ExportResultSetResponse> Export(const std::string& name, v1::ExportFormat format,
                                                std::vector<std::string> csv_fields = {}) {
    v1::ExportResultSetRequest request;
    request.set_name(name);
    request.set_format(format);
    for (auto& f : csv_fields) request.add_csv_fields(f);
    return Call(&Stub::ExportResultSet, request);
  }
  RpcResult<v1::ExportSearchesResponse> ExportSearches(const std::string& parent,
                                                       v1::ExportFormat format) {
    v1::ExportSearchesRequest request;
    request.set_parent(parent);
    request.set_format(format);
    return Call(&Stub::ExportSearches, request);
  }
  std::string Origin() const { return absl::StrCat("http://127.0.0.1:", sim_->port()); }
};

TEST_F(ReadRpcsTest, GetAccountReturnsTheCreditsAndLimits) {
  StartAll();
  sim_->PutBatch("A1", BatchState::kIdle, 10);
  sim_->PutBatch("A2", BatchState::kQueued, 30);  // reserves 30 of 10000
  v1::GetAccountRequest request;
  request.set_name("account");
  auto r = Call(&Stub::GetAccount, request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const v1::Account& a = r.response;
  EXPECT_EQ(a.name(), "account");
  EXPECT_EQ(a.credits_remaining(), 9970);
  EXPECT_EQ(a.credits_used(), 30);
  EXPECT_EQ(a.credits_limit(), 10000);
  EXPECT_TRUE(a.has_credits_reset_time());
  EXPECT_TRUE(a.has_topup_credits_remaining());
  EXPECT_EQ(a.batches_used(), 2);
  EXPECT_EQ(a.batches_limit(), 10000);
  EXPECT_EQ(a.batches_available(), 9998);
  EXPECT_EQ(a.destinations_used(), 0);
  EXPECT_EQ(a.destinations_limit(), 50);
  EXPECT_EQ(a.destinations_available(), 50);
  EXPECT_TRUE(a.other_fields().empty()) << a.DebugString();
}

TEST_F(ReadRpcsTest, GetAccountLeavesAbsentFiguresUnset) {
  StartAll();
  Fault f;
  f.path_suffix = "/account";
  f.status = 200;
  f.body = R"({"request_info":{"success":true},"account_info":{"credits_remaining":5,
      "api_key":"whatever","plan":"free"}})";
  sim_->AddFault(f);
  v1::GetAccountRequest request;
  request.set_name("account");
  auto r = Call(&Stub::GetAccount, request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.credits_remaining(), 5);
  EXPECT_FALSE(r.response.has_credits_limit());
  EXPECT_FALSE(r.response.has_batches_used());
  EXPECT_FALSE(r.response.has_credits_reset_time());
  EXPECT_EQ(r.response.other_fields().at("plan"), "\"free\"");
  EXPECT_EQ(r.response.other_fields().count("api_key"), 0u);
}

TEST_F(ReadRpcsTest, GetAccountRefusesOtherNamesWithNothingSent) {
  StartAll();
  for (const char* name : {"", "accounts", "Account", "account/x", "batches/A1", "/account"}) {
    v1::GetAccountRequest request;
    request.set_name(name);
    ExpectRefused(Call(&Stub::GetAccount, request), "INVALID_NAME", "name");
  }
}

TEST_F(ReadRpcsTest, GetAccountUpstreamFailuresSpeakOfTheAccount) {
  StartAll();
  Fault f;
  f.path_suffix = "/account";
  f.status = 500;
  f.body = R"({"request_info":{"success":false,"message":"boom"}})";
  sim_->AddFault(f);
  v1::GetAccountRequest request;
  request.set_name("account");
  auto r = Call(&Stub::GetAccount, request);
  Expect(r, grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE");
  auto info = r.Detail<google::rpc::ErrorInfo>();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().count("batch_id"), 0u) << "an account-wide call has no batch";
  EXPECT_EQ(sim_->request_count(), 3) << "a read is retried";
}

TEST_F(ReadRpcsTest, GetResultSetReturnsTheRunWithCheckedLinks) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->PutSearches("R1", 1500).ok());
  ASSERT_TRUE(sim_->CompleteRuns("R1", 2).ok());
  auto r = GetSet("batches/R1/resultSets/2");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const v1::ResultSet& s = r.response;
  EXPECT_EQ(s.name(), "batches/R1/resultSets/2");
  EXPECT_EQ(s.result_set_id(), 2);
  EXPECT_EQ(s.searches_total(), 1500);
  EXPECT_EQ(s.searches_completed(), 1500);
  EXPECT_EQ(s.searches_failed(), 0);
  EXPECT_EQ(s.results_page_count(), 2);
  EXPECT_EQ(
      TimeUtil::TimestampToSeconds(s.end_time()) - TimeUtil::TimestampToSeconds(s.start_time()),
      60);
  EXPECT_EQ(
      TimeUtil::TimestampToSeconds(s.expire_time()) - TimeUtil::TimestampToSeconds(s.end_time()),
      14 * 86400);
  EXPECT_EQ(s.webhook_status().status(), "ok");
  ASSERT_EQ(s.webhook_status().log_size(), 1);
  ASSERT_EQ(s.download_links().page_uris_size(), 2);
  EXPECT_EQ(s.download_links().page_uris(0), Origin() + "/files/R1/results/2/page_1.json");
  EXPECT_EQ(s.download_links().all_pages_uri(), Origin() + "/files/R1/results/2/all_pages.json");
  // The link is real: the simulator serves the file.
  auto [status, body] = HttpGet(sim_->port(), "/files/R1/results/2/page_1.json");
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(absl::StrContains(body, "query 1")) << body.substr(0, 200);
}

TEST_F(ReadRpcsTest, GetResultSetNotFoundTellsTheResultSetFromTheBatch) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->CompleteRuns("R1", 1).ok());
  auto missing = GetSet("batches/R1/resultSets/9");
  Expect(missing, grpc::StatusCode::NOT_FOUND, "RESULT_SET_NOT_FOUND");
  EXPECT_TRUE(absl::StrContains(missing.status.error_message(), "14 days"))
      << missing.status.error_message();
  auto info = missing.Detail<google::rpc::ErrorInfo>();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("batch_id"), "R1");
  EXPECT_EQ(info->metadata().at("result_set_id"), "9");
  auto resource = missing.Detail<google::rpc::ResourceInfo>();
  ASSERT_TRUE(resource.has_value());
  EXPECT_EQ(resource->resource_name(), "batches/R1/resultSets/9");
  EXPECT_EQ(sim_->request_count(), 1) << "a not-found is not retried";

  Expect(GetSet("batches/NOPE/resultSets/1"), grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
}

TEST_F(ReadRpcsTest, ResultSetsExpireAfterFourteenDaysOnTheSimulatorsClock) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->CompleteRuns("R1", 1).ok());
  ASSERT_TRUE(GetSet("batches/R1/resultSets/1").status.ok());
  sim_->AdvanceTime(absl::Hours(24 * 14) - absl::Seconds(5));
  ASSERT_TRUE(GetSet("batches/R1/resultSets/1").status.ok());
  sim_->AdvanceTime(absl::Seconds(10));
  Expect(GetSet("batches/R1/resultSets/1"), grpc::StatusCode::NOT_FOUND, "RESULT_SET_NOT_FOUND");
  auto list = ListSets("batches/R1", 0);
  ASSERT_TRUE(list.status.ok()) << list.status.error_message();
  EXPECT_EQ(list.response.result_sets_size(), 0);
  EXPECT_EQ(list.response.total_size(), 0);
}

TEST_F(ReadRpcsTest, ACompletedRunAddsAResultSet) {
  StartAll();
  sim_->PutBatch("RUN", BatchState::kRunning, 25);
  auto before = ListSets("batches/RUN", 0);
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  EXPECT_EQ(before.response.total_size(), 0);
  sim_->AdvanceTime(absl::Seconds(61));  // run_duration 60 s
  auto after = ListSets("batches/RUN", 0);
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  ASSERT_EQ(after.response.result_sets_size(), 1);
  EXPECT_EQ(after.response.result_sets(0).name(), "batches/RUN/resultSets/1");
  EXPECT_EQ(after.response.result_sets(0).searches_total(), 25) << "credits_required searches";
  EXPECT_FALSE(after.response.result_sets(0).has_download_links()) << "links come from Get";
}

TEST_F(ReadRpcsTest, ListResultSetsPagesNewestFirstAcrossPageSizeChanges) {
  StartAll();
  sim_->PutBatch("L1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->CompleteRuns("L1", 7).ok());
  std::vector<int> seen;
  auto page = ListSets("batches/L1", 2);
  ASSERT_TRUE(page.status.ok()) << page.status.error_message();
  EXPECT_EQ(page.response.total_size(), 7);
  for (const auto& s : page.response.result_sets()) seen.push_back(s.result_set_id());
  // Then size 3, then the default: no item twice, none missed.
  for (int size : {3, 0}) {
    ASSERT_FALSE(page.response.next_page_token().empty());
    page = ListSets("batches/L1", size, page.response.next_page_token());
    ASSERT_TRUE(page.status.ok()) << page.status.error_message();
    for (const auto& s : page.response.result_sets()) seen.push_back(s.result_set_id());
  }
  EXPECT_EQ(seen, (std::vector<int>{7, 6, 5, 4, 3, 2, 1}));
  EXPECT_TRUE(page.response.next_page_token().empty());

  // Tokens are bound to their parent; malformed ones and bad sizes are refused.
  sim_->PutBatch("L2", BatchState::kIdle, 10);
  const std::string token = ListSets("batches/L1", 2).response.next_page_token();
  sim_->ResetRequests();
  ExpectRefused(ListSets("batches/L2", 2, token), "INVALID_PAGE_TOKEN", "page_token");
  ExpectRefused(ListSets("batches/L1", 2, "not-a-token"), "INVALID_PAGE_TOKEN", "page_token");
  ExpectRefused(ListSets("batches/L1", -1), "INVALID_PAGE_SIZE", "page_size");
  Expect(ListSets("batches/NOPE", 0), grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
}

TEST_F(ReadRpcsTest, InvalidNamesAreRefusedWithNothingSent) {
  StartAll();
  for (const char* name : {"", "batches/R1", "batches/R1/resultSets/0", "batches/R1/resultSets/01",
                           "batches/R1/resultSets/-1", "batches/R1/resultSets/2147483648",
                           "batches/R1/resultSets/1/jsonlines", "batches/stopall/resultSets/1",
                           "batches/StopAll/resultSets/1", "batches/results/resultSets/1",
                           "R1/resultSets/1", "batches/R1/resultSets/1?api_key=x"}) {
    ExpectRefused(GetSet(name), "INVALID_NAME", "name");
    ExpectRefused(Export(name, v1::EXPORT_FORMAT_CSV), "INVALID_NAME", "name");
  }
  for (const char* parent : {"", "R1", "batches/stopall", "batches/STOPALL", "batches/searches",
                             "batches/clear", "batches/a/b", "batches/R1/"}) {
    ExpectRefused(ListSets(parent, 0), "INVALID_NAME", "parent");
    ExpectRefused(ListSearches(parent, 0), "INVALID_NAME", "parent");
    ExpectRefused(ExportSearches(parent, v1::EXPORT_FORMAT_JSON), "INVALID_NAME", "parent");
  }
}

TEST_F(ReadRpcsTest, ExportResultSetGivesLinksPerFormat) {
  StartAll();
  sim_->PutBatch("X1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->PutSearches("X1", 10).ok());
  ASSERT_TRUE(sim_->CompleteRuns("X1", 1).ok());
  struct Case {
    v1::ExportFormat format;
    v1::ExportFormat answered;
    const char* ext;
    const char* path;
  };
  for (const Case& c :
       {Case{v1::EXPORT_FORMAT_UNSPECIFIED, v1::EXPORT_FORMAT_JSON, "json",
             "/batches/X1/results/1"},
        Case{v1::EXPORT_FORMAT_JSON, v1::EXPORT_FORMAT_JSON, "json", "/batches/X1/results/1"},
        Case{v1::EXPORT_FORMAT_JSON_LINES, v1::EXPORT_FORMAT_JSON_LINES, "jsonl",
             "/batches/X1/results/1/jsonlines"},
        Case{v1::EXPORT_FORMAT_CSV, v1::EXPORT_FORMAT_CSV, "csv", "/batches/X1/results/1/csv"}}) {
    sim_->ResetRequests();
    auto r = Export("batches/X1/resultSets/1", c.format,
                    c.format == v1::EXPORT_FORMAT_CSV
                        ? std::vector<std::string>{"search.q", "organic_results.position"}
                        : std::vector<std::string>{});
    ASSERT_TRUE(r.status.ok()) << c.ext << ": " << r.status.error_message();
    EXPECT_EQ(r.response.format(), c.answered);
    ASSERT_EQ(r.response.download_links().page_uris_size(), 1);
    EXPECT_EQ(r.response.download_links().page_uris(0),
              absl::StrCat(Origin(), "/files/X1/results/1/page_1.", c.ext));
    EXPECT_TRUE(r.response.has_expire_time());
    ASSERT_EQ(sim_->requests().size(), 1u);
    EXPECT_EQ(sim_->requests()[0].path, c.path);
  }
  Expect(Export("batches/X1/resultSets/5", v1::EXPORT_FORMAT_CSV), grpc::StatusCode::NOT_FOUND,
         "RESULT_SET_NOT_FOUND");
}

TEST_F(ReadRpcsTest, ExportResultSetRefusesBadCsvFieldsWithNothingSent) {
  StartAll();
  const std::string name = "batches/X1/resultSets/1";
  ExpectRefused(Export(name, v1::EXPORT_FORMAT_CSV, {"ok", "bad,comma"}), "INVALID_FIELD",
                "csv_fields[1]");
  ExpectRefused(Export(name, v1::EXPORT_FORMAT_CSV, {"a&api_key=x"}), "INVALID_FIELD",
                "csv_fields[0]");
  ExpectRefused(Export(name, v1::EXPORT_FORMAT_CSV, {""}), "INVALID_FIELD", "csv_fields[0]");
  ExpectRefused(Export(name, v1::EXPORT_FORMAT_CSV, std::vector<std::string>(101, "a")),
                "INVALID_FIELD", "csv_fields");
  ExpectRefused(Export(name, v1::EXPORT_FORMAT_JSON, {"a"}), "INVALID_FIELD", "csv_fields");
  ExpectRefused(Export(name, static_cast<v1::ExportFormat>(9)), "UNSUPPORTED_FORMAT", "format");
}

TEST_F(ReadRpcsTest, ExportSearchesGivesJsonOrCsvLinks) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->PutSearches("S1", 2001).ok());
  auto json = ExportSearches("batches/S1", v1::EXPORT_FORMAT_JSON);
  ASSERT_TRUE(json.status.ok()) << json.status.error_message();
  EXPECT_EQ(json.response.format(), v1::EXPORT_FORMAT_JSON);
  EXPECT_EQ(json.response.searches_total_count(), 2001);
  EXPECT_EQ(json.response.searches_page_count(), 3);
  ASSERT_EQ(json.response.download_links().page_uris_size(), 3);
  EXPECT_EQ(json.response.download_links().page_uris(2),
            Origin() + "/files/S1/searches/page_3.json");
  auto csv = ExportSearches("batches/S1", v1::EXPORT_FORMAT_CSV);
  ASSERT_TRUE(csv.status.ok()) << csv.status.error_message();
  EXPECT_EQ(csv.response.format(), v1::EXPORT_FORMAT_CSV);
  EXPECT_TRUE(absl::EndsWith(csv.response.download_links().page_uris(0), ".csv"));
  auto [status, body] = HttpGet(sim_->port(), "/files/S1/searches/page_1.csv");
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(absl::StartsWith(body, "id,q,location\n")) << body.substr(0, 100);
  Expect(ExportSearches("batches/NOPE", v1::EXPORT_FORMAT_CSV), grpc::StatusCode::NOT_FOUND,
         "BATCH_NOT_FOUND");
  sim_->ResetRequests();
  ExpectRefused(ExportSearches("batches/S1", v1::EXPORT_FORMAT_JSON_LINES), "UNSUPPORTED_FORMAT",
                "format");
}

TEST_F(ReadRpcsTest, ListSearchesWalksFixedPagesOfAThousandAcrossSizeChanges) {
  StartAll();
  sim_->PutBatch("P1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->PutSearches("P1", 2500).ok());
  std::vector<std::string> ids;
  auto page = ListSearches("batches/P1", 0);
  ASSERT_TRUE(page.status.ok()) << page.status.error_message();
  EXPECT_EQ(page.response.searches_size(), 1000) << "the default page is one upstream page";
  EXPECT_EQ(page.response.total_size(), 2500);
  const v1::Search& first = page.response.searches(0);
  EXPECT_EQ(first.name(), "batches/P1/searches/" + first.search_id());
  EXPECT_EQ(first.q(), "query 1");
  EXPECT_EQ(first.location(), "United States");
  EXPECT_EQ(first.custom_id(), "c1");
  EXPECT_EQ(first.params().at("gl"), "us");
  EXPECT_EQ(first.params().at("num"), "10");
  for (const auto& s : page.response.searches()) ids.push_back(s.search_id());
  // 300, 300, 300 (the third is cut short at the upstream page's end), then 1000...
  std::vector<int> sizes;
  for (int size : {300, 300, 300, 1000, 1000}) {
    ASSERT_FALSE(page.response.next_page_token().empty()) << ids.size();
    page = ListSearches("batches/P1", size, page.response.next_page_token());
    ASSERT_TRUE(page.status.ok()) << page.status.error_message();
    EXPECT_EQ(page.response.total_size(), 0) << "total_size on the first page only";
    sizes.push_back(page.response.searches_size());
    for (const auto& s : page.response.searches()) ids.push_back(s.search_id());
  }
  EXPECT_EQ(sizes, (std::vector<int>{300, 300, 300, 100, 500}));
  EXPECT_TRUE(page.response.next_page_token().empty());
  EXPECT_EQ(ids.size(), 2500u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2500u) << "no search twice";

  // skip (AIP-158) jumps ahead.
  auto tail = ListSearches("batches/P1", 200, "", 2400);
  ASSERT_TRUE(tail.status.ok()) << tail.status.error_message();
  ASSERT_EQ(tail.response.searches_size(), 100);
  EXPECT_EQ(tail.response.searches(0).q(), "query 2401");
  EXPECT_TRUE(tail.response.next_page_token().empty());
}

TEST_F(ReadRpcsTest, ListSearchesRefusalsAndNotFound) {
  StartAll();
  sim_->PutBatch("P1", BatchState::kIdle, 10);
  ExpectRefused(ListSearches("batches/P1", -5), "INVALID_PAGE_SIZE", "page_size");
  ExpectRefused(ListSearches("batches/P1", 10, "", -1), "INVALID_FIELD", "skip");
  ExpectRefused(ListSearches("batches/P1", 10, "AAAA"), "INVALID_PAGE_TOKEN", "page_token");
  v1::ListSearchesRequest filtered;
  filtered.set_parent("batches/P1");
  // Outside Find's grammar (q or custom_id, "="): refused with the position.
  filtered.set_filter("q != \"pizza\"");
  auto r = Call(&Stub::ListSearches, filtered);
  ExpectRefused(r, "INVALID_FILTER", "filter");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "position 3"));
  Expect(ListSearches("batches/NOPE", 0), grpc::StatusCode::NOT_FOUND, "BATCH_NOT_FOUND");
  // An empty batch: one empty page, no token.
  auto empty = ListSearches("batches/P1", 0);
  ASSERT_TRUE(empty.status.ok()) << empty.status.error_message();
  EXPECT_EQ(empty.response.searches_size(), 0);
  EXPECT_TRUE(empty.response.next_page_token().empty());
}

TEST_F(ReadRpcsTest, LinksCarryingTheKeyAreNeverPassedOn) {
  sim::SimulatorOptions o;
  o.links_include_api_key = true;
  StartAll(o);
  sim_->PutBatch("K1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->PutSearches("K1", 3).ok());
  ASSERT_TRUE(sim_->CompleteRuns("K1", 1).ok());
  auto get = GetSet("batches/K1/resultSets/1");
  Expect(get, grpc::StatusCode::INTERNAL, "UNSAFE_DOWNLOAD_LINK");
  auto exported = Export("batches/K1/resultSets/1", v1::EXPORT_FORMAT_CSV);
  Expect(exported, grpc::StatusCode::INTERNAL, "UNSAFE_DOWNLOAD_LINK");
  auto searches = ExportSearches("batches/K1", v1::EXPORT_FORMAT_JSON);
  Expect(searches, grpc::StatusCode::INTERNAL, "UNSAFE_DOWNLOAD_LINK");
  for (const grpc::Status* s : {&get.status, &exported.status, &searches.status}) {
    EXPECT_FALSE(absl::StrContains(s->error_message(), "/files/")) << "no URL in the message";
    EXPECT_FALSE(absl::StrContains(s->error_details(), "/files/")) << "no URL in the details";
  }
  // Lists carry no links, so they still work.
  auto list = ListSets("batches/K1", 0);
  ASSERT_TRUE(list.status.ok()) << list.status.error_message();
  EXPECT_EQ(list.response.result_sets_size(), 1);
}

TEST_F(ReadRpcsTest, LinksToUnexpectedHostsOrOverPlainHttpAreRefused) {
  StartAll();
  sim_->PutBatch("H1", BatchState::kIdle, 10);
  for (const char* link : {"https://evil.example/x.json", "http://results.serpwow.com/x.json",
                           "javascript:alert(1)"}) {
    sim_->ClearFaults();
    Fault f;
    f.path_suffix = "/batches/H1/searches/json";
    f.status = 200;
    f.body = absl::StrCat(R"({"request_info":{"success":true},"batch_id":"H1",)",
                          R"("searches_total_count":1,"searches_page_count":1,)",
                          R"("download_links":{"pages":[")", link, R"("]}})");
    sim_->AddFault(f);
    auto r = ExportSearches("batches/H1", v1::EXPORT_FORMAT_JSON);
    Expect(r, grpc::StatusCode::INTERNAL, "UNSAFE_DOWNLOAD_LINK");
    EXPECT_FALSE(absl::StrContains(r.status.error_message(), link));
  }
}

// The generic rows are proven once per RPC in generic_rows_test.cc. Here the
// one row that is particular to the reads: a success reply without the object
// the read needs is UPSTREAM_BAD_RESPONSE (GetAccount's reply without
// account_info is the account itself: any object will do).
TEST_F(ReadRpcsTest, EveryReadRpcRefusesASuccessWithoutItsObject) {
  options_.calls.max_attempts = 2;
  StartAll();
  Fault f;
  f.status = 200;
  f.headers = {{"Content-Type", "application/json"}};
  f.body = R"({"request_info":{"success":true}})";
  sim_->AddFault(f);
  v1::GetAccountRequest account;
  account.set_name("account");
  EXPECT_EQ(Call(&Stub::GetAccount, account, absl::Seconds(5)).status.error_code(),
            grpc::StatusCode::OK);
  std::vector<std::pair<const char*, std::string>> reasons = {
      {"ListResultSets", ListSets("batches/G1", 0).Reason()},
      {"GetResultSet", GetSet("batches/G1/resultSets/1").Reason()},
      {"ExportResultSet", Export("batches/G1/resultSets/1", v1::EXPORT_FORMAT_CSV).Reason()},
      {"ExportSearches", ExportSearches("batches/G1", v1::EXPORT_FORMAT_CSV).Reason()},
      {"ListSearches", ListSearches("batches/G1", 0).Reason()},
  };
  for (const auto& [rpc, reason] : reasons) EXPECT_EQ(reason, "UPSTREAM_BAD_RESPONSE") << rpc;
}

TEST_F(ReadRpcsTest, MetricsCountEveryReadRpcByName) {
  StartAll();
  sim_->PutBatch("M1", BatchState::kIdle, 10);
  ASSERT_TRUE(sim_->CompleteRuns("M1", 1).ok());
  v1::GetAccountRequest account;
  account.set_name("account");
  ASSERT_TRUE(Call(&Stub::GetAccount, account).status.ok());
  ASSERT_TRUE(ListSets("batches/M1", 0).status.ok());
  ASSERT_TRUE(GetSet("batches/M1/resultSets/1").status.ok());
  ASSERT_TRUE(Export("batches/M1/resultSets/1", v1::EXPORT_FORMAT_JSON).status.ok());
  ASSERT_TRUE(ExportSearches("batches/M1", v1::EXPORT_FORMAT_CSV).status.ok());
  ASSERT_TRUE(ListSearches("batches/M1", 0).status.ok());
  auto [status, body] = HttpGet(gateway_->metrics_port(), "/metrics");
  ASSERT_EQ(status, 200);
  for (const char* method : {"GetAccount", "ListResultSets", "GetResultSet", "ExportResultSet",
                             "ExportSearches", "ListSearches"}) {
    EXPECT_TRUE(absl::StrContains(body, absl::StrCat("method=\"", method, "\",code=\"OK\"} 1")))
        << method;
  }
  for (const char* endpoint : {"get_account", "list_result_sets", "get_result_set",
                               "export_searches_csv", "list_searches"}) {
    EXPECT_TRUE(absl::StrContains(body, absl::StrCat("endpoint=\"", endpoint, "\""))) << endpoint;
  }
}

}  // namespace
}  // namespace serpwow::testing
