#include "server/logic/get_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"

namespace serpwow::logic {

GetBatchOperation::GetBatchOperation(UpstreamCaller* caller, std::string name, absl::Time deadline)
    : Operation(caller, deadline), name_(std::move(name)) {}

absl::Status GetBatchOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(name_, "name");
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  return absl::OkStatus();
}

void GetBatchOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = upstream::Endpoint::kGetBatch;
  request.args.batch = batch_id_;
  Send("read", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&GetBatchOperation::OnRead));
}

void GetBatchOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(ErrorBuilder(
            absl::StatusCode::kDeadlineExceeded,
            absl::StrCat("the call's deadline passed before batch ", batch_id_, " could be read"),
            reason::kDeadlineExceeded)
            .Metadata("batch_id", batch_id_));
    return;
  }
  absl::StatusOr<serpwow::batches::v1::Batch> batch =
      ReadBatch(outcome.result, Context(batch_id_, outcome.deadline_binds));
  if (!batch.ok()) {
    End(batch.status());
    return;
  }
  batch_ = std::move(*batch);
  End(absl::OkStatus());
}

}  // namespace serpwow::logic
