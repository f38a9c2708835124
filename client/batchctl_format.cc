#include "client/batchctl_format.h"

#include <google/protobuf/util/json_util.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

template <typename Detail>
bool FindDetail(const google::rpc::Status& status, Detail* out) {
  for (const auto& any : status.details()) {
    if (any.Is<Detail>() && any.UnpackTo(out)) return true;
  }
  return false;
}

std::string StatusWord(v1::BatchStatus status) {
  switch (status) {
    case v1::BATCH_STATUS_IDLE:
      return "was idle";
    case v1::BATCH_STATUS_QUEUED:
      return "was queued";
    case v1::BATCH_STATUS_RUNNING:
      return "was running";
    default:
      return "previous status unknown";
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

}  // namespace

int ExitCodeFor(grpc::StatusCode code) { return static_cast<int>(code); }

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical code numbering and names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string FormatStopped(const v1::StopBatchResponse& response) {
  std::string refund;
  switch (response.refund_basis()) {
    case v1::REFUND_BASIS_UNKNOWN:
      refund = "refund unknown (the batch could not be read first; check the account's credits)";
      break;
    default:
      refund = response.credits_refunded() ? "credits refunded" : "no refund";
      break;
  }
  return absl::StrCat("stopped batch ", response.batch_id(), " (",
                      StatusWord(response.previous_status()), "): ", refund);
}

std::string FormatError(const grpc::Status& status) {
  std::string out = CodeName(status.error_code());
  google::rpc::Status details;
  const bool has_details =
      !status.error_details().empty() && details.ParseFromString(status.error_details());
  google::rpc::ErrorInfo info;
  if (has_details && FindDetail(details, &info) && !info.reason().empty()) {
    absl::StrAppend(&out, " (", info.reason(), ")");
  }
  absl::StrAppend(&out, ": ",
                  status.error_message().empty() ? "no message" : status.error_message());
  google::rpc::RetryInfo retry;
  if (has_details && FindDetail(details, &retry)) {
    absl::Duration delay = absl::Seconds(retry.retry_delay().seconds()) +
                           absl::Nanoseconds(retry.retry_delay().nanos());
    absl::StrAppend(&out, " [retry after ", absl::FormatDuration(delay), "]");
  }
  return out;
}

std::string StoppedJson(const v1::StopBatchResponse& response) { return ToJson(response); }

std::string ErrorJson(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    details.Clear();
    details.set_code(static_cast<int>(status.error_code()));
    details.set_message(status.error_message());
  }
  return ToJson(details);
}

}  // namespace serpwow::client
