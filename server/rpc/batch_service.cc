#include "server/rpc/batch_service.h"

#include <chrono>
#include <memory>
#include <random>
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

bool RequestIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

class StopBatchReactor final : public grpc::ServerUnaryReactor {
 public:
  StopBatchReactor(grpc::CallbackServerContext* context, const v1::StopBatchRequest* request,
                   v1::StopBatchResponse* response, logic::BatchStopper* stopper,
                   GatewayMetrics* metrics, const CallerAuth* auth)
      : response_(response),
        metrics_(metrics),
        deadline_(DeadlineOf(context)),
        start_(absl::Now()),
        request_id_(RequestIdFrom(context->client_metadata())) {
    metrics_->RpcStarted();
    context->AddInitialMetadata(kRequestIdKey, request_id_);
    // Only a valid id is ever logged: raw input may hold control characters.
    log_id_ = logic::ValidateBatchId(request->batch_id()).ok() ? request->batch_id() : "";
    if (auth != nullptr) {
      if (absl::Status allowed = auth->Check(context->client_metadata()); !allowed.ok()) {
        OnResult(allowed, logic::StopTrace{});
        return;
      }
    }
    operation_ = stopper->Stop(
        request->batch_id(), deadline_,
        [this](absl::StatusOr<logic::StopBatchResult> result, const logic::StopTrace& trace) {
          OnResult(std::move(result), trace);
        });
  }

  void OnCancel() override {
    if (operation_ == nullptr) return;  // already finished (auth)
    const bool expired = absl::Now() >= deadline_;
    absl::Status status =
        expired ? logic::ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                                      "the call's deadline passed while stopping the batch",
                                      logic::reason::kDeadlineExceeded)
                      .Build()
                : logic::ErrorBuilder(absl::StatusCode::kCancelled, "the call was cancelled",
                                      logic::reason::kCancelled)
                      .Build();
    operation_->Cancel(std::move(status));
  }

  void OnDone() override { delete this; }

  // Lets gRPC run OnDone and OnCancel on the thread that triggers them
  // instead of handing each to its executor thread (one thread wake-up per
  // call saved). Both are short and never block: OnDone frees the reactor;
  // OnCancel enqueues a cancel to the upstream loop and, when the operation
  // has not finished, calls Finish, which gRPC allows from any reaction. No
  // lock of ours is held when we call into gRPC, so running them inline
  // cannot deadlock. (gRPC marks this hook "for internal use"; it exists in
  // 1.51 and later and is checked by the tests through the cancel paths.)
  bool InternalInlineable() override { return true; }

 private:
  // Runs exactly once (StopOperation guarantees it): on the upstream loop
  // thread, inline for an invalid id or a refused caller, or in OnCancel.
  void OnResult(absl::StatusOr<logic::StopBatchResult> result, const logic::StopTrace& trace) {
    const absl::Status& status = result.status();
    const absl::Duration elapsed = absl::Now() - start_;
    if (result.ok()) {
      response_->set_batch_id(result->batch_id);
      response_->set_credits_refunded(result->credits_refunded);
      response_->set_previous_status(ToProto(result->previous_status));
      response_->set_message(result->message);
      response_->set_refund_basis(ToProto(result->refund_basis));
    }
    metrics_->RpcFinished(RpcMethod::kStopBatch, status.code(), elapsed);
    LogRecord record(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "rpc");
    record.Str("method", "StopBatch")
        .Str("code", absl::StatusCodeToString(status.code()))
        .Double("duration_ms", absl::ToDoubleMilliseconds(elapsed))
        .Str("request_id", request_id_)
        .Str("batch_id", log_id_)
        .Int("upstream_read_status", trace.read_http_status)
        .Int("upstream_stop_status", trace.stop_http_status)
        .Double("upstream_ms", absl::ToDoubleMilliseconds(trace.upstream_time));
    if (trace.read_attempts > 1 || trace.stop_attempts > 1) {
      record.Int("read_attempts", trace.read_attempts).Int("stop_attempts", trace.stop_attempts);
    }
    if (trace.reconciled) record.Bool("reconciled", true);
    if (result.ok()) {
      record.Str("previous_status", logic::BatchStatusName(result->previous_status))
          .Bool("credits_refunded", result->credits_refunded);
    } else {
      record.Str("reason", logic::ReasonOf(status));
    }
    record.Emit();
    Finish(ToGrpcStatus(status));
  }

  v1::StopBatchResponse* const response_;
  GatewayMetrics* const metrics_;
  const absl::Time deadline_;
  const absl::Time start_;
  const std::string request_id_;
  std::string log_id_;
  std::shared_ptr<logic::StopOperation> operation_;
};

}  // namespace

std::string RequestIdFrom(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find(kRequestIdKey);
  if (it != metadata.end() && !it->second.empty() && it->second.size() <= 128) {
    std::string id(it->second.data(), it->second.size());
    bool ok = true;
    for (char c : id) ok = ok && RequestIdChar(c);
    if (ok) return id;
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

grpc::ServerUnaryReactor* BatchServiceImpl::StopBatch(grpc::CallbackServerContext* context,
                                                      const v1::StopBatchRequest* request,
                                                      v1::StopBatchResponse* response) {
  return new StopBatchReactor(context, request, response, stopper_, metrics_, auth_);
}

}  // namespace serpwow::rpc
