// CreateBatch, the service logic (design §2.4, §2.10). Free of gRPC types.
//
//   check   every field set is settable and passes the local checks
//           (batch_input.h); else INVALID_ARGUMENT INVALID_FIELD, nothing sent.
//   create  POST /batches with exactly the fields set, as JSON. Not
//           idempotent: the caller retries it only when nothing was sent.
//   then    OK -> the batch from the reply;
//           400/409/422 refusal -> GET /account (free): the account at its
//                  batch limit -> RESOURCE_EXHAUSTED BATCH_LIMIT_REACHED
//                  (QuotaFailure); else INVALID_ARGUMENT
//                  UPSTREAM_INVALID_ARGUMENT with SerpWow's cleaned message;
//           an attempt that may have reached SerpWow without a usable reply
//                  -> reconcile: list the batches whose display name is
//                  exactly this one, created since the attempt began minus
//                  MutationOptions::create_window_slack (a plain List
//                  request, CreatedBatchesListRequest); exactly one ->
//                  OK (reconciled; it may be another caller's batch of the
//                  same name made in those seconds); else UNKNOWN
//                  OUTCOME_UNKNOWN.
// So UNAVAILABLE from CreateBatch always means nothing was created.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/batch_input.h"
#include "server/logic/deduped_operation.h"
#include "server/logic/list_pacer.h"

namespace serpwow::logic {

// The reconciliation's List request: display name exactly `display_name`,
// created after `after`.
upstream::UpstreamRequest CreatedBatchesListRequest(const std::string& display_name,
                                                    absl::Time after);

class CreateBatchOperation final : public DedupedOperation<serpwow::batches::v1::Batch> {
 public:
  // `pacer` (may be null: no bucket) is the replica's List bucket, which the
  // reconciliation's list draws on (without a token at once, the outcome is
  // unknown).
  CreateBatchOperation(UpstreamCaller* caller, ListPacer* pacer, RequestDedupe* dedupe,
                       MutationOptions options, serpwow::batches::v1::Batch batch,
                       std::string request_id, absl::Time deadline);

 private:
  absl::Status Validate() override;
  void BeginFirst() override;
  std::string EffectWords() const override;
  void OnCreate(PhaseOutcome outcome);
  void OnAccount(PhaseOutcome outcome);
  // Looks for the batch by name in the window since the attempt began.
  void Reconcile();
  void OnReconcile(PhaseOutcome outcome);

  ListPacer* const pacer_;
  const MutationOptions options_;
  const serpwow::batches::v1::Batch batch_;
  BatchFields fields_;
  absl::Time attempt_start_;
  upstream::HttpResult refused_;
};

}  // namespace serpwow::logic
