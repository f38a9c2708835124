// UpdateBatch, the service logic (design §1.6). Free of gRPC types.
//
//   check   batch.name, the update mask (batch_input.h: "*", unknown and
//           output-only paths are INVALID_UPDATE_MASK; none: every field
//           set) and the values of the masked fields (INVALID_FIELD);
//           nothing is sent when any fails.
//   update  PUT /batches/{id} with exactly the masked fields, as JSON.
//           Idempotent: retried like a read.
//   then    OK -> the batch from the reply (or, without one, a read);
//           400/409/422 refusal -> one confirming read: running (or queued,
//           when SerpWow refuses that too) -> FAILED_PRECONDITION
//           BATCH_RUNNING; else INVALID_ARGUMENT UPSTREAM_INVALID_ARGUMENT
//           with SerpWow's cleaned message.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/field_mask.pb.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/batch_input.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

class UpdateBatchOperation final : public Operation {
 public:
  UpdateBatchOperation(UpstreamCaller* caller, MutationOptions options,
                       serpwow::batches::v1::Batch batch, google::protobuf::FieldMask mask,
                       absl::Time deadline);
  const serpwow::batches::v1::Batch& result() const { return result_; }
  const BatchFields& fields() const { return fields_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  void OnUpdate(PhaseOutcome outcome);
  void OnRead(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);
  upstream::UpstreamRequest Request(upstream::Endpoint endpoint) const;

  const MutationOptions options_;
  const serpwow::batches::v1::Batch batch_;
  const google::protobuf::FieldMask mask_;
  BatchFields fields_;
  absl::Status refusal_;
  serpwow::batches::v1::Batch result_;
};

}  // namespace serpwow::logic
