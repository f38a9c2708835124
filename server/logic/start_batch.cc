#include "server/logic/start_batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;

namespace {

// The start's own words; its refusals are decided after the reply
// (OnStart), with reads, so none here.
constexpr ReplyRules kStartRules{"starting batch", "the start", nullptr};

bool Ambiguous(const Verdict& v) { return v.retryable && v.maybe_applied; }

int64_t Seconds(const google::protobuf::Timestamp& t) { return t.seconds(); }

}  // namespace

StartBatchOperation::StartBatchOperation(UpstreamCaller* caller, RequestDedupe* dedupe,
                                         MutationOptions options, std::string name,
                                         std::string request_id, absl::Time deadline)
    : DedupedOperation(caller, deadline, dedupe, std::move(request_id),
                       RequestFingerprint("StartBatch", name)),
      options_(options),
      name_(std::move(name)) {}

absl::Status StartBatchOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(name_, "name");
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  return ValidateRequestIdField();
}

std::string StartBatchOperation::EffectWords() const {
  return absl::StrCat("the start of batch ", batch_id_);
}

upstream::UpstreamRequest StartBatchOperation::Request(Endpoint endpoint) const {
  upstream::UpstreamRequest request;
  request.endpoint = endpoint;
  if (endpoint != Endpoint::kGetAccount) request.args.batch = batch_id_;
  return request;
}

void StartBatchOperation::BeginFirst() {
  // Without time for the read the start is tried anyway; OnStart hears of no
  // attempt when there is no time for it either.
  Send("read", Request(Endpoint::kGetBatch),
       PreReadDeadline(absl::Now(), deadline(), options_, kMinAttemptTime),
       options_.read_timeout_cap, Done(&StartBatchOperation::OnRead));
}

void StartBatchOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts > 0) {
    absl::StatusOr<v1::Batch> batch =
        ReadBatch(outcome.result, Context(batch_id_, outcome.deadline_binds));
    if (batch.ok()) {
      before_ = std::move(*batch);
    } else if (batch.status().code() == absl::StatusCode::kNotFound) {
      End(batch.status());  // nothing to start
      return;
    }
  }
  SendStart();
}

void StartBatchOperation::SendStart() {
  Send("start", Request(Endpoint::kStartBatch), deadline(), upstream_options().timeout_cap,
       Done(&StartBatchOperation::OnStart));
}

void StartBatchOperation::Started(const v1::Batch& batch, std::string message, bool reconciled) {
  result_.batch = batch;
  result_.message = std::move(message);
  result_.reconciled = reconciled;
  if (before_.has_value()) {
    result_.credits_reserved = before_->credits_required();
    result_.credits_known = true;
    if (before_->next_result_set_id() > 0) {
      result_.result_set =
          absl::StrCat("batches/", batch_id_, "/resultSets/", before_->next_result_set_id());
    }
  }
  End(absl::OkStatus());
}

void StartBatchOperation::OnStart(PhaseOutcome outcome) {
  if (outcome.attempts == 0) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("starting batch ", batch_id_), false));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kStartRules);
  if (env.ok()) {
    absl::StatusOr<v1::Batch> batch = BatchOfReply(outcome.result, *env, context);
    // SerpWow documents no reply body: without a batch in it, the read's.
    Started(batch.ok() ? *batch : before_.value_or(v1::Batch()), CleanText(env->message), resent_);
    return;
  }
  if (outcome.any_ambiguous && Ambiguous(outcome.verdict)) {
    Reconcile(outcome.result, outcome.deadline_binds);
    return;
  }
  const bool credits =
      ReasonOf(env.status()) == reason::kCreditsExhausted ||
      (IsMutationRefusal(outcome.result) &&
       absl::StrContains(absl::AsciiStrToLower(UpstreamMessageOf(outcome.result)), "credit"));
  if (credits) {
    refusal_ = ReasonOf(env.status()) == reason::kCreditsExhausted
                   ? env.status()
                   : ErrorBuilder(absl::StatusCode::kResourceExhausted,
                                  absl::StrCat("the SerpWow account has too few credits to start "
                                               "batch ",
                                               batch_id_),
                                  reason::kCreditsExhausted)
                         .Metadata("batch_id", batch_id_)
                         .Metadata("http_status", absl::StrCat(outcome.result.http_status))
                         .Build();
    refused_ = std::move(outcome.result);
    Send("account", Request(Endpoint::kGetAccount), deadline(), options_.read_timeout_cap,
         Done(&StartBatchOperation::OnAccount), /*max_attempts=*/1);
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("to start batch ", batch_id_), false);
    refused_ = std::move(outcome.result);
    Send("confirm", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&StartBatchOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void StartBatchOperation::OnConfirm(PhaseOutcome outcome) {
  const absl::optional<BatchStatus> active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true));
  End(active.has_value() ? BatchAlreadyActiveError(batch_id_, *active) : refusal_);
}

void StartBatchOperation::OnAccount(PhaseOutcome outcome) {
  absl::optional<int64_t> remaining;
  if (outcome.attempts > 0) {
    remaining = AccountNumberOf(outcome.result, Context("", true), "credits_remaining");
  }
  if (!before_.has_value() || !remaining.has_value()) {
    End(refusal_);  // the numbers are not known: SerpWow's refusal as classified
    return;
  }
  const int64_t needed = before_->credits_required();
  End(ErrorBuilder(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("batch ", batch_id_, " needs ", needed,
                                " credits, the account has ", *remaining),
                   reason::kCreditsExhausted)
          .Metadata("batch_id", batch_id_)
          .Metadata("credits_required", absl::StrCat(needed))
          .Metadata("credits_remaining", absl::StrCat(*remaining))
          .Metadata("http_status", absl::StrCat(refused_.http_status))
          .Quota(absl::StrCat("batches/", batch_id_),
                 absl::StrCat("needs ", needed, " credits; the account has ", *remaining)));
}

void StartBatchOperation::Reconcile(const upstream::HttpResult& failed, bool deadline_binds) {
  MarkReconciled();
  if (deadline() - absl::Now() < kMinAttemptTime) {
    // The caller's deadline is what ended the attempt, or leaves no time to
    // look: say so, never UNAVAILABLE.
    if (failed.error == upstream::TransportError::kTimeout && deadline_binds) {
      End(MutationDeadlineError(batch_id_, absl::StrCat("starting batch ", batch_id_), true));
    } else {
      End(OutcomeUnknownError(batch_id_, EffectWords(),
                              "SerpWow's reply to the start was lost and no time was left to "
                              "read the batch"));
    }
    return;
  }
  Send("reconcile", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
       Done(&StartBatchOperation::OnReconcile));
}

void StartBatchOperation::OnReconcile(PhaseOutcome outcome) {
  absl::StatusOr<v1::Batch> now =
      outcome.attempts > 0 ? ReadBatch(outcome.result, Context(batch_id_, true))
                           : absl::StatusOr<v1::Batch>(absl::DeadlineExceededError("no time"));
  if (!now.ok()) {
    End(OutcomeUnknownError(batch_id_, EffectWords(),
                            "SerpWow's reply to the start was lost and the batch could not be "
                            "read afterwards"));
    return;
  }
  const bool moved =
      before_.has_value() && (now->next_result_set_id() > before_->next_result_set_id() ||
                              Seconds(now->last_run_time()) > Seconds(before_->last_run_time()));
  if (IsActive(StatusOf(*now)) || moved) {
    Started(*now, "Batch started (confirmed by a read after the reply was lost)", true);
    return;
  }
  if (before_.has_value() && StatusOf(*now) == BatchStatus::kIdle &&
      StatusOf(*before_) == BatchStatus::kIdle && !resent_) {
    // Idle and unchanged: the lost attempt did not start it. Send it once more.
    resent_ = true;
    SendStart();
    return;
  }
  End(OutcomeUnknownError(batch_id_, EffectWords(),
                          "SerpWow's reply to the start was lost and the batch's state does not "
                          "tell whether it started"));
}

}  // namespace serpwow::logic
