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

}  // namespace
}  // namespace serpwow::client
