#include "server/logic/stop_batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

using upstream::Endpoint;

namespace {

absl::Status DeadlinePassed(const std::string& batch_id, bool stop_sent) {
  return ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                      stop_sent ? absl::StrCat("the call's deadline passed while stopping batch ",
                                               batch_id, "; the stop may or may not have happened")
                                : absl::StrCat("the call's deadline passed before batch ", batch_id,
                                               " could be stopped; nothing was stopped"),
                      reason::kDeadlineExceeded)
      .Metadata("batch_id", batch_id);
}

// The stop may have reached SerpWow and been carried out.
bool Ambiguous(const Verdict& v) { return v.retryable && v.maybe_applied; }

}  // namespace

absl::StatusOr<std::string> StopBatchTarget(const std::string& batch_id, const std::string& name) {
  if (name.empty()) {
    if (absl::Status valid = ValidateBatchId(batch_id); !valid.ok()) return valid;
    return batch_id;
  }
  absl::StatusOr<std::string> from_name = ParseBatchName(name, "name");
  if (!from_name.ok()) return from_name.status();
  if (!batch_id.empty() && batch_id != *from_name) {
    return ErrorBuilder(absl::StatusCode::kInvalidArgument,
                        "batch_id and name name different batches; set only one of them",
                        reason::kInvalidName)
        .BadRequestField("name", "names another batch than batch_id");
  }
  return from_name;
}

StopBatchOperation::StopBatchOperation(UpstreamCaller* caller, StopBatchOptions options,
                                       std::string batch_id, std::string name, absl::Time deadline)
    : Operation(caller, deadline),
      options_(options),
      requested_id_(std::move(batch_id)),
      requested_name_(std::move(name)) {}

absl::Status StopBatchOperation::Validate() {
  absl::StatusOr<std::string> id = StopBatchTarget(requested_id_, requested_name_);
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  return absl::OkStatus();
}

upstream::UpstreamRequest StopBatchOperation::Request(Endpoint endpoint) const {
  upstream::UpstreamRequest request;
  request.endpoint = endpoint;
  request.args.batch = batch_id_;
  return request;
}

StopBatchResult StopBatchOperation::Stopped(std::string message,
                                            absl::optional<bool> reply_refund) const {
  StopBatchResult out;
  out.batch_id = batch_id_;
  out.previous_status = seen_;
  out.message = std::move(message);
  if (reply_refund.has_value()) {
    out.credits_refunded = *reply_refund;
    out.refund_basis = RefundBasis::kStopReply;
  } else if (seen_ == BatchStatus::kQueued || seen_ == BatchStatus::kRunning) {
    out.credits_refunded = seen_ == BatchStatus::kQueued;
    out.refund_basis = RefundBasis::kPreRead;
  } else {
    out.credits_refunded = false;
    out.refund_basis = RefundBasis::kUnknown;
  }
  return out;
}

void StopBatchOperation::Begin() {
  const absl::Time now = absl::Now();
  const absl::Duration remaining = deadline() - now;
  if (remaining <= absl::ZeroDuration()) {
    End(DeadlinePassed(batch_id_, false));
    return;
  }
  read_deadline_ =
      now + std::max(std::min(remaining * options_.read_share, options_.read_timeout_cap),
                     kMinAttemptTime);
  Read();
}

void StopBatchOperation::Read() {
  if (read_deadline_ - absl::Now() < kMinAttemptTime) {
    Stop();  // no time left for the read: stop without it
    return;
  }
  Send("read", Request(Endpoint::kGetBatch), read_deadline_, options_.read_timeout_cap,
       Done(&StopBatchOperation::OnRead));
}

void StopBatchOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts > 0) {
    absl::StatusOr<BatchStatus> seen =
        ClassifyBatchRead(outcome.result, Context(batch_id_, outcome.deadline_binds));
    if (seen.ok()) {
      seen_ = *seen;
      Stop();
      return;
    }
    SERPWOW_LOG(kDebug, "StopBatch ", batch_id_, ": pre-read failed (",
                absl::StatusCodeToString(seen.status().code()), "); stopping without it");
  }
  seen_ = BatchStatus::kUnknown;
  Stop();
}

void StopBatchOperation::Stop() {
  Send("stop", Request(Endpoint::kStopBatch), deadline(), upstream_options().timeout_cap,
       Done(&StopBatchOperation::OnStop));
}

void StopBatchOperation::OnStop(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(DeadlinePassed(batch_id_, outcome.attempts > 0));
    return;
  }
  absl::StatusOr<StopReply> reply =
      ClassifyStopReply(outcome.result, Context(batch_id_, outcome.deadline_binds), seen_);
  if (reply.ok()) {
    result_ = Stopped(std::move(reply->message), reply->credits_refunded);
    End(absl::OkStatus());
    return;
  }
  if (outcome.any_ambiguous && ReasonOf(reply.status()) == reason::kBatchNotStoppable &&
      seen_ != BatchStatus::kIdle) {
    // An earlier attempt may have stopped it: find out before answering.
    refusal_ = reply.status();
    Confirm();
    return;
  }
  if (outcome.any_ambiguous && Ambiguous(outcome.verdict) &&
      (seen_ == BatchStatus::kQueued || seen_ == BatchStatus::kRunning) &&
      deadline() - absl::Now() >= kMinAttemptTime) {
    // Out of attempts, and every reply may have been lost after SerpWow
    // carried the stop out: one read tells.
    refusal_ = reply.status();
    confirm_lost_reply_ = true;
    Confirm();
    return;
  }
  End(reply.status());
}

void StopBatchOperation::Confirm() {
  MarkReconciled();
  if (deadline() - absl::Now() < kMinAttemptTime) {
    // No time to look. After a refusal: SerpWow says the batch is no longer
    // queued or running, and our earlier attempt is the likely reason.
    if (confirm_lost_reply_) {
      End(refusal_);
    } else {
      result_ = Stopped("Batch stopped (confirmed by a retry)", absl::nullopt);
      End(absl::OkStatus());
    }
    return;
  }
  Send("confirm", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
       Done(&StopBatchOperation::OnConfirm),
       /*max_attempts=*/1);
}

void StopBatchOperation::OnConfirm(PhaseOutcome outcome) {
  absl::StatusOr<BatchStatus> now =
      outcome.attempts > 0 ? ClassifyBatchRead(outcome.result, Context(batch_id_, true))
                           : absl::StatusOr<BatchStatus>(absl::DeadlineExceededError("no time"));
  if (confirm_lost_reply_) {
    // Only a batch seen idle proves the stop; anything else keeps the answer.
    if (now.ok() && *now == BatchStatus::kIdle) {
      result_ =
          Stopped("Batch stopped (confirmed by a read after the reply was lost)", absl::nullopt);
      End(absl::OkStatus());
    } else {
      End(refusal_);
    }
    return;
  }
  if (now.ok() && (*now == BatchStatus::kQueued || *now == BatchStatus::kRunning)) {
    End(refusal_);  // it runs again: our stop did not end this run
    return;
  }
  result_ = Stopped("Batch stopped (confirmed by a retry)", absl::nullopt);
  End(absl::OkStatus());
}

}  // namespace serpwow::logic
