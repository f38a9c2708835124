// StopBatch, the service logic: validate, read the batch, stop it, and say
// honestly whether credits were refunded. Composed from the one upstream
// caller (upstream_caller.h: admission, attempts, retry budget, backoff,
// cancellation); what is StopBatch's own is here. Free of gRPC types.
//
// Refund rule. SerpWow's stop reply documents no refund signal, so the
// operation reads the batch (GET /batches/{id}) just before stopping it:
//  - the stop reply says whether credits were refunded -> that (STOP_REPLY);
//  - else the read saw queued -> refunded; running -> not (PRE_READ);
//  - else (the read failed, or saw idle and the stop still succeeded because
//    the batch was started in between) -> not known, reported as false with
//    basis UNKNOWN.
// The stop call is always made, whatever the read said: the upstream decides.
// Race: the scheduler may move the batch from queued to running between the
// read and the stop (milliseconds apart); the gateway then reports a refund
// that did not happen. No documented API closes that window.
//
// Time: the read phase may use at most `read_share` of the caller's remaining
// time (and at most `read_timeout_cap`), so that the stop always keeps time
// of its own; if the read fails or times out the stop goes ahead without it.
//
// Retries follow the caller's rules for the read (a read) and the stop (the
// stop class: retried on unavailable-class failures, including ambiguous
// ones that may have stopped the batch). Truthful answers after a retry:
//  - a retried stop that hears "not queued or running" after an ambiguous
//    attempt probably follows a stop that worked: a confirming read decides:
//    idle (or unreadable) -> OK with the status first seen and its refund;
//    queued or running again -> the refusal (FAILED_PRECONDITION) stands;
//  - when the attempts run out with the last one ambiguous too (every reply
//    lost, timed out or 5xx after sending), while time remains and the
//    pre-read saw the batch queued or running, one more read decides:
//    idle -> OK with the status first seen and its refund; anything else ->
//    the failure stands.
// Both are logged as reconciled.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/logic/outcome.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

enum class RefundBasis { kStopReply, kPreRead, kUnknown };

struct StopBatchResult {
  std::string batch_id;
  BatchStatus previous_status = BatchStatus::kUnknown;
  bool credits_refunded = false;
  RefundBasis refund_basis = RefundBasis::kUnknown;
  std::string message;
};

struct StopBatchOptions {
  double read_share = 0.5;
  absl::Duration read_timeout_cap = absl::Seconds(3);
};

// The batch a StopBatch names: `batch_id` (the legacy field, reason
// INVALID_BATCH_ID when invalid) or `name` ("batches/{id}", reason
// INVALID_NAME); both set and naming different batches is INVALID_ARGUMENT.
absl::StatusOr<std::string> StopBatchTarget(const std::string& batch_id, const std::string& name);

// One StopBatch. Start it with Operation::Start; result() is set when it
// ends OK.
class StopBatchOperation final : public Operation {
 public:
  // `batch_id` and `name` are the caller's values, validated by Validate()
  // (see StopBatchTarget).
  StopBatchOperation(UpstreamCaller* caller, StopBatchOptions options, std::string batch_id,
                     std::string name, absl::Time deadline);
  const StopBatchResult& result() const { return result_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  void Read();
  void OnRead(PhaseOutcome outcome);
  void Stop();
  void OnStop(PhaseOutcome outcome);
  // A confirming read of the answer in refusal_ (see the header comment).
  void Confirm();
  void OnConfirm(PhaseOutcome outcome);
  StopBatchResult Stopped(std::string message, absl::optional<bool> reply_refund) const;
  upstream::UpstreamRequest Request(upstream::Endpoint endpoint) const;

  const StopBatchOptions options_;
  const std::string requested_id_;
  const std::string requested_name_;
  absl::Time read_deadline_;

  // Loop-thread state (one phase callback at a time).
  BatchStatus seen_ = BatchStatus::kUnknown;
  // The answer a confirming read may overturn: the "not stoppable" refusal
  // of a retried stop, or (confirm_lost_reply_) the failure of a stop whose
  // every attempt may have been carried out with its reply lost.
  absl::Status refusal_;
  bool confirm_lost_reply_ = false;
  StopBatchResult result_;
};

}  // namespace serpwow::logic
