// Unit tests of what batchctl prints (client/batchctl_format.h).
#include "client/batchctl_format.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

v1::StopBatchResponse Response(v1::BatchStatus previous, bool refunded, v1::RefundBasis basis) {
  v1::StopBatchResponse r;
  r.set_batch_id("9E867FAA");
  r.set_previous_status(previous);
  r.set_credits_refunded(refunded);
  r.set_refund_basis(basis);
  r.set_message("Batch stopped");
  return r;
}

TEST(FormatStopped, SaysWhatHappenedToTheCredits) {
  EXPECT_EQ(FormatStopped(Response(v1::BATCH_STATUS_QUEUED, true, v1::REFUND_BASIS_PRE_READ)),
            "stopped batch 9E867FAA (was queued): credits refunded");
  EXPECT_EQ(FormatStopped(Response(v1::BATCH_STATUS_RUNNING, false, v1::REFUND_BASIS_PRE_READ)),
            "stopped batch 9E867FAA (was running): no refund");
  EXPECT_EQ(
      FormatStopped(Response(v1::BATCH_STATUS_UNSPECIFIED, false, v1::REFUND_BASIS_UNKNOWN)),
      "stopped batch 9E867FAA (previous status unknown): refund unknown (the batch could not be "
      "read first; check the account's credits)");
  EXPECT_EQ(
      FormatStopped(Response(v1::BATCH_STATUS_UNSPECIFIED, true, v1::REFUND_BASIS_STOP_REPLY)),
      "stopped batch 9E867FAA (previous status unknown): credits refunded");
}

grpc::Status ErrorWithDetails(grpc::StatusCode code, const std::string& message,
                              const std::string& reason, int retry_seconds) {
  google::rpc::Status proto;
  proto.set_code(code);
  proto.set_message(message);
  google::rpc::ErrorInfo info;
  info.set_domain("serpwow.com");
  info.set_reason(reason);
  proto.add_details()->PackFrom(info);
  if (retry_seconds > 0) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(retry_seconds);
    proto.add_details()->PackFrom(retry);
  }
  return grpc::Status(code, message, proto.SerializeAsString());
}

TEST(FormatError, CodeReasonMessageAndRetryHint) {
  EXPECT_EQ(FormatError(ErrorWithDetails(grpc::StatusCode::FAILED_PRECONDITION, "batch X is idle",
                                         "BATCH_NOT_STOPPABLE", 0)),
            "FAILED_PRECONDITION (BATCH_NOT_STOPPABLE): batch X is idle");
  EXPECT_EQ(FormatError(ErrorWithDetails(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down",
                                         "RATE_LIMITED", 17)),
            "RESOURCE_EXHAUSTED (RATE_LIMITED): slow down [retry after 17s]");
  EXPECT_EQ(FormatError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect")),
            "UNAVAILABLE: failed to connect");
}

TEST(FormatBatch, SaysWhatIsSetAndLeavesOutWhatIsNot) {
  v1::Batch b;
  b.set_batch_id("2A6F94BB");
  b.set_display_name("Nightly");
  b.set_status(v1::BATCH_STATUS_RUNNING);
  b.set_credits_required(150);
  b.set_schedule_type(v1::SCHEDULE_TYPE_WEEKLY);
  b.add_schedule_days_of_week(1);
  b.add_schedule_days_of_week(3);
  b.add_schedule_hours(9);
  b.add_schedule_hours(17);
  b.set_enabled(false);
  b.set_searches_total_count(1500);
  b.set_searches_page_count(2);
  b.set_results_count(3);
  b.set_next_result_set_id(4);
  b.set_notification_webhook("https://hooks.example.com/x");
  b.set_notification_as_csv(true);
  b.add_destination_ids("D1");
  b.mutable_create_time()->set_seconds(1577836800);
  (*b.mutable_other_fields())["zeta"] = "1";
  (*b.mutable_other_fields())["alpha"] = "\"x\"";
  EXPECT_EQ(FormatBatch(b),
            "batch 2A6F94BB \"Nightly\": running (150 credits reserved)\n"
            "  schedule:      weekly on mon, wed at 09:00, 17:00 (account time zone)\n"
            "  enabled:       no (its schedule does not run)\n"
            "  searches:      1500 (2 pages)\n"
            "  credits:       150 per run\n"
            "  result sets:   3 (the next run's will be 4)\n"
            "  notifications: webhook https://hooks.example.com/x; as csv\n"
            "  destinations:  D1\n"
            "  created:       2020-01-01T00:00:00Z\n"
            "  other fields:  alpha=\"x\" zeta=1");
  v1::Batch idle;
  idle.set_batch_id("I");
  idle.set_status(v1::BATCH_STATUS_IDLE);
  EXPECT_EQ(FormatBatch(idle).substr(0, FormatBatch(idle).find('\n')), "batch I \"\": idle");
}

TEST(ExitCode, IsTheGrpcCodeNumber) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::INVALID_ARGUMENT), 3);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::NOT_FOUND), 5);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::FAILED_PRECONDITION), 9);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAVAILABLE), 14);
  EXPECT_EQ(CodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
}

TEST(Json, ResponseHasEveryField) {
  std::string json =
      StoppedJson(Response(v1::BATCH_STATUS_RUNNING, false, v1::REFUND_BASIS_PRE_READ));
  EXPECT_NE(json.find(R"("creditsRefunded":false)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("previousStatus":"BATCH_STATUS_RUNNING")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("batchId":"9E867FAA")"), std::string::npos) << json;
}

TEST(Json, ErrorCarriesItsDetails) {
  std::string json = ErrorJson(
      ErrorWithDetails(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down", "RATE_LIMITED", 5));
  EXPECT_NE(json.find(R"("code":8)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("reason":"RATE_LIMITED")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("retryDelay":"5s")"), std::string::npos) << json;
}

TEST(WatchEvent, OneLinePerEventWithTheTimeFirst) {
  v1::WatchBatchEvent event;
  event.mutable_observe_time()->set_seconds(1700000000);  // 22:13:20 UTC
  event.mutable_batch()->set_status(v1::BATCH_STATUS_RUNNING);
  event.mutable_batch()->set_searches_total_count(200);
  event.mutable_batch()->set_next_result_set_id(4);
  event.mutable_poll_interval()->set_seconds(5);
  const absl::TimeZone utc = absl::UTCTimeZone();
  event.set_type(v1::WatchBatchEvent::EVENT_TYPE_SNAPSHOT);
  EXPECT_EQ(FormatWatchEvent(event, utc),
            "22:13:20  SNAPSHOT        running, 200 searches, next result set 4 (polled every 5s)");
  event.set_type(v1::WatchBatchEvent::EVENT_TYPE_STATUS_CHANGED);
  event.set_previous_status(v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(FormatWatchEvent(event, utc), "22:13:20  STATUS_CHANGED  running (was queued)");
  event.set_type(v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED);
  event.mutable_result_set()->set_result_set_id(4);
  event.mutable_result_set()->set_searches_completed(198);
  event.mutable_result_set()->set_searches_failed(2);
  EXPECT_EQ(FormatWatchEvent(event, utc),
            "22:13:20  RUN_COMPLETED   result set 4: 198 searches, 2 failed");
  event.set_type(v1::WatchBatchEvent::EVENT_TYPE_RUN_ENDED);
  event.mutable_batch()->set_status(v1::BATCH_STATUS_IDLE);
  event.set_previous_status(v1::BATCH_STATUS_RUNNING);
  EXPECT_EQ(FormatWatchEvent(event, utc),
            "22:13:20  RUN_ENDED       idle without a result set (was running)");
  event.set_type(v1::WatchBatchEvent::EVENT_TYPE_BATCH_DELETED);
  EXPECT_EQ(FormatWatchEvent(event, utc), "22:13:20  BATCH_DELETED   the batch was deleted");
}

}  // namespace
}  // namespace serpwow::client
