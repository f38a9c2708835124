#include "server/logic/get_batch.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/batch_mapping.h"
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
  auto batch = env.json.find("batch");
  if (batch == env.json.end() || !batch->is_object()) {
    return BadResponse(context, result, "no batch object");
  }
  if (!MapBatch(*batch, &batch_).ok()) {
    return BadResponse(context, result, "a batch without a valid id");
  }
  if (!absl::EqualsIgnoreCase(batch_.batch_id(), batch_id_)) {
    // Never hand the caller another batch than the one it asked for.
    return BadResponse(context, result, "another batch than the one asked for");
  }
  return absl::OkStatus();
}

}  // namespace serpwow::logic
