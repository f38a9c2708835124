// The search calls end to end: a real gateway (or two) in front of the real
// simulator with its concurrency model (a search call holds the batch for
// 20 ms; another one meanwhile gets 429). Counted at the simulator: 429s,
// searches added, requests sent.
#include <atomic>
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

class SearchRpcsTest : public GatewayTest {
 protected:
  void SetUp() override {
    options_.calls.backoff_base = absl::Milliseconds(10);
    options_.calls.backoff_cap = absl::Milliseconds(50);
  }

  static v1::AddSearchesRequest Adds(const std::string& batch, int n, const std::string& tag = "") {
    v1::AddSearchesRequest request;
    request.set_parent(absl::StrCat("batches/", batch));
    for (int i = 0; i < n; ++i) {
      v1::Search* s = request.add_searches();
      s->set_q(absl::StrCat("coffee ", tag, i));
      s->set_location("United States");
      (*s->mutable_params())["gl"] = "us";
    }
    return request;
  }

  static RpcResult<v1::AddSearchesResponse> AddOn(v1::BatchService::Stub* stub,
                                                  const v1::AddSearchesRequest& request,
                                                  absl::Duration timeout = absl::Seconds(20)) {
    RpcResult<v1::AddSearchesResponse> result;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    result.status = stub->AddSearches(&context, request, &result.response);
    return result;
  }

  int64_t Requests(const std::string& method, const std::string& suffix) const {
    int64_t n = 0;
    for (const sim::RecordedRequest& r : sim_->requests()) {
      n += r.method == method && absl::EndsWith(r.path, suffix) ? 1 : 0;
    }
    return n;
  }

  // Waits (bounded) until the gateway's search queue holds `n` entries.
  bool QueueHolds(int64_t n) const {
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      if (gateway_->search_queue().size() == n) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

  // 50 concurrent AddSearches of 100 each, spread over `stubs`.
  struct Totals {
    int ok = 0, rate_limited = 0, unknown = 0, other = 0;
  };
  Totals FiftyAdds(const std::vector<v1::BatchService::Stub*>& stubs, const std::string& batch) {
    std::vector<std::thread> threads;
    std::vector<RpcResult<v1::AddSearchesResponse>> results(50);
    for (int i = 0; i < 50; ++i) {
      threads.emplace_back([&, i] {
        results[i] = AddOn(stubs[i % stubs.size()], Adds(batch, 100, absl::StrCat(i, "-")));
      });
    }
    for (auto& t : threads) t.join();
    Totals totals;
    for (const auto& r : results) {
      if (r.status.ok()) {
        ++totals.ok;
        EXPECT_EQ(r.response.added_count(), 100);
      } else if (r.Reason() == "RATE_LIMITED") {
        ++totals.rate_limited;
      } else if (r.Reason() == "OUTCOME_UNKNOWN") {
        ++totals.unknown;
      } else {
        ++totals.other;
        ADD_FAILURE() << r.status.error_code() << " " << r.Reason() << " "
                      << r.status.error_message();
      }
    }
    return totals;
  }
};

template <typename Response>
std::string Meta(const RpcResult<Response>& r, const std::string& key) {
  auto info = r.template Detail<google::rpc::ErrorInfo>();
  if (!info) return "";
  auto it = info->metadata().find(key);
  return it == info->metadata().end() ? "" : it->second;
}

TEST_F(SearchRpcsTest, FiftyConcurrentAddsThroughOneGatewayMeetNo429AndAddExactly5000) {
  // 50 at once: the queue's bound (default 32 waiting) must hold them all.
  options_.search_queue.max_waiting = 64;
  StartAll();
  sim_->PutBatch("F1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("F1", 0).ok());
  const Totals t = FiftyAdds({stub_.get()}, "F1");
  std::printf("one gateway: ok=%d rate_limited=%d unknown=%d; simulator 429s=%lld searches=%lld\n",
              t.ok, t.rate_limited, t.unknown, static_cast<long long>(sim_->search_calls_refused()),
              static_cast<long long>(sim_->search_count("F1")));
  EXPECT_EQ(t.ok, 50);
  EXPECT_EQ(sim_->search_calls_refused(), 0);
  EXPECT_EQ(sim_->search_count("F1"), 5000);
  EXPECT_EQ(sim_->searches_added(), 5000);
  EXPECT_TRUE(QueueHolds(0));
}

TEST_F(SearchRpcsTest, TwoGatewaysMeet429sRetryThemAndNeverLoseOrDuplicate) {
  options_.search_queue.max_waiting = 64;
  // A hold long enough that the two gateways' calls overlap even in a slow
  // (sanitizer) build.
  sim::SimulatorOptions sim_options;
  sim_options.search_mutation_duration = absl::Milliseconds(100);
  StartAll(sim_options);
  sim_->PutBatch("F2", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("F2", 0).ok());
  auto second = Gateway::Start(options_);
  ASSERT_TRUE(second.ok()) << second.status();
  auto channel = grpc::CreateChannel((*second)->address(), grpc::InsecureChannelCredentials());
  auto stub2 = v1::BatchService::NewStub(channel);
  const Totals t = FiftyAdds({stub_.get(), stub2.get()}, "F2");
  const int64_t total = sim_->search_count("F2");
  std::printf("two gateways: ok=%d rate_limited=%d unknown=%d; simulator 429s=%lld searches=%lld\n",
              t.ok, t.rate_limited, t.unknown, static_cast<long long>(sim_->search_calls_refused()),
              static_cast<long long>(total));
  EXPECT_GT(sim_->search_calls_refused(), 0);  // the queues cannot help across replicas
  EXPECT_EQ(t.ok + t.rate_limited + t.unknown, 50);
  // Every OK call's 100 are there, no RATE_LIMITED call's are, and an
  // OUTCOME_UNKNOWN call counts 0 or 100.
  EXPECT_GE(total, 100 * t.ok);
  EXPECT_LE(total, 100 * (t.ok + t.unknown));
  EXPECT_EQ(total % 100, 0);
  EXPECT_EQ(total, sim_->searches_added());
}

TEST_F(SearchRpcsTest, AccountScopeSerialisesAddsToTwoBatches) {
  options_.search_queue.account_scope = true;
  sim::SimulatorOptions sim_options;
  sim_options.search_mutation_scope = sim::SimulatorOptions::SearchMutationScope::kAccount;
  StartAll(sim_options);
  for (const char* id : {"A1", "A2"}) {
    sim_->PutBatch(id, BatchState::kIdle, 0);
    ASSERT_TRUE(sim_->PutSearches(id, 0).ok());
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      if (AddOn(stub_.get(), Adds(i % 2 == 0 ? "A1" : "A2", 10)).status.ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(sim_->search_calls_refused(), 0);
  EXPECT_EQ(sim_->search_count("A1"), 100);
  EXPECT_EQ(sim_->search_count("A2"), 100);
}

TEST_F(SearchRpcsTest, AFullQueueIsBatchBusyWithRetryInfoAndADeadlineWhileQueuedSendsNothing) {
  options_.search_queue.max_waiting = 2;
  StartAll();
  sim_->PutBatch("Q1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("Q1", 0).ok());
  Fault hold;  // the head call's count read waits: the slot stays taken
  hold.path_suffix = "/batches/Q1";
  hold.delay = absl::Milliseconds(1500);
  hold.times = 1;
  sim_->AddFault(hold);
  std::thread head([&] { EXPECT_TRUE(AddOn(stub_.get(), Adds("Q1", 1, "head")).status.ok()); });
  ASSERT_TRUE(QueueHolds(1));
  // One that runs out of time while waiting: DEADLINE_EXCEEDED, nothing sent.
  RpcResult<v1::AddSearchesResponse> late;
  std::thread waiter(
      [&] { late = AddOn(stub_.get(), Adds("Q1", 1, "late"), absl::Milliseconds(300)); });
  std::thread second([&] { EXPECT_TRUE(AddOn(stub_.get(), Adds("Q1", 1, "b")).status.ok()); });
  ASSERT_TRUE(QueueHolds(3));
  RpcResult<v1::AddSearchesResponse> busy = AddOn(stub_.get(), Adds("Q1", 1, "busy"));
  EXPECT_EQ(busy.status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(busy.Reason(), "BATCH_BUSY");
  EXPECT_EQ(Meta(busy, "batch_id"), "Q1");
  ASSERT_TRUE(busy.Detail<google::rpc::RetryInfo>().has_value());
  EXPECT_GT(busy.Detail<google::rpc::RetryInfo>()->retry_delay().nanos() +
                busy.Detail<google::rpc::RetryInfo>()->retry_delay().seconds(),
            0);
  waiter.join();
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  head.join();
  second.join();
  // Two calls went through (count + add each); the late and the busy ones
  // sent nothing.
  EXPECT_EQ(Requests("PUT", "/batches/Q1"), 2);
  EXPECT_EQ(Requests("GET", "/batches/Q1"), 2);
  EXPECT_EQ(sim_->search_count("Q1"), 2);
  EXPECT_TRUE(QueueHolds(0));
}

TEST_F(SearchRpcsTest, ACancelledQueuedCallLeavesTheQueueAtOnce) {
  StartAll();
  sim_->PutBatch("C1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("C1", 0).ok());
  Fault hold;
  hold.path_suffix = "/batches/C1";
  hold.delay = absl::Milliseconds(1000);
  hold.times = 1;
  sim_->AddFault(hold);
  std::thread head([&] { AddOn(stub_.get(), Adds("C1", 1)); });
  ASSERT_TRUE(QueueHolds(1));
  grpc::ClientContext context;
  v1::AddSearchesResponse response;
  grpc::Status status;
  std::thread queued([&] { status = stub_->AddSearches(&context, Adds("C1", 1, "x"), &response); });
  ASSERT_TRUE(QueueHolds(2));
  context.TryCancel();
  queued.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(QueueHolds(1));  // gone while the head still holds the slot
  head.join();
  EXPECT_TRUE(QueueHolds(0));
  EXPECT_EQ(Requests("PUT", "/batches/C1"), 1);
}

TEST_F(SearchRpcsTest, LimitsAreRefusedLocallyWithQuotaFailureAndNothingSent) {
  options_.mutations.max_searches_per_batch = 150;  // a flag: small for the test
  StartAll();
  sim_->PutBatch("L1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("L1", 100).ok());
  // 100 held + 60 > 150: refused after the count read, no PUT.
  auto over = AddOn(stub_.get(), Adds("L1", 60));
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(over.Reason(), "BATCH_SEARCH_LIMIT");
  EXPECT_TRUE(over.Detail<google::rpc::QuotaFailure>().has_value());
  // include_html: at most 100 (max_page counted: 1 + 1 + 19 on top of 100).
  v1::AddSearchesRequest html = Adds("L1", 2);
  html.mutable_searches(0)->set_include_html(true);
  html.mutable_searches(1)->set_max_page(19);
  auto html_over = AddOn(stub_.get(), html);
  EXPECT_EQ(html_over.Reason(), "BATCH_SEARCH_LIMIT");
  EXPECT_TRUE(html_over.Detail<google::rpc::QuotaFailure>().has_value());
  // 1001 searches: TOO_MANY_ITEMS; an api_key parameter: its exact path.
  auto many = AddOn(stub_.get(), Adds("L1", 1001));
  EXPECT_EQ(many.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(many.Reason(), "TOO_MANY_ITEMS");
  v1::AddSearchesRequest keyed = Adds("L1", 4);
  (*keyed.mutable_searches(3)->mutable_params())["api_key"] = kTestKey;
  auto key = AddOn(stub_.get(), keyed);
  EXPECT_EQ(key.Reason(), "INVALID_FIELD");
  auto bad = key.Detail<google::rpc::BadRequest>();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->field_violations(0).field(), "searches[3].params[api_key]");
  EXPECT_THAT(key.status.error_message(), ::testing::Not(::testing::HasSubstr(kTestKey)));
  EXPECT_EQ(Requests("PUT", "/batches/L1"), 0);
  EXPECT_EQ(sim_->search_count("L1"), 100);
}

TEST_F(SearchRpcsTest, RequestIdDuplicateGetsTheFirstAnswerAndAnotherPayloadIsReused) {
  StartAll();
  sim_->PutBatch("R1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("R1", 0).ok());
  v1::AddSearchesRequest request = Adds("R1", 5);
  request.set_request_id(kUuid1);
  auto first = AddOn(stub_.get(), request);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const int64_t sent = sim_->request_count();
  auto again = AddOn(stub_.get(), request);
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.response.batch().searches_total_count(),
            first.response.batch().searches_total_count());
  EXPECT_EQ(sim_->request_count(), sent);  // nothing sent
  v1::AddSearchesRequest other = Adds("R1", 6);
  other.set_request_id(kUuid1);
  EXPECT_EQ(AddOn(stub_.get(), other).Reason(), "REQUEST_ID_REUSED");
  EXPECT_EQ(sim_->search_count("R1"), 5);
}

// Each fault on the add: never two adds, and the answer design §2.4 gives.
TEST_F(SearchRpcsTest, AnAddWhoseReplyIsLostIsReconciledFromTheCount) {
  options_.upstream.timeout_cap = absl::Milliseconds(500);  // the stall ends as a timeout
  StartAll();
  for (const auto& [id, action] :
       {std::pair<const char*, Fault::Action>{"M1", Fault::Action::kResetMidBody},
        {"M2", Fault::Action::kStallAfterHeaders}}) {
    sim_->PutBatch(id, BatchState::kIdle, 0);
    ASSERT_TRUE(sim_->PutSearches(id, 0).ok());
    sim_->ClearFaults();
    Fault fault;
    fault.action = action;
    fault.path_suffix = absl::StrCat("/batches/", id);
    fault.times = 1;
    // The count read passes first: the fault is for the PUT (the second request).
    Fault pass;
    pass.path_suffix = fault.path_suffix;
    pass.times = 1;
    sim_->AddFault(pass);
    sim_->AddFault(fault);
    auto r = AddOn(stub_.get(), Adds(id, 7), absl::Seconds(5));
    EXPECT_TRUE(r.status.ok()) << id << " " << r.Reason() << " " << r.status.error_message();
    EXPECT_TRUE(r.response.reconciled()) << id;
    EXPECT_EQ(sim_->search_count(id), 7) << id;  // never two adds
  }
}

TEST_F(SearchRpcsTest, A503OnceIsNotRetriedBlindlyButReconciled) {
  StartAll();
  sim_->PutBatch("U1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("U1", 0).ok());
  Fault pass;
  pass.path_suffix = "/batches/U1";
  pass.times = 1;
  Fault unavailable;
  unavailable.path_suffix = "/batches/U1";
  unavailable.status = 503;
  unavailable.times = 1;
  sim_->AddFault(pass);
  sim_->AddFault(unavailable);
  auto r = AddOn(stub_.get(), Adds("U1", 3));
  // The 503 was answered without the add being carried out: the count says
  // so, and the add is sent once more.
  EXPECT_TRUE(r.status.ok()) << r.Reason();
  EXPECT_TRUE(r.response.reconciled());
  EXPECT_EQ(sim_->search_count("U1"), 3);
  EXPECT_EQ(Requests("PUT", "/batches/U1"), 2);
}

TEST_F(SearchRpcsTest, UpdateDeleteBulkDeletePurgeAndFind) {
  StartAll();
  sim_->PutBatch("D1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("D1", 5).ok());
  v1::ListSearchesRequest list;
  list.set_parent("batches/D1");
  auto all = Call(&v1::BatchService::Stub::ListSearches, list);
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  ASSERT_EQ(all.response.searches_size(), 5);
  const std::string first = all.response.searches(0).name();

  v1::UpdateSearchRequest update;
  update.mutable_search()->set_name(first);
  update.mutable_search()->set_q("espresso machines");
  update.mutable_update_mask()->add_paths("q");
  auto updated = Call(&v1::BatchService::Stub::UpdateSearch, update);
  ASSERT_TRUE(updated.status.ok()) << updated.status.error_message();
  EXPECT_EQ(updated.response.q(), "espresso machines");
  EXPECT_EQ(updated.response.name(), first);

  v1::ListSearchesRequest find = list;
  find.set_filter("q = \"espresso\"");
  auto found = Call(&v1::BatchService::Stub::ListSearches, find);
  ASSERT_TRUE(found.status.ok()) << found.status.error_message();
  ASSERT_EQ(found.response.searches_size(), 1);
  EXPECT_EQ(found.response.searches(0).name(), first);
  find.set_filter("q ~ \"x\"");
  auto bad_filter = Call(&v1::BatchService::Stub::ListSearches, find);
  EXPECT_EQ(bad_filter.Reason(), "INVALID_FILTER");

  v1::DeleteSearchRequest del;
  del.set_name(first);
  EXPECT_TRUE(Call(&v1::BatchService::Stub::DeleteSearch, del).status.ok());
  auto gone = Call(&v1::BatchService::Stub::DeleteSearch, del);
  EXPECT_EQ(gone.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gone.Reason(), "SEARCH_NOT_FOUND");

  v1::BatchDeleteSearchesRequest bulk;
  bulk.set_parent("batches/D1");
  bulk.add_names(all.response.searches(1).name());
  bulk.add_names(all.response.searches(2).name());
  EXPECT_TRUE(Call(&v1::BatchService::Stub::BatchDeleteSearches, bulk).status.ok());
  EXPECT_EQ(sim_->search_count("D1"), 2);
  bulk.add_names(all.response.searches(1).name());
  auto dup = Call(&v1::BatchService::Stub::BatchDeleteSearches, bulk);
  EXPECT_EQ(dup.Reason(), "INVALID_NAME");

  v1::PurgeSearchesRequest purge;
  purge.set_parent("batches/D1");
  purge.set_filter("*");
  auto dry = Call(&v1::BatchService::Stub::PurgeSearches, purge);
  ASSERT_TRUE(dry.status.ok());
  EXPECT_EQ(dry.response.purge_count(), 2);
  EXPECT_EQ(sim_->search_count("D1"), 2);
  purge.set_force(true);
  auto real = Call(&v1::BatchService::Stub::PurgeSearches, purge);
  ASSERT_TRUE(real.status.ok());
  EXPECT_EQ(real.response.purge_count(), 2);
  EXPECT_EQ(sim_->search_count("D1"), 0);
  purge.set_filter("q = \"x\"");
  EXPECT_EQ(Call(&v1::BatchService::Stub::PurgeSearches, purge).Reason(), "INVALID_FILTER");
  EXPECT_EQ(sim_->search_calls_refused(), 0);
}

TEST_F(SearchRpcsTest, RefusedWhileRunning) {
  StartAll();
  sim_->PutBatch("B1", BatchState::kRunning, 0);
  ASSERT_TRUE(sim_->PutSearches("B1", 0).ok());
  auto r = AddOn(stub_.get(), Adds("B1", 1));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.Reason(), "BATCH_RUNNING");
  EXPECT_EQ(Requests("PUT", "/batches/B1"), 0);
}

TEST_F(SearchRpcsTest, NothingIsLeftQueuedAfterAShutdown) {
  StartAll();
  sim_->PutBatch("S1", BatchState::kIdle, 0);
  ASSERT_TRUE(sim_->PutSearches("S1", 0).ok());
  Fault hang;
  hang.action = Fault::Action::kHang;
  hang.path_suffix = "/batches/S1";
  sim_->AddFault(hang);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&] { AddOn(stub_.get(), Adds("S1", 1)); });
  ASSERT_TRUE(QueueHolds(3));
  gateway_->Shutdown(absl::Milliseconds(100));
  for (auto& t : threads) t.join();
  EXPECT_EQ(gateway_->search_queue().size(), 0);
}

}  // namespace
}  // namespace serpwow::testing
