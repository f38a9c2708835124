#include "server/logic/stop_batch.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

using upstream::Endpoint;
using upstream::HttpResult;
using upstream::TransportError;

namespace {

absl::Status DeadlinePassed(const std::string& batch_id, bool stop_sent) {
  return ErrorBuilder(
             absl::StatusCode::kDeadlineExceeded,
             stop_sent ? absl::StrCat("the call's deadline passed while stopping batch ", batch_id)
                       : absl::StrCat("the call's deadline passed before batch ", batch_id,
                                      " could be stopped; nothing was stopped"),
             reason::kDeadlineExceeded)
      .Metadata("batch_id", batch_id);
}

absl::Status ShuttingDown(const std::string& batch_id) {
  return ErrorBuilder(absl::StatusCode::kUnavailable,
                      "the gateway is shutting down; retry on another instance",
                      reason::kShuttingDown)
      .Metadata("batch_id", batch_id);
}

}  // namespace

std::shared_ptr<StopOperation> BatchStopper::Stop(const std::string& batch_id, absl::Time deadline,
                                                  StopDone done) {
  std::shared_ptr<StopOperation> op(
      new StopOperation(this, client_, options_, batch_id, deadline, std::move(done)));
  {
    absl::MutexLock lock(&mu_);
    live_.emplace(op.get(), op);
  }
  if (absl::Status valid = ValidateBatchId(batch_id); !valid.ok()) {
    op->Complete(valid);
    return op;
  }
  op->Start();
  return op;
}

size_t BatchStopper::in_flight() const {
  absl::MutexLock lock(&mu_);
  return live_.size();
}

void BatchStopper::CancelAll(const absl::Status& status) {
  std::vector<std::shared_ptr<StopOperation>> ops;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [ptr, weak] : live_) {
      if (auto op = weak.lock()) ops.push_back(std::move(op));
    }
  }
  for (auto& op : ops) op->Cancel(status);
}

void BatchStopper::Unregister(StopOperation* op) {
  absl::MutexLock lock(&mu_);
  live_.erase(op);
}

StopOperation::StopOperation(BatchStopper* owner, upstream::SerpwowClient* client,
                             const StopperOptions& options, std::string batch_id,
                             absl::Time deadline, StopDone done)
    : owner_(owner),
      client_(client),
      options_(options),
      batch_id_(std::move(batch_id)),
      deadline_(deadline),
      done_(std::move(done)) {}

bool StopOperation::Complete(absl::StatusOr<StopBatchResult> result) {
  StopDone done;
  StopTrace trace;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return false;
    finished_ = true;
    done = std::move(done_);
    done_ = nullptr;
    trace = trace_;
  }
  owner_->Unregister(this);
  done(std::move(result), trace);
  return true;
}

void StopOperation::Cancel(absl::Status status) {
  StopDone done;
  StopTrace trace;
  upstream::TransferId transfer;
  {
    // One critical section: a transfer submitted after this sees finished_
    // and cancels itself (see Submit), one submitted before is cancelled here.
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    done = std::move(done_);
    done_ = nullptr;
    trace = trace_;
    transfer = transfer_;
  }
  if (transfer != 0) client_->Cancel(transfer);
  owner_->Unregister(this);
  done(std::move(status), trace);
}

void StopOperation::Submit(Endpoint endpoint, absl::Duration timeout,
                           upstream::HttpCallback callback) {
  // Not under mu_: the loop may run the callback inline when shutting down.
  upstream::TransferId id = client_->Call(endpoint, batch_id_, timeout, std::move(callback));
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    ended = finished_;
    if (!ended && id > completed_) transfer_ = id;
  }
  if (ended) client_->Cancel(id);  // cancelled while we were submitting
}

bool StopOperation::TransferEnded(upstream::TransferId id) {
  completed_ = std::max(completed_, id);
  if (transfer_ == id) transfer_ = 0;
  return !finished_;
}

void StopOperation::Start() {
  absl::Duration remaining = deadline_ - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    Complete(DeadlinePassed(batch_id_, false));
    return;
  }
  absl::Duration budget = std::min(remaining * options_.read_share, options_.read_timeout_cap);
  budget = std::max(budget, absl::Milliseconds(1));
  Submit(Endpoint::kGetBatch, budget, [self = shared_from_this(), budget](HttpResult result) {
    self->OnRead(std::move(result), budget);
  });
}

void StopOperation::OnRead(HttpResult result, absl::Duration budget) {
  ClassifyContext context;
  context.batch_id = batch_id_;
  context.default_rate_limit_delay = options_.default_rate_limit_delay;
  absl::StatusOr<BatchStatus> seen = ClassifyBatchRead(result, context);
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.read_http_status = result.http_status;
    seen_ = seen.ok() ? *seen : BatchStatus::kUnknown;
  }
  if (result.error == TransportError::kCancelled) {
    Complete(ShuttingDown(batch_id_));  // only the loop's shutdown cancels unasked
    return;
  }
  if (!seen.ok()) {
    SERPWOW_LOG(kDebug, "StopBatch ", batch_id_, ": pre-read failed (", seen.status().code(),
                ", budget ", absl::FormatDuration(budget), "); stopping without it");
  }
  absl::Duration remaining = deadline_ - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    Complete(DeadlinePassed(batch_id_, false));
    return;
  }
  const bool deadline_binds = remaining <= client_->options().timeout_cap;
  {
    absl::MutexLock lock(&mu_);
    trace_.stop_sent = true;
  }
  Submit(Endpoint::kStopBatch, remaining,
         [self = shared_from_this(), deadline_binds](HttpResult stop_result) {
           self->OnStop(std::move(stop_result), deadline_binds);
         });
}

void StopOperation::OnStop(HttpResult result, bool deadline_binds) {
  BatchStatus seen;
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.stop_http_status = result.http_status;
    seen = seen_;
  }
  if (result.error == TransportError::kCancelled) {
    Complete(ShuttingDown(batch_id_));
    return;
  }
  ClassifyContext context;
  context.batch_id = batch_id_;
  context.timeout_is_callers_deadline = deadline_binds;
  context.default_rate_limit_delay = options_.default_rate_limit_delay;
  absl::StatusOr<StopReply> reply = ClassifyStopReply(result, context, seen);
  if (!reply.ok()) {
    Complete(reply.status());
    return;
  }
  StopBatchResult out;
  out.batch_id = batch_id_;
  out.previous_status = seen;
  out.message = std::move(reply->message);
  if (reply->credits_refunded.has_value()) {
    out.credits_refunded = *reply->credits_refunded;
    out.refund_basis = RefundBasis::kStopReply;
  } else if (seen == BatchStatus::kQueued || seen == BatchStatus::kRunning) {
    out.credits_refunded = seen == BatchStatus::kQueued;
    out.refund_basis = RefundBasis::kPreRead;
  } else {
    out.credits_refunded = false;
    out.refund_basis = RefundBasis::kUnknown;
  }
  Complete(std::move(out));
}

}  // namespace serpwow::logic
