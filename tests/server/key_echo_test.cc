// The key is never echoed back: an upstream that quotes the gateway's own
// API key (raw, percent-encoded with upper- or lower-case hex) in every text
// field it returns reaches no caller through any RPC's response, error or
// the log. (The scrubbing is in one place: SerpwowClient, for every reply.)
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/support/gateway_fixture.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;
using sim::Fault;

// Characters that percent-encoding changes, so all three forms differ.
constexpr char kKey[] = "K3y+Sl/ash=Eq-0123";
constexpr char kUpper[] = "K3y%2BSl%2Fash%3DEq-0123";
constexpr char kLower[] = "K3y%2bSl%2fash%3dEq-0123";

std::string Quoting(const std::string& what) {
  return absl::StrCat(what, " raw=", kKey, " upper=", kUpper, " lower=", kLower);
}

void ExpectNoKey(const std::string& text, const std::string& where) {
  for (const char* form : {kKey, kUpper, kLower, "K3y"}) {
    EXPECT_FALSE(absl::StrContains(text, form)) << where << ": " << text;
  }
}

class KeyEchoTest : public GatewayTest {
 protected:
  void SetUp() override { StartWith(false); }
  // The three RPCs that pass download links on, for result set 1 and the
  // searches of `batch`, in `format` (CSV or JSON Lines); each must be
  // refused as UNSAFE_DOWNLOAD_LINK with neither the key nor a link in its
  // status.
  void ExpectLinkRpcsRefused(const std::string& batch, v1::ExportFormat format) {
    using Stub = v1::BatchService::Stub;
    v1::GetResultSetRequest get;
    get.set_name(absl::StrCat("batches/", batch, "/resultSets/1"));
    auto g = Call(&Stub::GetResultSet, get);
    v1::ExportResultSetRequest exported;
    exported.set_name(get.name());
    exported.set_format(format);
    auto e = Call(&Stub::ExportResultSet, exported);
    v1::ExportSearchesRequest searches;
    searches.set_parent("batches/" + batch);
    searches.set_format(v1::EXPORT_FORMAT_CSV);
    auto x = Call(&Stub::ExportSearches, searches);
    for (const std::string& reason : {g.Reason(), e.Reason(), x.Reason()}) {
      EXPECT_EQ(reason, "UNSAFE_DOWNLOAD_LINK");
    }
    for (const grpc::Status* st : {&g.status, &e.status, &x.status}) {
      EXPECT_EQ(st->error_code(), grpc::StatusCode::INTERNAL) << st->error_message();
      ExpectNoKey(st->error_message(), "message");
      ExpectNoKey(st->error_details(), "details");
      EXPECT_FALSE(absl::StrContains(st->error_details(), "/files/"));
    }
    ExpectNoKey(g.response.DebugString() + e.response.DebugString() + x.response.DebugString(),
                "responses");
  }

  // `hostile_links`: the simulator's links_include_api_key variant.
  void StartWith(bool hostile_links) {
    sim::SimulatorOptions o;
    o.api_key = kKey;
    o.links_include_api_key = hostile_links;
    auto sim = sim::Simulator::Start(o);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = std::move(*sim);
    StartGateway(sim_->base_url(), kKey);
  }
};

TEST_F(KeyEchoTest, NoTextFieldOfAnyReplyCarriesTheKeyToTheCaller) {
  // StopBatch: request_info.message becomes StopBatchResponse.message.
  sim_->PutBatch("Q1", BatchState::kQueued, 5);
  Fault stop;
  stop.path_suffix = "/Q1/stop";
  stop.status = 200;
  stop.body = absl::StrCat(R"({"request_info":{"success":true,"message":")",
                           Quoting("Batch stopped"), R"("}})");
  sim_->AddFault(stop);
  CallResult stopped = Stop("Q1");
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  ExpectNoKey(stopped.response.message(), "StopBatchResponse.message");
  EXPECT_TRUE(absl::StrContains(stopped.response.message(), "[redacted]"))
      << stopped.response.message();

  // GetBatch: every string field, and unknown keys kept in other_fields.
  sim_->PutBatch("G1", BatchState::kIdle, 5);
  Fault get;
  get.path_suffix = "/batches/G1";
  get.status = 200;
  const std::string q = Quoting("x");
  get.body = absl::StrCat(R"({"request_info":{"success":true},"batch":{"id":"G1","name":")", q,
                          R"(","notification_email":")", q, R"(","notification_webhook":")", q,
                          R"(","searches_type":")", q, R"(","destination_ids":[")", q,
                          R"("],"surprise":")", q, R"(","status":")", q, R"("}})");
  sim_->AddFault(get);
  v1::GetBatchRequest request;
  request.set_name("batches/G1");
  auto got = Call(&v1::BatchService::Stub::GetBatch, request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  ExpectNoKey(got.response.DebugString(), "Batch");
  EXPECT_TRUE(absl::StrContains(got.response.display_name(), "[redacted]"));

  // Errors: statuses, details and RetryInfo built from a reply that quotes it.
  for (int status : {400, 404, 429, 500, 503}) {
    const std::string id = absl::StrCat("E", status);
    sim_->PutBatch(id, BatchState::kQueued, 5);
    Fault f;
    f.path_suffix = "/" + id + "/stop";
    f.status = status;
    f.headers = {{"Retry-After", Quoting("1")}};
    f.body = absl::StrCat(R"({"request_info":{"success":false,"message":")", Quoting("no"),
                          R"("},"retry_after":")", kKey, R"("})");
    sim_->AddFault(f);
    CallResult r = Stop(id, absl::Seconds(3));
    EXPECT_FALSE(r.status.ok()) << status;
    ExpectNoKey(r.status.error_message(), absl::StrCat("message of ", status));
    ExpectNoKey(r.status.error_details(), absl::StrCat("details of ", status));
  }

  // StartBatch: its message, and the refusal whose cleaned message it passes on.
  sim_->PutBatch("S1", BatchState::kIdle, 5);
  Fault start;
  start.path_suffix = "/S1/start";
  start.status = 200;
  start.times = 1;
  start.body = absl::StrCat(R"({"request_info":{"success":true,"message":")",
                            Quoting("Batch started"), R"("}})");
  sim_->AddFault(start);
  v1::StartBatchRequest start_request;
  start_request.set_name("batches/S1");
  auto started = Call(&v1::BatchService::Stub::StartBatch, start_request);
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  ExpectNoKey(started.response.DebugString(), "StartBatchResponse");
  EXPECT_TRUE(absl::StrContains(started.response.message(), "[redacted]"));
  start.status = 422;
  start.body =
      absl::StrCat(R"({"request_info":{"success":false,"message":")", Quoting("no"), R"("}})");
  sim_->AddFault(start);
  auto refused = Call(&v1::BatchService::Stub::StartBatch, start_request);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INTERNAL);
  ExpectNoKey(refused.status.error_message(), "StartBatch refusal message");
  ExpectNoKey(refused.status.error_details(), "StartBatch refusal details");

  // StopAllBatches: its message, and the listing's display names.
  sim_->PutBatch("L1", BatchState::kQueued, 5, Quoting("listed"));
  Fault stop_all;
  stop_all.path_suffix = "/batches/stopall";
  stop_all.status = 200;
  stop_all.times = 1;
  stop_all.body =
      absl::StrCat(R"({"request_info":{"success":true,"message":")", Quoting("1 Batches stopped"),
                   R"("},"batches_stopped":1,"batches_failed_to_stop":0})");
  sim_->AddFault(stop_all);
  auto all = Call(&v1::BatchService::Stub::StopAllBatches, v1::StopAllBatchesRequest());
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  ASSERT_GT(all.response.batches_size(), 0);
  ExpectNoKey(all.response.DebugString(), "StopAllBatchesResponse");
  EXPECT_TRUE(absl::StrContains(all.response.message(), "[redacted]"));

  // CreateBatch: the batch in its reply, and a refusal's cleaned message.
  Fault create;
  create.path_suffix = "/batches";
  create.status = 200;
  create.times = 1;
  create.body = absl::StrCat(R"({"request_info":{"success":true},"batch":{"id":"C1","name":")", q,
                             R"(","status":"idle"}})");
  sim_->AddFault(create);
  v1::CreateBatchRequest create_request;
  create_request.mutable_batch()->set_display_name("x");
  auto created = Call(&v1::BatchService::Stub::CreateBatch, create_request);
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  ExpectNoKey(created.response.DebugString(), "CreateBatch's Batch");
  create.status = 400;
  create.body =
      absl::StrCat(R"({"request_info":{"success":false,"message":")", Quoting("no"), R"("}})");
  sim_->AddFault(create);
  auto not_created = Call(&v1::BatchService::Stub::CreateBatch, create_request);
  EXPECT_EQ(not_created.Reason(), "UPSTREAM_INVALID_ARGUMENT");
  ExpectNoKey(not_created.status.error_message(), "CreateBatch refusal message");
  ExpectNoKey(not_created.status.error_details(), "CreateBatch refusal details");

  // DeleteBatch: a refusal's cleaned message.
  sim_->PutBatch("D1", BatchState::kIdle, 0);
  Fault pass;
  pass.path_suffix = "/batches/D1";
  pass.times = 1;  // the read before the delete
  sim_->AddFault(pass);
  Fault refuse_delete;
  refuse_delete.path_suffix = "/batches/D1";
  refuse_delete.status = 400;
  refuse_delete.times = 1;
  refuse_delete.body =
      absl::StrCat(R"({"request_info":{"success":false,"message":")", Quoting("no"), R"("}})");
  sim_->AddFault(refuse_delete);
  v1::DeleteBatchRequest delete_request;
  delete_request.set_name("batches/D1");
  auto not_deleted = Call(&v1::BatchService::Stub::DeleteBatch, delete_request);
  EXPECT_EQ(not_deleted.Reason(), "UPSTREAM_REJECTED");
  ExpectNoKey(not_deleted.status.error_message(), "DeleteBatch refusal message");
  ExpectNoKey(not_deleted.status.error_details(), "DeleteBatch refusal details");
  EXPECT_TRUE(absl::StrContains(not_deleted.status.error_message(), "[redacted]"));

  // UpdateBatch: the batch in its reply, and a refusal's cleaned message.
  sim_->PutBatch("U1", BatchState::kIdle, 0);
  Fault update;
  update.path_suffix = "/batches/U1";
  update.status = 200;
  update.times = 1;
  update.body = absl::StrCat(R"({"request_info":{"success":true},"batch":{"id":"U1","name":")", q,
                             R"(","status":"idle"}})");
  sim_->AddFault(update);
  v1::UpdateBatchRequest update_request;
  update_request.mutable_batch()->set_name("batches/U1");
  update_request.mutable_batch()->set_display_name("x");
  auto updated = Call(&v1::BatchService::Stub::UpdateBatch, update_request);
  ASSERT_TRUE(updated.status.ok()) << updated.status.error_message();
  ExpectNoKey(updated.response.DebugString(), "UpdateBatch's Batch");
  update.status = 400;
  update.body =
      absl::StrCat(R"({"request_info":{"success":false,"message":")", Quoting("no"), R"("}})");
  sim_->AddFault(update);
  auto not_updated = Call(&v1::BatchService::Stub::UpdateBatch, update_request);
  EXPECT_EQ(not_updated.Reason(), "UPSTREAM_INVALID_ARGUMENT");
  ExpectNoKey(not_updated.status.error_message(), "UpdateBatch refusal message");
  ExpectNoKey(not_updated.status.error_details(), "UpdateBatch refusal details");
}

// The read RPCs of the account, result sets and searches: text fields that
// quote the key reach the caller redacted, and download links that carry it
// (the simulator's hostile links_include_api_key variant, in every form) are
// refused with a status that carries neither the link nor the key.
TEST_F(KeyEchoTest, TheReadRpcsNeverPassTheKeyOn) {
  using Stub = v1::BatchService::Stub;
  const std::string q = Quoting("x");
  sim_->PutBatch("R1", BatchState::kIdle, 5);
  ASSERT_TRUE(sim_->PutSearches("R1", 3).ok());
  ASSERT_TRUE(sim_->CompleteRuns("R1", 1).ok());

  // Text the upstream quotes the key in.
  Fault account;
  account.path_suffix = "/account";
  account.status = 200;
  account.body = absl::StrCat(R"({"request_info":{"success":true},"account_info":{"plan":")", q,
                              R"(","api_key":")", kKey, R"(","credits_remaining":1}})");
  sim_->AddFault(account);
  Fault sets;
  sets.path_suffix = "/batches/R1/results";
  sets.status = 200;
  sets.body = absl::StrCat(R"({"request_info":{"success":true},"results":[{"id":1,"note":")", q,
                           R"(","webhook_status":{"status":")", q, R"(","log":[{"text":")", q,
                           R"("}]}}]})");
  sim_->AddFault(sets);
  Fault page;
  page.path_suffix = "/batches/R1/searches/1";
  page.status = 200;
  page.body = absl::StrCat(R"({"request_info":{"success":true},"searches_page_count":1,)",
                           R"("searches":[{"id":"S1","q":")", q, R"(","gl":")", q, R"("}]})");
  sim_->AddFault(page);

  v1::GetAccountRequest get_account;
  get_account.set_name("account");
  auto a = Call(&Stub::GetAccount, get_account);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ExpectNoKey(a.response.DebugString(), "Account");
  EXPECT_TRUE(absl::StrContains(a.response.other_fields().at("plan"), "[redacted]"));

  v1::ListResultSetsRequest list_sets;
  list_sets.set_parent("batches/R1");
  auto l = Call(&Stub::ListResultSets, list_sets);
  ASSERT_TRUE(l.status.ok()) << l.status.error_message();
  ExpectNoKey(l.response.DebugString(), "ListResultSetsResponse");
  EXPECT_TRUE(absl::StrContains(l.response.DebugString(), "[redacted]"));

  v1::ListSearchesRequest list_searches;
  list_searches.set_parent("batches/R1");
  list_searches.set_page_token("");
  auto s = Call(&Stub::ListSearches, list_searches);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ExpectNoKey(s.response.DebugString(), "ListSearchesResponse");
  ASSERT_EQ(s.response.searches_size(), 1);
  EXPECT_TRUE(absl::StrContains(s.response.searches(0).q(), "[redacted]"));

  // Links: the simulator's own links with the key appended (and scrubbed
  // to "[redacted]" on the way in), and links quoting it in every form.
  sim_->ClearFaults();
  for (const std::string& link :
       {absl::StrCat(sim_->base_url(), "/files/R1/x.json?api_key=", kUpper),
        absl::StrCat(sim_->base_url(), "/files/R1/", kLower, ".json"),
        absl::StrCat(sim_->base_url(), "/files/R1/", kKey, ".json")}) {
    sim_->ClearFaults();
    Fault links;
    links.path_suffix = "/batches/R1/results/1";
    links.status = 200;
    links.body = absl::StrCat(R"({"request_info":{"success":true},"result":{"id":1,)",
                              R"("download_links":{"pages":[")", link, R"("]}}})");
    sim_->AddFault(links);
    Fault searches = links;
    searches.path_suffix = "/batches/R1/searches/csv";
    searches.body = absl::StrCat(R"({"request_info":{"success":true},"download_links":)",
                                 R"({"pages":[")", link, R"("]}})");
    sim_->AddFault(searches);
    Fault csv = links;
    csv.path_suffix = "/batches/R1/results/1/csv";
    sim_->AddFault(csv);

    ExpectLinkRpcsRefused("R1", v1::EXPORT_FORMAT_CSV);
  }
}

// The simulator's hostile variant end to end: every link it gives carries
// the key (?api_key=...).
class KeyEchoHostileLinksTest : public KeyEchoTest {
 protected:
  void SetUp() override { StartWith(true); }
};

TEST_F(KeyEchoHostileLinksTest, LinksWithTheKeyAreRefused) {
  sim_->PutBatch("H1", BatchState::kIdle, 5);
  ASSERT_TRUE(sim_->PutSearches("H1", 2).ok());
  ASSERT_TRUE(sim_->CompleteRuns("H1", 1).ok());
  ExpectLinkRpcsRefused("H1", v1::EXPORT_FORMAT_JSON_LINES);
}

}  // namespace
}  // namespace serpwow::testing
