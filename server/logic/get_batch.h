// GetBatch, the service logic: validate the name, read the batch (a read:
// retried on unavailable-class failures and 429 within the deadline), map
// SerpWow's batch object into v1.Batch. The flow of every read
// (read_operation.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/read_operation.h"

namespace serpwow::logic {

class GetBatchOperation final : public ReadOperation {
 public:
  // `name` is the caller's value ("batches/{id}"), validated by Validate().
  GetBatchOperation(UpstreamCaller* caller, std::string name, absl::Time deadline);
  const serpwow::batches::v1::Batch& result() const { return batch_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;

  const std::string name_;
  serpwow::batches::v1::Batch batch_;
};

}  // namespace serpwow::logic
