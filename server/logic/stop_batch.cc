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

// Below this, an attempt is not worth starting.
constexpr absl::Duration kMinAttemptTime = absl::Milliseconds(20);

absl::Status DeadlinePassed(const std::string& batch_id, bool stop_sent) {
  return ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                      stop_sent ? absl::StrCat("the call's deadline passed while stopping batch ",
                                               batch_id, "; the stop may or may not have happened")
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

// The retry rules of the two phases, from the classifier's one verdict.
bool RetryableRead(const Verdict& v) { return v.retryable || v.rate_limited; }
bool RetryableStop(const Verdict& v) { return v.retryable; }
// The stop may have reached SerpWow and been carried out.
bool Ambiguous(const Verdict& v) { return v.retryable && v.maybe_applied; }

}  // namespace

// --- BatchStopper --------------------------------------------------------------

BatchStopper::BatchStopper(upstream::SerpwowClient* client, StopperOptions options)
    : client_(client),
      options_(options),
      retry_budget_(options.retry_budget_ratio, options.retry_budget_min,
                    options.retry_budget_window),
      breaker_(options.breaker),
      rng_(std::random_device{}()) {}

std::shared_ptr<StopOperation> BatchStopper::Stop(const std::string& batch_id, absl::Time deadline,
                                                  StopDone done) {
  std::shared_ptr<StopOperation> op(new StopOperation(this, batch_id, deadline, std::move(done)));
  if (absl::Status valid = ValidateBatchId(batch_id); !valid.ok()) {
    op->Complete(valid);
    return op;
  }
  size_t in_flight = 0;
  {
    absl::MutexLock lock(&mu_);
    in_flight = live_.size();
    if (in_flight < options_.max_in_flight) live_.emplace(op.get(), op);
  }
  if (in_flight >= options_.max_in_flight) {
    op->Complete(ErrorBuilder(absl::StatusCode::kUnavailable,
                              absl::StrCat("the gateway has ", in_flight,
                                           " calls in flight, its limit; retry shortly, "
                                           "preferably on another instance"),
                              reason::kGatewayOverloaded)
                     .RetryAfter(absl::Milliseconds(100)));
    return op;
  }
  if (absl::optional<absl::Duration> wait = breaker_.Admit(absl::Now(), &op->breaker_trial_)) {
    absl::Duration delay = absl::Ceil(*wait, absl::Milliseconds(1));
    op->Complete(ErrorBuilder(absl::StatusCode::kUnavailable,
                              absl::StrCat("SerpWow has been failing, so the gateway is not "
                                           "calling it for now; retry after ",
                                           absl::FormatDuration(delay)),
                              reason::kCircuitOpen)
                     .Metadata("batch_id", batch_id)
                     .RetryAfter(delay));
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

void BatchStopper::RecordCall(const Verdict& last, bool trial) {
  // Neither failing nor answering (cancelled, the caller's own deadline, no
  // upstream request at all): the call says nothing about SerpWow.
  if (!last.unavailable && !last.answered) return;
  breaker_.Record(last.unavailable, trial, absl::Now());
}

absl::Duration BatchStopper::Jitter(int retry, absl::optional<absl::Duration> hint) {
  absl::MutexLock lock(&rng_mu_);
  return BackoffDelay(retry, options_.backoff_base, options_.backoff_cap, hint, rng_);
}

// --- StopOperation -------------------------------------------------------------

StopOperation::StopOperation(BatchStopper* owner, std::string batch_id, absl::Time deadline,
                             StopDone done)
    : owner_(owner), batch_id_(std::move(batch_id)), deadline_(deadline), done_(std::move(done)) {}

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
  owner_->RecordCall(last_verdict_, breaker_trial_);
  owner_->Unregister(this);
  done(std::move(result), trace);
  return true;
}

void StopOperation::Observe(const HttpResult& result, bool deadline_binds) {
  last_verdict_ = JudgeResult(result, deadline_binds);
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
  if (transfer != 0) owner_->client_->Cancel(transfer);
  owner_->Unregister(this);
  done(std::move(status), trace);
}

void StopOperation::Submit(Endpoint endpoint, absl::Duration timeout,
                           upstream::HttpCallback callback) {
  // Not under mu_: the loop may run the callback inline when shutting down.
  upstream::TransferId id =
      owner_->client_->Call(endpoint, batch_id_, timeout, std::move(callback));
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    ended = finished_;
    if (!ended && id > completed_) transfer_ = id;
  }
  if (ended) owner_->client_->Cancel(id);  // cancelled while we were submitting
}

bool StopOperation::TransferEnded(upstream::TransferId id) {
  completed_ = std::max(completed_, id);
  if (transfer_ == id) transfer_ = 0;
  return !finished_;
}

ClassifyContext StopOperation::Context(bool deadline_binds) const {
  ClassifyContext context;
  context.batch_id = batch_id_;
  context.timeout_is_callers_deadline = deadline_binds;
  context.default_rate_limit_delay = owner_->options_.default_rate_limit_delay;
  return context;
}

StopBatchResult StopOperation::Stopped(std::string message,
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

bool StopOperation::MaybeRetry(int attempts_so_far, absl::Time phase_deadline,
                               absl::optional<absl::Duration> hint, void (StopOperation::*next)()) {
  const StopperOptions& o = owner_->options_;
  if (attempts_so_far >= o.max_attempts) return false;
  const absl::Duration delay = owner_->Jitter(attempts_so_far, hint);
  const absl::Time now = absl::Now();
  if (now + delay + kMinAttemptTime >= std::min(phase_deadline, deadline_)) return false;
  if (!owner_->retry_budget_.TryRetry(now)) return false;
  owner_->client_->RunAfter(delay, [self = shared_from_this(), next] { ((*self).*next)(); });
  return true;
}

void StopOperation::Start() {
  const absl::Time now = absl::Now();
  const absl::Duration remaining = deadline_ - now;
  if (remaining <= absl::ZeroDuration()) {
    Complete(DeadlinePassed(batch_id_, false));
    return;
  }
  owner_->retry_budget_.OnCall(now);
  const StopperOptions& o = owner_->options_;
  read_deadline_ =
      now + std::max(std::min(remaining * o.read_share, o.read_timeout_cap), kMinAttemptTime);
  StartRead();
}

void StopOperation::StartRead() {
  const absl::Duration budget = read_deadline_ - absl::Now();
  if (budget < kMinAttemptTime) {
    StartStop();  // no time left for the read: stop without it
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    ++trace_.read_attempts;
  }
  // A read timeout is the upstream's fault only when the gateway's cap set it.
  const bool deadline_binds = budget < owner_->options_.read_timeout_cap;
  Submit(Endpoint::kGetBatch, budget,
         [self = shared_from_this(), deadline_binds](HttpResult result) {
           self->Observe(result, deadline_binds);
           self->OnRead(std::move(result));
         });
}

void StopOperation::OnRead(HttpResult result) {
  int attempts;
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.read_http_status = result.http_status;
    trace_.upstream_time += result.elapsed;
    attempts = trace_.read_attempts;
  }
  if (result.error == TransportError::kCancelled) {
    Complete(ShuttingDown(batch_id_));  // only the loop's shutdown cancels unasked
    return;
  }
  absl::StatusOr<BatchStatus> seen = ClassifyBatchRead(result, Context(false));
  if (seen.ok()) {
    seen_ = *seen;
    StartStop();
    return;
  }
  if (RetryableRead(last_verdict_) &&
      MaybeRetry(attempts, read_deadline_, RetryHintOf(result), &StopOperation::StartRead)) {
    return;
  }
  SERPWOW_LOG(kDebug, "StopBatch ", batch_id_, ": pre-read failed (",
              absl::StatusCodeToString(seen.status().code()), "); stopping without it");
  seen_ = BatchStatus::kUnknown;
  StartStop();
}

void StopOperation::StartStop() {
  bool sent_before;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    sent_before = trace_.stop_attempts > 0;
    ++trace_.stop_attempts;
  }
  const absl::Duration remaining = deadline_ - absl::Now();
  if (remaining < kMinAttemptTime) {
    Complete(DeadlinePassed(batch_id_, sent_before));
    return;
  }
  const bool deadline_binds = remaining <= owner_->client_->options().timeout_cap;
  Submit(Endpoint::kStopBatch, remaining,
         [self = shared_from_this(), deadline_binds](HttpResult result) {
           self->Observe(result, deadline_binds);
           self->OnStop(std::move(result), deadline_binds);
         });
}

void StopOperation::OnStop(HttpResult result, bool deadline_binds) {
  int attempts;
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.stop_http_status = result.http_status;
    trace_.upstream_time += result.elapsed;
    attempts = trace_.stop_attempts;
  }
  if (result.error == TransportError::kCancelled) {
    Complete(ShuttingDown(batch_id_));
    return;
  }
  absl::StatusOr<StopReply> reply = ClassifyStopReply(result, Context(deadline_binds), seen_);
  if (reply.ok()) {
    Complete(Stopped(std::move(reply->message), reply->credits_refunded));
    return;
  }
  if (ambiguous_stop_ && ReasonOf(reply.status()) == reason::kBatchNotStoppable &&
      seen_ != BatchStatus::kIdle) {
    // An earlier attempt may have stopped it: find out before answering.
    refusal_ = reply.status();
    StartConfirm();
    return;
  }
  if (RetryableStop(last_verdict_)) {
    if (Ambiguous(last_verdict_)) ambiguous_stop_ = true;
    if (MaybeRetry(attempts, deadline_, RetryHintOf(result), &StopOperation::StartStop)) return;
  }
  if (ambiguous_stop_ && Ambiguous(last_verdict_) &&
      (seen_ == BatchStatus::kQueued || seen_ == BatchStatus::kRunning) &&
      deadline_ - absl::Now() >= kMinAttemptTime) {
    // Out of attempts, and every reply may have been lost after SerpWow
    // carried the stop out: one read tells. Idle now, after the pre-read saw
    // the batch queued or running, means a stop took effect.
    refusal_ = reply.status();
    confirm_lost_reply_ = true;
    StartConfirm();
    return;
  }
  Complete(reply.status());
}

void StopOperation::StartConfirm() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    trace_.reconciled = true;
  }
  const absl::Duration remaining = deadline_ - absl::Now();
  if (remaining < kMinAttemptTime) {
    // No time to look: SerpWow says the batch is no longer queued or running,
    // and our earlier attempt is the likely reason.
    Complete(Stopped("Batch stopped (confirmed by a retry)", absl::nullopt));
    return;
  }
  const absl::Duration timeout = std::min(remaining, owner_->options_.read_timeout_cap);
  Submit(Endpoint::kGetBatch, timeout, [self = shared_from_this()](HttpResult result) {
    self->Observe(result, /*deadline_binds=*/true);
    self->OnConfirm(std::move(result));
  });
}

void StopOperation::OnConfirm(HttpResult result) {
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.upstream_time += result.elapsed;
  }
  if (result.error == TransportError::kCancelled) {
    Complete(ShuttingDown(batch_id_));
    return;
  }
  absl::StatusOr<BatchStatus> now = ClassifyBatchRead(result, Context(false));
  if (confirm_lost_reply_) {
    // Only a batch seen idle proves the stop; anything else keeps the answer.
    if (now.ok() && *now == BatchStatus::kIdle) {
      Complete(
          Stopped("Batch stopped (confirmed by a read after the reply was lost)", absl::nullopt));
    } else {
      Complete(refusal_);
    }
    return;
  }
  if (now.ok() && (*now == BatchStatus::kQueued || *now == BatchStatus::kRunning)) {
    Complete(refusal_);  // it runs again: our stop did not end this run
    return;
  }
  Complete(Stopped("Batch stopped (confirmed by a retry)", absl::nullopt));
}

}  // namespace serpwow::logic
