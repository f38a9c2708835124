// What batchctl prints for the account, result sets, searches, a start and a
// stop-all, and how it reads a batch file (no server).
#include "client/child_format.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "client/batch_file.h"
#include "client/batchctl_format.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

const absl::Time kNow = absl::FromUnixSeconds(1764633600);  // 2025-12-02T00:00:00Z

google::protobuf::Timestamp At(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

TEST(AccountCells, FiguresAndUnknownsStayEmpty) {
  v1::Account a;
  a.set_credits_remaining(150);
  a.set_credits_limit(10000);
  a.set_batches_used(12);
  a.set_batches_limit(10000);
  *a.mutable_credits_reset_time() = At(kNow + absl::Hours(50));
  EXPECT_EQ(AccountCells(a, false, false, kNow),
            (std::vector<std::string>{"150", "", "10000", "in 2d", "12/10000", ""}));
  EXPECT_EQ(AccountCells(a, false, true, kNow)[3], "2025-12-04T02:00:00Z");
  EXPECT_EQ(AccountColumns(true).size(), AccountCells(a, true, false, kNow).size());
}

TEST(ResultSetCells, AgesOnATerminalExactTimesOtherwise) {
  v1::ResultSet r;
  r.set_name("batches/9E867FAA/resultSets/4");
  r.set_result_set_id(4);
  *r.mutable_start_time() = At(kNow - absl::Hours(3));
  *r.mutable_end_time() = At(kNow - absl::Hours(2));
  *r.mutable_expire_time() = At(kNow + absl::Hours(24 * 14));
  r.set_searches_completed(198);
  r.set_searches_failed(2);
  r.mutable_webhook_status()->set_status("ok");
  EXPECT_EQ(ResultSetCells(r, false, false, kNow),
            (std::vector<std::string>{"4", "3h", "2h", "198", "2", "in 14d", "ok"}));
  EXPECT_EQ(ResultSetColumns(true).size(), ResultSetCells(r, true, true, kNow).size());
}

TEST(FormatResultSet, DeliveryLogsAndLinks) {
  v1::ResultSet r;
  r.set_name("batches/9E867FAA/resultSets/4");
  r.set_result_set_id(4);
  r.set_searches_total(200);
  auto* entry = r.mutable_webhook_status()->add_log();
  entry->set_text("delivered");
  r.mutable_webhook_status()->set_status("ok");
  r.mutable_download_links()->add_page_uris("https://results.example/4/1.json");
  const std::string text = FormatResultSet(r);
  EXPECT_TRUE(absl::StartsWith(text, "result set 4 of batch 9E867FAA\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "  webhook:       ok\n    delivered")) << text;
  EXPECT_TRUE(absl::StrContains(text, "https://results.example/4/1.json")) << text;
}

TEST(SearchCells, ParamsSortedAsKeyValue) {
  v1::Search s;
  s.set_search_id("ABC");
  s.set_q("pizza");
  (*s.mutable_params())["hl"] = "en";
  (*s.mutable_params())["gl"] = "us";
  EXPECT_EQ(SearchCells(s, false, false, kNow)[5], "gl=us hl=en");
}

TEST(FormatLinks, OneUrlPerLine) {
  v1::DownloadLinks links;
  links.add_page_uris("https://a/1");
  links.add_page_uris("https://a/2");
  links.set_all_pages_uri("https://a/all");
  EXPECT_EQ(FormatLinks(links), "https://a/1\nhttps://a/2\nhttps://a/all\n");
}

TEST(FormatStarted, CreditsAndTheResultSet) {
  v1::StartBatchResponse r;
  r.set_name("batches/9E867FAA");
  r.mutable_batch()->set_status(v1::BATCH_STATUS_QUEUED);
  r.set_credits_reserved(200);
  r.set_credits_basis(v1::CREDITS_BASIS_PRE_READ);
  r.set_result_set("batches/9E867FAA/resultSets/4");
  EXPECT_EQ(FormatStarted(r),
            "started batch 9E867FAA: queued, 200 credits reserved; its results will be result "
            "set 4");
}

TEST(FormatStopAll, TableAndSummary) {
  v1::StopAllBatchesResponse r;
  r.set_batches_stopped(2);
  r.set_message("2 Batches stopped");
  r.set_listing_complete(true);
  r.set_refund_basis(v1::REFUND_BASIS_PRE_READ);
  r.set_credits_refunded_estimate(200);
  auto* queued = r.add_batches();
  queued->set_name("batches/Q1");
  queued->set_previous_status(v1::BATCH_STATUS_QUEUED);
  queued->set_credits_required(200);
  queued->set_credits_refunded(200);
  auto* running = r.add_batches();
  running->set_name("batches/R1");
  running->set_previous_status(v1::BATCH_STATUS_RUNNING);
  running->set_credits_required(150);
  EXPECT_EQ(FormatStopAllTable(r, Terminal{false, 80}, false),
            "Q1\t\tqueued\t200\t200\nR1\t\trunning\t150\t0\n");
  EXPECT_EQ(FormatStopAllSummary(r, false),
            "stopped 2 batches (\"2 Batches stopped\"); about 200 credits refunded (pre-read)");
  EXPECT_EQ(FormatStopAllSummary(r, true),
            "would stop 2 batches; about 200 credits would be refunded (pre-read)");
  r.set_listing_complete(false);
  r.set_refund_basis(v1::REFUND_BASIS_UNKNOWN);
  EXPECT_TRUE(absl::StrContains(FormatStopAllSummary(r, false), "refund unknown"));
}

TEST(BatchFile, YamlWithPlainWordsAndTheMaskPaths) {
  v1::Batch batch;
  std::vector<std::string> paths;
  ASSERT_TRUE(ParseBatchText("display_name: Nightly\nschedule_type: daily\n"
                             "schedule_hours: [9, 17]\npriority: high\nenabled: false\n",
                             "-f b.yaml", &batch, &paths)
                  .ok());
  EXPECT_EQ(batch.display_name(), "Nightly");
  EXPECT_EQ(batch.schedule_type(), v1::SCHEDULE_TYPE_DAILY);
  EXPECT_EQ(batch.schedule_hours_size(), 2);
  EXPECT_EQ(batch.priority(), v1::PRIORITY_HIGH);
  ASSERT_TRUE(batch.has_enabled());
  EXPECT_FALSE(batch.enabled());
  EXPECT_EQ(paths, (std::vector<std::string>{"display_name", "enabled", "priority",
                                             "schedule_hours", "schedule_type"}));
}

TEST(BatchFile, JsonWithJsonNamesAndErrorsNameTheFile) {
  v1::Batch batch;
  std::vector<std::string> paths;
  ASSERT_TRUE(ParseBatchText(R"({"displayName": "N", "notificationAsCsv": true})", "-f b.json",
                             &batch, &paths)
                  .ok());
  EXPECT_EQ(paths, (std::vector<std::string>{"display_name", "notification_as_csv"}));
  absl::Status bad = ParseBatchText("colour: red\n", "-f b.yaml", &batch, &paths);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.message(), "-f b.yaml: ")) << bad.message();
  EXPECT_FALSE(ParseBatchText("[1, 2]", "-f x", &batch, &paths).ok());
  EXPECT_FALSE(ParseBatchText("a: [", "-f x", &batch, &paths).ok());
  EXPECT_FALSE(ReadBatchFile("/nonexistent/b.yaml", &batch, &paths).ok());
}

}  // namespace
}  // namespace serpwow::client
