// StartBatch, the service logic (design §2.4, §2.7). Free of gRPC types.
//
//   read    GET /batches/{id} (free), at most MutationOptions::read_share of
//           the time left: credits_required (what the start reserves,
//           basis PRE_READ) and next_result_set_id (the result set the run
//           will produce). NOT_FOUND ends the call; any other failure lets
//           the start go ahead without them (basis UNKNOWN).
//   start   GET /batches/{id}/start, always sent, whatever the read saw. Not
//           idempotent: the caller retries it only when nothing was sent.
//   then    OK -> the batch from the reply (else the read's);
//           402 -> GET /account (free) for credits_remaining, and
//                  RESOURCE_EXHAUSTED CREDITS_EXHAUSTED naming both numbers;
//           400/409/422 refusal -> one confirming read: queued or running
//                  -> FAILED_PRECONDITION BATCH_ALREADY_ACTIVE, else
//                  INTERNAL UPSTREAM_REJECTED (a refusal mentioning credits
//                  is treated as the 402);
//           an attempt that may have reached SerpWow without a usable reply
//                  (lost connection, timeout, 5xx) -> reconcile: re-read
//                  the batch; queued or running, or next_result_set_id /
//                  last_run_time moved -> OK (reconciled); idle and
//                  unchanged since the first read -> the start is sent
//                  once more; anything else -> UNKNOWN OUTCOME_UNKNOWN.
// So UNAVAILABLE from StartBatch always means nothing was started.
// request_id de-duplication: deduped_operation.h.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/deduped_operation.h"

namespace serpwow::logic {

struct StartBatchResult {
  serpwow::batches::v1::Batch batch;
  int64_t credits_reserved = 0;
  bool credits_known = false;  // basis PRE_READ; else UNKNOWN
  std::string result_set;      // "batches/{id}/resultSets/{n}", or ""
  std::string message;
  bool reconciled = false;
};

class StartBatchOperation final : public DedupedOperation<StartBatchResult> {
 public:
  // `name` and `request_id` are the caller's values, checked by Validate().
  StartBatchOperation(UpstreamCaller* caller, RequestDedupe* dedupe, MutationOptions options,
                      std::string name, std::string request_id, absl::Time deadline);

 private:
  absl::Status Validate() override;
  void BeginFirst() override;
  std::string EffectWords() const override;
  void OnRead(PhaseOutcome outcome);
  void SendStart();
  void OnStart(PhaseOutcome outcome);
  void Reconcile(const upstream::HttpResult& failed, bool deadline_binds);
  void OnReconcile(PhaseOutcome outcome);
  void OnConfirm(PhaseOutcome outcome);
  void OnAccount(PhaseOutcome outcome);
  // Ends OK with `batch` (the reply's or a read's) and the pre-read's numbers.
  void Started(const serpwow::batches::v1::Batch& batch, std::string message, bool reconciled);
  upstream::UpstreamRequest Request(upstream::Endpoint endpoint) const;

  const MutationOptions options_;
  const std::string name_;

  // Loop-thread state (one phase callback at a time).
  absl::optional<serpwow::batches::v1::Batch> before_;  // the pre-read
  bool resent_ = false;
  absl::Status refusal_;  // the start's refusal a confirming read may sharpen
  upstream::HttpResult refused_;
};

}  // namespace serpwow::logic
