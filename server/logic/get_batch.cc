#include "server/logic/get_batch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/errors.h"
#include "server/logic/outcome.h"

namespace serpwow::logic {

GetBatchOperation::GetBatchOperation(UpstreamCaller* caller, std::string name, absl::Time deadline)
    : ReadOperation(caller, deadline, kReadBatchRules, nullptr), name_(std::move(name)) {}

absl::Status GetBatchOperation::Validate() {
  absl::StatusOr<std::string> id = ParseBatchName(name_, "name");
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  what_ = absl::StrCat("batch ", batch_id_);
  return absl::OkStatus();
}

void GetBatchOperation::Begin() {
  upstream::UpstreamRequest request;
  request.endpoint = upstream::Endpoint::kGetBatch;
  request.args.batch = batch_id_;
  SendRead(std::move(request));
}

absl::optional<absl::Status> GetBatchOperation::Take(const Envelope& env,
                                                     const upstream::HttpResult& result,
                                                     const ClassifyContext& context) {
  absl::StatusOr<serpwow::batches::v1::Batch> batch = BatchOfReply(result, env, context);
  if (!batch.ok()) return batch.status();
  batch_ = std::move(*batch);
  return absl::OkStatus();
}

}  // namespace serpwow::logic
