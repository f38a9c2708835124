// StopAllBatches, the service logic (design §2.6). Free of gRPC types.
//
//   list    the batches queued, then those running (GET /batches?status=...,
//           page_size 1000: ActiveBatchesListRequest, the one place the
//           pre-list is built, so that it can be routed through the list
//           token bucket), within MutationOptions::stop_all_listing_budget
//           (200 ms) of the call's start, one attempt each. When either does
//           not come back in time, fails, or has more batches than one page,
//           the report is dropped (listing_complete false): the stop is never
//           delayed for it.
//   stop    GET /batches/stopall (idempotent in effect: retried like a read;
//           `retried` says when it was sent more than once), unless
//           validate_only.
// The refund estimate: credits_required of each batch listed as queued
// (stopping a queued batch refunds its reservation, a running one's run has
// spent it), basis PRE_READ. The same race as StopBatch: a queued batch may
// start between the listing and the stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/logic/batch_mutation.h"
#include "server/logic/list_pacer.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

struct ListedBatch {
  std::string batch_id;
  std::string display_name;
  BatchStatus previous_status = BatchStatus::kUnknown;
  int64_t credits_required = 0;
  int64_t credits_refunded = 0;
};

struct StopAllResult {
  int64_t batches_stopped = 0;
  int64_t batches_failed_to_stop = 0;
  std::string message;
  std::vector<ListedBatch> batches;
  bool listing_complete = false;
  int64_t credits_refunded_estimate = 0;
  bool retried = false;
};

// The pre-list of StopAll: one page of 1000 batches with `status` (queued or
// running), a plain List request.
upstream::UpstreamRequest ActiveBatchesListRequest(BatchStatus status);

class StopAllBatchesOperation final : public Operation {
 public:
  // `pacer` (may be null: no bucket) is the replica's List bucket: each of
  // the two listings takes a token from it, or is skipped when none is
  // ready at once.
  StopAllBatchesOperation(UpstreamCaller* caller, ListPacer* pacer, MutationOptions options,
                          bool validate_only, absl::Time deadline);
  const StopAllResult& result() const { return result_; }

 private:
  absl::Status Validate() override { return absl::OkStatus(); }
  void Begin() override;
  void List(BatchStatus status);
  void OnListed(PhaseOutcome outcome);
  // Reads one listing into result_.batches; false when it cannot be used.
  bool TakeListing(const PhaseOutcome& outcome, BatchStatus status);
  void Stop();
  void OnStop(PhaseOutcome outcome);

  ListPacer* const pacer_;
  const MutationOptions options_;
  const bool validate_only_;
  absl::Time listing_deadline_;
  BatchStatus listing_ = BatchStatus::kQueued;  // the listing in flight
  StopAllResult result_;
};

}  // namespace serpwow::logic
