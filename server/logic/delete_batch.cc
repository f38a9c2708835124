#include "server/logic/delete_batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;

namespace {

constexpr ReplyRules kDeleteRules{"deleting batch", "the delete", nullptr};

}  // namespace

DeleteBatchOperation::DeleteBatchOperation(UpstreamCaller* caller, MutationOptions options,
                                           std::string name, bool force, absl::Time deadline)
    : Operation(caller, deadline), options_(options), name_(std::move(name)), force_(force) {}

absl::Status DeleteBatchOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(name_, "name");
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  return absl::OkStatus();
}

upstream::UpstreamRequest DeleteBatchOperation::Request(Endpoint endpoint) const {
  upstream::UpstreamRequest request;
  request.endpoint = endpoint;
  request.args.batch = batch_id_;
  return request;
}

void DeleteBatchOperation::Begin() {
  // Without time for the read, OnRead hears of no attempt and ends the call.
  Send("read", Request(Endpoint::kGetBatch),
       PreReadDeadline(absl::Now(), deadline(), options_, kMinAttemptTime),
       options_.read_timeout_cap, Done(&DeleteBatchOperation::OnRead));
}

void DeleteBatchOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("deleting batch ", batch_id_), false));
    return;
  }
  absl::StatusOr<v1::Batch> batch =
      ReadBatch(outcome.result, Context(batch_id_, outcome.deadline_binds));
  if (!batch.ok()) {
    End(batch.status());  // nothing is deleted without the read
    return;
  }
  before_ = std::move(*batch);
  const BatchStatus status = StatusOf(before_);
  if (status == BatchStatus::kRunning) {
    End(BatchRunningError(batch_id_, "deleting it"));
    return;
  }
  if (!force_ && (before_.searches_total_count() > 0 || before_.results_count() > 0)) {
    End(ErrorBuilder(absl::StatusCode::kFailedPrecondition,
                     absl::StrCat("batch ", batch_id_, " has ", before_.searches_total_count(),
                                  " searches and ", before_.results_count(),
                                  " result sets; set force to delete them with it"),
                     reason::kBatchNotEmpty)
            .Metadata("batch_id", batch_id_)
            .Metadata("searches_total_count", absl::StrCat(before_.searches_total_count()))
            .Metadata("results_count", absl::StrCat(before_.results_count()))
            .Precondition("BATCH_CONTENT", absl::StrCat("batches/", batch_id_),
                          "a batch with searches or result sets is deleted only with force"));
    return;
  }
  if (status == BatchStatus::kQueued) {
    stopped_first_ = true;
    Send("stop", Request(Endpoint::kStopBatch), deadline(), upstream_options().timeout_cap,
         Done(&DeleteBatchOperation::OnStop));
    return;
  }
  Delete();
}

void DeleteBatchOperation::OnStop(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_,
                              absl::StrCat("stopping batch ", batch_id_, " before deleting it"),
                              outcome.attempts > 0));
    return;
  }
  absl::StatusOr<StopReply> stop = ClassifyStopReply(
      outcome.result, Context(batch_id_, outcome.deadline_binds), BatchStatus::kQueued);
  // Idle already (it ran, or an earlier attempt stopped it): delete anyway.
  if (!stop.ok() && ReasonOf(stop.status()) != reason::kBatchNotStoppable) {
    End(stop.status());
    return;
  }
  Delete();
}

void DeleteBatchOperation::Delete() {
  Send("delete", Request(Endpoint::kDeleteBatch), deadline(), upstream_options().timeout_cap,
       Done(&DeleteBatchOperation::OnDelete));
}

void DeleteBatchOperation::OnDelete(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("deleting batch ", batch_id_),
                              outcome.attempts > 0));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kDeleteRules);
  if (env.ok()) {
    End(absl::OkStatus());
    return;
  }
  if (env.status().code() == absl::StatusCode::kNotFound && outcome.any_ambiguous) {
    MarkReconciled();  // an earlier attempt deleted it; its reply was lost
    End(absl::OkStatus());
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("to delete batch ", batch_id_), false);
    Send("confirm", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&DeleteBatchOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void DeleteBatchOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "deleting it") : refusal_);
}

}  // namespace serpwow::logic
