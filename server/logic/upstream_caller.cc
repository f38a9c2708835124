#include "server/logic/upstream_caller.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

using upstream::EffectClass;
using upstream::HttpResult;
using upstream::TransportError;

namespace {

// Whether an attempt that ended with `v` may be sent again, by the effect
// class of its endpoint (the table in upstream/endpoints.h). A 429 on a
// route SerpWow wants sent one at a time (the search calls) means "refused,
// nothing applied" (another replica's call held the batch), so even a
// not-idempotent one is sent again.
bool MayRetry(const upstream::EndpointInfo& info, const Verdict& v) {
  const EffectClass effect = info.effect;
  switch (effect) {
    case EffectClass::kRead:
    case EffectClass::kIdempotent:
      return v.retryable || v.rate_limited;
    case EffectClass::kStop:
      return v.retryable;
    case EffectClass::kNotIdempotent:
      return (v.retryable && !v.maybe_applied) || (v.rate_limited && info.one_at_a_time_per_batch);
  }
  return false;
}

}  // namespace

absl::Status ShuttingDownError(const std::string& batch_id) {
  ErrorBuilder error(absl::StatusCode::kUnavailable,
                     "the gateway is shutting down; retry on another instance",
                     reason::kShuttingDown);
  if (!batch_id.empty()) error.Metadata("batch_id", batch_id);
  return error;
}

absl::Status OutcomeUnknownError(const std::string& batch_id, const std::string& what,
                                 const std::string& why) {
  return ErrorBuilder(absl::StatusCode::kUnknown,
                      absl::StrCat(why, "; ", what,
                                   " may or may not have happened: read the state before "
                                   "trying again"),
                      reason::kOutcomeUnknown)
      .Metadata("batch_id", batch_id);
}

// --- UpstreamCaller ------------------------------------------------------------

UpstreamCaller::UpstreamCaller(upstream::SerpwowClient* client, CallerOptions options)
    : client_(client),
      options_(options),
      retry_budget_(options.retry_budget_ratio, options.retry_budget_min,
                    options.retry_budget_window),
      breaker_(options.breaker),
      rng_(std::random_device{}()) {}

absl::Status UpstreamCaller::Admit(const std::shared_ptr<Operation>& op, bool* breaker_trial) {
  size_t in_flight = 0;
  {
    absl::MutexLock lock(&mu_);
    in_flight = live_.size();
    if (in_flight < options_.max_in_flight) live_.emplace(op.get(), op);
  }
  if (in_flight >= options_.max_in_flight) {
    return ErrorBuilder(absl::StatusCode::kUnavailable,
                        absl::StrCat("the gateway has ", in_flight,
                                     " calls in flight, its limit; retry shortly, "
                                     "preferably on another instance"),
                        reason::kGatewayOverloaded)
        .RetryAfter(absl::Milliseconds(100));
  }
  if (absl::optional<absl::Duration> wait = breaker_.Admit(absl::Now(), breaker_trial)) {
    const absl::Duration delay = absl::Ceil(*wait, absl::Milliseconds(1));
    return ErrorBuilder(absl::StatusCode::kUnavailable,
                        absl::StrCat("SerpWow has been failing, so the gateway is not "
                                     "calling it for now; retry after ",
                                     absl::FormatDuration(delay)),
                        reason::kCircuitOpen)
        .RetryAfter(delay);
  }
  retry_budget_.OnCall(absl::Now());
  return absl::OkStatus();
}

size_t UpstreamCaller::in_flight() const {
  absl::MutexLock lock(&mu_);
  return live_.size();
}

void UpstreamCaller::CancelAll(const absl::Status& status) {
  std::vector<std::shared_ptr<Operation>> ops;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [ptr, weak] : live_) {
      if (auto op = weak.lock()) ops.push_back(std::move(op));
    }
  }
  for (auto& op : ops) op->Cancel(status);
}

void UpstreamCaller::Unregister(Operation* op) {
  absl::MutexLock lock(&mu_);
  live_.erase(op);
}

void UpstreamCaller::RecordCall(const Verdict& last, bool trial) {
  // Neither failing nor answering (cancelled, the caller's own deadline, no
  // upstream request at all): the call says nothing about SerpWow.
  if (!last.unavailable && !last.answered) return;
  breaker_.Record(last.unavailable, trial, absl::Now());
}

absl::Duration UpstreamCaller::Jitter(int retry, absl::optional<absl::Duration> hint) {
  absl::MutexLock lock(&rng_mu_);
  return BackoffDelay(retry, options_.backoff_base, options_.backoff_cap, hint, rng_);
}

// --- Operation -----------------------------------------------------------------

Operation::Operation(UpstreamCaller* caller, absl::Time deadline)
    : caller_(caller), deadline_(deadline) {}

void Operation::Start(const std::shared_ptr<Operation>& op, Ended ended) {
  {
    absl::MutexLock lock(&op->mu_);
    op->ended_ = std::move(ended);
  }
  if (absl::Status valid = op->Validate(); !valid.ok()) {
    op->End(std::move(valid));
    return;
  }
  if (absl::Status admitted = op->caller_->Admit(op, &op->breaker_trial_); !admitted.ok()) {
    op->End(std::move(admitted));
    return;
  }
  op->Begin();
}

bool Operation::End(absl::Status status) {
  Ended ended;
  CallTrace trace;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return false;
    finished_ = true;
    ended = std::move(ended_);
    ended_ = nullptr;
    trace = trace_;
  }
  caller_->RecordCall(last_verdict_, breaker_trial_);
  caller_->Unregister(this);
  OnFinished(status);
  ended(std::move(status), trace);
  return true;
}

bool Operation::effect_submitted() const {
  absl::MutexLock lock(&mu_);
  return effect_submitted_;
}

void Operation::MarkEffectSubmitted() {
  absl::MutexLock lock(&mu_);
  effect_submitted_ = true;
}

absl::Status Operation::AtShutdown(absl::Status status) const {
  if (ReasonOf(status) != reason::kShuttingDown || !effect_submitted()) return status;
  return OutcomeUnknownError(batch_id_, EffectWords(),
                             "the gateway shut down before SerpWow's reply came");
}

void Operation::Cancel(absl::Status status) {
  Ended ended;
  CallTrace trace;
  upstream::TransferId transfer;
  {
    // One critical section: a transfer submitted after this sees finished_
    // and cancels itself (see Attempt), one submitted before is cancelled here.
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    ended = std::move(ended_);
    ended_ = nullptr;
    trace = trace_;
    transfer = transfer_;
  }
  if (transfer != 0) caller_->client_->Cancel(transfer);
  caller_->Unregister(this);
  status = AtShutdown(std::move(status));
  OnFinished(status);
  ended(std::move(status), trace);
}

void Operation::NoteDedupe(const char* decision) {
  absl::MutexLock lock(&mu_);
  trace_.dedupe = decision;
}

void Operation::MarkReconciled() {
  absl::MutexLock lock(&mu_);
  trace_.reconciled = true;
}

ClassifyContext Operation::Context(const std::string& batch_id, bool deadline_binds) const {
  ClassifyContext context;
  context.batch_id = batch_id;
  context.timeout_is_callers_deadline = deadline_binds;
  context.default_rate_limit_delay = caller_->options_.default_rate_limit_delay;
  return context;
}

void Operation::Send(const char* label, upstream::UpstreamRequest request,
                     absl::Time phase_deadline, absl::Duration timeout_cap, PhaseDone done,
                     int max_attempts) {
  phase_.label = label;
  phase_.request = std::move(request);
  phase_.deadline = std::min(phase_deadline, deadline_);
  phase_.timeout_cap = timeout_cap;
  phase_.max_attempts = max_attempts > 0 ? max_attempts : caller_->options_.max_attempts;
  phase_.done = done;
  phase_.outcome = PhaseOutcome{};
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    trace_.phases.push_back(PhaseTrace{label, 0, 0});
  }
  Attempt();
}

void Operation::Attempt() {
  const absl::Duration left = phase_.deadline - absl::Now();
  if (left < kMinAttemptTime) {
    phase_.outcome.out_of_time = phase_.outcome.attempts > 0;
    FinishPhase();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    ++trace_.phases.back().attempts;
    if (upstream::InfoOf(phase_.request.endpoint).effect == EffectClass::kNotIdempotent) {
      effect_submitted_ = true;
    }
  }
  ++phase_.outcome.attempts;
  // A timeout is SerpWow's fault only when the gateway's cap set it.
  const bool deadline_binds = left <= phase_.timeout_cap;
  // Not under mu_: the loop may run the callback inline when shutting down.
  absl::StatusOr<upstream::TransferId> id =
      caller_->client_->Call(phase_.request, std::min(left, phase_.timeout_cap),
                             [self = shared_from_this(), deadline_binds](HttpResult result) {
                               self->OnAttempt(std::move(result), deadline_binds);
                             });
  if (!id.ok()) {
    // The endpoint table and the validation disagree: a bug, never the
    // caller's fault. Nothing was sent.
    End(ErrorBuilder(
        absl::StatusCode::kInternal,
        absl::StrCat("the gateway refused its own upstream request (", id.status().message(), ")"),
        reason::kGatewayInternalError));
    return;
  }
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    ended = finished_;
    if (!ended && *id > completed_) transfer_ = *id;
  }
  if (ended) caller_->client_->Cancel(*id);  // cancelled while we were submitting
}

bool Operation::TransferEnded(upstream::TransferId id) {
  completed_ = std::max(completed_, id);
  if (transfer_ == id) transfer_ = 0;
  return !finished_;
}

void Operation::OnAttempt(HttpResult result, bool deadline_binds) {
  {
    absl::MutexLock lock(&mu_);
    if (!TransferEnded(result.transfer_id)) return;
    trace_.phases.back().http_status = result.http_status;
    trace_.upstream_time += result.elapsed;
  }
  if (result.error == TransportError::kCancelled) {
    // Only the loop's shutdown cancels a transfer unasked.
    End(AtShutdown(ShuttingDownError(phase_.request.args.batch)));
    return;
  }
  const Verdict verdict = JudgeResult(result, deadline_binds);
  last_verdict_ = verdict;
  PhaseOutcome& out = phase_.outcome;
  out.verdict = verdict;
  out.deadline_binds = deadline_binds;
  if (verdict.retryable && verdict.maybe_applied) out.any_ambiguous = true;
  const upstream::EndpointInfo& info = upstream::InfoOf(phase_.request.endpoint);
  if (info.effect != EffectClass::kRead && caller_->mutation_listener_) {
    caller_->mutation_listener_();
  }
  if (MayRetry(info, verdict) && out.attempts < phase_.max_attempts) {
    const absl::optional<absl::Duration> hint = RetryHintOf(result);
    const absl::Duration delay = caller_->Jitter(out.attempts, hint);
    const absl::Time now = absl::Now();
    // No time for another attempt, or no retry left in the budget: the last
    // result is the answer.
    if (now + delay + kMinAttemptTime < phase_.deadline && caller_->retry_budget_.TryRetry(now)) {
      out.result = std::move(result);
      caller_->client_->RunAfter(phase_.request.ShardKey(), delay,
                                 [self = shared_from_this()] { self->Attempt(); });
      return;
    }
  }
  out.result = std::move(result);
  FinishPhase();
}

void Operation::FinishPhase() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
  }
  PhaseDone done = phase_.done;
  phase_.done = nullptr;
  (this->*done)(std::move(phase_.outcome));
}

}  // namespace serpwow::logic
