// StopBatch, the service logic: validate, read the batch, stop it, and say
// honestly whether credits were refunded. Free of gRPC types.
//
// Refund rule. SerpWow's stop reply documents no refund signal, so the
// stopper reads the batch (GET /batches/{id}) just before stopping it:
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
// Time: the read may use at most `read_share` of the caller's remaining time
// (and at most `read_timeout_cap`), so that the stop always keeps time of
// its own; if the read times out the stop goes ahead without it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/logic/outcome.h"
#include "server/upstream/serpwow_client.h"

namespace serpwow::logic {

enum class RefundBasis { kStopReply, kPreRead, kUnknown };

struct StopBatchResult {
  std::string batch_id;
  BatchStatus previous_status = BatchStatus::kUnknown;
  bool credits_refunded = false;
  RefundBasis refund_basis = RefundBasis::kUnknown;
  std::string message;
};

struct StopperOptions {
  double read_share = 0.5;
  absl::Duration read_timeout_cap = absl::Seconds(3);
  absl::Duration default_rate_limit_delay = absl::Seconds(1);
};

// What happened upstream during one operation, for the per-call log line.
struct StopTrace {
  long read_http_status = 0;  // 0: no HTTP reply (or not made)
  long stop_http_status = 0;
  bool stop_sent = false;
};

using StopDone = std::function<void(absl::StatusOr<StopBatchResult>, const StopTrace&)>;

// One StopBatch in progress. Thread-safe.
class BatchStopper;

class StopOperation : public std::enable_shared_from_this<StopOperation> {
 public:
  // Ends the operation now with `status` (CANCELLED or DEADLINE_EXCEEDED)
  // unless it already ended; aborts the transfer in flight. `done` runs on the
  // calling thread.
  void Cancel(absl::Status status);

 private:
  friend class BatchStopper;
  StopOperation(BatchStopper* owner, upstream::SerpwowClient* client, const StopperOptions& options,
                std::string batch_id, absl::Time deadline, StopDone done);
  void Start();
  void OnRead(upstream::HttpResult result, absl::Duration budget);
  void OnStop(upstream::HttpResult result, bool deadline_binds);
  // Records that `id` ended; false if the operation already ended.
  bool TransferEnded(upstream::TransferId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submits a call and records its id; cancels it at once if the operation
  // ended meanwhile. The result may arrive (on the loop thread) before Call()
  // even returns here.
  void Submit(upstream::Endpoint endpoint, absl::Duration timeout, upstream::HttpCallback callback);
  // Runs `done` once; returns false if the operation had already ended.
  bool Complete(absl::StatusOr<StopBatchResult> result);

  BatchStopper* const owner_;
  upstream::SerpwowClient* const client_;
  const StopperOptions options_;
  const std::string batch_id_;
  const absl::Time deadline_;

  absl::Mutex mu_;
  StopDone done_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The transfer in flight (0: none), and the newest one whose result came
  // back: Submit() must not record a transfer that already ended.
  upstream::TransferId transfer_ ABSL_GUARDED_BY(mu_) = 0;
  upstream::TransferId completed_ ABSL_GUARDED_BY(mu_) = 0;
  BatchStatus seen_ ABSL_GUARDED_BY(mu_) = BatchStatus::kUnknown;
  StopTrace trace_ ABSL_GUARDED_BY(mu_);
};

class BatchStopper {
 public:
  // `client` must outlive the stopper and every operation.
  BatchStopper(upstream::SerpwowClient* client, StopperOptions options)
      : client_(client), options_(options) {}

  // Starts a stop. An invalid id ends at once with INVALID_ARGUMENT (`done`
  // runs before Stop returns) and sends nothing upstream. Otherwise `done`
  // runs exactly once, on the upstream loop thread or in Cancel().
  std::shared_ptr<StopOperation> Stop(const std::string& batch_id, absl::Time deadline,
                                      StopDone done);

  // Operations started and not yet ended.
  size_t in_flight() const;
  // Ends every operation in flight with `status` (used at the end of a
  // shutdown grace period: UNAVAILABLE, retry elsewhere).
  void CancelAll(const absl::Status& status);

 private:
  friend class StopOperation;
  void Unregister(StopOperation* op);

  upstream::SerpwowClient* const client_;
  const StopperOptions options_;
  mutable absl::Mutex mu_;
  std::unordered_map<StopOperation*, std::weak_ptr<StopOperation>> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace serpwow::logic
