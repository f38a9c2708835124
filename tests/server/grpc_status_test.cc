#include "server/rpc/grpc_status.h"

#include <gtest/gtest.h>

#include "google/rpc/status.pb.h"
#include "server/logic/errors.h"

namespace serpwow::rpc {
namespace {

google::rpc::Status Details(const grpc::Status& s) {
  google::rpc::Status proto;
  EXPECT_TRUE(proto.ParseFromString(s.error_details()));
  return proto;
}

TEST(ToGrpcStatus, OkStaysOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(ToGrpcStatus, CarriesCodeMessageAndDetailsErrorInfoFirst) {
  absl::Status in = logic::ErrorBuilder(absl::StatusCode::kResourceExhausted, "slow down",
                                        logic::reason::kRateLimited)
                        .RetryAfter(absl::Milliseconds(1500))
                        .Metadata("http_status", "429");
  grpc::Status out = ToGrpcStatus(in);
  EXPECT_EQ(out.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(out.error_message(), "slow down");
  google::rpc::Status proto = Details(out);
  EXPECT_EQ(proto.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(proto.message(), "slow down");
  ASSERT_EQ(proto.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(proto.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "serpwow.com");
  EXPECT_EQ(info.reason(), "RATE_LIMITED");
  EXPECT_EQ(info.metadata().at("http_status"), "429");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(proto.details(1).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 500'000'000);
}

TEST(ToGrpcStatus, PlainErrorsStillGetAnErrorInfo) {
  grpc::Status out = ToGrpcStatus(absl::InternalError("boom"));
  google::rpc::Status proto = Details(out);
  ASSERT_EQ(proto.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(proto.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "INTERNAL");
}

}  // namespace
}  // namespace serpwow::rpc
