#include "server/logic/update_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

namespace v1 = serpwow::batches::v1;
using upstream::Endpoint;

namespace {

constexpr ReplyRules kUpdateRules{"updating batch", "the update", nullptr};

}  // namespace

UpdateBatchOperation::UpdateBatchOperation(UpstreamCaller* caller, MutationOptions options,
                                           v1::Batch batch, google::protobuf::FieldMask mask,
                                           absl::Time deadline)
    : Operation(caller, deadline),
      options_(options),
      batch_(std::move(batch)),
      mask_(std::move(mask)) {}

absl::Status UpdateBatchOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(batch_.name(), "batch.name");
  if (!id.ok()) return id.status();
  absl::StatusOr<BatchFields> fields = FieldsToUpdate(batch_, mask_);
  if (!fields.ok()) return fields.status();
  if (absl::Status s = ValidateBatchInput(batch_, *fields, /*create=*/false, options_); !s.ok()) {
    return s;
  }
  batch_id_ = std::move(*id);
  fields_ = std::move(*fields);
  return absl::OkStatus();
}

upstream::UpstreamRequest UpdateBatchOperation::Request(Endpoint endpoint) const {
  upstream::UpstreamRequest request;
  request.endpoint = endpoint;
  request.args.batch = batch_id_;
  return request;
}

void UpdateBatchOperation::Begin() {
  upstream::UpstreamRequest request = Request(Endpoint::kUpdateBatch);
  request.body = BatchRequestJson(batch_, fields_);
  Send("update", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&UpdateBatchOperation::OnUpdate));
}

void UpdateBatchOperation::OnUpdate(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(MutationDeadlineError(batch_id_, absl::StrCat("updating batch ", batch_id_),
                              outcome.attempts > 0));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, kUpdateRules);
  if (env.ok()) {
    absl::StatusOr<v1::Batch> batch = BatchOfReply(outcome.result, *env, context);
    if (batch.ok()) {
      result_ = std::move(*batch);
      End(absl::OkStatus());
      return;
    }
    // Updated; SerpWow documents no reply body: read the batch.
    Send("read", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&UpdateBatchOperation::OnRead));
    return;
  }
  if (IsMutationRefusal(outcome.result)) {
    refusal_ = MutationRefusedError(context, outcome.result,
                                    absl::StrCat("the new values for batch ", batch_id_), true);
    Send("confirm", Request(Endpoint::kGetBatch), deadline(), options_.read_timeout_cap,
         Done(&UpdateBatchOperation::OnConfirm), /*max_attempts=*/1);
    return;
  }
  End(env.status());
}

void UpdateBatchOperation::OnRead(PhaseOutcome outcome) {
  absl::StatusOr<v1::Batch> batch =
      outcome.attempts > 0
          ? ReadBatch(outcome.result, Context(batch_id_, outcome.deadline_binds))
          : absl::StatusOr<v1::Batch>(MutationDeadlineError(
                batch_id_, absl::StrCat("reading batch ", batch_id_, " after its update"), true));
  if (!batch.ok()) {
    End(batch.status());
    return;
  }
  result_ = std::move(*batch);
  End(absl::OkStatus());
}

void UpdateBatchOperation::OnConfirm(PhaseOutcome outcome) {
  const bool active =
      ActiveAfterRefusal(outcome.attempts > 0, outcome.result, Context(batch_id_, true))
          .has_value();
  End(active ? BatchRunningError(batch_id_, "updating it") : refusal_);
}

}  // namespace serpwow::logic
