#include "server/rpc/batch_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"
#include "server/rpc/grpc_status.h"

namespace serpwow::rpc {
namespace {

namespace v1 = serpwow::batches::v1;

v1::BatchStatus ToProto(logic::BatchStatus status) {
  switch (status) {
    case logic::BatchStatus::kIdle:
      return v1::BATCH_STATUS_IDLE;
    case logic::BatchStatus::kQueued:
      return v1::BATCH_STATUS_QUEUED;
    case logic::BatchStatus::kRunning:
      return v1::BATCH_STATUS_RUNNING;
    case logic::BatchStatus::kUnknown:
      break;
  }
  return v1::BATCH_STATUS_UNSPECIFIED;
}

v1::RefundBasis ToProto(logic::RefundBasis basis) {
  switch (basis) {
    case logic::RefundBasis::kStopReply:
      return v1::REFUND_BASIS_STOP_REPLY;
    case logic::RefundBasis::kPreRead:
      return v1::REFUND_BASIS_PRE_READ;
    case logic::RefundBasis::kUnknown:
      return v1::REFUND_BASIS_UNKNOWN;
  }
  return v1::REFUND_BASIS_UNSPECIFIED;
}

absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

class StopBatchReactor final : public grpc::ServerUnaryReactor {
 public:
  StopBatchReactor(grpc::CallbackServerContext* context, const v1::StopBatchRequest* request,
                   v1::StopBatchResponse* response, logic::BatchStopper* stopper)
      : response_(response), deadline_(DeadlineOf(context)), start_(absl::Now()) {
    // Only a valid id is ever logged: raw input may hold control characters.
    log_id_ = logic::ValidateBatchId(request->batch_id()).ok() ? request->batch_id() : "<invalid>";
    operation_ = stopper->Stop(
        request->batch_id(), deadline_,
        [this](absl::StatusOr<logic::StopBatchResult> result, const logic::StopTrace& trace) {
          OnResult(std::move(result), trace);
        });
  }

  void OnCancel() override {
    const bool expired = absl::Now() >= deadline_;
    absl::Status status =
        expired ? logic::ErrorBuilder(
                      absl::StatusCode::kDeadlineExceeded,
                      absl::StrCat("the call's deadline passed while stopping batch ", log_id_),
                      logic::reason::kDeadlineExceeded)
                      .Build()
                : logic::ErrorBuilder(absl::StatusCode::kCancelled, "the call was cancelled",
                                      logic::reason::kCancelled)
                      .Build();
    operation_->Cancel(std::move(status));
  }

  void OnDone() override { delete this; }

 private:
  // Runs exactly once (StopOperation guarantees it), on the upstream loop
  // thread, inline for an invalid id, or in OnCancel.
  void OnResult(absl::StatusOr<logic::StopBatchResult> result, const logic::StopTrace& trace) {
    absl::Status status = result.status();
    if (result.ok()) {
      response_->set_batch_id(result->batch_id);
      response_->set_credits_refunded(result->credits_refunded);
      response_->set_previous_status(ToProto(result->previous_status));
      response_->set_message(result->message);
      response_->set_refund_basis(ToProto(result->refund_basis));
    }
    SERPWOW_LOG(
        kInfo, "rpc=StopBatch batch_id=", log_id_,
        " code=", absl::StatusCodeToString(status.code()),
        status.ok() ? "" : absl::StrCat(" reason=", logic::ReasonOf(status)),
        " duration_ms=", absl::ToDoubleMilliseconds(absl::Now() - start_),
        " upstream_read_status=", trace.read_http_status,
        " upstream_stop_status=", trace.stop_http_status,
        result.ok()
            ? absl::StrCat(" previous_status=", logic::BatchStatusName(result->previous_status),
                           " credits_refunded=", result->credits_refunded)
            : "");
    Finish(ToGrpcStatus(status));
  }

  v1::StopBatchResponse* const response_;
  const absl::Time deadline_;
  const absl::Time start_;
  std::string log_id_;
  std::shared_ptr<logic::StopOperation> operation_;
};

}  // namespace

grpc::ServerUnaryReactor* BatchServiceImpl::StopBatch(grpc::CallbackServerContext* context,
                                                      const v1::StopBatchRequest* request,
                                                      v1::StopBatchResponse* response) {
  return new StopBatchReactor(context, request, response, stopper_);
}

}  // namespace serpwow::rpc
