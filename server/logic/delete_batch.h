// DeleteBatch, the service logic (design §2.9). Free of gRPC types.
//
//   read    GET /batches/{id}: NOT_FOUND ends the call; running ->
//           FAILED_PRECONDITION BATCH_RUNNING; searches or result sets and
//           no `force` -> FAILED_PRECONDITION BATCH_NOT_EMPTY; nothing is
//           deleted without this read.
//   stop    a queued batch is stopped first (the documented refund path:
//           whether deleting a queued batch refunds it is unknown); a stop
//           that finds it idle already goes on.
//   delete  DELETE /batches/{id}, idempotent: retried like a read; NOT_FOUND
//           after an attempt that may have been carried out means it was
//           (OK, reconciled). A 400/409/422 refusal -> one confirming read:
//           running -> BATCH_RUNNING, else INTERNAL UPSTREAM_REJECTED.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

class DeleteBatchOperation final : public Operation {
 public:
  DeleteBatchOperation(UpstreamCaller* caller, MutationOptions options, std::string name,
                       bool force, absl::Time deadline);
  // The batch as read before the delete (on OK).
  const serpwow::batches::v1::Batch& result() const { return before_; }
  bool stopped_first() const { return stopped_first_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  void OnRead(PhaseOutcome outcome);
  void OnStop(PhaseOutcome outcome);
  void Delete();
  void OnDelete(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);
  upstream::UpstreamRequest Request(upstream::Endpoint endpoint) const;

  const MutationOptions options_;
  const std::string name_;
  const bool force_;
  serpwow::batches::v1::Batch before_;
  bool stopped_first_ = false;
  absl::Status refusal_;
};

}  // namespace serpwow::logic
