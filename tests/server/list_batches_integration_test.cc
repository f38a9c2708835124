// ListBatches end to end: a real gateway in front of the real simulator.
// The contract rows (each filter predicate -> SerpWow's query, each refused
// form -> INVALID_FILTER with its position and nothing sent, order_by,
// page_size, skip, tokens), a walk over 2,500 batches with the page size
// changed mid-walk, and the List pacing (bucket, coalescing, cache, 429
// pause) against the simulator's 60-a-minute limit.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using Params = std::vector<std::pair<std::string, std::string>>;

struct ListCall {
  RpcResult<v1::ListBatchesResponse> r;
  std::multimap<std::string, std::string> initial_metadata;
};

class ListBatchesTest : public GatewayTest {
 protected:
  // Contract rows: no pacing in the way (the pacing tests set their own).
  void SetUp() override {
    options_.list_pacing.rate_per_minute = 100000;
    options_.list_pacing.burst = 100000;
    options_.list_pacing.cache_ttl = absl::ZeroDuration();
  }

  ListCall List(const v1::ListBatchesRequest& request, bool no_cache = false,
                absl::Duration timeout = absl::Seconds(10)) {
    return ListOn(stub_.get(), request, no_cache, timeout);
  }
  static ListCall ListOn(v1::BatchService::Stub* stub, const v1::ListBatchesRequest& request,
                         bool no_cache, absl::Duration timeout) {
    ListCall call;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (no_cache) context.AddMetadata("x-serpwow-cache", "no-cache");
    const absl::Time start = absl::Now();
    call.r.status = stub->ListBatches(&context, request, &call.r.response);
    call.r.elapsed = absl::Now() - start;
    for (const auto& [k, v] : context.GetServerInitialMetadata()) {
      call.initial_metadata.emplace(std::string(k.data(), k.size()),
                                    std::string(v.data(), v.size()));
    }
    return call;
  }
  ListCall ListFilter(const std::string& filter) {
    v1::ListBatchesRequest request;
    request.set_filter(filter);
    return List(request);
  }

  // The parameters of the simulator's last request, less the paging and
  // sorting ones every List sends.
  Params LastFilterParams() {
    std::vector<sim::RecordedRequest> seen = sim_->requests();
    EXPECT_FALSE(seen.empty());
    if (seen.empty()) return {};
    Params out;
    for (const auto& p : seen.back().params) {
      if (p.first != "sort_by" && p.first != "sort_direction" && p.first != "page" &&
          p.first != "page_size") {
        out.push_back(p);
      }
    }
    return out;
  }
  std::string LastParam(const std::string& name) {
    std::vector<sim::RecordedRequest> seen = sim_->requests();
    if (seen.empty()) return "<none>";
    for (const auto& p : seen.back().params) {
      if (p.first == name) return p.second;
    }
    return "<absent>";
  }

  void ExpectInvalid(const ListCall& call, const std::string& reason, const std::string& field) {
    EXPECT_EQ(call.r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << call.r.status.error_message();
    EXPECT_EQ(call.r.Reason(), reason) << call.r.status.error_message();
    EXPECT_EQ(call.r.ErrorInfoCount(), 1);
    auto bad = call.r.Detail<google::rpc::BadRequest>();
    ASSERT_TRUE(bad.has_value());
    ASSERT_EQ(bad->field_violations_size(), 1);
    EXPECT_EQ(bad->field_violations(0).field(), field);
  }
};

TEST_F(ListBatchesTest, EachFilterPredicateMapsToItsSerpWowParameter) {
  StartAll();
  sim_->PutBatch("L1", BatchState::kQueued, 10, "Nightly");
  const std::vector<std::pair<std::string, Params>> rows = {
      {"", {}},
      {"status = QUEUED", {{"status", "queued"}}},
      {"status = BATCH_STATUS_RUNNING", {{"status", "running"}}},
      {"display_name = \"Nightly\"", {{"search_term", "Nightly"}, {"search_type", "exact"}}},
      {"display_name = \"Night*\"", {{"search_term", "Night"}, {"search_type", "starts_with"}}},
      {"display_name = \"*ly\"", {{"search_term", "ly"}, {"search_type", "ends_with"}}},
      {"display_name = \"*igh*\"", {{"search_term", "igh"}, {"search_type", "contains"}}},
      {"nightly", {{"search_term", "nightly"}, {"search_type", "contains"}}},
      {"create_time > \"2026-01-31T10:00:00Z\"", {{"created_after", "2026-01-31T10:00:00.000Z"}}},
      {"create_time < \"2026-01-31T10:00:00+01:00\"",
       {{"created_before", "2026-01-31T09:00:00.000Z"}}},
      {"last_run_time > \"2026-01-31T10:00:00Z\"",
       {{"last_run_after", "2026-01-31T10:00:00.000Z"}}},
      {"last_run_time < \"2026-01-31T10:00:00Z\"",
       {{"last_run_before", "2026-01-31T10:00:00.000Z"}}},
      {"destination_ids:\"DEST1\"", {{"destination_id", "DEST1"}}},
      {"results_count > 0", {{"only_with_results", "true"}}},
      {"results_count = 0", {{"only_without_results", "true"}}},
      {"status = IDLE AND results_count > 0", {{"only_with_results", "true"}, {"status", "idle"}}},
  };
  for (const auto& [filter, params] : rows) {
    const int64_t before = sim_->request_count();
    ListCall call = ListFilter(filter);
    EXPECT_TRUE(call.r.status.ok()) << filter << ": " << call.r.status.error_message();
    EXPECT_EQ(sim_->request_count(), before + 1) << filter;
    EXPECT_EQ(LastFilterParams(), params) << filter;
  }
  // And the simulator applied it: the one queued batch.
  ListCall queued = ListFilter("status = QUEUED");
  ASSERT_TRUE(queued.r.status.ok());
  ASSERT_EQ(queued.r.response.batches_size(), 1);
  EXPECT_EQ(queued.r.response.batches(0).name(), "batches/L1");
  EXPECT_EQ(queued.r.response.total_size(), 1);
  EXPECT_EQ(queued.r.response.next_page_token(), "");
}

TEST_F(ListBatchesTest, RefusedFiltersNameThePositionAndSendNothing) {
  StartAll();
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"status = QUEUED OR status = IDLE", "17"},
      {"NOT status = IDLE", "1"},
      {"-nightly", "1"},
      {"status != IDLE", "8"},
      {"(status = IDLE)", "1"},
      {"create_time >= \"2026-01-01T00:00:00Z\"", "13"},
      {"create_time <= \"2026-01-01T00:00:00Z\"", "13"},
      {"status = IDLE AND status = QUEUED", "19"},
      {"priority = HIGH", "1"},
      {"create_time > \"yesterday\"", "15"},
      {std::string(1025, 'a'), "1025"},
  };
  for (const auto& [filter, position] : rows) {
    ListCall call = ListFilter(filter);
    ExpectInvalid(call, "INVALID_FILTER", "filter");
    auto info = call.r.Detail<google::rpc::ErrorInfo>();
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->metadata().at("position"), position) << filter;
    EXPECT_TRUE(absl::StrContains(call.r.status.error_message(), "position " + position))
        << call.r.status.error_message();
  }
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(ListBatchesTest, OrderByMapsToSortByAndDirection) {
  StartAll();
  const std::vector<std::tuple<std::string, std::string, std::string>> rows = {
      {"", "created_at", "ascending"},       {"create_time desc", "created_at", "descending"},
      {"display_name", "name", "ascending"}, {"last_run_time desc", "last_run", "descending"},
      {"priority", "priority", "ascending"}, {"status desc", "status", "descending"},
  };
  for (const auto& [order_by, sort_by, direction] : rows) {
    v1::ListBatchesRequest request;
    request.set_order_by(order_by);
    EXPECT_TRUE(List(request).r.status.ok()) << order_by;
    EXPECT_EQ(LastParam("sort_by"), sort_by) << order_by;
    EXPECT_EQ(LastParam("sort_direction"), direction) << order_by;
  }
  const int64_t before = sim_->request_count();
  for (const char* bad : {"create_time, status", "name", "create_time sideways"}) {
    v1::ListBatchesRequest request;
    request.set_order_by(bad);
    ExpectInvalid(List(request), "INVALID_ORDER_BY", "order_by");
  }
  EXPECT_EQ(sim_->request_count(), before);
}

// AIP-158: 0 means the default (100), above the maximum (1000) is coerced
// down, negative is refused; skip adds to the offset.
TEST_F(ListBatchesTest, PageSizeBoundsAndSkip) {
  StartAll();
  sim_->AddGeneratedBatches(450, 3);
  v1::ListBatchesRequest request;
  EXPECT_TRUE(List(request).r.status.ok());
  EXPECT_EQ(LastParam("page_size"), "100");
  EXPECT_EQ(LastParam("page"), "1");
  request.set_page_size(5000);
  ListCall big = List(request);
  ASSERT_TRUE(big.r.status.ok());
  EXPECT_EQ(LastParam("page_size"), "1000");
  EXPECT_EQ(big.r.response.batches_size(), 450);
  EXPECT_EQ(big.r.response.total_size(), 450);
  EXPECT_EQ(big.r.response.next_page_token(), "");

  request.set_page_size(100);
  request.set_skip(250);  // items 250..: page 3 of 100, from its 51st item
  ListCall skipped = List(request);
  ASSERT_TRUE(skipped.r.status.ok());
  EXPECT_EQ(LastParam("page"), "3");
  EXPECT_EQ(skipped.r.response.batches_size(), 50);  // a short page, then realigned
  EXPECT_EQ(skipped.r.response.batches(0).batch_id(), big.r.response.batches(250).batch_id());
  request.set_skip(0);
  request.set_page_token(skipped.r.response.next_page_token());
  ListCall next = List(request);
  ASSERT_TRUE(next.r.status.ok());
  EXPECT_EQ(LastParam("page"), "4");
  EXPECT_EQ(next.r.response.batches(0).batch_id(), big.r.response.batches(300).batch_id());

  const int64_t before = sim_->request_count();
  v1::ListBatchesRequest negative;
  negative.set_page_size(-1);
  ExpectInvalid(List(negative), "INVALID_PAGE_SIZE", "page_size");
  v1::ListBatchesRequest negative_skip;
  negative_skip.set_skip(-5);
  ExpectInvalid(List(negative_skip), "INVALID_FIELD", "skip");
  EXPECT_EQ(sim_->request_count(), before);
}

TEST_F(ListBatchesTest, WalkWithChangingPageSizesReturnsEachBatchOnce) {
  StartAll();
  const std::vector<std::string> ids = sim_->AddGeneratedBatches(2500, 11);
  std::map<std::string, int> seen;
  std::vector<std::string> order;
  v1::ListBatchesRequest request;
  const int32_t sizes[] = {100, 100, 37, 37, 37, 1000, 100, 37, 1000};
  int calls = 0;
  do {
    request.set_page_size(sizes[std::min<size_t>(calls, std::size(sizes) - 1)]);
    ListCall call = List(request);
    ASSERT_TRUE(call.r.status.ok()) << call.r.status.error_message();
    ASSERT_LE(call.r.response.batches_size(), request.page_size());
    EXPECT_EQ(call.r.response.total_size(), 2500);
    for (const v1::Batch& b : call.r.response.batches()) {
      ++seen[b.batch_id()];
      order.push_back(b.batch_id());
    }
    request.set_page_token(call.r.response.next_page_token());
    ASSERT_LT(++calls, 100);
  } while (!request.page_token().empty());
  EXPECT_EQ(seen.size(), 2500u);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(order, ids);  // create_time order is creation order
  EXPECT_EQ(sim_->request_count(), calls);
}

TEST_F(ListBatchesTest, TokenOfAnotherQueryOrMalformedIsInvalidPageToken) {
  StartAll();
  sim_->AddGeneratedBatches(30, 5);
  v1::ListBatchesRequest request;
  request.set_page_size(10);
  request.set_filter("status = IDLE");
  ListCall first = List(request);
  ASSERT_TRUE(first.r.status.ok());
  ASSERT_FALSE(first.r.response.next_page_token().empty());
  const int64_t before = sim_->request_count();
  // The same filter spelt differently is the same query.
  v1::ListBatchesRequest same = request;
  same.set_filter("status=idle");
  same.set_page_token(first.r.response.next_page_token());
  EXPECT_TRUE(List(same).r.status.ok());
  EXPECT_EQ(sim_->request_count(), before + 1);
  for (auto change : std::vector<std::pair<std::string, std::string>>{
           {"status = QUEUED", ""}, {"", ""}, {"status = IDLE", "display_name"}}) {
    v1::ListBatchesRequest other = request;
    other.set_filter(change.first);
    other.set_order_by(change.second);
    other.set_page_token(first.r.response.next_page_token());
    ExpectInvalid(List(other), "INVALID_PAGE_TOKEN", "page_token");
  }
  for (const char* token : {"garbage", "AAAAAAAAAAAAAAAAAAAAAAA", "=="}) {
    v1::ListBatchesRequest other = request;
    other.set_page_token(token);
    ExpectInvalid(List(other), "INVALID_PAGE_TOKEN", "page_token");
  }
  EXPECT_EQ(sim_->request_count(), before + 1);
}

// Each attempt costs one of SerpWow's 60 List calls a minute: the gateway
// sends a List once and passes the failure on.
TEST_F(ListBatchesTest, UpstreamFailuresAreAnsweredAfterOneAttempt) {
  StartAll();
  struct Row {
    int status;
    const char* body;
    grpc::StatusCode code;
    const char* reason;
  };
  const Row rows[] = {
      {503, "", grpc::StatusCode::UNAVAILABLE, "UPSTREAM_UNAVAILABLE"},
      {200, R"({"request_info":{"success":true},"total_count":3})", grpc::StatusCode::INTERNAL,
       "UPSTREAM_BAD_RESPONSE"},
      {200, R"({"request_info":{"success":true},"total_count":1,"batches":[{"name":"no id"}]})",
       grpc::StatusCode::INTERNAL, "UPSTREAM_BAD_RESPONSE"},
      {401, R"({"request_info":{"success":false,"message":"Supplied api_key is not valid"}})",
       grpc::StatusCode::INTERNAL, "UPSTREAM_AUTH_FAILED"},
  };
  for (const Row& row : rows) {
    sim::Fault fault;
    fault.path_suffix = "/batches";
    fault.status = row.status;
    fault.body = row.body;
    fault.times = 1;
    sim_->AddFault(fault);
    const int64_t before = sim_->request_count();
    ListCall call = List(v1::ListBatchesRequest());
    EXPECT_EQ(call.r.status.error_code(), row.code) << row.status << " " << row.body;
    EXPECT_EQ(call.r.Reason(), row.reason) << call.r.status.error_message();
    EXPECT_EQ(call.r.ErrorInfoCount(), 1);
    EXPECT_EQ(call.r.status.error_message().find(kTestKey), std::string::npos);
    EXPECT_EQ(call.r.status.error_message().find("http://"), std::string::npos);
    EXPECT_EQ(sim_->request_count(), before + 1) << row.status;
  }
  EXPECT_TRUE(List(v1::ListBatchesRequest()).r.status.ok());  // the faults are used up
}

// --- Pacing --------------------------------------------------------------------------

TEST_F(ListBatchesTest, IdenticalConcurrentCallsShareOneUpstreamRequest) {
  StartAll();
  sim_->AddGeneratedBatches(20, 2);
  sim::Fault slow;  // keep the first call in flight while the others arrive
  slow.path_suffix = "/batches";
  slow.delay = absl::Seconds(1);
  sim_->AddFault(slow);
  constexpr int kCalls = 10;
  std::vector<ListCall> calls(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] { calls[i] = List(v1::ListBatchesRequest()); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sim_->request_count(), 1);
  for (const ListCall& c : calls) {
    ASSERT_TRUE(c.r.status.ok()) << c.r.status.error_message();
    EXPECT_EQ(c.r.response.batches_size(), 20);
    EXPECT_EQ(c.r.response.SerializeAsString(), calls[0].r.response.SerializeAsString());
  }
  const std::string metrics = gateway_->RenderMetrics();
  EXPECT_TRUE(absl::StrContains(
      metrics, "serpwow_gateway_cache_requests_total{cache=\"list\",result=\"miss\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(
      metrics, absl::StrCat("serpwow_gateway_cache_requests_total{cache=\"list\",result="
                            "\"coalesced\"} ",
                            kCalls - 1, "\n")));
}

// The caller whose call leads a shared flight goes away: the followers do
// not hang; one of them sends the request again and all get the answer.
TEST_F(ListBatchesTest, FollowersOfACancelledLeaderStartOver) {
  // With the cache on, a follower that restarts after the new leader's
  // reply is served from it: exactly one more request, however they race.
  options_.list_pacing.cache_ttl = absl::Seconds(30);
  StartAll();
  sim_->AddGeneratedBatches(7, 2);
  sim::Fault slow;  // only the leader's request
  slow.path_suffix = "/batches";
  slow.delay = absl::Seconds(3);
  slow.times = 1;
  sim_->AddFault(slow);
  auto wait_for = [&](const std::function<bool()>& done) {
    const absl::Time until = absl::Now() + absl::Seconds(5);
    while (!done() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    return done();
  };
  grpc::ClientContext leader_context;
  v1::ListBatchesResponse leader_response;
  grpc::Status leader_status;
  std::thread leader([&] {
    leader_status = stub_->ListBatches(&leader_context, v1::ListBatchesRequest(), &leader_response);
  });
  ASSERT_TRUE(wait_for([&] { return sim_->request_count() == 1; }));
  constexpr int kFollowers = 4;
  std::vector<ListCall> followers(kFollowers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kFollowers; ++i) {
    threads.emplace_back([&, i] { followers[i] = List(v1::ListBatchesRequest()); });
  }
  ASSERT_TRUE(wait_for([&] {
    return absl::StrContains(
        gateway_->RenderMetrics(),
        absl::StrCat("cache_requests_total{cache=\"list\",result=\"coalesced\"} ", kFollowers,
                     "\n"));
  }));
  leader_context.TryCancel();
  leader.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(leader_status.error_code(), grpc::StatusCode::CANCELLED);
  for (const ListCall& f : followers) {
    ASSERT_TRUE(f.r.status.ok()) << f.r.status.error_message();
    EXPECT_EQ(f.r.response.batches_size(), 7);
    EXPECT_LT(f.r.elapsed, absl::Seconds(2));  // not the leader's 3 s
  }
  EXPECT_EQ(sim_->request_count(), 2);  // the new leader's, shared by the rest
}

TEST_F(ListBatchesTest, CacheHitWithinTheTtlCarriesItsAgeAndBypassOrMutationSkipsIt) {
  options_.list_pacing.cache_ttl = absl::Seconds(30);  // no flakes on a slow machine
  StartAll();
  sim_->AddGeneratedBatches(5, 2);
  ListCall first = List(v1::ListBatchesRequest());
  ASSERT_TRUE(first.r.status.ok());
  EXPECT_EQ(first.initial_metadata.count("x-serpwow-cache-age-ms"), 0u);
  EXPECT_EQ(sim_->request_count(), 1);
  ListCall hit = List(v1::ListBatchesRequest());
  ASSERT_TRUE(hit.r.status.ok());
  EXPECT_EQ(sim_->request_count(), 1);  // nothing sent
  EXPECT_EQ(hit.r.response.SerializeAsString(), first.r.response.SerializeAsString());
  auto age = hit.initial_metadata.find("x-serpwow-cache-age-ms");
  ASSERT_NE(age, hit.initial_metadata.end());
  int64_t ms = -1;
  ASSERT_TRUE(absl::SimpleAtoi(age->second, &ms)) << age->second;
  EXPECT_GE(ms, 0);
  EXPECT_LT(ms, 30000);
  // Another query is another key.
  v1::ListBatchesRequest other;
  other.set_page_size(3);
  EXPECT_TRUE(List(other).r.status.ok());
  EXPECT_EQ(sim_->request_count(), 2);
  // x-serpwow-cache: no-cache goes upstream, and refreshes the cache.
  ListCall bypass = List(v1::ListBatchesRequest(), /*no_cache=*/true);
  ASSERT_TRUE(bypass.r.status.ok());
  EXPECT_EQ(bypass.initial_metadata.count("x-serpwow-cache-age-ms"), 0u);
  EXPECT_EQ(sim_->request_count(), 3);
  // A mutation through this replica empties it.
  sim_->PutBatch("NEW1", BatchState::kIdle, 1, "New");
  EXPECT_EQ(List(v1::ListBatchesRequest()).r.response.total_size(), 5);  // still cached
  gateway_->list_pacer().Invalidate();
  ListCall fresh = List(v1::ListBatchesRequest());
  EXPECT_EQ(fresh.r.response.total_size(), 6);
  EXPECT_EQ(sim_->request_count(), 4);
  const std::string metrics = gateway_->RenderMetrics();
  EXPECT_TRUE(absl::StrContains(
      metrics, "serpwow_gateway_cache_requests_total{cache=\"list\",result=\"hit\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(
      metrics, "serpwow_gateway_cache_requests_total{cache=\"list\",result=\"bypass\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(metrics, "serpwow_gateway_list_tokens_available "));
  EXPECT_TRUE(absl::StrContains(metrics, "serpwow_gateway_list_wait_seconds_count 4\n"));
  EXPECT_TRUE(absl::StrContains(
      metrics, "serpwow_gateway_rpcs_total{method=\"ListBatches\",code=\"OK\"} 6\n"));
}

// Every mutation sent through the gateway empties the List cache (read your
// writes on one replica): a stop, a start, a create.
TEST_F(ListBatchesTest, MutationsThroughTheGatewayEmptyTheCache) {
  options_.list_pacing.cache_ttl = absl::Seconds(30);
  StartAll();
  sim_->PutBatch("Q1", BatchState::kQueued, 5, "Queued one");
  v1::ListBatchesRequest queued;
  queued.set_filter("status = QUEUED");
  ASSERT_EQ(List(queued).r.response.total_size(), 1);
  ASSERT_EQ(List(queued).r.response.total_size(), 1);  // a hit
  const int64_t before = sim_->request_count();
  v1::StopBatchRequest stop;
  stop.set_name("batches/Q1");
  ASSERT_TRUE(Call(&v1::BatchService::Stub::StopBatch, stop).status.ok());
  ListCall after_stop = List(queued);
  EXPECT_EQ(after_stop.r.response.total_size(), 0) << "the stopped batch is idle now";
  EXPECT_EQ(after_stop.initial_metadata.count("x-serpwow-cache-age-ms"), 0u);
  EXPECT_EQ(sim_->request_count(), before + 3) << "read, stop, then a fresh list";
  v1::StartBatchRequest start;
  start.set_name("batches/Q1");
  ASSERT_TRUE(Call(&v1::BatchService::Stub::StartBatch, start).status.ok());
  EXPECT_EQ(List(queued).r.response.total_size(), 1);
  v1::CreateBatchRequest create;
  create.mutable_batch()->set_display_name("Made here");
  ASSERT_TRUE(Call(&v1::BatchService::Stub::CreateBatch, create).status.ok());
  v1::ListBatchesRequest all;
  EXPECT_EQ(List(all).r.response.total_size(), 2);
}

// StopAll's listing draws on the same bucket as ListBatches and never waits
// for it: with the bucket empty the stop goes ahead without the report.
TEST_F(ListBatchesTest, StopAllsListingDrawsOnTheListBucket) {
  options_.list_pacing.rate_per_minute = 1;
  options_.list_pacing.burst = 1;
  StartAll();
  sim_->PutBatch("Q1", BatchState::kQueued, 5);
  ASSERT_TRUE(List(v1::ListBatchesRequest()).r.status.ok());  // the one token
  v1::StopAllBatchesRequest request;
  auto r = Call(&v1::BatchService::Stub::StopAllBatches, request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(r.response.listing_complete());
  EXPECT_EQ(r.response.refund_basis(), v1::REFUND_BASIS_UNKNOWN);
  EXPECT_EQ(r.response.batches_stopped(), 1);
  int lists = 0;
  for (const auto& seen : sim_->requests()) lists += seen.path == "/batches" ? 1 : 0;
  EXPECT_EQ(lists, 1) << "ListBatches took the one token; StopAll sent no List";
}

// An upstream 429 holds every List for Retry-After (else 5 s): the next call
// is refused by the gateway itself, nothing sent.
TEST_F(ListBatchesTest, UpstreamRateLimitPausesEveryList) {
  for (bool retry_after : {false, true}) {
    sim::SimulatorOptions sim_options;
    sim_options.list_rate_per_minute = 1;
    sim_options.list_rate_limit_retry_after = retry_after;
    TearDown();
    StartAll(sim_options);
    EXPECT_TRUE(List(v1::ListBatchesRequest()).r.status.ok());
    ListCall limited = List(v1::ListBatchesRequest(), /*no_cache=*/true);
    EXPECT_EQ(limited.r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(limited.r.Reason(), "RATE_LIMITED");
    auto info = limited.r.Detail<google::rpc::ErrorInfo>();
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->metadata().count("limiter"), 0u);  // SerpWow's own
    EXPECT_EQ(sim_->request_count(), 2);
    v1::ListBatchesRequest other;
    other.set_filter("status = IDLE");
    ListCall held = List(other);
    EXPECT_EQ(held.r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(held.r.Reason(), "RATE_LIMITED");
    info = held.r.Detail<google::rpc::ErrorInfo>();
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->metadata().at("limiter"), "gateway");
    auto retry = held.r.Detail<google::rpc::RetryInfo>();
    ASSERT_TRUE(retry.has_value());
    // Retry-After 60 from the simulator (capped at 60), else the first 5 s.
    const int64_t seconds = retry->retry_delay().seconds();
    if (retry_after) {
      EXPECT_GE(seconds, 55) << seconds;
      EXPECT_LE(seconds, 60) << seconds;
    } else {
      EXPECT_GE(seconds, 3) << seconds;
      EXPECT_LE(seconds, 5) << seconds;
    }
    EXPECT_LT(held.r.elapsed, absl::Milliseconds(500));  // at once, not after a wait
    EXPECT_EQ(sim_->request_count(), 2);                 // nothing sent
  }
}

// The acceptance run: 20 clients, 10 calls each within 10 s, against a
// simulator that allows 60 a minute. The gateway's bucket (55 a minute,
// burst 5) keeps the simulator's count within the limit, so no 429 comes
// back; each caller hears OK or RATE_LIMITED (limiter=gateway, RetryInfo),
// and nobody waits past the 2 s cap.
TEST_F(ListBatchesTest, TwentyClientsStayWithinTheListLimit) {
  options_.list_pacing = logic::ListPacerOptions{};  // the defaults: 55/min, burst 5, 2 s
  sim::SimulatorOptions sim_options;
  sim_options.list_rate_per_minute = 60;
  StartAll(sim_options);
  sim_->AddGeneratedBatches(50, 4);
  constexpr int kClients = 20;
  constexpr int kCallsEach = 10;
  absl::Mutex mu;
  std::map<std::string, int> outcomes;
  std::vector<std::string> problems;
  absl::Duration longest;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto channel = grpc::CreateChannel(gateway_->address(), grpc::InsecureChannelCredentials());
      auto stub = v1::BatchService::NewStub(channel);
      for (int i = 0; i < kCallsEach; ++i) {
        // Spread over 10 s: client c calls at c*50 ms + i s.
        absl::SleepFor(start + absl::Milliseconds(50 * c) + absl::Seconds(i) - absl::Now());
        ListCall call =
            ListOn(stub.get(), v1::ListBatchesRequest(), /*no_cache=*/true, absl::Seconds(5));
        absl::MutexLock lock(&mu);
        longest = std::max(longest, call.r.elapsed);
        const grpc::Status& s = call.r.status;
        if (s.ok()) {
          ++outcomes["OK"];
          continue;
        }
        auto info = call.r.Detail<google::rpc::ErrorInfo>();
        auto retry = call.r.Detail<google::rpc::RetryInfo>();
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && info &&
            info->reason() == "RATE_LIMITED" && info->metadata().count("limiter") == 1 &&
            info->metadata().at("limiter") == "gateway" && retry.has_value() &&
            (retry->retry_delay().seconds() > 0 || retry->retry_delay().nanos() > 0)) {
          ++outcomes["RATE_LIMITED"];
        } else {
          problems.push_back(absl::StrCat(s.error_code(), " ", s.error_message()));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_TRUE(problems.empty()) << problems.size() << " unexpected, e.g. " << problems[0];
  EXPECT_EQ(outcomes["OK"] + outcomes["RATE_LIMITED"], kClients * kCallsEach);
  // What went upstream: at most the burst plus the rate over the run, never
  // more than 55 (and so never a 429 from the simulator's 60).
  const int64_t sent = sim_->request_count();
  EXPECT_EQ(sent, outcomes["OK"]);
  EXPECT_LE(sent, 55);
  EXPECT_LE(sent, 5 + static_cast<int64_t>(55 * absl::ToDoubleMinutes(elapsed)) + 1);
  EXPECT_GE(sent, 10);  // and it does use its budget
  const std::string metrics = gateway_->RenderMetrics();
  EXPECT_TRUE(absl::StrContains(
      metrics, absl::StrCat("serpwow_gateway_upstream_requests_total{endpoint=\"list_batches\","
                            "status_class=\"4xx\"} 0\n")));
  EXPECT_LT(longest, absl::Milliseconds(2700));  // the 2 s cap plus the call itself
  EXPECT_LT(elapsed, absl::Seconds(15));
  RecordProperty("ok", outcomes["OK"]);
  RecordProperty("rate_limited", outcomes["RATE_LIMITED"]);
  RecordProperty("upstream", static_cast<int>(sent));
  RecordProperty("longest_ms", static_cast<int>(absl::ToInt64Milliseconds(longest)));
}

}  // namespace
}  // namespace serpwow::testing
